"""Pure retrieval logic: terms, sparse vectors, query parsing, grouping into moments, highlights."""

from __future__ import annotations

import pytest

from retrieval.query import contains_phrases, parse_query
from retrieval.ranking import build_moment, cluster_segments, highlight_offsets, merge_hits, select_clusters
from retrieval.sparse import document_vector, query_vector, term_id
from retrieval.text import stem, terms
from retrieval.types import Hit, Passage


def test_stemming_joins_inflections() -> None:
    assert stem("bridges") == stem("bridge")
    assert stem("collapsed") == stem("collapse") == stem("collapsing")
    assert stem("colonies") == stem("colony")
    assert stem("glass") == "glass"


def test_terms_drop_stopwords_and_sparse_vectors_are_bm25_shaped() -> None:
    assert terms("Why did the bridge fall?") == [stem("bridge"), "fall"]
    doc = document_vector("bridge bridge bridge river")
    weights = dict(zip(doc.indices, doc.values, strict=True))
    assert weights[term_id("bridg")] > weights[term_id("river")]
    assert weights[term_id("bridg")] < 3 * weights[term_id("river")]  # saturated, not linear
    assert query_vector("the").indices == [term_id("the")]  # only stopwords: keep them
    assert not query_vector("   ")


def test_quoted_phrases() -> None:
    q = parse_query('bees "waggle dance" honey')
    assert q.phrases == ("waggle dance",)
    assert q.text == "bees waggle dance honey"
    assert contains_phrases("with a Waggle-dance, on the comb", q.phrases)
    assert not contains_phrases("a dance of the waggle", q.phrases)


def _passage(media: str, index: int, start: float, segs: list[str]) -> Passage:
    offsets, pos = [], 0
    for s in segs:
        offsets.append(pos)
        pos += len(s) + 1
    return Passage(
        media_id=media,
        index=index,
        start_s=start,
        end_s=start + 10 * len(segs),
        text=" ".join(segs),
        segment_starts=tuple(start + 10 * i for i in range(len(segs))),
        segment_ends=tuple(start + 10 * i + 9 for i in range(len(segs))),
        segment_offsets=tuple(offsets),
        title=f"T {media}",
        filename=f"{media}.mp4",
        kind="video",
        language="en",
        created_at=0.0,
    )


def test_overlapping_hits_merge_but_distant_ones_stay_apart() -> None:
    a0 = _passage("a", 0, 0, ["one", "two", "three"])
    a1 = _passage("a", 1, 20, ["three", "four", "five"])  # overlaps a0 by 10 of 30 s
    a2 = _passage("a", 2, 100, ["far", "away", "later"])
    b0 = _passage("b", 0, 0, ["other", "file", "here"])
    hits = [Hit(a1, 0.9), Hit(b0, 0.8), Hit(a0, 0.7), Hit(a2, 0.6)]
    clusters = merge_hits(hits)
    assert [(c.media_id, round(c.score, 1), len(c.hits)) for c in clusters] == [
        ("a", 0.9, 2),
        ("b", 0.8, 1),
        ("a", 0.6, 1),
    ]
    assert [c.media_id for c in select_clusters(clusters, limit=10, max_per_media=1)] == ["a", "b"]
    assert [s[2] for s in cluster_segments(clusters[0])] == ["one", "two", "three", "four", "five"]


def test_moment_starts_at_best_segment_with_highlights() -> None:
    p = _passage("a", 0, 100, ["The weather was fine.", "Then the bridge collapsed.", "Everyone ran."])
    cluster = merge_hits([Hit(p, 0.5)])[0]
    q = parse_query("bridges collapse")
    segs = cluster_segments(cluster)
    moment = build_moment(cluster, segs, [0.1, 0.9, 0.3], q)
    assert moment.start == 110
    assert moment.text.startswith("Then the bridge collapsed.")
    assert [moment.text[s:e] for s, e in moment.highlights] == ["bridge", "collapsed"]
    assert moment.url == "/watch/a?t=110"
    d = moment.as_dict()
    assert set(d) == {"media_id", "title", "filename", "kind", "start", "end", "score", "text", "highlights", "url"}


def test_moment_starts_where_the_sentence_of_its_best_segment_starts() -> None:
    # Segments 100-109, 110-119, 120-129: the best one continues a sentence begun halfway into the one before.
    p = _passage("a", 0, 100, ["It rained. The old bridge over", "the river collapsed in 1953.", "Nobody was hurt."])
    cluster = merge_hits([Hit(p, 0.5)])[0]
    moment = build_moment(cluster, cluster_segments(cluster), [0.1, 0.9, 0.3], parse_query("bridge collapse"))
    assert moment.text.startswith("The old bridge over the river collapsed in 1953.")
    # "The old bridge over" is the last 19 of the first segment's 30 characters: 9 s * 11/30 in.
    assert moment.start == pytest.approx(103.3, abs=0.01)
    # After a finished sentence, or across a long pause, the moment starts at the best segment itself.
    done = _passage("b", 0, 100, ["It rained all day.", "The bridge collapsed.", "Nobody was hurt."])
    cluster = merge_hits([Hit(done, 0.5)])[0]
    moment = build_moment(cluster, cluster_segments(cluster), [0.1, 0.9, 0.3], parse_query("bridge"))
    assert moment.start == 110


def test_phrase_highlight_spans_the_whole_phrase() -> None:
    text = "They did the waggle dance, then a dance."
    spans = highlight_offsets(text, parse_query('"waggle dance"'))
    assert [text[s:e] for s, e in spans] == ["waggle dance", "dance"]
