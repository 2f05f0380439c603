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

__all__ = ["ModeScore", "first_hit", "score_queries"]


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
