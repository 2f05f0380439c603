"""The transformers Whisper engine: audio array in, timestamped segments out.

Long-form audio is not handed to transformers' own chunked mode (its timestamps drift at chunk
boundaries); instead speech is found with a VAD, packed into windows of at most 30 s
(:mod:`ingest.windows`), and each window is decoded on its own with segment timestamps: greedy first,
temperature fallback on a bad compression ratio or log-probability, no conditioning on earlier text, a
token cap. Near the end of a window Whisper often stops at a segment's opening timestamp, short of the
speech after it; transformers would decode that window again from there (an encoder pass for a few
seconds), so instead the tails of a batch's windows are decoded together, packed into one window with a
short silence between them (:func:`ingest.windows.pack_tails`), and their segments go back to their own
windows. Media time is the window offset plus model time. With word timing on, each decoded window is
aligned word by word from the model's own cross-attention (:mod:`ingest.alignment`): one more decoder pass
over the window's text, reusing the encoder output that decoding computed.

:meth:`WhisperTranscriber.stream` works like faster-whisper's ``transcribe()``: it returns what is known
up front (language, durations) and a lazy iterator of segment batches, so the caller drives the loop
and stops it by leaving it. The speed patches of transformers live in :mod:`ingest.whisper_patches`.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ingest.errors import ModelError
from ingest.models import resolve_whisper_model
from ingest.speech import SAMPLE_RATE_HZ, VadOptions, detect_speech
from ingest.types import Segment, SpeechWindow, Transcript, Word
from ingest.windows import TailPiece, clean_segments, pack_tails, plan_windows, unpack_segments
from retrieval.embedder import native_bf16

if TYPE_CHECKING:
    import torch

__all__ = ["SegmentBatch", "TranscribeOptions", "Transcript", "TranscriptionInfo", "WhisperTranscriber", "pick_dtype"]

log = logging.getLogger("moments.whisper")

# The silence between two tails packed into one window: long enough that Whisper ends a segment there.
TAIL_GAP_S = 1.5


@dataclass(frozen=True)
class TranscriptionInfo:
    """What is known before any window is decoded."""

    language: str
    duration_s: float  # of the audio
    speech_s: float  # total length of the planned windows: what progress counts against
    windows: int


@dataclass(frozen=True)
class SegmentBatch:
    """The clean segments that one batch of windows added, in media time, and how far the file is."""

    segments: tuple[Segment, ...]
    done_s: float  # window seconds decoded so far, this batch included
    total_s: float  # the planned window seconds (TranscriptionInfo.speech_s)

    @property
    def fraction(self) -> float:
        """The part of the speech decoded so far, 0..1; exactly 1.0 after the last batch."""
        return min(1.0, max(0.0, self.done_s / self.total_s)) if self.total_s > 0 else 1.0


@dataclass(frozen=True)
class TranscribeOptions:
    """How to run Whisper. The model is configuration; its own processor supplies mel bins and tokens."""

    model: str = "distil-whisper/distil-large-v3"
    device: str = "auto"  # auto | cpu | cuda
    dtype: str = "auto"  # auto | float32 | float16 | bfloat16 (auto: float16 on CUDA, bfloat16 on CPUs with it)
    cpu_threads: int = 1
    batch_size: int = 0  # 0: 8
    int8_vocab: bool = True  # on CPU: an int8 copy of the vocabulary projection (read at every token)
    int8_decoder: str = "false"  # auto | true | false: on CPU, the decoder's Linear layers in int8 (auto: no AMX)
    language: str | None = None  # None: detect (multilingual models) or English (.en models)
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    compression_ratio_threshold: float = 2.4
    logprob_threshold: float = -1.0
    no_speech_threshold: float = 0.6
    max_new_tokens: int = 220
    max_window_s: float = 30.0
    max_gap_s: float = 5.0
    word_timestamps: bool = True  # the time of every word, from the model's cross-attention (bench/asr_speed)
    # The tails Whisper stops short of (held-tails in ingest.whisper_patches) decoded together, packed into
    # as few windows as they fit; False: transformers decodes each window again from where it stopped.
    pack_tails: bool = True
    vad: VadOptions = field(default_factory=VadOptions)
    allow_download: bool = True  # a hub model missing here downloads on first use (not with HF_HUB_OFFLINE)


def has_amx() -> bool:
    """Whether this CPU has AMX tiles (and the kernel lets this process use them)."""
    import torch

    try:
        return bool(torch._C._cpu._init_amx())
    except (AttributeError, RuntimeError):
        return False


# From this width on, an int8 decoder is faster than bf16 even with AMX: the decoder of distil-large-v3's
# shape (1280 wide) 12.4-15.1 ms a token in int8 against 19.6-20.6 in bf16 (bench/default_shape, Intel Xeon
# with AMX, 2 threads, 2026-12-02), while Whisper base's (512 wide) ran slower in int8 there (16.3x real
# time against 18.3x, alternated file by file in one process).
INT8_DECODER_MIN_WIDTH = 1024


def pick_int8_decoder(name: str, device: str, width: int | None = None) -> tuple[bool, str]:
    """Whether the decoder runs with int8 Linear layers, and why (said in the log); ``width``: the model's
    ``d_model``, where known."""
    if name in ("true", "false"):
        return name == "true", f"MOMENTS_WHISPER_INT8_DECODER={name}"
    if name != "auto":
        raise ModelError(f"unknown int8 decoder setting {name!r}; use auto, true or false")
    if device != "cpu":
        return False, f"the model runs on {device}"
    if not has_amx():
        return True, "this CPU has no AMX: int8 decoding runs on its integer dot-product units"
    if width is not None and width >= INT8_DECODER_MIN_WIDTH:
        return True, f"a decoder {width} wide: int8 measured faster than bf16 even with AMX"
    return False, "this CPU has AMX and the decoder is narrow: bf16 measured faster there"


def _pick_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelError("MOMENTS_WHISPER_DEVICE=cuda but no CUDA device is available")
    return name


def pick_dtype(name: str, device: str) -> torch.dtype:
    import torch

    if name == "auto":
        if device == "cuda":
            return torch.float16
        # bfloat16 is about twice as fast on CPUs with native bf16 (AMX, AVX512-BF16) at the same word error
        # rate (bench/asr_speed); elsewhere it is emulated and slower than float32.
        return torch.bfloat16 if native_bf16() else torch.float32
    try:
        return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]
    except KeyError:
        raise ModelError(f"unknown dtype {name!r}; use auto, float32, float16 or bfloat16") from None


class _QuietTransformers:
    """Hush transformers (per-call notices, weight-loading bars) while our own calls run, then restore it.

    Its log level and progress-bar hook are process-wide, so calls that overlap in several threads share
    one quiet period: the first one in saves the state and the last one out puts it back.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._saved: tuple[int, Any] = (logging.NOTSET, None)

    @contextmanager
    def __call__(self) -> Iterator[None]:
        from transformers.utils import logging as hf_logging

        library_logger = hf_logging.get_logger("transformers")
        with self._lock:
            if self._depth == 0:
                # Per-call notices (max_new_tokens beside the config's max_length ...) are noise to a user.
                level = library_logger.level
                library_logger.setLevel(logging.ERROR)
                self._saved = (level, hf_logging.set_tqdm_hook(_hidden_bar))
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    level, hook = self._saved
                    library_logger.setLevel(level)
                    hf_logging.set_tqdm_hook(hook)


def _hidden_bar(factory: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return factory(*args, **{**kwargs, "disable": True})


_quiet_transformers = _QuietTransformers()


class WhisperTranscriber:
    """Loads a Whisper checkpoint once (lazily) and transcribes 16 kHz mono float32 arrays.

    The process is left as it was found: the torch thread count and transformers' verbosity are set only
    around this engine's own model calls.
    """

    def __init__(self, options: TranscribeOptions) -> None:
        self.options = options
        self._lock = threading.Lock()
        self._model: Any = None
        self._processor: Any = None
        self._device = "cpu"
        self._dtype: Any = None
        self._patches: tuple[str, ...] = ()
        self._aligner: Any = None

    @property
    def model_name(self) -> str:
        return self.options.model

    @property
    def applied_patches(self) -> tuple[str, ...]:
        """The names of the speed patches in effect on the loaded model (see :mod:`ingest.whisper_patches`)."""
        return self._patches

    def load(self) -> None:
        """Load the model and processor (idempotent). Raises ModelError with what to do if missing."""
        with self._lock:
            if self._model is not None:
                return
            from transformers import WhisperForConditionalGeneration, WhisperProcessor

            from ingest import whisper_patches

            self._device = _pick_device(self.options.device)
            self._dtype = pick_dtype(self.options.dtype, self._device)
            pick_int8_decoder(self.options.int8_decoder, self._device)  # an unknown setting: refused first
            source = resolve_whisper_model(self.options.model, allow_download=self.options.allow_download)
            with self._model_call():
                try:
                    processor = WhisperProcessor.from_pretrained(source)
                    model = WhisperForConditionalGeneration.from_pretrained(
                        source, dtype=self._dtype, attn_implementation="sdpa"
                    )
                except (OSError, ValueError) as exc:
                    raise ModelError(f"cannot load Whisper model {self.options.model!r}: {exc}") from exc
                model = model.to(self._device).eval()
                int8_decoder, why = pick_int8_decoder(
                    self.options.int8_decoder, self._device, int(model.config.d_model)
                )
                self._patches = whisper_patches.apply(
                    model, int8_vocab=self.options.int8_vocab, device=self._device, int8_decoder=int8_decoder
                )
            log.info(
                "Whisper on %s in %s, decoder %s (%s)",
                self._device,
                str(self._dtype).removeprefix("torch."),
                "int8" if whisper_patches.INT8_DECODER in self._patches else "in the same dtype",
                why,
            )
            if self.options.word_timestamps:
                from ingest.alignment import CrossAttentionAligner

                self._aligner = CrossAttentionAligner(model, processor.tokenizer)
            self._processor = processor
            self._model = model

    @property
    def word_timestamps(self) -> bool:
        """Whether segments carry their words' times (the option, once the model is loaded)."""
        return self.options.word_timestamps

    @property
    def batch_size(self) -> int:
        if self.options.batch_size > 0:
            return self.options.batch_size
        # 8 windows a batch on CPU as on CUDA, faster-whisper's batched mode's own size: a decoding step reads
        # every decoder weight and each window's cross-attention keys and values whatever the batch, so more
        # windows a step cost less each. bench/asr_speed on AMD EPYC (AVX2, 2 threads, 2026-12-04): 1.13x and
        # 1.33x of 4 windows in two alternated rounds, at 2.7 GB peak against 1.9 GB with Whisper base.
        return 8

    def stream(self, audio: np.ndarray) -> tuple[TranscriptionInfo, Iterator[SegmentBatch]]:
        """Plan a whole file's transcription and return its info and a lazy iterator of segment batches.

        Loading, speech detection, window planning and language detection happen here; decoding happens
        as the iterator is advanced, one batch of :attr:`batch_size` windows per item. Leaving the loop
        (or closing the iterator) stops the work. Audio with no speech plans no windows: the iterator
        yields nothing. Across all batches the segments are those of :meth:`transcribe`.
        """
        self.load()
        duration_s = audio.size / SAMPLE_RATE_HZ
        regions = detect_speech(audio, self.options.vad)
        windows = plan_windows(
            regions, duration_s=duration_s, max_window_s=self.options.max_window_s, max_gap_s=self.options.max_gap_s
        )
        language = self._language_for(audio, windows)
        # fsum: the running total after the last batch equals this total exactly, so progress ends at 1.0.
        speech_s = math.fsum(w.duration_s for w in windows)
        info = TranscriptionInfo(language=language, duration_s=duration_s, speech_s=speech_s, windows=len(windows))
        return info, self._batches(audio, windows, language, speech_s or 1.0)

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """Transcribe a whole file's audio at once (:meth:`stream`, consumed)."""
        info, batches = self.stream(audio)
        return Transcript(segments=[s for batch in batches for s in batch.segments], language=info.language)

    def _batches(
        self, audio: np.ndarray, windows: Sequence[SpeechWindow], language: str, total_s: float
    ) -> Iterator[SegmentBatch]:
        last_end_s = 0.0
        for i in range(0, len(windows), self.batch_size):
            batch = windows[i : i + self.batch_size]
            segments, last_end_s = clean_segments(self._transcribe_batch(audio, batch, language), last_end_s=last_end_s)
            done_s = math.fsum(w.duration_s for w in windows[: i + len(batch)])
            yield SegmentBatch(segments=tuple(segments), done_s=done_s, total_s=total_s)

    @contextmanager
    def _model_call(self) -> Iterator[None]:
        """Our thread count and a quiet transformers for the length of one model call, then as before.

        The torch thread count belongs to the calling thread, so each call sets and restores its own.
        """
        import torch

        with _quiet_transformers():
            before = torch.get_num_threads()
            wanted = max(1, self.options.cpu_threads) if self._device == "cpu" else before
            if wanted != before:
                torch.set_num_threads(wanted)
            try:
                with torch.inference_mode():
                    yield
            finally:
                if torch.get_num_threads() != before:
                    torch.set_num_threads(before)

    def _slice(self, audio: np.ndarray, window: SpeechWindow) -> np.ndarray:
        return audio[int(window.start_s * SAMPLE_RATE_HZ) : int(window.end_s * SAMPLE_RATE_HZ)]

    def _features(self, audio: np.ndarray, windows: Sequence[SpeechWindow]) -> torch.Tensor:
        return self._clip_features([self._slice(audio, w) for w in windows])

    def _language_for(self, audio: np.ndarray, windows: Sequence[SpeechWindow]) -> str:
        """The configured language, English for .en models, else the majority over the first windows."""
        gen = self._model.generation_config
        if not getattr(gen, "is_multilingual", False):
            return "en"
        if self.options.language:
            return self.options.language
        if not windows:
            return "en"
        # The first batch's windows: the encoder's output for them is served again to that batch's decoding
        # (whisper_patches' shared encoder pass), so detecting the language costs no encoder pass of its own.
        with self._model_call():
            lang_ids = self._model.detect_language(self._features(audio, windows[: self.batch_size]))
        id_to_lang: dict[int, str] = {int(v): str(k).strip("<|>") for k, v in gen.lang_to_id.items()}
        votes = Counter(id_to_lang.get(int(t), "en") for t in lang_ids.flatten().tolist())
        return votes.most_common(1)[0][0]

    def _transcribe_batch(self, audio: np.ndarray, windows: Sequence[SpeechWindow], language: str) -> list[Segment]:
        from ingest import whisper_patches

        try:
            return self._decode_batch(audio, windows, language)
        finally:  # an idle model keeps no batch's cross-attention keys and values
            whisper_patches.forget_cross_kv(self._model)

    def _decode_batch(self, audio: np.ndarray, windows: Sequence[SpeechWindow], language: str) -> list[Segment]:
        """The segments of a batch of windows, in media time. Where Whisper stopped short of a window's end
        (see ``held-tails`` in :mod:`ingest.whisper_patches`), the tails of the batch are transcribed
        together, packed into as few windows as they fit (:func:`ingest.windows.pack_tails`)."""
        from ingest import whisper_patches

        clips = [self._slice(audio, w) for w in windows]
        holding: AbstractContextManager[list[tuple[int, float]]] = (
            whisper_patches.held_tails(self._model) if self.options.pack_tails else nullcontext([])
        )
        with holding as held:
            rows = self._decode_clips(clips, language)
        tails = [TailPiece(row, start, clips[row].size / SAMPLE_RATE_HZ) for row, start in sorted(held)]
        packed = pack_tails(tails, max_window_s=self.options.max_window_s, gap_s=TAIL_GAP_S)
        if packed:
            composites = [_joined_tails(clips, placed) for placed in packed]
            for placed, segments in zip(packed, self._decode_clips(composites, language), strict=True):
                for row, found in unpack_segments(segments, placed).items():
                    rows[row].extend(found)
        out: list[Segment] = []
        for window, clip_segments in zip(windows, rows, strict=True):
            out.extend(_shifted(seg, window.start_s) for seg in clip_segments)
        return out

    def _decode_clips(self, clips: Sequence[np.ndarray], language: str) -> list[list[Segment]]:
        """Each clip's segments (and their words, with word timing on), in the clip's own time."""
        gen = self._model.generation_config
        kwargs: dict[str, Any] = {}
        if getattr(gen, "is_multilingual", False):
            kwargs.update(language=language, task="transcribe")
        aligner = self._aligner
        with self._model_call(), aligner.capture() if aligner is not None else nullcontext([]) as encoded:
            out = self._model.generate(
                self._clip_features(clips),
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
        eot = int(gen.eos_token_id if not isinstance(gen.eos_token_id, list) else gen.eos_token_id[0])
        # Per clip: (start, end, text tokens) of each segment, in clip time.
        decoded: list[list[tuple[float, float, list[int]]]] = []
        for clip, clip_segments in zip(clips, out["segments"], strict=True):
            length_s = clip.size / SAMPLE_RATE_HZ
            rows = []
            for seg in clip_segments:
                # Text tokens come before end-of-text; timestamps and the other special tokens after it.
                tokens = [int(t) for t in seg["tokens"].tolist() if int(t) < eot]
                start = float(seg["start"])
                end = min(length_s, float(seg["end"]))
                rows.append((start, max(start, end), tokens))
            decoded.append(rows)
        words = self._align(clips, decoded, encoded, language) if aligner is not None and encoded else None
        segments: list[list[Segment]] = []
        for c, rows in enumerate(decoded):
            clip_segments = []
            for r, (start, end, tokens) in enumerate(rows):
                text = self._processor.tokenizer.decode(tokens, skip_special_tokens=True).strip()
                seg_words = words[c][r] if words is not None else ()
                if seg_words:
                    # The words say better than the timestamp tokens where speech starts and stops (those
                    # often fall a clause early or late); clean_segments keeps segments in order.
                    start, end = seg_words[0].start_s, max(seg_words[-1].end_s, seg_words[0].start_s)
                clip_segments.append(Segment(start, end, text, seg_words))
            segments.append(clip_segments)
        return segments

    def _clip_features(self, clips: Sequence[np.ndarray]) -> torch.Tensor:
        feats = self._processor.feature_extractor(list(clips), sampling_rate=SAMPLE_RATE_HZ, return_tensors="pt")
        return feats.input_features.to(self._device, dtype=self._dtype)

    def _align(
        self,
        clips: Sequence[np.ndarray],
        decoded: list[list[tuple[float, float, list[int]]]],
        encoded: list[Any],
        language: str,
    ) -> list[list[tuple[Word, ...]]]:
        """The words of each decoded segment of each clip, in clip time, inside their clip."""
        tokens = [[seg_tokens for _, _, seg_tokens in rows] for rows in decoded]
        frames = [round(clip.size / SAMPLE_RATE_HZ * 100) for clip in clips]  # mel frames: one per 10 ms
        with self._model_call():
            aligned = self._aligner.align(encoded[0], tokens, frames, language=language)
        out: list[list[tuple[Word, ...]]] = []
        for clip, clip_words in zip(clips, aligned, strict=True):
            length_s = clip.size / SAMPLE_RATE_HZ
            per_segment: list[list[Word]] = []
            for seg_words in clip_words:
                taken = []
                for word in seg_words:
                    text = word.text.strip()
                    if not text:
                        continue
                    ws = min(word.start_s, length_s)
                    we = min(max(word.end_s, ws), length_s)
                    taken.append(Word(ws, we, text, round(word.probability, 3)))
                per_segment.append(taken)
            out.append(self._snap_to_voice(clip, per_segment))
        return out

    def _snap_to_voice(self, clip: np.ndarray, segments: list[list[Word]]) -> list[tuple[Word, ...]]:
        """Words start where the voice does and end where it stops, at pauses
        (:func:`ingest.alignment.voice_starts`, :func:`ingest.alignment.voice_ends`): a segment's first word,
        or one that starts after the last ended, whenever it opens on quiet; any word that opens or closes
        on a quiet run long enough to be a pause."""
        from ingest.alignment import frame_levels, snap_to_voice

        spans: list[tuple[float, float, bool]] = []
        for words in segments:
            for k, w in enumerate(words):
                spans.append((w.start_s, w.end_s, k == 0 or w.start_s > words[k - 1].end_s + 1e-3))
        levels = frame_levels(clip, SAMPLE_RATE_HZ)
        times = iter(snap_to_voice(spans, levels, offset_s=0.0, end_s=clip.size / SAMPLE_RATE_HZ))
        return [tuple(Word(*next(times), w.text, w.probability) for w in words) for words in segments]


def _shifted(segment: Segment, by_s: float) -> Segment:
    """``segment`` (and its words) moved ``by_s`` seconds later: from a window's time into media time."""
    words = tuple(Word(w.start_s + by_s, w.end_s + by_s, w.text, w.probability) for w in segment.words)
    return replace(segment, start_s=segment.start_s + by_s, end_s=segment.end_s + by_s, words=words)


def _joined_tails(clips: Sequence[np.ndarray], placed: Sequence[tuple[TailPiece, float]]) -> np.ndarray:
    """The audio of one packed window: each tail of its clip from its start, at its offset, silence between."""
    parts: list[np.ndarray] = []
    at = 0  # samples so far
    for piece, offset in placed:
        silence = max(0, round(offset * SAMPLE_RATE_HZ) - at)
        tail = clips[piece.row][round(piece.start_s * SAMPLE_RATE_HZ) :]
        parts += [np.zeros(silence, dtype=np.float32), tail]
        at += silence + tail.size
    return np.concatenate(parts)
