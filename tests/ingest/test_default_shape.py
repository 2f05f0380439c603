"""The default model's mechanics on these machines: distil-large-v3's shape (random weights, no hub) goes
through the product's own transcriber, with large-v3's vocabulary and special-token layout.

Random weights say nothing of accuracy; what must hold is everything the product reads from the model's
own files (128 mel bins, the token ids of the language, task and timestamp tokens, two decoder layers,
no alignment heads listed) and the shape of what comes out.
"""

from __future__ import annotations

import pytest

from bench.default_shape import SHAPE, build_shape_model, speech_window
from ingest.whisper import TranscribeOptions, WhisperTranscriber

pytestmark = pytest.mark.slow


def test_a_distil_large_v3_shaped_model_transcribes_one_window_through_the_product() -> None:
    folder = build_shape_model()
    engine = WhisperTranscriber(
        TranscribeOptions(
            model=str(folder), cpu_threads=2, language="en", temperatures=(0.0,), max_new_tokens=48, batch_size=1
        )
    )
    engine.load()
    config = engine._model.config
    assert (config.num_mel_bins, config.decoder_layers, config.d_model, config.vocab_size) == (128, 2, 1280, 51866)
    assert sum(p.numel() for p in engine._model.parameters()) > 750e6
    tokens = engine._processor.tokenizer
    ids = {t: tokens.convert_tokens_to_ids(t) for t in ("<|yue|>", "<|transcribe|>", "<|notimestamps|>", "<|en|>")}
    assert ids == {"<|yue|>": 50358, "<|transcribe|>": 50360, "<|notimestamps|>": 50364, "<|en|>": 50259}
    assert engine._processor.feature_extractor.feature_size == SHAPE["num_mel_bins"]
    audio = speech_window()
    result = engine.transcribe(audio)
    assert result.language == "en"
    # seeded random weights decode the same noise every time: timestamp tokens and text tokens both come
    # out, so segments are cut and their words timed
    assert result.segments and all(s.words for s in result.segments)
    for a, b in zip(result.segments, result.segments[1:], strict=False):
        assert a.start_s <= b.start_s
    for s in result.segments:
        assert 0.0 <= s.start_s <= s.end_s <= audio.size / 16_000 + 0.5
        # word timing ran on the fallback heads (this config lists none): every word inside its segment
        assert all(s.start_s - 0.01 <= w.start_s <= w.end_s <= s.end_s + 0.01 for w in s.words)
