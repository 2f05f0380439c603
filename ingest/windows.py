"""Pure planning of Whisper windows from speech regions, and clean-up of the segments that come back.

Whisper sees 30 s at a time. Windows are contiguous stretches of the original audio, so model time plus
the window offset is media time, with no remapping. Packing several speech regions into one window
keeps the number of encoder passes (the dominant cost) low.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ingest.types import Segment, SpeechWindow, Word

__all__ = ["clean_segments", "enforce_monotonic", "plan_windows"]


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
