"""Retrieval metrics over ranked moments (pure: plain data in, plain data out).

A moment is a hit when it is from the right media item and its [start, end] overlaps the answer's time
range. Recall@k counts the queries with a hit in the first k moments; MRR@10 averages 1/rank of the first
hit (0 when none in the first 10); the jump error is how far the first hit's start is from where the
answer starts, in seconds (over the queries with a hit in the first 10).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["ModeScore", "first_hit_rank", "score_queries"]


@dataclass(frozen=True)
class ModeScore:
    queries: int
    recall_at_1: float
    recall_at_5: float
    mrr_at_10: float
    median_jump_error_s: float | None
    jumps_within_5_s: float  # share of first hits (top 10) that start within 5 s of the answer


def first_hit_rank(
    results: Sequence[Mapping[str, object]], media_id: str, start_s: float, end_s: float, *, depth: int = 10
) -> int | None:
    """1-based rank of the first moment from ``media_id`` overlapping [start_s, end_s], or None."""
    for rank, r in enumerate(results[:depth], start=1):
        if r["media_id"] == media_id and float(r["start"]) < end_s and float(r["end"]) > start_s:
            return rank
    return None


def score_queries(
    ranked: Sequence[Sequence[Mapping[str, object]]], answers: Sequence[tuple[str, float, float]]
) -> ModeScore:
    """``ranked[i]`` are the moments returned for query i; ``answers[i]`` is (media_id, start_s, end_s)."""
    ranks: list[int | None] = []
    jumps: list[float] = []
    for results, (media_id, start_s, end_s) in zip(ranked, answers, strict=True):
        rank = first_hit_rank(results, media_id, start_s, end_s)
        ranks.append(rank)
        if rank is not None:
            jumps.append(abs(float(results[rank - 1]["start"]) - start_s))
    n = len(ranks) or 1
    return ModeScore(
        queries=len(ranks),
        recall_at_1=sum(r == 1 for r in ranks) / n,
        recall_at_5=sum(r is not None and r <= 5 for r in ranks) / n,
        mrr_at_10=sum(1 / r for r in ranks if r is not None) / n,
        median_jump_error_s=statistics.median(jumps) if jumps else None,
        jumps_within_5_s=sum(j <= 5 for j in jumps) / len(jumps) if jumps else 0.0,
    )
