"""Pure passage cutting: transcript segments into overlapping windows of roughly 20-40 s.

Each passage keeps every segment's own start, end and character offset, so a search hit can jump to the
sentence that matched rather than to the start of the window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ingest.types import Segment

__all__ = ["PassageDraft", "cut_passages"]


@dataclass(frozen=True)
class PassageDraft:
    index: int
    first_segment: int  # position of its first segment in the transcript
    start_s: float
    end_s: float
    text: str
    segment_starts: tuple[float, ...]
    segment_ends: tuple[float, ...]
    segment_offsets: tuple[int, ...]


def _draft(index: int, first: int, segments: Sequence[Segment]) -> PassageDraft:
    offsets: list[int] = []
    parts: list[str] = []
    pos = 0
    for seg in segments:
        offsets.append(pos)
        parts.append(seg.text)
        pos += len(seg.text) + 1
    return PassageDraft(
        index=index,
        first_segment=first,
        start_s=segments[0].start_s,
        end_s=segments[-1].end_s,
        text=" ".join(parts),
        segment_starts=tuple(s.start_s for s in segments),
        segment_ends=tuple(s.end_s for s in segments),
        segment_offsets=tuple(offsets),
    )


def cut_passages(
    segments: Sequence[Segment],
    *,
    target_s: float = 30.0,
    max_s: float = 40.0,
    overlap_s: float = 10.0,
) -> list[PassageDraft]:
    """Group consecutive segments into passages of about ``target_s`` (never past ``max_s`` unless one
    segment is longer), each next passage starting about ``overlap_s`` before the previous one ends."""
    passages: list[PassageDraft] = []
    i, n = 0, len(segments)
    while i < n:
        j = i + 1
        while j < n and segments[j - 1].end_s - segments[i].start_s < target_s:
            if segments[j].end_s - segments[i].start_s > max_s:
                break
            j += 1
        passages.append(_draft(len(passages), i, segments[i:j]))
        if j >= n:
            break
        end_s = segments[j - 1].end_s
        nxt = j
        while nxt - 1 > i and segments[nxt - 1].start_s >= end_s - overlap_s:
            nxt -= 1
        i = max(nxt, i + 1)
    return passages
