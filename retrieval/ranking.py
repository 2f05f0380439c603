"""Pure ranking: passage hits into moments.

Hits of one media item whose time ranges overlap or touch merge into one moment; each moment starts at
the sentence of its best-matching segment (not at the passage window's start); at most N moments per media item; the
snippet carries character offsets of the matched words.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.query import ParsedQuery
from retrieval.text import ends_sentence, normalize, sentences, stem, tokens_with_offsets
from retrieval.types import Hit, Moment

__all__ = [
    "Cluster",
    "build_moment",
    "cluster_segments",
    "highlight_offsets",
    "lexical_score",
    "merge_hits",
    "select_clusters",
]

SegmentT = tuple[float, float, str]


@dataclass(frozen=True)
class Cluster:
    """Overlapping hits of one media item, best score first."""

    media_id: str
    hits: tuple[Hit, ...]
    score: float
    start_s: float
    end_s: float


def merge_hits(hits: Sequence[Hit], *, min_overlap: float = 0.25) -> list[Cluster]:
    """Group hits into moments, best first: a hit joins the first better-ranked group of the same media
    whose anchor (its best passage) it overlaps by at least ``min_overlap`` of the shorter range.

    Anchoring on the best passage, rather than chaining overlaps, keeps overlapping windows of one long
    talk from collapsing into a single moment that spans the whole file.
    """
    groups: list[list[Hit]] = []
    for h in sorted(hits, key=lambda h: -h.score):
        p = h.passage
        for group in groups:
            a = group[0].passage
            if a.media_id != p.media_id:
                continue
            overlap = min(a.end_s, p.end_s) - max(a.start_s, p.start_s)
            shorter = max(1e-6, min(a.end_s - a.start_s, p.end_s - p.start_s))
            if overlap / shorter >= min_overlap:
                group.append(h)
                break
        else:
            groups.append([h])
    return [_cluster(g[0].passage.media_id, g) for g in groups]


def _cluster(media_id: str, hits: list[Hit]) -> Cluster:
    ordered = tuple(sorted(hits, key=lambda h: -h.score))
    return Cluster(
        media_id=media_id,
        hits=ordered,
        score=ordered[0].score,
        start_s=min(h.passage.start_s for h in hits),
        end_s=max(h.passage.end_s for h in hits),
    )


def select_clusters(clusters: Sequence[Cluster], *, limit: int, max_per_media: int) -> list[Cluster]:
    taken: list[Cluster] = []
    per_media: dict[str, int] = defaultdict(int)
    for c in clusters:
        if per_media[c.media_id] >= max_per_media:
            continue
        per_media[c.media_id] += 1
        taken.append(c)
        if len(taken) >= limit:
            break
    return taken


def cluster_segments(cluster: Cluster) -> list[SegmentT]:
    """The distinct segments of a cluster's passages, in time order."""
    seen: dict[float, SegmentT] = {}
    for h in cluster.hits:
        for seg in h.passage.segments():
            seen.setdefault(round(seg[0], 2), seg)
    return [seen[k] for k in sorted(seen)]


def lexical_score(text: str, query: ParsedQuery) -> float:
    """Share of the query's terms (and phrases) found in ``text``, 0..1."""
    if not query.terms and not query.phrases:
        return 0.0
    stems = {stem(tok) for tok, _, _ in tokens_with_offsets(text)}
    found = sum(1 for t in query.terms if t in stems)
    haystack = f" {normalize(text)} "
    found += sum(2 for p in query.phrases if f" {p} " in haystack)
    return found / (len(query.terms) + 2 * len(query.phrases))


def highlight_offsets(text: str, query: ParsedQuery) -> list[tuple[int, int]]:
    """Character spans in ``text`` of query terms and phrases, sorted, overlapping spans merged."""
    toks = list(tokens_with_offsets(text))
    wanted = set(query.terms)
    spans = [(s, e) for tok, s, e in toks if stem(tok) in wanted]
    for phrase in query.phrases:
        words = phrase.split()
        norm = [normalize(tok) for tok, _, _ in toks]
        for i in range(len(toks) - len(words) + 1):
            if norm[i : i + len(words)] == words:
                spans.append((toks[i][1], toks[i + len(words) - 1][2]))
    merged: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def build_moment(
    cluster: Cluster,
    segments: Sequence[SegmentT],
    segment_scores: Sequence[float],
    query: ParsedQuery,
    *,
    snippet_chars: int = 240,
) -> Moment:
    """A moment starting where the sentence of the best-scoring segment starts, its snippet running on to
    ``snippet_chars``.

    When the best segment continues a sentence begun in the segment before it (Whisper cuts at pauses,
    not at sentence ends), the moment starts at that sentence's first word, its time estimated from its
    character position in the earlier segment, so the player does not open mid-sentence.
    """
    best = max(range(len(segments)), key=lambda i: (segment_scores[i], -i))
    parts: list[str] = []
    start_s = segments[best][0]
    if best > 0:
        prev_start, prev_end, prev_text = segments[best - 1]
        prev_text = prev_text.strip()
        if prev_text and not ends_sentence(prev_text) and start_s - prev_end < 1.5:
            lead = sentences(prev_text)[-1]
            parts.append(lead)
            start_s = prev_start + (prev_end - prev_start) * (len(prev_text) - len(lead)) / len(prev_text)
    end_s = segments[best][1]
    length = sum(len(p) + 1 for p in parts)
    for i, (_start, end, text) in enumerate(segments[best:]):
        if i > 0 and length + len(text) > snippet_chars:
            break
        parts.append(text)
        length += len(text) + 1
        end_s = end
    text = " ".join(parts)
    p = cluster.hits[0].passage
    return Moment(
        media_id=cluster.media_id,
        title=p.title,
        filename=p.filename,
        kind=p.kind,
        start=round(start_s, 2),
        end=round(end_s, 2),
        score=round(cluster.score, 6),
        text=text,
        highlights=highlight_offsets(text, query),
    )
