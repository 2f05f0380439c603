"""Search: a text query into ranked moments (embedding, index query, fusion, grouping, localisation)."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from retrieval.embedder import Embedder
from retrieval.errors import QueryError
from retrieval.index import PassageIndex, require_single_model
from retrieval.query import contains_phrases, parse_query
from retrieval.ranking import Cluster, build_moment, cluster_segments, lexical_score, merge_hits, select_clusters
from retrieval.sparse import query_vector
from retrieval.types import Moment, SearchFilters, SearchMode

__all__ = ["SearchOptions", "SearchResult", "Searcher"]

MODES: tuple[SearchMode, ...] = ("hybrid", "semantic", "keyword")


@dataclass(frozen=True)
class SearchOptions:
    max_moments_per_media: int = 3
    candidates: int = 50  # passages fetched per query before grouping
    phrase_candidates: int = 400  # more when a quoted phrase will filter them
    lexical_weight: float = 0.2  # weight of term overlap against semantic similarity, per segment
    segment_weight: float = 0.5  # weight of the best segment's score against the fused passage rank
    rerank_clusters: int = 20  # moments scored at segment level before the final cut
    max_query_chars: int = 1000


@dataclass(frozen=True)
class SearchResult:
    query: str
    took_ms: float
    moments: list[Moment]

    def as_dict(self) -> dict[str, object]:
        """The ``/api/search`` response shape from the interface contract."""
        return {"query": self.query, "took_ms": self.took_ms, "results": [m.as_dict() for m in self.moments]}


class Searcher:
    def __init__(self, embedder: Embedder, index: PassageIndex, options: SearchOptions = SearchOptions()) -> None:
        self.embedder = embedder
        self.index = index
        self.options = options
        self._models_checked = False

    def check_models(self) -> None:
        """Refuse to search an index that holds passages embedded with another model (checked once)."""
        if not self._models_checked:
            require_single_model(self.index, self.embedder.model_id)
            self._models_checked = True

    def search(
        self,
        q: str,
        *,
        limit: int = 10,
        mode: SearchMode = "hybrid",
        filters: SearchFilters | None = None,
    ) -> SearchResult:
        started = time.perf_counter()
        if mode not in MODES:
            raise QueryError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
        if not q.strip():
            raise QueryError("the query is empty")
        if len(q) > self.options.max_query_chars:
            raise QueryError(f"the query is longer than {self.options.max_query_chars} characters")
        if not 1 <= limit <= 100:
            raise QueryError("limit must be between 1 and 100")
        self.check_models()
        query = parse_query(q)
        dense = self.embedder.embed_query(query.text) if mode != "keyword" else None
        sparse = query_vector(query.text)
        fetch = self.options.phrase_candidates if query.phrases else self.options.candidates
        hits = self.index.search(mode, dense, sparse or None, filters or SearchFilters(), max(fetch, limit * 3))
        if query.phrases:
            hits = [h for h in hits if contains_phrases(h.passage.text, query.phrases)]
        clusters = merge_hits(hits)[: max(limit * 2, self.options.rerank_clusters)]
        all_segments = [cluster_segments(c) for c in clusters]
        semantic = self._segment_similarities(dense, clusters, all_segments)
        top_score = max((c.score for c in clusters), default=1.0) or 1.0
        scored: list[tuple[float, Cluster, list[tuple[float, float, str]], list[float]]] = []
        offset = 0
        for cluster, segments in zip(clusters, all_segments, strict=True):
            seg_scores = []
            for i, (_, _, text) in enumerate(segments):
                lexical = lexical_score(text, query)
                if query.phrases and not contains_phrases(text, query.phrases):
                    lexical *= 0.5
                sim = float(semantic[offset + i]) if semantic is not None else 0.0
                seg_scores.append(sim + self.options.lexical_weight * lexical)
            offset += len(segments)
            # Rerank: the index's fused rank, blended with how well the best single segment answers.
            fused = cluster.score / top_score
            score = (
                fused
                if semantic is None
                else (1 - self.options.segment_weight) * fused + (self.options.segment_weight * max(seg_scores))
            )
            scored.append((score, cluster, segments, seg_scores))
        scored.sort(key=lambda t: -t[0])
        ranked = [replace(c, score=sc) for sc, c, _, _ in scored]
        keep = {id(c) for c in select_clusters(ranked, limit=limit, max_per_media=self.options.max_moments_per_media)}
        moments: list[Moment] = []
        for (_, _, segments, seg_scores), cluster in zip(scored, ranked, strict=True):
            if id(cluster) not in keep:
                continue
            moment = build_moment(cluster, segments, seg_scores, query)
            if not any(m.media_id == moment.media_id and abs(m.start - moment.start) < 1.0 for m in moments):
                moments.append(moment)
        took_ms = round((time.perf_counter() - started) * 1000, 1)
        return SearchResult(query=q, took_ms=took_ms, moments=moments)

    def _segment_similarities(
        self,
        dense: np.ndarray | None,
        clusters: list[Cluster],
        all_segments: list[list[tuple[float, float, str]]],
    ) -> np.ndarray | None:
        """Cosine similarity of the query with every candidate segment, flattened in cluster order.

        Uses the segment vectors stored with each passage; only segments of points indexed without them
        are embedded now.
        """
        if dense is None:
            return None
        vectors: list[np.ndarray | None] = []
        for cluster, segments in zip(clusters, all_segments, strict=True):
            stored: dict[float, np.ndarray] = {}
            for h in cluster.hits:
                vecs = h.passage.segment_vectors
                if vecs is not None:
                    for start, v in zip(h.passage.segment_starts, vecs, strict=True):
                        stored.setdefault(round(start, 2), v)
            vectors.extend(stored.get(round(seg[0], 2)) for seg in segments)
        missing = [i for i, v in enumerate(vectors) if v is None]
        if missing:
            texts = [seg[2] for segs in all_segments for seg in segs]
            fresh = self.embedder.embed_documents([texts[i] for i in missing])
            for i, v in zip(missing, fresh, strict=True):
                vectors[i] = v
        if not vectors:
            return np.zeros(0, dtype=np.float32)
        sims: np.ndarray = np.stack([v for v in vectors if v is not None]) @ dense
        return sims
