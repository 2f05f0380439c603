"""Pure retrieval logic: terms, sparse vectors, query parsing, grouping, reranking into moments, highlights."""

from __future__ import annotations

import pytest

from ingest.passages import cut_passages
from ingest.types import Segment, Word
from retrieval.query import contains_phrases, parse_query
from retrieval.ranking import (
    Cluster,
    RankedCluster,
    asks_for_fact,
    asks_for_story,
    build_moment,
    chapter_at,
    cluster_segments,
    distinct_moments,
    highlight_offsets,
    lexical_score,
    merge_hits,
    names_the_story,
    opens_unclosed_sentence,
    place_in_chapter,
    rerank,
    score_segment,
    select_clusters,
)
from retrieval.sparse import document_vector, query_vector, term_id
from retrieval.text import stem, terms
from retrieval.types import Chapter, ChapterRef, Hit, Moment, Passage


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


def _ranked(cluster: Cluster, segment_scores: list[float]) -> RankedCluster:
    return RankedCluster(cluster.score, cluster, tuple(cluster_segments(cluster)), tuple(segment_scores))


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
    moment = build_moment(RankedCluster(0.75, cluster, tuple(segs), (0.1, 0.9, 0.3)), q)
    assert moment.start == 110
    assert moment.text.startswith("Then the bridge collapsed.")
    assert [moment.text[s:e] for s, e in moment.highlights] == ["bridge", "collapsed"]
    assert (moment.media_id, moment.title, moment.score) == ("a", "T a", 0.75)  # the reranked score


def test_moment_starts_where_the_sentence_of_its_best_segment_starts() -> None:
    # Segments 100-109, 110-119, 120-129: the best one continues a sentence begun halfway into the one before.
    p = _passage("a", 0, 100, ["It rained. The old bridge over", "the river collapsed in 1953.", "Nobody was hurt."])
    cluster = merge_hits([Hit(p, 0.5)])[0]
    moment = build_moment(_ranked(cluster, [0.1, 0.9, 0.3]), parse_query("bridge collapse"))
    assert moment.text.startswith("The old bridge over the river collapsed in 1953.")
    # "The old bridge over" is the last 19 of the first segment's 30 characters: 9 s * 11/30 in.
    assert moment.start == pytest.approx(103.3, abs=0.01)
    # After a finished sentence, or across a long pause, the moment starts at the best segment itself.
    done = _passage("b", 0, 100, ["It rained all day.", "The bridge collapsed.", "Nobody was hurt."])
    cluster = merge_hits([Hit(done, 0.5)])[0]
    moment = build_moment(_ranked(cluster, [0.1, 0.9, 0.3]), parse_query("bridge"))
    assert moment.start == 110


def _timed_passage(media: str, start: float, texts: list[str]) -> Passage:
    """Segments 10 s apart, each opening with a 1 s breath, then a word every 0.5 s."""
    segments = []
    for i, text in enumerate(texts):
        s0 = start + 10 * i
        words = tuple(Word(s0 + 1 + 0.5 * k, s0 + 1.5 + 0.5 * k, w, 0.9) for k, w in enumerate(text.split()))
        segments.append(Segment(s0, s0 + 9, text, words))
    [d] = cut_passages(segments, target_s=1000, max_s=1000)
    return Passage(
        media, 0, d.start_s, d.end_s, d.text, d.segment_starts, d.segment_ends, d.segment_offsets,
        f"T {media}", f"{media}.mp4", "video", "en", 0.0, word_starts=d.word_starts, word_offsets=d.word_offsets,
    )  # fmt: skip


def test_with_word_times_a_moment_opens_on_the_first_word_of_the_sentence_that_answers() -> None:
    p = _timed_passage("a", 100, ["It rained all day.", "We stayed in. Then the bridge collapsed.", "Nobody was hurt."])
    assert p.segments()[1].words[3] == (len("We stayed in. "), 112.5)  # "Then": a place and a start per word
    cluster = merge_hits([Hit(p, 0.5)])[0]
    moment = build_moment(_ranked(cluster, [0.1, 0.9, 0.3]), parse_query("bridge collapse"))
    # the second sentence of the best segment holds the query: its first word "Then" is at 110 + 1 + 3 * 0.5
    assert moment.start == 112.5 and moment.text.startswith("Then the bridge collapsed. Nobody")
    assert [moment.text[a:b] for a, b in moment.highlights] == ["bridge", "collapsed"]
    assert moment.highlight_starts == [113.5, 114.0]  # where "bridge" and "collapsed" are spoken
    # a query the whole segment answers opens on its first word, after the breath, not at the segment start
    moment = build_moment(_ranked(cluster, [0.1, 0.9, 0.3]), parse_query("weather"))
    assert moment.start == 111.0 and moment.text.startswith("We stayed in.")


def test_with_word_times_a_sentence_begun_earlier_opens_on_its_own_first_word() -> None:
    p = _timed_passage("a", 100, ["It rained. The old bridge over", "the river collapsed in 1953.", "Nobody was hurt."])
    cluster = merge_hits([Hit(p, 0.5)])[0]
    moment = build_moment(_ranked(cluster, [0.1, 0.9, 0.3]), parse_query("bridge collapse"))
    assert moment.text.startswith("The old bridge over the river collapsed in 1953.")
    assert moment.start == 102.0  # "The", the third word of the segment before: 100 + 1 + 2 * 0.5


def test_a_segment_that_opens_a_sentence_whisper_left_unclosed_before_it_opens_the_moment() -> None:
    # Whisper wrote no full stop after "instead"; "The same heat ..." is a sentence of its own.
    p = _timed_passage(
        "a", 100, ["Some crossed the continent by ferry instead", "The same heat warms every house", "Later."]
    )
    cluster = merge_hits([Hit(p, 0.5)])[0]
    moment = build_moment(_ranked(cluster, [0.1, 0.9, 0.3]), parse_query("how are houses heated"))
    assert moment.start == 111.0 and moment.text.startswith("The same heat")
    # After a word no sentence ends on, or before a lower-case word, the sentence goes on: back to its start.
    for before, after in (("The first compiler was written by", "Grace Hopper in 1952"), ("It was written", "by hand")):
        p = _timed_passage("b", 100, [f"Long ago. {before}", after, "Later."])
        cluster = merge_hits([Hit(p, 0.5)])[0]
        moment = build_moment(_ranked(cluster, [0.1, 0.9, 0.3]), parse_query("who wrote it"))
        assert moment.start == 102.0 and moment.text.startswith(before), (before, after)
    assert not opens_unclosed_sentence("I think so", "and then")
    assert not opens_unclosed_sentence("Bell Labs", "at the time,")
    assert not opens_unclosed_sentence("Labs left the project", "invented by Ken Thompson, after Bell")


def test_with_word_times_the_sentence_that_answers_wins_over_the_end_of_one_begun_earlier() -> None:
    # Whisper cut "... the cost of nothing." across two segments; the query is answered by the sentence
    # after it, in the same segment: the moment opens there, not at the earlier sentence's start.
    p = _timed_passage(
        "a",
        100,
        ["It rained. The quip says programmers know", "the cost of nothing. Lisp was invented by McCarthy", "Later."],
    )
    cluster = merge_hits([Hit(p, 0.5)])[0]
    moment = build_moment(_ranked(cluster, [0.1, 0.9, 0.3]), parse_query("who invented lisp"))
    assert moment.start == 113.0  # "Lisp", the fifth word of the segment at 110: 110 + 1 + 4 * 0.5
    assert moment.text.startswith("Lisp was invented by McCarthy")
    # a query held by the earlier sentence still opens where that sentence begins, in the segment before
    moment = build_moment(_ranked(cluster, [0.1, 0.9, 0.3]), parse_query("the quip about the cost of nothing"))
    assert moment.start == 102.0 and moment.text.startswith("The quip says")


def test_a_quoted_phrase_moment_opens_on_the_phrase() -> None:
    p = _timed_passage("a", 100, ["Bees talk.", "They did the waggle dance, then rested.", "Later."])
    cluster = merge_hits([Hit(p, 0.5)])[0]
    moment = build_moment(_ranked(cluster, [0.1, 0.9, 0.3]), parse_query('"waggle dance"'))
    assert moment.start == 112.5  # "waggle": the fourth word of the segment at 110
    assert moment.highlight_starts == [112.5] and moment.text[slice(*moment.highlights[0])] == "waggle dance"


def test_a_quoted_phrase_across_a_segment_end_opens_where_it_begins_and_shows_whole() -> None:
    long = "Then one wet spring the river rose higher than anyone could remember and the water ran fast and brown"
    p = _timed_passage(
        "a", 100, ["For almost two hundred years it carried carts and cattle", long, "The engineers came."]
    )
    cluster = merge_hits([Hit(p, 0.5)])[0]
    query = parse_query('"and brown the engineers"')
    moment = build_moment(_ranked(cluster, [0.5, 0.5, 0.5]), query, snippet_chars=120)
    assert moment.start == 110 + 1 + 0.5 * 17  # the second "and", the 18th word of the segment at 110
    assert "and brown The engineers" in moment.text  # the snippet runs on until the phrase is whole


def test_phrase_highlight_spans_the_whole_phrase() -> None:
    text = "They did the waggle dance, then a dance."
    spans = highlight_offsets(text, parse_query('"waggle dance"'))
    assert [text[s:e] for s, e in spans] == ["waggle dance", "dance"]


def _clusters(*scores: tuple[str, float]) -> list[Cluster]:
    """One single-passage cluster per (media, index score), far apart in time, in the given order."""
    passages = [_passage(media, i, 100.0 * i, ["x"]) for i, (media, _) in enumerate(scores)]
    return [
        Cluster(p.media_id, (Hit(p, score),), score, p.start_s, p.end_s)
        for p, (_, score) in zip(passages, scores, strict=True)
    ]


def _segs(clusters: list[Cluster]) -> list[list[tuple[float, float, str]]]:
    return [cluster_segments(c) for c in clusters]


def test_rerank_blends_the_fused_rank_with_the_best_segment() -> None:
    # RRF-sized scores: the fused rank is relative to the best cluster (1.0 and 0.5 here).
    clusters = _clusters(("a", 0.032), ("b", 0.016))
    ranked = rerank(clusters, _segs(clusters), [[0.2, 0.1], [0.9, 0.0]], segment_weight=0.5)
    # b's best sentence answers much better: 0.5 * 0.5 + 0.5 * 0.9 = 0.7 beats 0.5 * 1.0 + 0.5 * 0.2 = 0.6.
    assert [r.media_id for r in ranked] == ["b", "a"]
    assert [r.score for r in ranked] == [pytest.approx(0.7), pytest.approx(0.6)]
    assert [r.segment_scores for r in ranked] == [(0.9, 0.0), (0.2, 0.1)]
    assert ranked[0].cluster is clusters[1] and ranked[0].segments == tuple(cluster_segments(clusters[1]))
    # A lighter segment weight lets the fused rank win: 0.8 + 0.2 * 0.2 = 0.84 against 0.4 + 0.2 * 0.9 = 0.58.
    light = rerank(clusters, _segs(clusters), [[0.2, 0.1], [0.9, 0.0]], segment_weight=0.2)
    assert [r.media_id for r in light] == ["a", "b"]
    assert [r.score for r in light] == [pytest.approx(0.84), pytest.approx(0.58)]


def test_rerank_keeps_the_fused_order_at_weight_zero_and_in_keyword_mode() -> None:
    clusters = _clusters(("a", 0.9), ("b", 0.6), ("c", 0.3))
    scores = [[0.0], [0.5], [5.0]]  # segments that would reverse the order if they counted
    for ranked in (
        rerank(clusters, _segs(clusters), scores, segment_weight=0.0),
        rerank(clusters, _segs(clusters), scores, segment_weight=0.5, semantic=False),
    ):
        assert [r.media_id for r in ranked] == ["a", "b", "c"]
        assert [r.score for r in ranked] == [pytest.approx(1.0), pytest.approx(2 / 3), pytest.approx(1 / 3)]
        assert [r.segment_scores for r in ranked] == [(0.0,), (0.5,), (5.0,)]  # still there to pick the sentence


def test_rerank_ties_keep_their_order_and_inputs_stay_untouched() -> None:
    clusters = _clusters(("a", 0.5), ("b", 0.5), ("c", 0.5))
    segments, scores = _segs(clusters), [[0.3], [0.3], [0.3]]
    before = (list(clusters), [list(s) for s in segments], [list(s) for s in scores])
    assert [r.media_id for r in rerank(clusters, segments, scores, segment_weight=0.5)] == ["a", "b", "c"]
    backwards = rerank(clusters[::-1], segments[::-1], scores[::-1], segment_weight=0.5)
    assert [r.media_id for r in backwards] == ["c", "b", "a"]
    assert (clusters, segments, scores) == before
    assert [c.score for c in clusters] == [0.5, 0.5, 0.5]  # the blended score lives on RankedCluster only
    assert rerank([], [], [], segment_weight=0.5) == []
    with pytest.raises(ValueError, match="zip"):
        rerank(clusters, segments, scores[:2], segment_weight=0.5)


def test_selection_caps_moments_per_media_in_rank_order() -> None:
    clusters = _clusters(("a", 0.9), ("a", 0.8), ("b", 0.7), ("a", 0.6), ("c", 0.5))
    ranked = rerank(clusters, _segs(clusters), [[0.0]] * 5, segment_weight=0.0)
    taken = select_clusters(ranked, limit=3, max_per_media=2)
    assert [(r.media_id, r.cluster.hits[0].passage.index) for r in taken] == [("a", 0), ("a", 1), ("b", 2)]
    assert all(any(t is r for r in ranked) for t in taken)  # the ranked values themselves, not copies
    everything = select_clusters(ranked, limit=10, max_per_media=1)
    assert [r.media_id for r in everything] == ["a", "b", "c"]


def test_segment_score_is_similarity_plus_weighted_overlap_halved_without_the_phrase() -> None:
    q = parse_query('bridge "stone arch"')  # five parts: three terms, and the phrase counted twice
    assert score_segment("the stone arch of the bridge", q, 0.5, lexical_weight=0.2) == pytest.approx(0.5 + 0.2)
    # One term of five parts, halved for the missing phrase.
    assert score_segment("the bridge", q, 0.5, lexical_weight=0.2) == pytest.approx(0.5 + 0.2 * (1 / 5) / 2)
    assert score_segment("the bridge", parse_query("bridge"), 0.0, lexical_weight=0.2) == pytest.approx(0.2)
    assert score_segment("nothing here", q, 0.25, lexical_weight=0.2) == 0.25


def test_moments_that_start_at_the_same_second_of_one_media_are_kept_once() -> None:
    def moment(media_id: str, start: float) -> Moment:
        return Moment(media_id, "T", "f.mp4", "video", start, start + 5, 0.5, "text")

    moments = [moment("a", 10.0), moment("a", 10.6), moment("b", 10.0), moment("a", 11.0), moment("a", 9.2)]
    kept = distinct_moments(moments)
    assert [(m.media_id, m.start) for m in kept] == [("a", 10.0), ("b", 10.0), ("a", 11.0)]
    assert len(moments) == 5


def test_a_moment_names_its_chapter_and_opens_at_the_story_start_only_for_a_story_question() -> None:
    chapters = [Chapter("a", 0, 0.0, 60.0, "Bridges"), Chapter("a", 1, 60.0, 130.0, "Bees")]
    assert chapter_at(chapters, 59.9) == chapters[0]
    assert chapter_at(chapters, 60.0) == chapters[1]
    assert chapter_at([], 10.0) is None
    moment = Moment("a", "T", "f.mp4", "video", 95.0, 101.0, 0.5, "In winter the bees cluster around the queen.")

    detail = place_in_chapter(moment, chapters[1], story=False)
    assert (detail.start, detail.match) == (95.0, None)
    assert detail.chapter == ChapterRef(index=1, title="Bees", start=60.0)

    story = place_in_chapter(moment, chapters[1], story=True)
    assert (story.start, story.end, story.match) == (60.0, 101.0, (95.0, 101.0))  # the sentence is kept
    early = place_in_chapter(Moment("a", "T", "f", "video", 60.4, 65.0, 0.5, "x"), chapters[1], story=True)
    assert (early.start, early.match) == (60.4, None)  # already at the story's start
    assert place_in_chapter(moment, None, story=True) == moment


def test_a_story_question_is_one_the_story_opening_answers_about_as_well_as_the_best_sentence() -> None:
    assert asks_for_story(0.62, 0.60, margin=0.05)  # "what is a heisenbug": the headword answers it
    assert not asks_for_story(0.62, 0.40, margin=0.05)  # "who invented ethernet": one sentence stands out


def test_a_question_for_one_fact_always_opens_at_its_sentence() -> None:
    # asking who / when / where / which / why, or how many / long / fast, wants the sentence that says it
    for q in (
        "when was unix rewritten in C",
        "Why reference counting fails on cycles",
        "who invented lisp",
        "where is the original press",
        "how many bees live in a hive",
        "the hive holds how many bees",
    ):
        assert asks_for_fact(parse_query(q)), q
    # a relative "who" or "when" inside a description, and "how" alone, ask about a whole story
    for q in (
        "hacker slang for an expert who really knows how a complex system works",
        "keeping a count of pointers to each object to decide when to free it",
        "how does tcp work",
        "what is a heisenbug",
        "how to decide whether a machine is intelligent",
        "",
    ):
        assert not asks_for_fact(parse_query(q)), q


def test_a_query_that_names_the_story_and_asks_nothing_more_is_a_story_question() -> None:
    tcp = "Transmission Control Protocol TCP, the most common transport…"
    unix = "Unix"
    # the subject, with nothing but ways of asking about a subject as a whole around it
    for q in ("tcp", "how does TCP work", "what is the transmission control protocol", "explain TCP"):
        assert names_the_story(parse_query(q), tcp), q
    for q in ("history of unix", "tell me about Unix", "UNIX overview", "unix"):
        assert names_the_story(parse_query(q), unix), q
    # a word the title does not say is a detail of the story (or another story)
    assert not names_the_story(parse_query("unix trademark"), unix)
    assert not names_the_story(parse_query("tcp flow control"), tcp)
    # a question for one fact of it, even in the title's own words
    for q in ("who made unix", "when was unix written", "why unix", "which unix", "how many unix systems"):
        assert not names_the_story(parse_query(q), unix), q
    # nothing but asking words, or an empty title, names nothing
    assert not names_the_story(parse_query("what is it about"), unix)
    assert not names_the_story(parse_query("unix"), "")
    # plural and possessive forms are the same subject
    assert names_the_story(parse_query("heisenbugs"), "Heisenbug.")


def test_names_whisper_wrote_as_heard_share_a_phonetic_key() -> None:
    from retrieval.sounds import sound_keys, sounds_alike

    for typed, heard in [
        ("COBOL", "Kobawl"),
        ("Mauchly", "Mochley"),
        ("Atanasoff", "Ahtunisoff"),
        ("Neumann", "Newman"),
    ]:
        assert sounds_alike(heard, sound_keys(typed)), (typed, heard)
    assert not sounds_alike("bridge", sound_keys("COBOL"))
    assert sound_keys("the") == () and sound_keys("Z3") == () and sound_keys("it's") == ()


def test_a_long_name_also_matches_one_metaphone_edit_away_and_a_short_one_does_not() -> None:
    from dataclasses import replace

    from retrieval.ranking import NEAR_CREDIT
    from retrieval.sounds import near_keys, sound_keys, sounds_alike

    near = near_keys("Stroustrup")  # STRSTRP
    assert sounds_alike("Tristrup", near) and not sounds_alike("Tristrup", sound_keys("Stroustrup"))
    assert sounds_alike("Strostrup", near) is False  # the same key (STRSTRP): exact, not near
    assert sounds_alike("Strostrup", sound_keys("Stroustrup"))
    assert not sounds_alike("structure", near)
    assert near_keys("Ritchie") == () and near_keys("Perlis") == ()  # RX, PRLS: too short to bend
    assert near_keys("the") == ()
    q = parse_query("stroustrup language")
    bent = replace(q, sounds=(("stroustrup", sound_keys("stroustrup")),), near=(("stroustrup", near),))
    text = "Barnes Tristrup designed the language"
    assert lexical_score(text, bent) == pytest.approx((1 + NEAR_CREDIT) / 2)
    assert [text[s:e] for s, e in highlight_offsets(text, bent)] == ["Tristrup", "language"]


def test_a_name_whisper_wrote_as_several_words_is_heard_in_them_together() -> None:
    from dataclasses import replace

    from retrieval.sounds import near_keys, query_sound_keys, sound_tokens

    text = "A program that used it would have a fence-supposed error, the day to mention said."
    for typed in ("fencepost", "Datamation"):  # FNSPST against FNSSPST, TTMXN against TTMNXN: one edit
        near = near_keys(typed)
        assert set(sound_tokens(text)) & set(near), typed
        q = parse_query(typed)
        term = q.terms[0]
        bent = replace(q, sounds=((term, query_sound_keys(typed)),), near=((term, near),))
        assert lexical_score(text, bent) > 0
    q = parse_query("fencepost")
    bent = replace(
        q, sounds=(("fencepost", query_sound_keys("fencepost")),), near=(("fencepost", near_keys("fencepost")),)
    )
    assert [text[s:e] for s, e in highlight_offsets(text, bent)] == ["fence-supposed"]
    # Words apart across a comma or a full stop are not one word heard apart.
    assert not {k for k in sound_tokens("the fence, supposed") if k.startswith("\x01j:")} & set(near_keys("fencepost"))


def test_phonetic_keys_live_beside_the_words_without_touching_word_queries() -> None:
    from retrieval.sounds import sound_keys, sound_tokens
    from retrieval.sparse import SOUND_WEIGHT, sounds_vector, term_id, with_sounds

    doc = document_vector("Kobawl was designed by a committee")
    assert term_id("kobawl") in doc.indices and term_id(sound_tokens("Kobawl")[0]) in doc.indices
    word_ids = set(query_vector("committee").indices)
    assert word_ids.isdisjoint(sounds_vector(sound_keys("kobawl")).indices)
    both = with_sounds(query_vector("cobol committee"), sounds_vector(sound_keys("cobol")))
    weights = dict(zip(both.indices, both.values, strict=True))
    assert weights[term_id("committe")] == 1.0
    assert (
        sorted(v for i, v in weights.items() if i in set(sounds_vector(sound_keys("cobol")).indices))
        == [SOUND_WEIGHT] * 2
    )


def test_a_word_that_only_sounds_like_the_query_scores_and_is_highlighted() -> None:
    from dataclasses import replace

    from retrieval.sounds import sound_keys

    q = parse_query("cobol committee")
    assert q.words == ("cobol", "committee")
    assert lexical_score("Kobawl by a committee", q) == 0.5  # without sounds: only "committee"
    fuzzy = replace(q, sounds=(("cobol", sound_keys("cobol")),))
    assert lexical_score("Kobawl by a committee", fuzzy) == pytest.approx((1 + 0.8) / 2)
    text = "Kobawl by a committee"
    assert [text[s:e] for s, e in highlight_offsets(text, fuzzy)] == ["Kobawl", "committee"]
    assert parse_query('"cobol" committee').words == ("committee",)  # a quoted word stays exact


def test_fusion_weighs_the_two_lists_by_rank_or_by_score() -> None:
    from retrieval.ranking import fuse

    a, b, c = (_passage("m", i, 10.0 * i, ["x"]) for i in range(3))
    dense = [Hit(a, 0.80), Hit(b, 0.79), Hit(c, 0.40)]
    sparse = [Hit(c, 12.0), Hit(b, 6.0)]
    rrf = fuse(dense, [Hit(b, 12.0), Hit(c, 6.0)], method="rrf", dense_weight=0.5, k=60)
    assert [h.passage.index for h in rrf] == [1, 2, 0]  # high in both lists beats first in one
    assert rrf[0].score == pytest.approx(0.5 / 62 + 0.5 / 61)
    convex = fuse(dense, sparse, method="convex", dense_weight=0.5)
    # c: 0.5 * 0.40 / 0.80 + 0.5 * 1.0 = 0.75; b: 0.5 * 0.79 / 0.80 + 0.5 * 0.5 = 0.74; a: 0.5
    assert [h.passage.index for h in convex] == [2, 1, 0]
    assert convex[0].score == pytest.approx(0.75)
    only_meaning = fuse(dense, sparse, method="convex", dense_weight=1.0)
    assert [h.passage.index for h in only_meaning][:2] == [0, 1]
