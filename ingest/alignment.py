"""Word times from Whisper itself: cross-attention of its alignment heads, warped onto the audio frames.

Whisper decodes text, not times of words; but a few of its decoder's cross-attention heads (the
checkpoint's ``alignment_heads``) look at the audio frame being spoken as each token is predicted. After a
window is decoded, its text tokens are fed through the decoder once more, teacher-forced, and the
attention those heads pay to each encoder frame is normalised, smoothed and warped onto time with dynamic
time warping, as OpenAI's ``timing.py`` does. Tokens are grouped into words with the tokenizer
(punctuation attached to its word, the leading space not part of it); each word gets the mean
probability of its tokens from the same decoder pass.

The pure steps (:func:`dtw`, :func:`median_filter`, :func:`split_words`, :func:`word_times`) need only
numpy; :class:`CrossAttentionAligner` runs the model and imports torch.

A checkpoint without ``alignment_heads`` uses every head of the last half of the decoder layers (OpenAI's
own default), and says so once in the log: the times are coarser, never missing.

Cross-attention places a word that follows a pause early, in the pause (by about 0.17 s on the spoken
benchmark media): the warp has to leave the silence somewhere. Such a word's start is moved on to where
the voice begins (:func:`voice_starts`), the first 10 ms frame inside the word's first 0.6 s that is at
most 20 dB under the window's loud frames; in steady noise no frame is quiet, and nothing moves. The warp
also leaves words contiguous: inside a segment the pause between two sentences is split between the word
before it and the word after it, so the transcript would say nobody paused. A word that opens on at least
``VOICE_MIN_QUIET_S`` of quiet starts where its voice does, and one that closes on that much quiet ends
where its voice stops (:func:`voice_ends`); shorter quiet runs are the closures of stop consonants, and
stay inside their word. Chapters read the pauses between sentences from these times.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "FRAMES_PER_SECOND",
    "AlignedWord",
    "CrossAttentionAligner",
    "dtw",
    "frame_levels",
    "median_filter",
    "snap_to_voice",
    "split_words",
    "voice_ends",
    "voice_starts",
    "word_times",
]

log = logging.getLogger("moments.whisper")

FRAMES_PER_SECOND = 50  # encoder frames: 30 s of audio are 1500 of them (the mel hop is 10 ms, halved)
MEDIAN_FILTER_WIDTH = 7
PREPEND_PUNCTUATION = "\"'“¿([{-"
APPEND_PUNCTUATION = "\"'.。,，!！?？:：”)]}、"
SENTENCE_END = ".。!！?？"
# Languages written without spaces between words: each character (or group of tokens that decodes to
# whole characters) is a word.
UNSPACED_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "my", "yue"})


@dataclass(frozen=True)
class AlignedWord:
    """A word of one window, in seconds from the window's start; ``tokens`` of the decoded text it covers."""

    text: str  # with its leading space, as decoded
    start_s: float
    end_s: float
    probability: float
    tokens: int


# ---------------------------------------------------------------------------------------------- pure
def dtw(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cheapest monotonic path through ``cost`` (tokens x frames) from the top-left to the bottom-right.

    Returns the path's token and frame indices. Each step goes one token on, one frame on, or both; ties
    are broken as in OpenAI's and transformers' implementations. Cells on one anti-diagonal depend only on
    the two before it, so the table is kept skewed (row ``d`` holds the cells ``(i, d - i)``) and each
    diagonal is computed at once from slices of the two before it: N + M numpy steps, not N x M Python ones.
    """
    n, m = cost.shape
    rows = n + m + 1
    acc = np.full((rows, n + 1), np.inf)  # acc[d, i]: the cheapest path to cell (i, d - i)
    acc[0, 0] = 0.0
    skewed = np.full((rows, n + 1), np.inf)  # skewed[i + j, i] = cost[i - 1, j - 1]
    ii, jj = np.meshgrid(np.arange(1, n + 1), np.arange(1, m + 1), indexing="ij")
    skewed[ii + jj, ii] = cost
    trace = np.full((rows, n + 1), 2, dtype=np.int8)
    for d in range(2, rows):
        lo, hi = max(1, d - m), min(n, d - 1)
        if lo > hi:
            continue
        c0 = acc[d - 2, lo - 1 : hi]  # (i - 1, j - 1)
        c1 = acc[d - 1, lo - 1 : hi]  # (i - 1, j)
        c2 = acc[d - 1, lo : hi + 1]  # (i, j - 1)
        step = np.where((c0 < c1) & (c0 < c2), 0, np.where((c1 < c0) & (c1 < c2), 1, 2)).astype(np.int8)
        acc[d, lo : hi + 1] = skewed[d, lo : hi + 1] + np.choose(step, (c0, c1, c2))
        trace[d, lo : hi + 1] = step
    i, j = n, m
    tokens: list[int] = []
    frames: list[int] = []
    while i > 0 or j > 0:
        tokens.append(i - 1)
        frames.append(j - 1)
        t = 1 if j == 0 else 2 if i == 0 else trace[i + j, i]
        if t == 0:
            i, j = i - 1, j - 1
        elif t == 1:
            i -= 1
        else:
            j -= 1
    return np.array(tokens[::-1]), np.array(frames[::-1])


# A sorting network for 7 values (16 compare-exchanges; checked on every 0/1 input, which by the zero-one
# principle proves it sorts any input): the median filter's width, elementwise over whole arrays.
_SORT7 = (
    (0, 6), (2, 3), (4, 5), (0, 2), (1, 4), (3, 6), (0, 1), (2, 5),
    (3, 4), (1, 2), (4, 6), (2, 3), (4, 5), (1, 2), (3, 4), (5, 6),
)  # fmt: skip


def median_filter(x: np.ndarray, width: int) -> np.ndarray:
    """A median filter of odd ``width`` along the last axis, edges reflected (as OpenAI's).

    Width 7 (the one used) runs a sorting network of elementwise minima and maxima over the seven shifted
    copies: about 4x faster than sorting them along a short axis, with the same values."""
    pad = width // 2
    if x.shape[-1] <= pad:
        return x
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(pad, pad)], mode="reflect")
    n = x.shape[-1]
    if width == 7:
        v = [padded[..., k : k + n] for k in range(width)]
        for i, j in _SORT7:
            v[i], v[j] = np.minimum(v[i], v[j]), np.maximum(v[i], v[j])
        return v[pad]
    shifted = np.stack([padded[..., k : k + n] for k in range(width)])
    shifted.sort(axis=0)  # a sort along a short first axis: faster than np.median over a window view
    out: np.ndarray = shifted[pad]
    return out


def split_words(
    tokens: Sequence[int], decode: Callable[[list[int]], str], *, language: str
) -> tuple[list[str], list[list[int]]]:
    """Group text tokens into words: ``(words, tokens of each word)``; words keep their leading space.

    Tokens are first grouped until they decode to whole characters (a multi-byte character can span
    tokens). In languages written with spaces a new word begins at a leading space, so punctuation and
    hyphenated parts stay with their word ("increase,", "self-substantial"); without spaces each character
    group is a word. Punctuation standing alone is then attached: opening marks to the word after,
    closing marks to the word before.
    """
    pieces: list[str] = []
    piece_tokens: list[list[int]] = []
    pending: list[int] = []
    for token in tokens:
        pending.append(token)
        text = decode(pending)
        if "\ufffd" not in text:
            pieces.append(text)
            piece_tokens.append(pending)
            pending = []
    if pending:
        pieces.append(decode(pending))
        piece_tokens.append(pending)
    if language in UNSPACED_LANGUAGES:
        words, word_tokens = pieces, piece_tokens
    else:
        words, word_tokens = [], []
        for piece, toks in zip(pieces, piece_tokens, strict=True):
            if not words or piece.startswith(" "):
                words.append(piece)
                word_tokens.append(list(toks))
            else:
                words[-1] += piece
                word_tokens[-1].extend(toks)
    return _merge_punctuation(words, word_tokens)


def _merge_punctuation(words: list[str], tokens: list[list[int]]) -> tuple[list[str], list[list[int]]]:
    out_words: list[str] = []
    out_tokens: list[list[int]] = []
    carry_word, carry_tokens = "", []  # opening marks waiting for their word
    for word, toks in zip(words, tokens, strict=True):
        stripped = word.strip()
        if stripped and all(ch in APPEND_PUNCTUATION for ch in stripped) and out_words and not carry_word:
            out_words[-1] += stripped
            out_tokens[-1].extend(toks)
        elif stripped and all(ch in PREPEND_PUNCTUATION for ch in stripped):
            carry_word += word
            carry_tokens.extend(toks)
        else:
            if carry_word:
                space = " " if carry_word.startswith(" ") or word.startswith(" ") else ""
                word = space + carry_word.strip() + word.lstrip()
                toks = [*carry_tokens, *toks]
                carry_word, carry_tokens = "", []
            out_words.append(word)
            out_tokens.append(list(toks))
    if carry_word:  # opening marks at the very end: a word of their own
        out_words.append(carry_word)
        out_tokens.append(carry_tokens)
    return out_words, out_tokens


def word_times(
    matrix: np.ndarray, words: Sequence[str], word_tokens: Sequence[Sequence[int]], token_probs: Sequence[float]
) -> list[AlignedWord]:
    """Words with times from an alignment ``matrix`` (text tokens + end-of-text, x audio frames).

    The warped path says at which frame each token is first attended to; a word starts at its first
    token's frame and ends where the next word starts (the last at the end-of-text token's frame). Words
    far longer than is usual in the window (a word "spoken" through a pause before or after a sentence
    end) are cut to twice the median word length, as OpenAI does.
    """
    counts = [len(t) for t in word_tokens]
    if not words or sum(counts) + 1 != matrix.shape[0]:
        return []
    token_idx, frame_idx = dtw(-matrix.astype(np.float64))
    jumps = np.pad(np.diff(token_idx), (1, 0), constant_values=1).astype(bool)
    jump_times = frame_idx[jumps] / FRAMES_PER_SECOND
    bounds = np.pad(np.cumsum(counts), (1, 0))
    starts = jump_times[bounds[:-1]]
    ends = jump_times[bounds[1:]]
    probs = np.asarray(token_probs, dtype=np.float64)
    out = [
        AlignedWord(
            text=w,
            start_s=float(s),
            end_s=float(e),
            probability=float(probs[b0:b1].mean()) if b1 > b0 else 0.0,
            tokens=b1 - b0,
        )
        for w, s, e, b0, b1 in zip(words, starts, ends, bounds[:-1], bounds[1:], strict=True)
    ]
    return _truncate_long_words(out)


def _truncate_long_words(words: list[AlignedWord]) -> list[AlignedWord]:
    durations = np.array([w.end_s - w.start_s for w in words])
    durations = durations[durations > 0]
    if durations.size == 0:
        return words
    median = min(0.7, float(np.median(durations)))
    longest = 2 * median
    out = list(words)
    for i, w in enumerate(out):
        if w.end_s - w.start_s <= longest:
            continue
        if w.text.strip()[-1:] in SENTENCE_END:  # spoken on into the pause after the sentence
            out[i] = _with_times(w, w.start_s, w.start_s + longest)
        elif i == 0 or out[i - 1].text.strip()[-1:] in SENTENCE_END:  # spoken through the pause before it
            out[i] = _with_times(w, w.end_s - longest, w.end_s)
    return out


def _with_times(w: AlignedWord, start_s: float, end_s: float) -> AlignedWord:
    return AlignedWord(text=w.text, start_s=start_s, end_s=end_s, probability=w.probability, tokens=w.tokens)


LEVEL_FRAME_S = 0.01
VOICE_BELOW_LOUD_DB = 20.0
VOICE_SEARCH_S = 0.6
VOICE_LEAD_S = 0.02  # start this much before the first loud frame: soft first sounds come just before it
VOICE_TAIL_S = 0.05  # end this much after the last loud frame: a word's last sounds fade out after it
VOICE_MIN_QUIET_S = 0.15  # a quiet run this long at a word's edge is a pause, not a consonant's closure
VOICE_END_SEARCH_S = 1.0  # how far past a word's end its voice may go on (the warp ends some 0.6 s early)


def frame_levels(audio: np.ndarray, rate: int) -> np.ndarray:
    """The level of each 10 ms frame of ``audio``, in dB."""
    n = int(rate * LEVEL_FRAME_S)
    frames = audio[: audio.size // n * n].reshape(-1, n).astype(np.float64)
    out: np.ndarray = 20 * np.log10(np.sqrt((frames**2).mean(axis=1)) + 1e-9)
    return out


def _threshold(levels: np.ndarray) -> float:
    """The level under which a frame is quiet: ``VOICE_BELOW_LOUD_DB`` below the window's loud frames."""
    return float(np.percentile(levels, 95)) - VOICE_BELOW_LOUD_DB


def voice_starts(
    spans: Sequence[tuple[float, float, bool]], levels: np.ndarray, *, offset_s: float = 0.0
) -> list[float]:
    """The start of each word span ``(start, end, after_pause)`` (seconds from ``offset_s``, the start of
    the audio that ``levels`` measures), moved on to where the voice begins: for a word after a pause
    whenever its first frames are quiet, for any other word when at least ``VOICE_MIN_QUIET_S`` of them are
    (a pause the warp gave to the word after it).

    A start moves only forward, only to a loud frame inside the word (and its first ``VOICE_SEARCH_S``),
    less ``VOICE_LEAD_S``, never before where it was.
    """
    if levels.size == 0:
        return [s for s, _, _ in spans]
    threshold = _threshold(levels)
    min_quiet = round(VOICE_MIN_QUIET_S / LEVEL_FRAME_S)
    out = []
    for start, end, after_pause in spans:
        lo = max(0, int((start - offset_s) / LEVEL_FRAME_S))
        hi = min(levels.size, int((min(end, start + VOICE_SEARCH_S) - offset_s) / LEVEL_FRAME_S))
        loud = np.flatnonzero(levels[lo:hi] >= threshold)
        if loud.size == 0 or loud[0] == 0 or (not after_pause and loud[0] < min_quiet):
            out.append(start)
        else:
            out.append(max(start, offset_s + (lo + int(loud[0])) * LEVEL_FRAME_S - VOICE_LEAD_S))
    return out


def voice_ends(
    spans: Sequence[tuple[float, float, float]], levels: np.ndarray, *, offset_s: float = 0.0
) -> list[float]:
    """The end of each word span ``(start, end, next_start)`` (``next_start``: where the next word starts,
    or the window's end), moved to where the voice stops:

    - back, when the word's last ``VOICE_MIN_QUIET_S`` or more are quiet (a pause the warp gave to the word
      before it): to the last loud frame inside the word (in its last ``VOICE_SEARCH_S``);
    - on, when the voice goes on after the word's end and stops before the next word starts (the warp
      ends a word before a pause early): to where it stops, the start of a quiet run of at least
      ``VOICE_MIN_QUIET_S`` within ``VOICE_END_SEARCH_S``; a voice that runs on into the next word, or no
      quiet run that near, moves nothing;

    plus ``VOICE_TAIL_S``, never before the word's start. In steady noise no frame is quiet, and nothing
    moves."""
    if levels.size == 0:
        return [e for _, e, _ in spans]
    loud_at = levels >= _threshold(levels)
    min_quiet = round(VOICE_MIN_QUIET_S / LEVEL_FRAME_S)
    out = []
    for start, end, next_start in spans:
        at = min(levels.size, round((end - offset_s) / LEVEL_FRAME_S))
        lo = max(0, int((max(start, end - VOICE_SEARCH_S) - offset_s) / LEVEL_FRAME_S))
        loud = np.flatnonzero(loud_at[lo:at])
        quiet = (at - lo) - 1 - int(loud[-1]) if loud.size else 0
        if loud.size and quiet >= min_quiet:  # back to where the voice stopped
            voice_end = offset_s + (lo + int(loud[-1]) + 1) * LEVEL_FRAME_S + VOICE_TAIL_S
            out.append(min(end, max(start, voice_end)))
            continue
        stop = min(levels.size, int((min(next_start, end + VOICE_END_SEARCH_S) - offset_s) / LEVEL_FRAME_S))
        if at >= stop or not loud_at[at]:
            out.append(end)
            continue
        run, k = 0, at  # on while the voice lasts: up to the first quiet run long enough to be a pause
        while k < stop and run < min_quiet:
            run = 0 if loud_at[k] else run + 1
            k += 1
        if run < min_quiet:  # no pause before the next word (or in reach): nothing to measure it by
            out.append(end)
            continue
        voice_end = offset_s + (k - run) * LEVEL_FRAME_S + VOICE_TAIL_S
        out.append(max(end, min(voice_end, next_start)))
    return out


def snap_to_voice(
    spans: Sequence[tuple[float, float, bool]], levels: np.ndarray, *, offset_s: float, end_s: float
) -> list[tuple[float, float]]:
    """Each word span ``(start, end, after_pause)`` of one window, in order, moved to the voice at pauses:
    its start by :func:`voice_starts`, then its end by :func:`voice_ends`, bounded by where the next word
    now starts (the last word by ``end_s``, the window's end)."""
    if not spans:
        return []
    starts = voice_starts(spans, levels, offset_s=offset_s)
    nexts = [*starts[1:], end_s]
    ends = voice_ends(
        [(s, e, n) for s, (_, e, _), n in zip(starts, spans, nexts, strict=True)], levels, offset_s=offset_s
    )
    return list(zip(starts, ends, strict=True))


# ---------------------------------------------------------------------------------------------- model
class CrossAttentionAligner:
    """Aligns decoded windows of one loaded ``WhisperForConditionalGeneration`` to their audio.

    :meth:`capture` records the encoder output that ``generate`` computes (so aligning costs one extra
    decoder pass, not another encoder pass); :meth:`align` then runs that pass for a batch of windows.
    """

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer
        config = model.config
        gen = model.generation_config
        n_layers, n_heads = int(config.decoder_layers), int(config.decoder_attention_heads)
        listed = [(int(layer), int(head)) for layer, head in getattr(gen, "alignment_heads", None) or ()]
        # Heads that this model does not have (a generation config copied from another checkpoint) do not count.
        self.heads = [(layer, head) for layer, head in listed if 0 <= layer < n_layers and 0 <= head < n_heads]
        self.default_heads = not self.heads
        if self.default_heads:
            first = n_layers // 2
            self.heads = [(layer, h) for layer in range(first, n_layers) for h in range(n_heads)]
            log.warning(
                "this Whisper checkpoint has no usable alignment_heads: word times use all heads of the last %d "
                "decoder layers (coarser)",
                n_layers - first,
            )
        self.eot = int(gen.eos_token_id if not isinstance(gen.eos_token_id, list) else gen.eos_token_id[0])
        self.no_timestamps = int(gen.no_timestamps_token_id)
        self._local = threading.local()
        self._hook = model.model.encoder.register_forward_hook(self._on_encoder)

    def _on_encoder(self, _module: Any, _args: Any, output: Any) -> None:
        slot = getattr(self._local, "slot", None)
        if slot is not None and not slot:  # the first encoder pass of the call: the whole batch
            slot.append(output[0] if isinstance(output, tuple) else output.last_hidden_state)

    @contextmanager
    def capture(self) -> Iterator[list[Any]]:
        """Within this block, the first encoder output computed in this thread is kept in the yielded list."""
        slot: list[Any] = []
        self._local.slot = slot
        try:
            yield slot
        finally:
            self._local.slot = None

    def prefix(self, language: str) -> list[int]:
        """The start-of-transcript tokens for ``language``, ending in <|notimestamps|>."""
        gen = self.model.generation_config
        ids = [int(gen.decoder_start_token_id)]
        if getattr(gen, "is_multilingual", False):
            ids.append(int(gen.lang_to_id[f"<|{language}|>"]))
            ids.append(int(gen.task_to_id["transcribe"]))
        ids.append(self.no_timestamps)
        return ids

    def align(
        self,
        encoder_out: Any,
        segments: Sequence[Sequence[Sequence[int]]],
        frames: Sequence[int],
        *,
        language: str,
    ) -> list[list[list[AlignedWord]]]:
        """The words of each segment of each window: ``segments[i]`` the text tokens of window ``i``'s
        segments, ``frames[i]`` its length in mel frames. A word never spans two segments.

        ``encoder_out`` is the batch's encoder output (windows x 1500 x d_model), in the windows' order.
        The windows' segments are aligned together, as one text, in one decoder pass.
        """
        import torch

        prefix = self.prefix(language)
        limit = int(self.model.config.max_target_positions) - len(prefix) - 1
        # Each segment's tokens, cut (at the very end) to what the decoder can take.
        cut: list[list[list[int]]] = []
        for window in segments:
            room, kept = limit, []
            for seg in window:
                kept.append(list(seg)[: max(0, room)])
                room -= len(kept[-1])
            cut.append(kept)
        texts = [[t for seg in window for t in seg] for window in cut]
        rows = [[*prefix, *t, self.eot] for t in texts]
        width = max(len(r) for r in rows)
        ids = torch.tensor([r + [self.eot] * (width - len(r)) for r in rows], device=encoder_out.device)
        # The very tensor the decoding saw (not a slice of it): its cross-attention keys and values are then
        # served again (whisper_patches' shared cross-attention projections), not computed once more.
        enc = encoder_out if len(rows) == encoder_out.shape[0] else encoder_out[: len(rows)]
        queries: dict[int, Any] = {}
        decoder = self.model.model.decoder
        layers = sorted({layer for layer, _ in self.heads})

        def keep_query(layer: int) -> Callable[..., None]:
            def hook(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
                queries[layer] = args[0] if args else kwargs["hidden_states"]

            return hook

        handles = [
            decoder.layers[layer].encoder_attn.register_forward_pre_hook(keep_query(layer), with_kwargs=True)
            for layer in layers
        ]
        try:
            hidden = decoder(input_ids=ids, encoder_hidden_states=enc, use_cache=False).last_hidden_state
        finally:
            for handle in handles:
                handle.remove()

        weights = []  # (windows, heads, tokens, frames), as raw attention logits
        for layer in layers:
            attn = decoder.layers[layer].encoder_attn
            b, t, _ = queries[layer].shape
            q = (attn.q_proj(queries[layer]) * attn.scaling).view(b, t, attn.num_heads, attn.head_dim).float()
            k = attn.k_proj(enc).view(b, enc.shape[1], attn.num_heads, attn.head_dim).float()
            wanted = [h for l_, h in self.heads if l_ == layer]
            weights.append(torch.einsum("bthd,bshd->bhts", q[:, :, wanted], k[:, :, wanted]))
        qk = torch.cat(weights, dim=1)

        out: list[list[list[AlignedWord]]] = []
        first = len(prefix) - 1  # the row that predicts the first text token
        for i, text in enumerate(texts):
            if not text:
                out.append([[] for _ in cut[i]])
                continue
            n_frames = max(1, min(qk.shape[-1], int(frames[i]) // 2))
            w = torch.softmax(qk[i, :, first : first + len(text) + 1, :n_frames], dim=-1).cpu().numpy()
            std = w.std(axis=-2, keepdims=True)
            w = (w - w.mean(axis=-2, keepdims=True)) / np.where(std > 0, std, 1.0)
            # one head at a time: the filter's shifted copies of all heads at once are tens of MB
            matrix = np.mean([median_filter(head, MEDIAN_FILTER_WIDTH) for head in w], axis=0)
            # The probability of each text token where it was predicted, over the text tokens: one window's
            # rows of logits at a time (the whole batch's over the vocabulary would be hundreds of MB).
            logits = self.model.proj_out(hidden[i, first : first + len(text)]).float()[:, : self.eot]
            picked = logits[torch.arange(len(text)), torch.tensor(text)]
            token_probs = torch.exp(picked - torch.logsumexp(logits, dim=-1)).cpu().numpy()
            words: list[str] = []
            word_tokens: list[list[int]] = []
            per_segment: list[int] = []  # how many words each segment has
            for seg in cut[i]:
                seg_words, seg_tokens = split_words(seg, self._decode, language=language) if seg else ([], [])
                words += seg_words
                word_tokens += seg_tokens
                per_segment.append(len(seg_words))
            timed = word_times(matrix, words, word_tokens, token_probs.tolist())
            if len(timed) != len(words):
                timed = []
            bounds = np.cumsum([0, *per_segment])
            out.append([timed[a:b] for a, b in itertools.pairwise(bounds)])
        return out

    def _decode(self, tokens: list[int]) -> str:
        return str(self.tokenizer.decode(tokens, skip_special_tokens=False))

    def close(self) -> None:
        self._hook.remove()
