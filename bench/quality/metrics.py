"""Retrieval metrics over ranked moments (pure: plain data in, plain data out).

A moment is a hit when it is from the right media item and its [start, end] overlaps the answer's time
range (or the range of another place that answers the question as well). Recall@k counts the queries with
a hit in the first k moments; MRR@10 averages 1/rank of the first hit (0 when none in the first 10); the
jump error is how far the first hit's start is from where the answer it overlaps starts, in seconds (over
the queries with a hit in the first 10).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["BoundaryScore", "ModeScore", "first_hit", "opens_within", "score_boundaries", "score_queries"]


@dataclass(frozen=True)
class ModeScore:
    queries: int
    recall_at_1: float
    recall_at_5: float
    mrr_at_10: float
    median_jump_error_s: float | None
    jumps_within_5_s: float  # share of first hits (top 10) that start within 5 s of the answer


Span = tuple[str, float, float]  # media id, start_s, end_s


def first_hit(
    results: Sequence[Mapping[str, object]], answers: Sequence[Span], *, depth: int = 10
) -> tuple[int, float] | None:
    """(1-based rank, jump error in seconds) of the first moment overlapping one of ``answers``, or None."""
    for rank, r in enumerate(results[:depth], start=1):
        start, end = float(r["start"]), float(r["end"])  # type: ignore[arg-type]
        for media_id, start_s, end_s in answers:
            if r["media_id"] == media_id and start < end_s and end > start_s:
                return rank, abs(start - start_s)
    return None


def score_queries(ranked: Sequence[Sequence[Mapping[str, object]]], answers: Sequence[Sequence[Span]]) -> ModeScore:
    """``ranked[i]`` are the moments returned for query i; ``answers[i]`` the places that answer it."""
    ranks: list[int | None] = []
    jumps: list[float] = []
    for results, spans in zip(ranked, answers, strict=True):
        hit = first_hit(results, spans)
        ranks.append(hit[0] if hit else None)
        if hit is not None:
            jumps.append(hit[1])
    n = len(ranks) or 1
    return ModeScore(
        queries=len(ranks),
        recall_at_1=sum(r == 1 for r in ranks) / n,
        recall_at_5=sum(r is not None and r <= 5 for r in ranks) / n,
        mrr_at_10=sum(1 / r for r in ranks if r is not None) / n,
        median_jump_error_s=statistics.median(jumps) if jumps else None,
        jumps_within_5_s=sum(j <= 5 for j in jumps) / len(jumps) if jumps else 0.0,
    )


def opens_within(results: Sequence[Mapping[str, object]], answers: Sequence[Span], *, seconds: float = 2.0) -> bool:
    """Whether the first moment is a hit and starts within ``seconds`` of where an answer it overlaps
    starts (for a question about a story the answer is the whole story, so: of the story's start)."""
    if not results or first_hit(results, answers, depth=1) is None:
        return False
    start, end = float(results[0]["start"]), float(results[0]["end"])  # type: ignore[arg-type]
    return any(
        results[0]["media_id"] == m and start < e and end > s and abs(start - s) <= seconds for m, s, e in answers
    )


@dataclass(frozen=True)
class BoundaryScore:
    found: int  # boundaries the product put
    true: int  # boundaries there are
    matched: int  # found ones within the tolerance of a true one (each true one matched once)

    @property
    def precision(self) -> float:
        return self.matched / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.true if self.true else 1.0


def score_boundaries(
    found: Sequence[Sequence[float]], true: Sequence[Sequence[float]], *, tolerance_s: float = 2.0
) -> BoundaryScore:
    """Chapter boundaries against the true story boundaries, file by file (the start of a file is not a
    boundary): a found boundary within ``tolerance_s`` of a true one not matched yet matches it."""
    matched = 0
    for got, want in zip(found, true, strict=True):
        free = list(want)
        for t in got:
            near = [w for w in free if abs(w - t) <= tolerance_s]
            if near:
                free.remove(min(near, key=lambda w: abs(w - t)))
                matched += 1
    return BoundaryScore(sum(len(f) for f in found), sum(len(t) for t in true), matched)
