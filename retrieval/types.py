"""Plain data of retrieval: passages going in, hits and moments coming out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = ["Hit", "Moment", "Passage", "SearchFilters", "SearchMode"]

SearchMode = Literal["hybrid", "semantic", "keyword"]


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

    def segments(self) -> list[tuple[float, float, str]]:
        """(start, end, text) of each segment, cut back out of the passage text."""
        bounds = [*self.segment_offsets, len(self.text) + 1]
        return [
            (self.segment_starts[i], self.segment_ends[i], self.text[bounds[i] : bounds[i + 1] - 1])
            for i in range(len(self.segment_starts))
        ]


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
