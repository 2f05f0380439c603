"""The transformers Whisper engine: audio array in, timestamped segments out.

Long-form audio is not handed to transformers' own chunked mode (its timestamps drift at chunk
boundaries); instead speech is found with a VAD, packed into windows of at most 30 s
(:mod:`ingest.windows`), and each window is decoded on its own with segment timestamps: greedy first,
temperature fallback on a bad compression ratio or log-probability, no conditioning on earlier text, a
token cap. Media time is the window offset plus model time.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ingest.errors import ModelError
from ingest.models import resolve_whisper_model
from ingest.speech import SAMPLE_RATE_HZ, VadOptions, detect_speech
from ingest.types import Segment, SpeechWindow, Transcript
from ingest.windows import enforce_monotonic, plan_windows

if TYPE_CHECKING:
    import torch

__all__ = ["TranscribeOptions", "Transcript", "WhisperTranscriber"]

ProgressFn = Callable[[float], None]
log = logging.getLogger("moments.whisper")


@dataclass(frozen=True)
class TranscribeOptions:
    """How to run Whisper. The model is configuration; its own processor supplies mel bins and tokens."""

    model: str = "distil-whisper/distil-large-v3"
    device: str = "auto"  # auto | cpu | cuda
    dtype: str = "auto"  # auto | float32 | float16 | bfloat16 (auto: float16 on CUDA, bfloat16 on CPUs with it)
    cpu_threads: int = 1
    batch_size: int = 0  # 0: 8 on CUDA, 4 on CPU
    int8_vocab: bool = True  # on CPU: an int8 copy of the vocabulary projection (read at every token)
    language: str | None = None  # None: detect (multilingual models) or English (.en models)
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    compression_ratio_threshold: float = 2.4
    logprob_threshold: float = -1.0
    no_speech_threshold: float = 0.6
    max_new_tokens: int = 220
    max_window_s: float = 30.0
    max_gap_s: float = 5.0
    vad: VadOptions = field(default_factory=VadOptions)
    allow_download: bool = False


def _pick_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelError("MOMENTS_WHISPER_DEVICE=cuda but no CUDA device is available")
    return name


def _pick_dtype(name: str, device: str) -> torch.dtype:
    import torch

    if name == "auto":
        if device == "cuda":
            return torch.float16
        # bfloat16 is about twice as fast on CPUs with native bf16 (AMX, AVX512-BF16) at the same word error
        # rate (bench/asr_speed); elsewhere it is emulated and slower than float32.
        try:
            native_bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            native_bf16 = False
        return torch.bfloat16 if native_bf16 else torch.float32
    try:
        return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]
    except KeyError:
        raise ModelError(f"unknown dtype {name!r}; use auto, float32, float16 or bfloat16") from None


def _share_encoder_pass(model: Any) -> None:
    """Run the encoder once per window, not twice.

    transformers' no-speech check (``WhisperNoSpeechDetection``) calls the whole model again on the same
    features at the first decoding step, which repeats the encoder pass: about a third of the CPU time of
    a window. The encoder is deterministic, so its last output is returned when it is called again with
    the very same features tensor and arguments; any other call runs it as usual.
    """
    encoder = model.model.encoder
    forward = encoder.forward
    local = threading.local()  # two threads transcribing at once must not see each other's windows

    def shared_forward(input_features: Any = None, *args: Any, **kwargs: Any) -> Any:
        key = (args, tuple(sorted((k, v) for k, v in kwargs.items() if v is not None and k != "return_dict")))
        last = getattr(local, "last", None)
        if last is not None and last[0] is input_features and last[1] == key:
            return last[2]
        output = forward(input_features, *args, **kwargs)
        # Holding the features keeps their id from being reused by another tensor.
        local.last = (input_features, key, output)
        return output

    encoder.forward = shared_forward


def _cache_suppress_mask() -> None:
    """Build Whisper's suppressed-token mask once per generate call instead of once per token.

    ``SuppressTokensLogitsProcessor`` runs ``torch.isin`` over the whole vocabulary at every decoding step
    (about 12% of CPU decoding time with Whisper base). Whisper's generate looks the class up by this
    module-level name, so a subclass that caches the mask replaces it; ``isinstance`` checks still hold.
    """
    import torch
    from transformers.generation.logits_process import SuppressTokensLogitsProcessor
    from transformers.models.whisper import generation_whisper

    if getattr(generation_whisper.SuppressTokensLogitsProcessor, "caches_mask", False):
        return

    class CachedSuppressTokens(SuppressTokensLogitsProcessor):  # type: ignore[misc]
        caches_mask = True
        _mask: Any = None

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            mask = self._mask
            if mask is None or mask.shape[-1] != scores.shape[-1] or mask.device != scores.device:
                mask = torch.zeros(scores.shape[-1], dtype=torch.bool, device=scores.device)
                mask[self.suppress_tokens.to(scores.device)] = True
                self._mask = mask
            return scores.masked_fill(mask, float("-inf"))

    generation_whisper.SuppressTokensLogitsProcessor = CachedSuppressTokens


def _quantize_vocab_projection(model: Any) -> None:
    """Replace the vocabulary projection with a dynamically quantized int8 copy.

    The projection (vocabulary x d_model, tied to the token embeddings) is read in full at every decoded
    token, so on CPU it is bound by memory bandwidth; int8 reads a quarter of float32's bytes. The
    embeddings stay as they are; the logits come out in float32.
    """
    import torch

    weight = model.proj_out.weight.detach().float().clone()
    linear = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    linear.weight = torch.nn.Parameter(weight, requires_grad=False)
    try:
        # torch.ao.quantization is deprecated in favour of torchao (a dependency we do not want for one
        # matrix); while it lasts it is used, and once it is gone the projection stays as it is.
        with warnings.catch_warnings():  # its deprecation notices are not the user's concern
            warnings.simplefilter("ignore")
            quantized = torch.ao.quantization.quantize_dynamic(
                torch.nn.Sequential(linear), {torch.nn.Linear}, dtype=torch.qint8
            )[0]
    except (AttributeError, ImportError, RuntimeError) as exc:
        log.info("int8 vocabulary projection unavailable (%s); decoding without it", exc)
        return

    class Int8Projection(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.inner = quantized

        def forward(self, hidden: Any) -> Any:
            return self.inner(hidden.float())

    model.proj_out = Int8Projection()


class WhisperTranscriber:
    """Loads a Whisper checkpoint once (lazily) and transcribes 16 kHz mono float32 arrays."""

    def __init__(self, options: TranscribeOptions) -> None:
        self.options = options
        self._lock = threading.Lock()
        self._model: Any = None
        self._processor: Any = None
        self._device = "cpu"
        self._dtype: Any = None

    @property
    def model_name(self) -> str:
        return self.options.model

    def load(self) -> None:
        """Load the model and processor (idempotent). Raises ModelError with what to do if missing."""
        with self._lock:
            if self._model is not None:
                return
            import torch
            import transformers
            from transformers import WhisperForConditionalGeneration, WhisperProcessor

            # Per-call notices (max_new_tokens beside the config's max_length ...) are noise to a user.
            transformers.logging.set_verbosity_error()
            transformers.logging.disable_progress_bar()

            self._device = _pick_device(self.options.device)
            self._dtype = _pick_dtype(self.options.dtype, self._device)
            if self._device == "cpu":
                torch.set_num_threads(max(1, self.options.cpu_threads))
            source = resolve_whisper_model(self.options.model, allow_download=self.options.allow_download)
            try:
                processor = WhisperProcessor.from_pretrained(source)
                model = WhisperForConditionalGeneration.from_pretrained(
                    source, dtype=self._dtype, attn_implementation="sdpa"
                )
            except (OSError, ValueError) as exc:
                raise ModelError(f"cannot load Whisper model {self.options.model!r}: {exc}") from exc
            self._model = model.to(self._device).eval()
            self._processor = processor
            _share_encoder_pass(self._model)
            _cache_suppress_mask()
            if self.options.int8_vocab and self._device == "cpu":
                _quantize_vocab_projection(self._model)

    @property
    def batch_size(self) -> int:
        if self.options.batch_size > 0:
            return self.options.batch_size
        # On CPU, 4 windows per batch is about 1.25x faster than one at a time (bench/asr_speed) and costs
        # about 275 MB more memory with Whisper base.
        return 8 if self._device == "cuda" else 4

    def transcribe(
        self,
        audio: np.ndarray,
        on_progress: ProgressFn | None = None,
        on_segments: Callable[[list[Segment], str], None] | None = None,
    ) -> Transcript:
        """Transcribe a whole file's audio. ``on_progress`` gets the fraction of speech done, 0..1;
        ``on_segments`` gets the clean segments so far (and the language) after each batch of windows."""
        self.load()
        duration_s = audio.size / SAMPLE_RATE_HZ
        regions = detect_speech(audio, self.options.vad)
        windows = plan_windows(
            regions, duration_s=duration_s, max_window_s=self.options.max_window_s, max_gap_s=self.options.max_gap_s
        )
        language = self._language_for(audio, windows)
        total_s = sum(w.duration_s for w in windows) or 1.0
        done_s = 0.0
        segments: list[Segment] = []
        for i in range(0, len(windows), self.batch_size):
            batch = windows[i : i + self.batch_size]
            segments.extend(self._transcribe_batch(audio, batch, language))
            done_s += sum(w.duration_s for w in batch)
            # Hand the segments over first, so that progress, once reported, includes what was indexed.
            if on_segments is not None and i + self.batch_size < len(windows):
                on_segments(enforce_monotonic(segments), language)
            if on_progress is not None:
                on_progress(min(1.0, done_s / total_s))
        if on_progress is not None:
            on_progress(1.0)
        return Transcript(segments=enforce_monotonic(segments), language=language)

    def _slice(self, audio: np.ndarray, window: SpeechWindow) -> np.ndarray:
        return audio[int(window.start_s * SAMPLE_RATE_HZ) : int(window.end_s * SAMPLE_RATE_HZ)]

    def _features(self, audio: np.ndarray, windows: Sequence[SpeechWindow]) -> torch.Tensor:
        clips = [self._slice(audio, w) for w in windows]
        feats = self._processor.feature_extractor(clips, sampling_rate=SAMPLE_RATE_HZ, return_tensors="pt")
        return feats.input_features.to(self._device, dtype=self._dtype)

    def _language_for(self, audio: np.ndarray, windows: Sequence[SpeechWindow]) -> str:
        """The configured language, English for .en models, else the majority over the first windows."""
        gen = self._model.generation_config
        if not getattr(gen, "is_multilingual", False):
            return "en"
        if self.options.language:
            return self.options.language
        if not windows:
            return "en"
        import torch

        with torch.inference_mode():
            lang_ids = self._model.detect_language(self._features(audio, windows[:3]))
        id_to_lang: dict[int, str] = {int(v): str(k).strip("<|>") for k, v in gen.lang_to_id.items()}
        votes = Counter(id_to_lang.get(int(t), "en") for t in lang_ids.flatten().tolist())
        return votes.most_common(1)[0][0]

    def _transcribe_batch(self, audio: np.ndarray, windows: Sequence[SpeechWindow], language: str) -> list[Segment]:
        import torch

        gen = self._model.generation_config
        kwargs: dict[str, Any] = {}
        if getattr(gen, "is_multilingual", False):
            kwargs.update(language=language, task="transcribe")
        with torch.inference_mode():
            out = self._model.generate(
                self._features(audio, windows),
                return_timestamps=True,
                return_segments=True,
                condition_on_prev_tokens=False,
                temperature=self.options.temperatures,
                compression_ratio_threshold=self.options.compression_ratio_threshold,
                logprob_threshold=self.options.logprob_threshold,
                no_speech_threshold=self.options.no_speech_threshold,
                max_new_tokens=self.options.max_new_tokens,
                **kwargs,
            )
        timestamp_begin = int(gen.no_timestamps_token_id) + 1
        segments: list[Segment] = []
        for window, window_segments in zip(windows, out["segments"], strict=True):
            for seg in window_segments:
                tokens = [int(t) for t in seg["tokens"].tolist() if int(t) < timestamp_begin]
                text = self._processor.tokenizer.decode(tokens, skip_special_tokens=True).strip()
                start = window.start_s + float(seg["start"])
                end = min(window.end_s, window.start_s + float(seg["end"]))
                segments.append(Segment(start, max(start, end), text))
        return segments
