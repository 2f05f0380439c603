"""Plain data of retrieval: passages going in, hits and moments coming out."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np

__all__ = [
    "Chapter",
    "ChapterRef",
    "Hit",
    "Moment",
    "Passage",
    "SearchFilters",
    "SearchMode",
    "SegmentText",
    "speaker_key",
]

SearchMode = Literal["hybrid", "semantic", "keyword"]


class SegmentText(NamedTuple):
    """One transcript segment as search sees it; ``words``: (character offset in ``text``, start) pairs;
    ``speaker``: its speaker's label, where known."""

    start_s: float
    end_s: float
    text: str
    words: tuple[tuple[int, float], ...] = ()
    speaker: str | None = None


@dataclass(frozen=True)
class Passage:
    """The indexed unit: a window of consecutive transcript segments of one media item."""

    media_id: str
    index: int
    start_s: float
    end_s: float
    text: str
    segment_starts: tuple[float, ...]
    segment_ends: tuple[float, ...]
    segment_offsets: tuple[int, ...]
    title: str
    filename: str
    kind: str
    language: str
    created_at: float
    # One unit vector per segment (same embedder as the passage), so search can find the best sentence
    # of a hit without embedding anything at query time. None for points indexed without them.
    segment_vectors: np.ndarray | None = field(default=None, compare=False, repr=False)
    # The start of each word whose place in ``text`` is known, and that place (ascending character
    # offsets); empty for media transcribed without word timing.
    word_starts: tuple[float, ...] = ()
    word_offsets: tuple[int, ...] = ()
    # Each segment's speaker label (``SPEAKER_1`` ...), where speakers were found; empty otherwise.
    segment_speakers: tuple[str | None, ...] = ()

    def speaker_keys(self) -> list[str]:
        """The passage's speakers as the index filters them: ``<media_id>/<label>``, each once."""
        return [speaker_key(self.media_id, label) for label in dict.fromkeys(self.segment_speakers) if label]

    def segments(self) -> list[SegmentText]:
        """Each segment, cut back out of the passage text, with the places and starts of its words."""
        bounds = [*self.segment_offsets, len(self.text) + 1]
        offsets, starts = self.word_offsets, self.word_starts
        out = []
        for i in range(len(self.segment_starts)):
            lo, hi = bounds[i], bounds[i + 1] - 1
            # The words placed in [lo, hi]: one slice of the ascending offsets (a search reads every
            # segment of its candidates; the word-by-word loop was a tenth of it).
            a, b = bisect_left(offsets, lo), bisect_right(offsets, hi)
            words = tuple((o - lo, t) for o, t in zip(offsets[a:b], starts[a:b], strict=True))
            speaker = self.segment_speakers[i] if i < len(self.segment_speakers) else None
            out.append(SegmentText(self.segment_starts[i], self.segment_ends[i], self.text[lo:hi], words, speaker))
        return out


def speaker_key(media_id: str, label: str) -> str:
    """One speaker of one media item, as the index stores and filters it."""
    return f"{media_id}/{label}"


@dataclass(frozen=True)
class Hit:
    """A passage returned by the index, with its rank score (higher is better)."""

    passage: Passage
    score: float


@dataclass(frozen=True)
class SearchFilters:
    """Restrict a search to passages whose payload matches every field that is set."""

    media_id: str | None = None
    kind: str | None = None
    language: str | None = None
    # Only passages where one of these speakers (``speaker_key``) speaks; None: anyone. An empty tuple
    # matches nothing (a speaker name that no media has).
    speakers: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Chapter:
    """One topic of a media item: where it starts and ends, a short title from its own words, and the unit
    vector of its first sentence (``lead``; None when unknown)."""

    media_id: str
    index: int
    start_s: float
    end_s: float
    title: str
    lead: np.ndarray | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ChapterRef:
    """The chapter a moment is in, as a result names it."""

    index: int
    title: str
    start: float


@dataclass(frozen=True)
class Moment:
    """A search result: where in which media the query is answered."""

    media_id: str
    title: str
    filename: str
    kind: str
    start: float
    end: float
    score: float
    text: str
    highlights: list[tuple[int, int]] = field(default_factory=list)
    # Where each highlight is spoken (the start of its first word), when the media has word times.
    highlight_starts: list[float] = field(default_factory=list)
    # The highlights that match a query word by sound only (a name Whisper wrote as it heard it).
    sounds_like: list[tuple[int, int]] = field(default_factory=list)
    chapter: ChapterRef | None = None  # the chapter the matched sentence is in, where chapters are known
    # The matched sentence's own start and end, when ``start`` is its story's start instead (the query asks
    # about the story as a whole); None when the moment opens on the sentence itself.
    match: tuple[float, float] | None = None
    speaker: str | None = None  # the label of who speaks the matched sentence, where speakers are known
    speaker_name: str | None = None  # that speaker's display name, once someone gave it one
