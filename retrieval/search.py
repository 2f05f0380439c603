"""Search: a text query into ranked moments (embedding, index query, fusion, grouping, localisation)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from retrieval.embedder import Embedder
from retrieval.errors import QueryError
from retrieval.index import PassageIndex, require_single_model
from retrieval.points import passage_key
from retrieval.query import ParsedQuery, contains_phrases, parse_query
from retrieval.ranking import (
    Cluster,
    SegmentT,
    asks_for_fact,
    asks_for_story,
    build_moment,
    chapter_at,
    cluster_segments,
    distinct_moments,
    fuse,
    merge_hits,
    names_the_story,
    place_in_chapter,
    rerank,
    score_segment,
    select_clusters,
)
from retrieval.sounds import near_keys, query_sound_keys, sound_keys
from retrieval.sparse import NEAR_WEIGHT, SparseVector, query_vector, sounds_vector, with_sounds
from retrieval.text import normalize, stem
from retrieval.types import Chapter, Hit, Moment, SearchFilters, SearchMode, speaker_key

__all__ = [
    "MAX_LIMIT",
    "MAX_QUERY_CHARS",
    "ChapterSource",
    "SearchOptions",
    "SearchResult",
    "Searcher",
    "SpeakerSource",
    "names_in_query",
]

MODES: tuple[SearchMode, ...] = ("hybrid", "semantic", "keyword")
# The bounds of a request, here once: the API declares them in its OpenAPI schema, the Searcher refuses
# anything beyond them from any caller.
MAX_QUERY_CHARS = 1000
MAX_LIMIT = 100


@dataclass(frozen=True)
class SearchOptions:
    """How one Searcher fetches candidates and weighs the evidence."""

    max_moments_per_media: int = 3
    candidates: int = 50  # passages fetched per query before grouping
    phrase_candidates: int = 400  # more when a quoted phrase will filter them
    lexical_weight: float = 0.2  # weight of term overlap against semantic similarity, per segment
    segment_weight: float = 0.5  # weight of the best segment's score against the fused passage rank
    rerank_clusters: int = 20  # moments scored at segment level before the final cut
    # A moment opens at its story's start when the story's first sentence is at most this far below its
    # best sentence in similarity with the query (ranking.asks_for_story), or when the query names the story
    # (ranking.names_the_story); bench/quality measured it. Negative: always at the sentence.
    story_margin: float = 0.05
    sounds: bool = True  # look for query words the library never says by how they sound (retrieval.sounds)
    # and, for long ones, by the keys one edit away and the joined keys of words written apart
    near_sounds: bool = True
    # How hybrid search fuses its dense and sparse lists: "index" (Qdrant's own RRF, k=2, equal weights),
    # or here, "rrf" or "convex" (ranking.fuse) with ``dense_weight`` and ``rrf_k``.
    fusion: str = "index"
    dense_weight: float = 0.5
    rrf_k: float = 60.0


class ChapterSource(Protocol):
    """Where search finds the chapters of the media it returns (the catalog)."""

    def chapters_of(self, media_ids: Sequence[str]) -> dict[str, list[Chapter]]: ...


class SpeakerSource(Protocol):
    """Who the speakers are (the catalog): display names by media and label, and the speakers one name or
    label stands for."""

    def speaker_names(self, media_ids: Sequence[str] | None = None) -> dict[tuple[str, str], str]: ...

    def speakers_called(self, who: str) -> list[tuple[str, str]]: ...


@dataclass(frozen=True)
class SearchResult:
    """The moments answering a query, best first, and how long the search took. ``speakers``: the names of
    the speakers the query was narrowed to because it named them ("what did Alice say about ..."), if any."""

    query: str
    took_ms: float
    moments: list[Moment]
    speakers: tuple[str, ...] = ()


def names_in_query(text: str, names: Sequence[str]) -> list[str]:
    """The speaker names (of ``names``) that ``text`` says as whole words, ignoring case and punctuation;
    a longer name wins over one inside it ("Alice Smith" over "Alice")."""
    haystack = f" {normalize(text)} "
    found: list[str] = []
    for name in sorted(set(names), key=lambda n: -len(n)):
        key = normalize(name)
        if len(key) >= 2 and f" {key} " in haystack and not any(f" {key} " in f" {normalize(f)} " for f in found):
            found.append(name)
    return found


def _without_names(text: str, names: Sequence[str]) -> str:
    """The query with the speaker names taken out (what is asked of them), or the query if nothing is left."""
    words = normalize(text).split()
    drop: set[int] = set()
    for name in names:
        key = normalize(name).split()
        for i in range(len(words) - len(key) + 1):
            if words[i : i + len(key)] == key:
                drop.update(range(i, i + len(key)))
    rest = " ".join(w for i, w in enumerate(words) if i not in drop)
    return rest if rest.strip() else text


class Searcher:
    """Answers text queries over a PassageIndex with ranked moments."""

    def __init__(
        self,
        embedder: Embedder,
        index: PassageIndex,
        options: SearchOptions = SearchOptions(),
        chapters: ChapterSource | None = None,
        speakers: SpeakerSource | None = None,
    ) -> None:
        self.embedder = embedder
        self.index = index
        self.options = options
        self.chapters = chapters
        self.speakers = speakers
        self._models_checked = False

    def speakers_called(self, who: str) -> tuple[str, ...]:
        """The filter for ``speaker=``: the keys of every speaker whose display name (any case) or label is
        ``who``; empty (nothing matches) when there is none."""
        if self.speakers is None:
            return ()
        return tuple(speaker_key(m, label) for m, label in self.speakers.speakers_called(who))

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
        """The best ``limit`` moments for ``q``; raises QueryError for a query or limit out of bounds."""
        started = time.perf_counter()
        if mode not in MODES:
            raise QueryError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
        if not q.strip():
            raise QueryError("the query is empty")
        if len(q) > MAX_QUERY_CHARS:
            raise QueryError(f"the query is longer than {MAX_QUERY_CHARS} characters")
        if not 1 <= limit <= MAX_LIMIT:
            raise QueryError(f"limit must be between 1 and {MAX_LIMIT}")
        self.check_models()
        filters = filters or SearchFilters()
        named: list[str] = []
        if filters.speakers is None and self.speakers is not None:
            known = self.speakers.speaker_names()
            named = names_in_query(q, list(known.values()))
            if named:
                wanted = {normalize(n) for n in named}
                keys = tuple(speaker_key(m, label) for (m, label), name in known.items() if normalize(name) in wanted)
                narrowed = self._search(_without_names(q, named), limit, mode, replace(filters, speakers=keys))
                if narrowed:  # the query named speakers: what they said, if they said anything like it
                    return SearchResult(q, _ms(started), narrowed, tuple(named))
        moments = self._search(q, limit, mode, filters)
        return SearchResult(query=q, took_ms=_ms(started), moments=moments)

    def _search(self, q: str, limit: int, mode: SearchMode, filters: SearchFilters) -> list[Moment]:
        if filters.speakers is not None and not filters.speakers:
            return []  # a speaker nobody in the library is
        query = parse_query(q)
        if mode != "semantic" and self.options.sounds:
            query = self._unheard(query, filters)
        dense = self.embedder.embed_query(query.text) if mode != "keyword" else None
        sparse = query_vector(query.text)
        if query.sounds:  # words no passage says: look for the words that sound like them as well
            sparse = with_sounds(sparse, sounds_vector(query.sound_keys()))
        if query.near:  # and, for long names, for words that sound nearly like them
            sparse = with_sounds(sparse, sounds_vector(query.near_keys() - query.sound_keys()), NEAR_WEIGHT)
        fetch = self.options.phrase_candidates if query.phrases else self.options.candidates
        # The candidates are read without their segment vectors and word times (most of a payload), which
        # are then read for the passages of the clusters kept: a quoted phrase reads 400 candidates to keep
        # the few that say it (those queries were bench/search_latency's p99), and without one the two steps
        # measured 0.4 ms faster than one full read of 50 on Edge at 10k and 1.6-2.7 ms on a Qdrant server
        # at 100k (in-process, the two alternated three times, 2026-12-06).
        hits = self._fetch(mode, dense, sparse, filters, max(fetch, limit * 3))
        if query.phrases:
            hits = [h for h in hits if contains_phrases(h.passage.text, query.phrases)]
        clusters = self._with_details(merge_hits(hits)[: max(limit * 2, self.options.rerank_clusters)])
        segments = [cluster_segments(c) for c in clusters]
        similarities = self._segment_similarities(dense, clusters, segments)
        wanted = set(filters.speakers or ())
        segment_scores = [
            [
                score_segment(seg[2], query, sim, lexical_weight=self.options.lexical_weight)
                if not wanted or _speaker_of(cluster.media_id, seg) in wanted
                else -1.0  # another speaker's words: never the moment of a speaker filter
                for seg, sim in zip(segs, sims, strict=True)
            ]
            for cluster, segs, sims in zip(clusters, segments, similarities, strict=True)
        ]
        ranked = rerank(
            clusters, segments, segment_scores, segment_weight=self.options.segment_weight, semantic=dense is not None
        )
        kept = select_clusters(ranked, limit=limit, max_per_media=self.options.max_moments_per_media)
        peaks = {id(c): max(sims, default=0.0) for c, sims in zip(clusters, similarities, strict=True)}
        moments = self._in_chapters(
            [build_moment(r, query) for r in kept], [peaks[id(r.cluster)] for r in kept], dense, query
        )
        return self._with_speaker_names(distinct_moments(moments))

    def _fetch(
        self,
        mode: SearchMode,
        dense: np.ndarray | None,
        sparse: SparseVector,
        filters: SearchFilters,
        n: int,
    ) -> list[Hit]:
        """The candidate passages, read light (without ``points.DETAIL_FIELDS``): one index query, or for
        hybrid search fused here, from the dense and the sparse list, when the options say so."""
        if mode != "hybrid" or self.options.fusion == "index" or dense is None or not sparse:
            return self.index.search(mode, dense, sparse or None, filters, n, light=True)
        return fuse(
            self.index.search("semantic", dense, None, filters, n, light=True),
            self.index.search("keyword", None, sparse, filters, n, light=True),
            method=self.options.fusion,
            dense_weight=self.options.dense_weight,
            k=self.options.rrf_k,
        )[:n]

    def _with_details(self, clusters: list[Cluster]) -> list[Cluster]:
        """The clusters that are scored closely, their passages (read by a ``light`` search) with segment
        vectors and word times, read in one lookup."""
        wanted = list({passage_key(h.passage): h.passage for c in clusters for h in c.hits}.values())
        full = {passage_key(p): p for p in self.index.with_details(wanted)}
        return [
            replace(c, hits=tuple(replace(h, passage=full.get(passage_key(h.passage), h.passage)) for h in c.hits))
            for c in clusters
        ]

    def _unheard(self, query: ParsedQuery, filters: SearchFilters) -> ParsedQuery:
        """The query with the words that the library (within the filters) never says marked to be matched
        by their sound (``ParsedQuery.sounds``): typed names that Whisper wrote another way. Whether the
        library says each word is one batched keyword lookup (limit 1, no payload), before the search
        itself, so the search is made once, with the sounds in it."""
        asked: dict[str, tuple[str, tuple[str, ...], SparseVector]] = {}
        keys_of = query_sound_keys if self.options.near_sounds else sound_keys
        for word in query.words:
            term, keys, vector = stem(word), keys_of(word), query_vector(word)
            if term not in asked and keys and vector:
                asked[term] = (word, keys, vector)
        if not asked:
            return query
        found = self.index.says([vector for _, _, vector in asked.values()], filters)
        unheard = [(term, word, keys) for (term, (word, keys, _)), f in zip(asked.items(), found, strict=True) if not f]
        if not unheard:
            return query
        sounds = tuple((term, keys) for term, _, keys in unheard)
        if not self.options.near_sounds:
            return replace(query, sounds=sounds)
        near = tuple((term, keys) for term, word, _ in unheard if (keys := near_keys(word)))
        return replace(query, sounds=sounds, near=near)

    def _with_speaker_names(self, moments: list[Moment]) -> list[Moment]:
        if self.speakers is None or not any(m.speaker for m in moments):
            return moments
        names = self.speakers.speaker_names([m.media_id for m in moments if m.speaker])
        return [replace(m, speaker_name=names.get((m.media_id, m.speaker))) if m.speaker else m for m in moments]

    def _in_chapters(
        self, moments: list[Moment], peaks: list[float], dense: np.ndarray | None, query: ParsedQuery
    ) -> list[Moment]:
        """Each moment with its chapter; opening at the chapter's start when the query asks about the story
        as a whole (never for a quoted phrase, which asks for its exact place, nor for a question for one
        fact, ranking.asks_for_fact: "when was ...", "how many ..."): when it names the story's
        subject and asks nothing more (ranking.names_the_story), or when the story's opening answers it about
        as well as its best sentence does (ranking.asks_for_story; not without a query vector).

        Whether a query asks about a story is decided once, on the best moment that has a chapter: a
        question does not change its kind from one result to the next. The moments after it open at their
        own story's start only when the rule holds for them too."""
        if self.chapters is None or not moments:
            return moments
        known = self.chapters.chapters_of([m.media_id for m in moments])
        out = []
        about_story: bool | None = None  # the query's kind, from its first moment with a chapter
        fact = asks_for_fact(query)  # "when was ...", "how many ...": always the sentence
        for moment, peak in zip(moments, peaks, strict=True):
            chapter = chapter_at(known.get(moment.media_id, []), moment.start)
            story = False
            if chapter is not None and not query.phrases and self.options.story_margin >= 0 and not fact:
                story = names_the_story(query, chapter.title) or (
                    chapter.lead is not None
                    and dense is not None
                    and asks_for_story(peak, float(chapter.lead @ dense), margin=self.options.story_margin)
                )
                if about_story is None:
                    about_story = story
                story = story and about_story
            out.append(place_in_chapter(moment, chapter, story=story))
        return out

    def _segment_similarities(
        self, dense: np.ndarray | None, clusters: list[Cluster], segments: list[list[SegmentT]]
    ) -> list[list[float]]:
        """Cosine similarity of the query with each segment of each cluster; all 0.0 without a query
        vector (keyword mode).

        Uses the segment vectors stored with each passage; only segments of points indexed without them
        are embedded now.
        """
        if dense is None:
            return [[0.0] * len(segs) for segs in segments]
        vectors: list[np.ndarray | None] = []
        for cluster, segs in zip(clusters, segments, strict=True):
            stored: dict[float, np.ndarray] = {}
            for h in cluster.hits:
                vecs = h.passage.segment_vectors
                if vecs is not None:
                    for start, v in zip(h.passage.segment_starts, vecs, strict=True):
                        stored.setdefault(round(start, 2), v)
            vectors.extend(stored.get(round(seg[0], 2)) for seg in segs)
        missing = [i for i, v in enumerate(vectors) if v is None]
        if missing:
            texts = [seg[2] for segs in segments for seg in segs]
            fresh = self.embedder.embed_documents([texts[i] for i in missing])
            for i, v in zip(missing, fresh, strict=True):
                vectors[i] = v
        if not vectors:
            return [[] for _ in segments]
        # One product over all segments, then cut back into clusters.
        flat: list[float] = (np.stack([v for v in vectors if v is not None]) @ dense).tolist()
        bounds = list(itertools.accumulate((len(segs) for segs in segments), initial=0))
        return [flat[lo:hi] for lo, hi in itertools.pairwise(bounds)]


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _speaker_of(media_id: str, segment: object) -> str | None:
    label = getattr(segment, "speaker", None)
    return speaker_key(media_id, label) if label else None
