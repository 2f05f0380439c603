"""The transformers speed patches do what they claim, and the engine around them: a lazy stream of segment
batches that leaves the process's thread count and transformers' verbosity as it found them.

The mechanics run on a random-weight Whisper of a few million parameters with whisper-base's shape of
vocabulary, tokens and generation config (multilingual, so transformers' no-speech check re-runs the
model); what must stay right is checked with the real tiny.en weights on real speech.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import transformers
from packaging.version import Version
from transformers import (
    GenerationConfig,
    SuppressTokensLogitsProcessor,
    WhisperConfig,
    WhisperForConditionalGeneration,
    WhisperProcessor,
)
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from bench.speech_clips import Clip, SonnetClip
from bench.wer import word_error_rate
from ingest import whisper_patches
from ingest.media import decode_audio
from ingest.models import OfflineModels
from ingest.whisper import SegmentBatch, TranscribeOptions, WhisperTranscriber

pytestmark = pytest.mark.slow

TINY_SHAPE = {
    "d_model": 64,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "encoder_attention_heads": 2,
    "decoder_attention_heads": 2,
    "encoder_ffn_dim": 128,
    "decoder_ffn_dim": 128,
}
# Greedy only: sampling at a fallback temperature would make two runs differ for reasons of their own.
GENERATE = {
    "return_timestamps": True,
    "return_segments": True,
    "condition_on_prev_tokens": False,
    "temperature": (0.0,),
    "compression_ratio_threshold": 2.4,
    "logprob_threshold": -1.0,
    "no_speech_threshold": 0.6,
    "language": "en",
    "task": "transcribe",
}


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Direct model calls here run on one thread: two swing wildly when the machine is busy (OFFLINE.md)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def random_whisper(offline_models: OfflineModels) -> Callable[[], Any]:
    """Builds the same random-weight multilingual Whisper (3.6 M parameters) each time it is called."""
    base = offline_models.whisper["whisper-base"]
    config = WhisperConfig.from_pretrained(base)
    for name, value in TINY_SHAPE.items():
        setattr(config, name, value)
    generation = GenerationConfig.from_pretrained(base)

    def build() -> Any:
        torch.manual_seed(0)
        model = WhisperForConditionalGeneration(config).eval()
        model.generation_config = generation
        return model

    return build


@pytest.fixture(scope="module")
def processor(offline_models: OfflineModels) -> Any:
    return WhisperProcessor.from_pretrained(offline_models.whisper["whisper-base"])


@pytest.fixture(scope="module")
def random_folder(random_whisper: Callable[[], Any], processor: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The random Whisper saved as a transformers folder, for the engine to load like any checkpoint."""
    folder = tmp_path_factory.mktemp("random-whisper")
    random_whisper().save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def jfk(speech_clips: tuple[SonnetClip, list[Clip]]) -> tuple[Clip, np.ndarray]:
    clip = next(c for c in speech_clips[1] if c.name == "jfk")
    return clip, decode_audio(clip.path, max_duration_s=60)


@pytest.fixture(scope="module")
def two_windows(jfk: tuple[Clip, np.ndarray]) -> np.ndarray:
    """JFK, 6 s of silence, JFK again: two Whisper windows (the silence is longer than max_gap_s)."""
    _, audio = jfk
    return np.concatenate([audio, np.zeros(6 * 16_000, dtype=np.float32), audio])


def features(processor: Any, n: int) -> Any:
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal(5 * 16_000).astype(np.float32) * 0.1 for _ in range(n)]
    return processor.feature_extractor(clips, sampling_rate=16_000, return_tensors="pt").input_features


def generate(model: Any, feats: Any, max_new_tokens: int) -> Any:
    with torch.inference_mode():
        return model.generate(feats, max_new_tokens=max_new_tokens, **GENERATE)


def encoder_passes(model: Any) -> list[int]:
    """The batch size of every real encoder pass (its first convolution runs once per pass)."""
    passes: list[int] = []
    model.model.encoder.conv1.register_forward_hook(lambda _m, args, _out: passes.append(int(args[0].shape[0])))
    return passes


def test_the_encoder_runs_once_per_window(random_whisper: Callable[[], Any], processor: Any) -> None:
    # One new token: every window is decoded in one pass (no seek within the window).
    stock, patched = random_whisper(), random_whisper()
    assert whisper_patches.SHARED_ENCODER_PASS in whisper_patches.apply(patched, int8_vocab=False, device="cpu")
    stock_passes, patched_passes = encoder_passes(stock), encoder_passes(patched)
    feats = features(processor, 3)
    generate(stock, feats, max_new_tokens=1)
    generate(patched, feats, max_new_tokens=1)
    assert sum(stock_passes) == 6  # the no-speech check encodes the three windows a second time
    assert sum(patched_passes) == 3


def test_patched_generate_decodes_exactly_as_stock(random_whisper: Callable[[], Any], processor: Any) -> None:
    stock, patched = random_whisper(), random_whisper()
    whisper_patches.apply(patched, int8_vocab=False, device="cpu")
    feats = features(processor, 2)
    ours, theirs = generate(patched, feats, max_new_tokens=8), generate(stock, feats, max_new_tokens=8)
    assert torch.equal(ours["sequences"], theirs["sequences"])
    for ours_window, theirs_window in zip(ours["segments"], theirs["segments"], strict=True):
        assert len(ours_window) == len(theirs_window) > 0
        for a, b in zip(ours_window, theirs_window, strict=True):
            assert (float(a["start"]), float(a["end"])) == (float(b["start"]), float(b["end"]))
            assert torch.equal(a["tokens"], b["tokens"])
            # The processed scores of every step: suppression (and everything after it) is unchanged.
            assert len(a["result"]["scores"]) == len(b["result"]["scores"]) > 0
            for x, y in zip(a["result"]["scores"], b["result"]["scores"], strict=True):
                assert torch.equal(x, y)


def test_the_suppress_mask_is_built_once_per_generate_call(
    random_whisper: Callable[[], Any], processor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counts the vocabulary-wide ``torch.isin`` over the suppress list: per step in stock, once when patched."""
    stock, patched = random_whisper(), random_whisper()
    assert whisper_patches.CACHED_SUPPRESS_MASK in whisper_patches.apply(patched, int8_vocab=False, device="cpu")
    suppress = len(stock.generation_config.suppress_tokens)
    builds: list[int] = []
    isin = torch.isin

    def counting_isin(elements: Any, test_elements: Any, **kwargs: Any) -> Any:
        if torch.is_tensor(test_elements) and test_elements.numel() == suppress:
            builds.append(1)
        return isin(elements, test_elements, **kwargs)

    monkeypatch.setattr(torch, "isin", counting_isin)
    feats = features(processor, 2)
    generate(stock, feats, max_new_tokens=8)
    stock_builds = len(builds)
    builds.clear()
    generate(patched, feats, max_new_tokens=8)
    assert stock_builds > 1
    assert len(builds) == 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cached_suppress_mask_scores_equal_the_stock_processor(random_whisper: Callable[[], Any], dtype: Any) -> None:
    tokens = random_whisper().generation_config.suppress_tokens
    stock, cached = SuppressTokensLogitsProcessor(tokens), whisper_patches.CachedSuppressTokens(tokens)
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.zeros((4, 3), dtype=torch.long)
    for vocab in (51865, 51865, 51865, 51864):  # the mask is reused, then rebuilt for another vocabulary
        scores = (torch.randn((4, vocab), generator=generator) * 10).to(dtype)
        scores[0, 5] = float("-inf")
        assert torch.equal(cached(input_ids, scores), stock(input_ids, scores))


def test_int8_projection_logits_match_float(
    offline_models: OfflineModels, processor: Any, jfk: tuple[Clip, np.ndarray]
) -> None:
    """On real tiny.en states over real speech: every logit within 5% of the largest one (measured: 2.8%),
    and where int8 ranks another token first, float scored it within 1 logit of its own top (a near tie;
    measured: one position of 24, 0.36 apart)."""
    model = WhisperForConditionalGeneration.from_pretrained(
        offline_models.whisper["whisper-tiny.en"], dtype=torch.float32
    ).eval()
    feats = processor.feature_extractor(jfk[1], sampling_rate=16_000, return_tensors="pt").input_features
    with torch.inference_mode():
        tokens = model.generate(feats, max_new_tokens=60)
        hidden = model.model(feats, decoder_input_ids=tokens).last_hidden_state
        reference = model.proj_out(hidden)
        assert whisper_patches.INT8_VOCAB_PROJECTION in whisper_patches.apply(model, int8_vocab=True, device="cpu")
        quantized = model.proj_out(hidden)
    assert quantized.dtype == torch.float32
    assert float((quantized - reference).abs().max()) < 0.05 * float(reference.abs().max())
    int8_top = quantized.argmax(-1, keepdim=True)
    regret = reference.max(-1).values - reference.gather(-1, int8_top).squeeze(-1)
    assert float(regret.max()) < 1.0


def test_apply_is_idempotent_and_logs_what_it_applied(
    random_whisper: Callable[[], Any], processor: Any, caplog: pytest.LogCaptureFixture
) -> None:
    model = random_whisper()
    with caplog.at_level(logging.INFO, logger="moments.whisper"):
        first = whisper_patches.apply(model, int8_vocab=True, device="cpu")
        second = whisper_patches.apply(model, int8_vocab=True, device="cpu")
    assert (
        first
        == second
        == (
            whisper_patches.SHARED_ENCODER_PASS,
            whisper_patches.CACHED_SUPPRESS_MASK,
            whisper_patches.HELD_TAILS,
            whisper_patches.INT8_VOCAB_PROJECTION,
            whisper_patches.SHARED_CROSS_KV,
        )
    )
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(infos) == 2 and all(", ".join(first) in r.getMessage() for r in infos)
    passes = encoder_passes(model)
    generate(model, features(processor, 2), max_new_tokens=1)
    assert sum(passes) == 2  # wrapped once, not twice


def test_outside_the_tested_transformers_the_internal_patches_are_skipped_and_speech_still_comes_out_right(
    offline_models: OfflineModels,
    jfk: tuple[Clip, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The installed version is read as it is; the range it is checked against is what moves.
    monkeypatch.setattr(whisper_patches, "TESTED_TRANSFORMERS", (Version("4.40"), Version("4.41")))
    transcriber = WhisperTranscriber(
        TranscribeOptions(model=str(offline_models.whisper["whisper-tiny.en"]), cpu_threads=1, int8_decoder="true")
    )
    with caplog.at_level(logging.INFO, logger="moments.whisper"):
        transcriber.load()
    # The patches that use only torch modules stay; the ones that lean on transformers' internals go.
    assert transcriber.applied_patches == (
        whisper_patches.INT8_VOCAB_PROJECTION,
        whisper_patches.INT8_DECODER,
        whisper_patches.SHARED_CROSS_KV,
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert all(
        name in warnings[0]
        for name in (
            whisper_patches.SHARED_ENCODER_PASS,
            whisper_patches.CACHED_SUPPRESS_MASK,
            whisper_patches.HELD_TAILS,
        )
    )
    assert transformers.__version__ in warnings[0] and ">=4.40,<4.41" in warnings[0]

    clip, audio = jfk
    text = " ".join(s.text for s in transcriber.transcribe(audio).segments)
    assert "ask not what your country can do for you" in text.lower().replace(",", "")
    assert word_error_rate(clip.text, text) < 0.1


# The engine around the patches.


def random_transcriber(folder: Path, **options: Any) -> WhisperTranscriber:
    settings: dict[str, Any] = {"temperatures": (0.0,), "max_new_tokens": 8, "language": "en", "cpu_threads": 1}
    return WhisperTranscriber(TranscribeOptions(model=str(folder), **{**settings, **options}))


@pytest.fixture
def encoder_calls() -> Iterator[list[int]]:
    """Every real call of any Whisper encoder while the test runs (torch's global forward hook)."""
    calls: list[int] = []

    def hook(module: Any, _args: Any, _out: Any) -> None:
        if isinstance(module, WhisperEncoder):
            calls.append(1)

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    yield calls
    handle.remove()


def test_stream_plans_eagerly_decodes_lazily_and_stops_when_closed(
    random_folder: Path, two_windows: np.ndarray, encoder_calls: list[int]
) -> None:
    transcriber = random_transcriber(random_folder, batch_size=1)
    info, batches = transcriber.stream(two_windows)
    assert info.language == "en"
    assert info.windows == 2
    assert info.duration_s == pytest.approx(28.0)
    assert 15.0 < info.speech_s < 28.0
    assert encoder_calls == []  # nothing decoded yet

    first = next(batches)
    assert encoder_calls
    assert first.total_s == info.speech_s
    assert 0.0 < first.fraction < 1.0
    decoded = len(encoder_calls)
    batches.close()  # type: ignore[attr-defined]
    assert list(batches) == []
    assert len(encoder_calls) == decoded


def test_stream_batches_add_up_to_the_transcript(random_folder: Path, two_windows: np.ndarray) -> None:
    transcriber = random_transcriber(random_folder, batch_size=1)
    info, batches = transcriber.stream(two_windows)
    streamed: list[SegmentBatch] = list(batches)
    assert len(streamed) == info.windows == 2
    assert [b.fraction for b in streamed][-1] == 1.0
    assert streamed[0].done_s < streamed[1].done_s == info.speech_s
    assert [s for b in streamed for s in b.segments] == transcriber.transcribe(two_windows).segments
    # One batch of both windows gives the same segments as two batches of one.
    whole = random_transcriber(random_folder, batch_size=2).transcribe(two_windows)
    assert whole.segments == [s for b in streamed for s in b.segments]


def test_no_speech_streams_nothing(random_folder: Path, encoder_calls: list[int]) -> None:
    transcriber = random_transcriber(random_folder)
    silence = np.zeros(3 * 16_000, dtype=np.float32)
    info, batches = transcriber.stream(silence)
    assert (info.windows, info.speech_s, info.duration_s) == (0, 0.0, 3.0)
    assert list(batches) == []
    assert transcriber.transcribe(silence).segments == []
    assert encoder_calls == []


def test_a_transcription_leaves_torch_threads_and_transformers_verbosity_as_it_found_them(
    random_folder: Path, two_windows: np.ndarray
) -> None:
    seen: list[tuple[int, int]] = []
    handle = torch.nn.modules.module.register_module_forward_hook(
        lambda module, _a, _o: (
            seen.append((torch.get_num_threads(), transformers.logging.get_verbosity()))
            if isinstance(module, WhisperEncoder)
            else None
        )
    )
    torch.set_num_threads(2)  # the engine's is 1 (one_torch_thread puts the test's own count back)
    threads, verbosity = torch.get_num_threads(), transformers.logging.get_verbosity()
    try:
        transcriber = random_transcriber(random_folder, cpu_threads=1, language=None)
        transcriber.load()
        assert (torch.get_num_threads(), transformers.logging.get_verbosity()) == (threads, verbosity)
        transcriber.transcribe(two_windows)  # with language detection: detect_language is scoped too
    finally:
        handle.remove()
    assert (torch.get_num_threads(), transformers.logging.get_verbosity()) == (threads, verbosity)
    assert seen and set(seen) == {(1, logging.ERROR)}
    # The weight-loading bars were hidden through a hook that is gone again (set_tqdm_hook returns the last).
    assert transformers.logging.set_tqdm_hook(None) is None


def test_word_timing_reuses_the_encoder_pass_and_leaves_the_text_alone(
    random_folder: Path, two_windows: np.ndarray, encoder_calls: list[int]
) -> None:
    plain = random_transcriber(random_folder, word_timestamps=False).transcribe(two_windows)
    passes = len(encoder_calls)
    timed = random_transcriber(random_folder, word_timestamps=True).transcribe(two_windows)
    assert len(encoder_calls) == 2 * passes  # the same encoder passes again, none for the alignment
    assert [s.text for s in timed.segments] == [s.text for s in plain.segments]
    assert all(not s.words for s in plain.segments)
    timed_words = [w for s in timed.segments for w in s.words]
    assert timed_words and all(s.start_s <= w.start_s <= w.end_s <= s.end_s for s in timed.segments for w in s.words)


def test_a_checkpoint_without_alignment_heads_still_gets_words_and_says_so_once(
    random_whisper: Callable[[], Any],
    processor: Any,
    two_windows: np.ndarray,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = random_whisper()
    model.generation_config.alignment_heads = None
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    with caplog.at_level(logging.WARNING, logger="moments.whisper"):
        transcriber = random_transcriber(tmp_path, word_timestamps=True, batch_size=1)
        segments = transcriber.transcribe(two_windows).segments
    notes = [r.getMessage() for r in caplog.records if "alignment_heads" in r.getMessage()]
    assert len(notes) == 1 and "last 1 decoder layers" in notes[0]
    assert segments and all(s.words for s in segments)


def test_rows_of_the_last_encoder_batch_are_served_again_not_encoded_again(
    random_whisper: Callable[[], Any], processor: Any
) -> None:
    """A temperature fallback cuts the windows it decodes again out of the batch (a new tensor): their
    encoder output is the batch's own rows, with no second pass."""
    model = random_whisper()
    whisper_patches.apply(model, int8_vocab=False, device="cpu")
    passes = encoder_passes(model)
    feats = features(processor, 3)
    with torch.inference_mode():
        batch = model.model.encoder(feats).last_hidden_state
        again = model.model.encoder(feats[[2, 0]].clone()).last_hidden_state
        assert sum(passes) == 3
        assert torch.equal(again, batch[[2, 0]])
        other = features(processor, 4)[3:]  # a window the batch does not hold
        fresh = model.model.encoder(other).last_hidden_state
        assert sum(passes) == 4
        assert not torch.equal(fresh[0], batch[0])


def test_language_detection_shares_the_first_batch_encoder_pass(random_folder: Path, two_windows: np.ndarray) -> None:
    transcriber = random_transcriber(random_folder, language=None, batch_size=2, max_new_tokens=1)
    transcriber.load()
    passes = encoder_passes(transcriber._model)
    info, batches = transcriber.stream(two_windows)  # detects the language over the first batch's windows
    assert info.windows == 2 and sum(passes) == 2
    assert len(list(batches)) == 1
    assert sum(passes) == 2  # the batch was decoded on the detection's encoder pass


@pytest.mark.parametrize(
    ("name", "amx", "device", "width", "expected"),
    [
        ("auto", False, "cpu", 512, True),
        ("auto", True, "cpu", 512, False),  # Whisper base with AMX: bf16 measured faster
        ("auto", True, "cpu", 1280, True),  # distil-large-v3's width with AMX: int8 measured faster
        ("auto", True, "cpu", None, False),
        ("auto", False, "cuda", 1280, False),
        ("true", True, "cpu", 512, True),
        ("false", False, "cpu", 1280, False),
    ],
)
def test_the_int8_decoder_is_picked_by_what_the_cpu_offers(
    name: str, amx: bool, device: str, width: int | None, expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest import whisper

    monkeypatch.setattr(whisper, "has_amx", lambda: amx)
    picked, why = whisper.pick_int8_decoder(name, device, width)
    assert picked is expected
    assert why  # said in the log


def test_an_unknown_int8_decoder_setting_is_refused() -> None:
    from ingest.errors import ModelError
    from ingest.whisper import pick_int8_decoder

    with pytest.raises(ModelError, match="auto, true or false"):
        pick_int8_decoder("sometimes", "cpu")


def test_the_int8_decoder_transcribes_and_times_real_speech_as_the_float_decoder_does(
    offline_models: OfflineModels, jfk: tuple[Clip, np.ndarray], caplog: pytest.LogCaptureFixture
) -> None:
    """Whisper base (the product's code path: bf16 encoder where the CPU has it) on JFK, decoder in int8
    against the decoder in the model's dtype: the same words said, every word timed inside its segment."""
    clip, audio = jfk
    folder = str(offline_models.whisper["whisper-base"])
    results = {}
    for setting in ("true", "false"):
        engine = WhisperTranscriber(TranscribeOptions(model=folder, language="en", int8_decoder=setting))
        with caplog.at_level(logging.INFO, logger="moments.whisper"):
            results[setting] = engine.transcribe(audio)
        quantized = whisper_patches.INT8_DECODER in engine.applied_patches
        assert quantized is (setting == "true")
        plain = {n for n, m in engine._model.model.decoder.named_modules() if type(m) is torch.nn.Linear}
        cross = {n for n in plain if ".encoder_attn." in n}
        assert len(cross) == 6 * 4  # cross-attention stays in float: word timing reads it
        # Every other Linear layer of the int8 decoder (self-attention, feed-forward) is a quantized one.
        assert (plain == cross) is quantized
    assert any("decoder int8 (MOMENTS_WHISPER_INT8_DECODER=true)" in r.getMessage() for r in caplog.records)
    texts = {k: " ".join(s.text for s in t.segments) for k, t in results.items()}
    for text in texts.values():
        assert "ask not what your country can do for you" in text.lower().replace(",", "")
        assert word_error_rate(clip.text, text) < 0.1
    assert word_error_rate(texts["false"], texts["true"]) < 0.05
    segments = results["true"].segments
    words = [w for s in segments for w in s.words]
    assert len(words) >= 20
    assert all(s.start_s <= w.start_s <= w.end_s <= s.end_s for s in segments for w in s.words)
    reference = [w for s in results["false"].segments for w in s.words]
    if [w.text for w in words] == [w.text for w in reference]:  # the same words: nearly the same times
        assert np.median([abs(a.start_s - b.start_s) for a, b in zip(words, reference, strict=True)]) < 0.1


def test_cross_attention_keys_and_values_are_computed_once_per_encoder_pass(
    random_folder: Path, two_windows: np.ndarray
) -> None:
    """The no-speech check, the first decoding step and word timing's decoder pass all attend to the same
    encoder output: each layer projects it to keys and values once."""
    from torch.overrides import TorchFunctionMode

    transcriber = random_transcriber(random_folder, batch_size=2, word_timestamps=True)
    transcriber.load()
    assert whisper_patches.SHARED_CROSS_KV in transcriber.applied_patches
    passes = encoder_passes(transcriber._model)
    weight = transcriber._model.model.decoder.layers[0].encoder_attn.k_proj.weight
    projected: list[int] = []

    class CountKeyProjections(TorchFunctionMode):  # type: ignore[misc]
        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            if func is torch.nn.functional.linear and len(args) > 1 and args[1] is weight:
                projected.append(1)
            return func(*args, **(kwargs or {}))

    with CountKeyProjections():
        timed = transcriber.transcribe(two_windows)
    assert [w for s in timed.segments for w in s.words]  # word timing ran its decoder pass
    # Three model calls on each encoder pass (no-speech check, first step, word timing): one projection.
    assert passes and len(projected) == len(passes)
    assert getattr(transcriber._model._moments_cross_kv, "memo", None) is None  # none kept once it is done
