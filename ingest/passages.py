"""Pure passage cutting: transcript segments into overlapping windows of roughly 20-40 s.

Each passage keeps every segment's own start, end and character offset, so a search hit can jump to the
sentence that matched rather than to the start of the window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ingest.types import Segment
from retrieval.text import ends_sentence, sentences

__all__ = [
    "PASSAGE_OVERLAP_S",
    "PASSAGE_TARGET_S",
    "PassageDraft",
    "cut_passages",
    "passage_max_s",
    "segment_contexts",
    "word_places",
]

# 20 s passages beat 15, 25, 30 and 45 s on the quality set (bench/quality/README.md): shorter text embeds
# sharper, and the moment still starts at its best sentence.
PASSAGE_TARGET_S = 20.0
PASSAGE_OVERLAP_S = 7.0


def passage_max_s(target_s: float) -> float:
    """The longest a passage grows while looking for a segment end: a third past the target."""
    return target_s * 4 / 3


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
    word_starts: tuple[float, ...] = ()  # the start of each word whose place in ``text`` is known ...
    word_offsets: tuple[int, ...] = ()  # ... and where it begins there (ascending)
    segment_speakers: tuple[str | None, ...] = ()  # each segment's speaker label; empty when none has one


def word_places(segment: Segment) -> list[tuple[int, float]]:
    """(character offset in the segment's text, start) of each of its words found there, in order."""
    out: list[tuple[int, float]] = []
    cursor = 0
    for w in segment.words:
        at = segment.text.find(w.text, cursor)
        if at < 0:  # not spelled as in the text (should not happen): no place, no time
            continue
        out.append((at, w.start_s))
        cursor = at + len(w.text)
    return out


def _draft(index: int, first: int, segments: Sequence[Segment]) -> PassageDraft:
    offsets: list[int] = []
    parts: list[str] = []
    word_offsets: list[int] = []
    word_starts: list[float] = []
    pos = 0
    for seg in segments:
        offsets.append(pos)
        parts.append(seg.text)
        for at, start in word_places(seg):
            word_offsets.append(pos + at)
            word_starts.append(start)
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
        word_starts=tuple(word_starts),
        word_offsets=tuple(word_offsets),
        segment_speakers=tuple(s.speaker for s in segments) if any(s.speaker for s in segments) else (),
    )


def cut_passages(
    segments: Sequence[Segment],
    *,
    target_s: float = PASSAGE_TARGET_S,
    max_s: float = passage_max_s(PASSAGE_TARGET_S),
    overlap_s: float = PASSAGE_OVERLAP_S,
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


def segment_contexts(segments: Sequence[Segment]) -> list[str]:
    """Each segment's text completed to whole sentences with the words of its neighbours.

    Whisper cuts segments at pauses, not at sentence ends ("... to over 6,000 computers" | "on the
    Internet."), and a fragment embeds poorly. A segment that starts mid-sentence gets the end of the
    previous segment's last sentence in front; one that ends mid-sentence gets the next segment's words
    up to its first sentence end. Only the direct neighbours are used, so the result for a segment never
    changes once its next segment is known.
    """
    texts = [s.text.strip() for s in segments]
    out = []
    for i, text in enumerate(texts):
        parts = []
        if i > 0 and texts[i - 1] and not ends_sentence(texts[i - 1]):
            parts.append(sentences(texts[i - 1])[-1])
        parts.append(text)
        if i + 1 < len(texts) and text and not ends_sentence(text):
            parts.append(sentences(texts[i + 1])[0])
        out.append(" ".join(p for p in parts if p))
    return out
