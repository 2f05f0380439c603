"""Chapter finding (pure): sentences from word times, topic boundaries from embeddings and pauses, titles."""

from __future__ import annotations

import numpy as np

from ingest.chapters import ChapterOptions, find_chapters, sentence_units, title_of
from ingest.types import Segment, Word


def _topic_vectors(topics: list[int], dim: int = 16, seed: int = 0, noise: float = 0.25) -> np.ndarray:
    """Unit vectors near one direction per topic, with some noise, as sentence embeddings look."""
    rng = np.random.default_rng(seed)
    axes = np.eye(dim)
    out = np.array([axes[t] + noise * rng.standard_normal(dim) for t in topics])
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def _sentences(n: int, *, every_s: float = 6.0, pauses: dict[int, float] | None = None) -> list[Segment]:
    """``n`` sentences of 5 s each, one every ``every_s``, with a longer pause before those in ``pauses``."""
    out, t = [], 0.5
    for i in range(n):
        t += (pauses or {}).get(i, 0.0)
        out.append(Segment(t, t + 5.0, f"Sentence {i} says something."))
        t += every_s
    return out


def test_a_topic_change_is_found_where_it_happens_without_any_pause_to_help() -> None:
    topics = [0] * 12 + [1] * 12
    units = _sentences(len(topics))
    chapters = find_chapters(units, _topic_vectors(topics))
    assert [c.start_s for c in chapters] == [0.0, units[12].start_s]
    assert chapters[0].end_s == units[12].start_s and chapters[1].end_s == units[-1].end_s
    assert [c.title for c in chapters] == ["Sentence 0 says something", "Sentence 12 says something"]
    assert np.allclose(chapters[1].lead, _topic_vectors(topics)[12])


def test_one_topic_read_steadily_stays_one_chapter() -> None:
    units = _sentences(30)
    assert len(find_chapters(units, _topic_vectors([0] * 30))) == 1


def test_a_long_pause_where_the_talk_moves_on_marks_the_boundary() -> None:
    topics = [0] * 10 + [1] * 10 + [2] * 10
    units = _sentences(30, pauses={10: 1.5, 20: 1.5})
    starts = [c.start_s for c in find_chapters(units, _topic_vectors(topics, seed=3))]
    assert starts == [0.0, units[10].start_s, units[20].start_s]


def test_a_pause_inside_a_story_where_the_talk_runs_on_is_no_boundary() -> None:
    # a speaker who stops for breath, or a sentence Whisper dropped, leaves a long gap inside a story; where
    # what is said does not dip at any scale there, it is no topic change (the pauses between stories are)
    topics = [0] * 8 + [1] * 8 + [2] * 8 + [3] * 8
    units = _sentences(32, pauses={8: 1.0, 16: 1.0, 20: 2.5, 24: 1.0})
    starts = [c.start_s for c in find_chapters(units, _topic_vectors(topics, noise=0.1))]
    assert starts == [0.0, units[8].start_s, units[16].start_s, units[24].start_s]


def test_a_short_story_between_long_ones_is_found() -> None:
    # 3 sentences (18 s) on their own subject between two long ones, with a pause before each story as
    # a reader makes: the windows of 10 and 20 s see it even where one of 80 s averages it away
    topics = [0] * 14 + [1] * 3 + [2] * 14
    units = _sentences(len(topics), pauses={14: 1.0, 17: 1.0})
    starts = [c.start_s for c in find_chapters(units, _topic_vectors(topics, seed=1))]
    assert starts == [0.0, units[14].start_s, units[17].start_s]


def test_a_steady_reader_pausing_a_little_longer_once_does_not_cut_the_story() -> None:
    # pauses all within a few hundredths of a second of each other, and one 0.3 s longer: word-end noise,
    # not two standard deviations of a topic change
    rng = np.random.default_rng(2)
    units = []
    t = 0.5
    for i in range(30):
        t += 1.0 + float(rng.uniform(-0.03, 0.03)) + (0.3 if i == 15 else 0.0)
        units.append(Segment(t, t + 5.0, f"Sentence {i} says something."))
        t += 5.0
    assert len(find_chapters(units, _topic_vectors([0] * 30, seed=4))) == 1


def test_short_transcripts_and_short_chapters() -> None:
    assert find_chapters([], np.zeros((0, 16))) == []
    few = _sentences(4)
    assert len(find_chapters(few, _topic_vectors([0, 0, 1, 1]))) == 1  # too few sentences to cut
    units = _sentences(24)
    vectors = _topic_vectors([0] * 12 + [1] * 12)
    assert len(find_chapters(units, vectors, ChapterOptions(min_chapter_s=200.0))) == 1


def test_no_boundary_inside_a_sentence() -> None:
    topics = [0] * 12 + [1] * 12
    units = _sentences(len(topics))
    units[11] = Segment(units[11].start_s, units[11].end_s, "and the sentence runs on")  # no sentence end
    starts = [c.start_s for c in find_chapters(units, _topic_vectors(topics))]
    assert units[12].start_s not in starts


def test_sentences_come_from_the_words_across_segment_ends() -> None:
    def words(t: float, text: str) -> tuple[Word, ...]:
        return tuple(Word(t + i * 0.5, t + i * 0.5 + 0.4, w, 0.9) for i, w in enumerate(text.split()))

    segments = [
        Segment(0.0, 2.4, "One sentence. And another", words(0.0, "One sentence. And another")),
        Segment(3.0, 4.4, "that ends here. Last.", words(3.0, "that ends here. Last.")),
        Segment(5.0, 6.0, "No word times here."),
    ]
    units = sentence_units(segments)
    assert [u.text for u in units] == [
        "One sentence.",
        "And another that ends here.",
        "Last.",
        "No word times here.",
    ]
    assert (units[1].start_s, units[1].end_s) == (1.0, 4.4)  # first word of "And" ... last of "here."


def test_a_title_is_the_first_sentence_that_says_something_trimmed() -> None:
    assert title_of([Segment(0, 2, "Okay. So. The bridge over the river fell in the flood of 1920.")]) == (
        "The bridge over the river fell in the flood of 1920"
    )
    long = "Beekeepers in the valley lost many colonies to a parasitic mite that feeds on the larvae."
    title = title_of([Segment(0, 5, long)], max_chars=40)
    assert title.endswith("…") and len(title) <= 41 and long.startswith(title[:-1])
