"""Pure planning of Whisper windows from speech regions, and clean-up of the segments that come back.

Whisper sees 30 s at a time. Windows are contiguous stretches of the original audio, so model time plus
the window offset is media time, with no remapping. Packing several speech regions into one window
keeps the number of encoder passes (the dominant cost) low.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from ingest.types import Segment, SpeechWindow, Word

__all__ = ["TailPiece", "clean_segments", "enforce_monotonic", "pack_tails", "plan_windows", "unpack_segments"]


def _split_long(start_s: float, end_s: float, max_s: float) -> list[tuple[float, float]]:
    pieces: list[tuple[float, float]] = []
    n = max(1, int(-(-(end_s - start_s) // max_s)))  # ceil
    step = (end_s - start_s) / n
    for i in range(n):
        pieces.append((start_s + i * step, start_s + (i + 1) * step if i < n - 1 else end_s))
    return pieces


def plan_windows(
    regions: Iterable[tuple[float, float]],
    *,
    duration_s: float,
    max_window_s: float = 30.0,
    max_gap_s: float = 5.0,
) -> list[SpeechWindow]:
    """Pack speech regions (start, end seconds) into windows of at most ``max_window_s``.

    Regions are sorted and merged where they overlap; a region longer than a window is cut into equal
    pieces; consecutive regions share a window while it stays within ``max_window_s`` and the silence
    between them is at most ``max_gap_s`` (long silences invite hallucinated text).
    """
    clean: list[tuple[float, float]] = []
    for s, e in sorted((max(0.0, s), min(duration_s, e)) for s, e in regions):
        if e <= s:
            continue
        if clean and s <= clean[-1][1]:
            clean[-1] = (clean[-1][0], max(clean[-1][1], e))
        else:
            clean.append((s, e))
    pieces = [p for s, e in clean for p in _split_long(s, e, max_window_s)]

    windows: list[SpeechWindow] = []
    cur_start: float | None = None
    cur_end = 0.0
    for s, e in pieces:
        if cur_start is not None and e - cur_start <= max_window_s and s - cur_end <= max_gap_s:
            cur_end = e
            continue
        if cur_start is not None:
            windows.append(SpeechWindow(cur_start, cur_end))
        cur_start, cur_end = s, e
    if cur_start is not None:
        windows.append(SpeechWindow(cur_start, cur_end))
    return windows


def clean_segments(
    segments: Iterable[Segment], *, last_end_s: float = 0.0, min_duration_s: float = 0.02
) -> tuple[list[Segment], float]:
    """Clean the next segments of a transcript that so far ends at ``last_end_s``.

    Segments with no letter or digit are dropped; each kept one starts no earlier than the previous one
    ended and lasts at least ``min_duration_s``; its words are kept inside it, each starting no earlier
    than the one before ended; times are rounded to the millisecond. Returns the clean segments and the
    end to pass with the next ones (unrounded, so that cleaning a transcript piece by piece gives exactly
    what cleaning it whole gives).
    """
    out: list[Segment] = []
    for seg in segments:
        text = seg.text.strip()
        if not text or not any(ch.isalnum() for ch in text):
            continue
        start = max(seg.start_s, last_end_s)
        end = max(seg.end_s, start + min_duration_s)
        start_r, end_r = round(start, 3), round(end, 3)
        out.append(Segment(start_r, end_r, text, _words_within(seg.words, start_r, end_r)))
        last_end_s = end
    return out, last_end_s


def _words_within(words: Sequence[Word], start_s: float, end_s: float) -> tuple[Word, ...]:
    """``words`` moved inside [start_s, end_s], in order, each no earlier than the previous one's end."""
    out: list[Word] = []
    floor = start_s
    for w in words:
        s = round(min(max(w.start_s, floor), end_s), 3)
        e = round(min(max(w.end_s, s), end_s), 3)
        out.append(Word(s, e, w.text, w.probability))
        floor = e
    return tuple(out)


def enforce_monotonic(segments: Sequence[Segment], *, min_duration_s: float = 0.02) -> list[Segment]:
    """Drop empty segments and make times non-decreasing: each starts no earlier than the last ended."""
    return clean_segments(segments, min_duration_s=min_duration_s)[0]


@dataclass(frozen=True)
class TailPiece:
    """The untranscribed end of a decoded window: its row in the batch and the stretch of it, in the
    window's own time (``end_s`` is the window's length)."""

    row: int
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def pack_tails(
    pieces: Iterable[TailPiece], *, max_window_s: float, gap_s: float
) -> list[list[tuple[TailPiece, float]]]:
    """Tails packed into windows to be decoded together, each piece with its offset in its window: in
    order, ``gap_s`` of silence between two pieces, as many to a window as fit in ``max_window_s``.

    Whisper stops short of the end of many windows of continuous speech; decoding each such tail again on
    its own costs a whole encoder pass for a few seconds of speech, while a few tails share one."""
    packed: list[list[tuple[TailPiece, float]]] = []
    end = 0.0
    for piece in pieces:
        if piece.duration_s <= 0:
            continue
        if packed and end + gap_s + piece.duration_s <= max_window_s:
            packed[-1].append((piece, end + gap_s))
            end += gap_s + piece.duration_s
        else:
            packed.append([(piece, 0.0)])
            end = piece.duration_s
    return packed


def unpack_segments(segments: Sequence[Segment], placed: Sequence[tuple[TailPiece, float]]) -> dict[int, list[Segment]]:
    """The segments of one packed window (:func:`pack_tails`) back in their own windows' time, by row.

    A time belongs to the piece whose stretch holds it, the silence between two pieces split in the middle.
    A segment with word times is cut where its words change piece (each word goes where it starts); one
    without goes whole to the piece it starts in. Times are kept inside their piece."""
    if not placed:
        return {}
    # Where each piece's share of the packed window ends: halfway through the silence after it.
    bounds = [
        off + p.duration_s + (placed[k + 1][1] - off - p.duration_s) / 2 for k, (p, off) in enumerate(placed[:-1])
    ]

    def piece_at(t: float) -> int:
        return next((k for k, b in enumerate(bounds) if t < b), len(placed) - 1)

    def moved(t: float, k: int) -> float:
        piece, off = placed[k]
        return min(max(piece.start_s + t - off, piece.start_s), piece.end_s)

    out: dict[int, list[Segment]] = {}
    for seg in segments:
        if not seg.words:
            k = piece_at(seg.start_s)
            out.setdefault(placed[k][0].row, []).append(
                replace(seg, start_s=moved(seg.start_s, k), end_s=moved(seg.end_s, k))
            )
            continue
        runs: list[tuple[int, list[Word]]] = []
        for w in seg.words:
            k = piece_at(w.start_s)
            if not runs or runs[-1][0] != k:
                runs.append((k, []))
            runs[-1][1].append(Word(moved(w.start_s, k), moved(w.end_s, k), w.text, w.probability))
        for k, words in runs:
            text = seg.text if len(runs) == 1 else " ".join(w.text for w in words)
            out.setdefault(placed[k][0].row, []).append(
                replace(
                    seg,
                    start_s=words[0].start_s,
                    end_s=max(words[-1].end_s, words[0].start_s),
                    text=text,
                    words=tuple(words),
                )
            )
    return out
