"""Pure ranking: passage hits into moments.

Hits of one media item whose time ranges overlap or touch merge into one cluster; each cluster's segments
are scored against the query and the clusters reranked by blending the index's fused rank with their best
segment; each moment starts at the sentence of its best-matching segment (not at the passage window's
start); at most N moments per media item; the snippet carries character offsets of the matched words.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Protocol, TypeVar

from retrieval.query import ParsedQuery, contains_phrases
from retrieval.sounds import sound_spans, sound_tokens
from retrieval.text import ends_sentence, normalize, sentences, stem, tokens_with_offsets
from retrieval.types import Chapter, ChapterRef, Hit, Moment, SegmentText

__all__ = [
    "Cluster",
    "RankedCluster",
    "SegmentT",
    "asks_for_fact",
    "asks_for_story",
    "build_moment",
    "chapter_at",
    "cluster_segments",
    "distinct_moments",
    "fuse",
    "highlight_offsets",
    "lexical_score",
    "merge_hits",
    "names_the_story",
    "phrase_offsets",
    "place_in_chapter",
    "rerank",
    "score_segment",
    "select_clusters",
    "sound_offsets",
    "stems_of",
]

# (start_s, end_s, text) of one transcript segment, or a SegmentText that also knows where its words are
SegmentT = SegmentText | tuple[float, float, str]


@dataclass(frozen=True)
class Cluster:
    """Overlapping hits of one media item, best score first."""

    media_id: str
    hits: tuple[Hit, ...]
    score: float
    start_s: float
    end_s: float


def fuse(
    dense: Sequence[Hit], sparse: Sequence[Hit], *, method: str, dense_weight: float, k: float = 60.0
) -> list[Hit]:
    """One ranked list from the dense (semantic) and sparse (keyword) lists of the same query, best first.

    ``rrf``: reciprocal rank fusion, ``w / (k + rank)`` from each list the passage is in (``w`` is
    ``dense_weight`` for the dense list, ``1 - dense_weight`` for the sparse one). ``convex``: a weighted
    sum of the two scores, each over the best score of its list (a cosine and a BM25 score are on
    different scales), 0 from a list the passage is not in.
    """
    weights = (dense_weight, 1.0 - dense_weight)
    scores: dict[tuple[str, int], float] = defaultdict(float)
    passages: dict[tuple[str, int], Hit] = {}
    for hits, weight in zip((dense, sparse), weights, strict=True):
        top = max((h.score for h in hits), default=0.0) or 1.0
        for rank, h in enumerate(hits, start=1):
            key = (h.passage.media_id, h.passage.index)
            passages.setdefault(key, h)
            scores[key] += weight / (k + rank) if method == "rrf" else weight * h.score / top
    ranked = sorted(scores, key=lambda key: -scores[key])
    return [replace(passages[key], score=scores[key]) for key in ranked]


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


@dataclass(frozen=True)
class RankedCluster:
    """A cluster with its final score and the evidence behind it: its segments in time order and the
    query's score for each (the same order)."""

    score: float
    cluster: Cluster
    segments: tuple[SegmentT, ...]
    segment_scores: tuple[float, ...]

    @property
    def media_id(self) -> str:
        return self.cluster.media_id


def score_segment(text: str, query: ParsedQuery, similarity: float, *, lexical_weight: float) -> float:
    """How well one segment answers the query: its semantic similarity plus ``lexical_weight`` times its
    term overlap, the overlap halved when the segment misses a quoted phrase (the phrase may lie in a
    neighbouring segment of the same passage, which passed the phrase filter as a whole)."""
    lexical = lexical_score(text, query)
    if query.phrases and not contains_phrases(text, query.phrases):
        lexical *= 0.5
    return similarity + lexical_weight * lexical


def rerank(
    clusters: Sequence[Cluster],
    segments: Sequence[Sequence[SegmentT]],
    segment_scores: Sequence[Sequence[float]],
    *,
    segment_weight: float,
    semantic: bool = True,
) -> list[RankedCluster]:
    """Clusters best first, each scored by its fused rank (its score over the best cluster's) blended with
    its best segment score: ``(1 - segment_weight) * fused + segment_weight * max(segment_scores)``.

    The blend lets a cluster whose single best sentence answers the query overtake one that the index
    ranked higher for its passage as a whole. Without semantic scores (keyword mode) the segment scores
    hold only term overlap, which the fused rank already is, so the fused rank alone orders the clusters;
    the segment scores still choose each moment's best sentence. Ties keep the input order.
    """
    top_score = max((c.score for c in clusters), default=1.0) or 1.0
    ranked: list[RankedCluster] = []
    for cluster, segs, scores in zip(clusters, segments, segment_scores, strict=True):
        fused = cluster.score / top_score
        score = fused if not semantic else (1 - segment_weight) * fused + (segment_weight * max(scores))
        ranked.append(RankedCluster(score=score, cluster=cluster, segments=tuple(segs), segment_scores=tuple(scores)))
    return sorted(ranked, key=lambda r: -r.score)


class _OfMedia(Protocol):
    @property
    def media_id(self) -> str: ...


_C = TypeVar("_C", bound=_OfMedia)


def select_clusters(clusters: Sequence[_C], *, limit: int, max_per_media: int) -> list[_C]:
    """The first ``limit`` clusters, in their given order, skipping any beyond ``max_per_media`` of one
    media item (so one long recording cannot fill the whole page)."""
    taken: list[_C] = []
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


@lru_cache(maxsize=1 << 16)
def stems_of(text: str) -> frozenset[str]:
    # A library's segments come back query after query; stemming them again was a third of a search.
    return frozenset(stem(tok) for tok, _, _ in tokens_with_offsets(text))


@lru_cache(maxsize=1 << 16)
def _sounds(text: str) -> frozenset[str]:
    return frozenset(sound_tokens(text))


SOUND_CREDIT = 0.8  # a word that only sounds like the term typed counts for a little less than the term
NEAR_CREDIT = 0.6  # a word that sounds nearly like a long name typed (one Metaphone edit away)


def lexical_score(text: str, query: ParsedQuery) -> float:
    """Share of the query's terms (and phrases) found in ``text``, 0..1. A term the library never says
    (``query.sounds``) is found, for a little less, where a word sounds like it."""
    if not query.terms and not query.phrases:
        return 0.0
    stems = stems_of(text)
    found: float = sum(1 for t in query.terms if t in stems)
    if query.sounds:
        heard = _sounds(text)
        exact = {t for t, keys in query.sounds if t not in stems and heard.intersection(keys)}
        found += SOUND_CREDIT * len(exact)
        found += sum(
            NEAR_CREDIT for t, keys in query.near if t not in stems and t not in exact and heard.intersection(keys)
        )
    if query.phrases:
        haystack = f" {normalize(text)} "
        found += sum(2 for p in query.phrases if f" {p} " in haystack)
    return found / (len(query.terms) + 2 * len(query.phrases))


def highlight_offsets(text: str, query: ParsedQuery) -> list[tuple[int, int]]:
    """Character spans in ``text`` of query terms and phrases, sorted, overlapping spans merged."""
    wanted = set(query.terms)
    spans = [(s, e) for tok, s, e in tokens_with_offsets(text) if stem(tok) in wanted]
    spans += sound_offsets(text, query)
    spans += phrase_offsets(text, query)
    merged: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def sound_offsets(text: str, query: ParsedQuery) -> list[tuple[int, int]]:
    """Character spans in ``text`` of words (or runs of words, written apart) that match a query word only by
    how they sound (``query.sounds``, ``query.near``: a name the library never says as typed), in order."""
    keys = query.sound_keys() | query.near_keys()
    if not keys:
        return []
    wanted = set(query.terms)
    said = [(s, e) for tok, s, e in tokens_with_offsets(text) if stem(tok) in wanted]
    spans = {(s, e) for key, s, e in sound_spans(text) if key in keys and not any(s <= a and b <= e for a, b in said)}
    return sorted(spans)


def _speaker_label(segment: SegmentT) -> str | None:
    return segment.speaker if isinstance(segment, SegmentText) else None


def _word_places(segment: SegmentT) -> tuple[tuple[int, float], ...]:
    return segment[3] if isinstance(segment, SegmentText) else ()


def _sentence_starts(text: str) -> list[int]:
    """Character offsets in ``text`` where each of its sentences begins."""
    out, cursor = [], 0
    for sentence in sentences(text):
        at = text.find(sentence, cursor)
        if at < 0:
            continue
        out.append(at)
        cursor = at + len(sentence)
    return out or [0]


def _best_sentence(text: str, query: ParsedQuery) -> int:
    """Where in a segment the sentence that holds most of the query begins (the first of equals; 0 when
    no sentence holds any of it)."""
    starts = _sentence_starts(text)
    bounds = [*starts[1:], len(text)]
    scores = [lexical_score(text[a:b], query) for a, b in zip(starts, bounds, strict=True)]
    best = max(range(len(starts)), key=lambda i: (scores[i], -i))
    return starts[best] if scores[best] > 0 else 0


def _time_at(words: Sequence[tuple[int, float]], offset: int) -> float | None:
    """The start of the word that covers character ``offset`` (the last word beginning at or before it)."""
    found = None
    for at, start in words:
        if at > offset:
            break
        found = start
    return found


def phrase_offsets(text: str, query: ParsedQuery) -> list[tuple[int, int]]:
    """Character spans in ``text`` of the query's quoted phrases, in order."""
    if not query.phrases:
        return []
    toks = list(tokens_with_offsets(text))
    norm = [normalize(tok) for tok, _, _ in toks]
    spans = []
    for phrase in query.phrases:
        words = phrase.split()
        for i in range(len(toks) - len(words) + 1):
            if norm[i : i + len(words)] == words:
                spans.append((toks[i][1], toks[i + len(words) - 1][2]))
    return sorted(spans)


def _phrase_segment(segments: Sequence[SegmentT], query: ParsedQuery, *, default: int) -> int:
    """The segment in which the first quoted phrase of the query begins, or ``default`` if none holds it."""
    offsets, pos = [], 0
    for seg in segments:
        offsets.append(pos)
        pos += len(seg[2]) + 1
    spans = phrase_offsets(" ".join(seg[2] for seg in segments), query)
    if not spans:
        return default
    return max(i for i, at in enumerate(offsets) if at <= spans[0][0])


# Words a sentence does not end on: after one of them a capitalized word goes on the same sentence (a name).
_GOES_ON = frozenset(
    "a an the and or but nor of to in on at by with for from into onto about as than that which who whom whose "  # noqa: SIM905
    "when where while if because so like via is are was were be been his her its their our your my".split()
)
_ALWAYS_CAPITAL = frozenset({"i", "i'm", "i've", "i'll", "i'd"})


def opens_unclosed_sentence(text: str, before: str) -> bool:
    """Whether a segment starts a sentence of its own though the segment ``before`` it ends on no full stop:
    Whisper drops full stops (the smaller models often), and a segment that opens on a capitalized word
    after one that ends on a plain word ("... by train and ferry instead" / "The same heat under the
    ground ...") is a new sentence. Not after a comma, a dash, a word no sentence ends on ("invented by" /
    "Dennis Ritchie ...") or a capitalized word ("after Bell" / "Labs left ..."), and not for "I"."""
    first = text.split(maxsplit=1)[:1]
    tail = before.rstrip()
    if not first or not tail or not first[0][:1].isupper() or tail[-1] in ",;:-\u2013\u2014":
        return False
    if first[0].strip(".,!?;:\"'").lower() in _ALWAYS_CAPITAL:
        return False
    last = tail.split()[-1].strip("\"'()")
    if last.lower() in _GOES_ON:
        return False
    return last[:1].islower() or last[:1].isdigit()  # a capital after a capital goes on a name


def build_moment(ranked: RankedCluster, query: ParsedQuery, *, snippet_chars: int = 240) -> Moment:
    """A moment scored ``ranked.score``, starting where the sentence of the best-scoring segment starts,
    its snippet running on to ``snippet_chars``.

    When the best segment continues a sentence begun in the segment before it (Whisper cuts at pauses,
    not at sentence ends), the moment starts at that sentence's first word; a segment that opens a sentence
    though Whisper left the one before unclosed (:func:`opens_unclosed_sentence`) starts its own. With word
    times the start is that word's own time, a segment of several sentences opens at the one that holds the
    query (also when its first words end an earlier sentence: "... the cost of nothing. The original version was Lisp 1,
    invented" opens at "The original" for "who invented lisp"), and a quoted phrase opens at the phrase's
    first word; without them the start is the segment's, or for a sentence begun earlier an estimate from
    its character position in the earlier segment.
    """
    segments, segment_scores = ranked.segments, ranked.segment_scores
    best = max(range(len(segments)), key=lambda i: (segment_scores[i], -i))
    if query.phrases:  # the phrase may run across a segment end: open at the segment it begins in
        best = _phrase_segment(segments, query, default=best)
    pieces: list[tuple[str, tuple[tuple[int, float], ...]]] = []  # snippet texts with their word places
    start_s, _, best_text = segments[best][:3]
    best_words = _word_places(segments[best])
    prev_start, prev_end, prev_text = segments[best - 1][:3] if best > 0 else (0.0, 0.0, "")
    # The sentence of the segment that holds most of the query; a later one than the first is where the
    # moment opens even when the segment's first words end a sentence begun before it.
    answer_at = _best_sentence(best_text, query) if best_words else 0
    if (
        answer_at == 0
        and prev_text.strip()
        and not ends_sentence(prev_text.strip())
        and start_s - prev_end < 1.5
        and not opens_unclosed_sentence(best_text, prev_text)
    ):
        whole = prev_text.strip()
        lead = sentences(whole)[-1]
        cut = prev_text.rfind(lead)
        lead_words = tuple((at - cut, t) for at, t in _word_places(segments[best - 1]) if cut >= 0 and at >= cut)
        pieces.append((lead, lead_words))
        if lead_words:
            start_s = lead_words[0][1]
        else:
            start_s = prev_start + (prev_end - prev_start) * (len(whole) - len(lead)) / len(whole)
    elif best_words:
        start_s = best_words[0][1]
        if answer_at > 0:
            best_text = best_text[answer_at:]
            best_words = tuple((at - answer_at, t) for at, t in best_words if at >= answer_at)
            start_s = best_words[0][1] if best_words else start_s
    end_s = segments[best][1]
    length = sum(len(p) + 1 for p, _ in pieces)
    for i, seg in enumerate(segments[best:]):
        text = best_text if i == 0 else seg[2]
        # a quoted phrase that runs on past the snippet's length still ends inside it
        shown = not query.phrases or bool(phrase_offsets(" ".join(p for p, _ in pieces), query))
        if i > 0 and length + len(text) > snippet_chars and shown:
            break
        pieces.append((text, best_words if i == 0 else _word_places(seg)))
        length += len(text) + 1
        end_s = seg[1]
    text = " ".join(p for p, _ in pieces)
    places: list[tuple[int, float]] = []
    pos = 0
    for piece, words in pieces:
        places.extend((pos + at, t) for at, t in words)
        pos += len(piece) + 1
    highlights = highlight_offsets(text, query)
    highlight_starts: list[float] = []
    if places:
        times = [_time_at(places, a) for a, _ in highlights]
        highlight_starts = [t for t in times if t is not None] if None not in times else []
        phrases = phrase_offsets(text, query)
        phrase_start = _time_at(places, phrases[0][0]) if phrases else None
        if phrase_start is not None:
            start_s = phrase_start
    p = ranked.cluster.hits[0].passage
    return Moment(
        media_id=ranked.media_id,
        title=p.title,
        filename=p.filename,
        kind=p.kind,
        start=round(start_s, 2),
        end=round(end_s, 2),
        score=round(ranked.score, 6),
        text=text,
        highlights=highlights,
        highlight_starts=[round(t, 2) for t in highlight_starts],
        sounds_like=sound_offsets(text, query),
        speaker=_speaker_label(segments[best]),
    )


def distinct_moments(moments: Sequence[Moment], *, min_gap_s: float = 1.0) -> list[Moment]:
    """``moments`` in order, less any that starts within ``min_gap_s`` of an earlier one of the same media
    item (two clusters can snap to the same sentence start)."""
    kept: list[Moment] = []
    for moment in moments:
        if not any(m.media_id == moment.media_id and abs(m.start - moment.start) < min_gap_s for m in kept):
            kept.append(moment)
    return kept


def chapter_at(chapters: Sequence[Chapter], t: float) -> Chapter | None:
    """The chapter (of one media item, in order) that time ``t`` falls in: the last one starting at or
    before it."""
    found = None
    for c in chapters:
        if c.start_s > t + 0.01:
            break
        found = c
    return found


# Words that ask about a subject as a whole ("what is X", "how does X work", "tell me about X", "X history"):
# they say nothing about which part of the story is wanted.
_ABOUT_WORDS = frozenset(
    "what whats is are was a an the how does do did work works working explain tell me us about history "  # noqa: SIM905
    "biography overview introduction intro basics define definition meaning mean means of on".split()
)
_ABOUT_STEMS = frozenset(stem(w) for w in _ABOUT_WORDS)
# A question for one fact of a story: who, when, where, which, why, whose, how many / much / long / ...
_DETAIL_WORDS = frozenset("who whom whose when where which why".split())  # noqa: SIM905
_HOW_DETAIL = frozenset("many much long fast old big large often far soon".split())  # noqa: SIM905


def asks_for_fact(query: ParsedQuery) -> bool:
    """Whether the query is a question for one fact: it opens with who, when, where, which, why (whom,
    whose), or asks how many / much / long / fast ... anywhere. "when was unix rewritten in C" wants the
    sentence that says so, however well the story's opening answers it; "an expert who really knows how a
    complex system works" (a relative "who", not a question) may still ask about a whole story."""
    asked = _asked_words(query)
    return bool(asked) and (asked[0] in _DETAIL_WORDS or _asks_how_much(asked))


def _asked_words(query: ParsedQuery) -> list[str]:
    return [tok for tok, _, _ in tokens_with_offsets(query.text)]


def _asks_how_much(asked: Sequence[str]) -> bool:
    """Whether the query asks how many, how long, how fast ... anywhere in its words."""
    return any(a == "how" and b in _HOW_DETAIL for a, b in itertools.pairwise(asked))


def names_the_story(query: ParsedQuery, title: str) -> bool:
    """Whether the query names a story's subject and asks nothing more: every word of it that is not a way
    of asking about a subject as a whole ("what is", "how does ... work", "tell me about", "history of") is
    said in the story's title (its first sentence, where a talk or a bulletin names what it is about), and it
    asks none of the questions that want one fact (who, when, where, which, why, how many ...).

    "udp", "what is a kernel", "history of unix", "how does tcp work" in a story titled "Transmission
    Control Protocol TCP ..." name their story; "who invented lisp", "unix trademark" and "how fast could
    ENIAC add" ask for a detail of theirs."""
    asked = _asked_words(query)
    if not asked or any(t in _DETAIL_WORDS for t in asked) or _asks_how_much(asked):
        return False
    subject = set(query.terms) - _ABOUT_STEMS  # the query's stemmed content words
    return bool(subject) and subject <= stems_of(title)


def asks_for_story(peak: float, lead: float, *, margin: float) -> bool:
    """Whether a query asks about a story as a whole rather than a detail of it.

    ``peak`` is the query's similarity with the best sentence of the moment, ``lead`` its similarity with
    the first sentence of the moment's chapter. A story's opening says what it is about (a headword, a
    news lead): a question about the story is answered by it about as well as by any sentence, while a
    detail is said in one sentence that stands out from the opening. Measured on the development set
    (bench/quality/README.md): the opening is within 0.04 of the best sentence for the median story
    query and 0.20 below it for the median detail query.
    """
    return lead >= peak - margin


def place_in_chapter(moment: Moment, chapter: Chapter | None, *, story: bool, min_lead_s: float = 1.0) -> Moment:
    """The moment with its chapter named; when ``story``, opening at the chapter's start with the matched
    sentence kept as ``match`` (unless the sentence starts within ``min_lead_s`` of the chapter anyway)."""
    if chapter is None:
        return moment
    ref = ChapterRef(index=chapter.index, title=chapter.title, start=round(chapter.start_s, 2))
    if story and moment.start - chapter.start_s >= min_lead_s:
        return replace(moment, chapter=ref, start=ref.start, match=(moment.start, moment.end))
    return replace(moment, chapter=ref)
