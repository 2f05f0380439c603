"""Word timing's pure steps: the warp, the smoothing, words from tokens, times from a warp; and words kept
inside their segments when a transcript is cleaned."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import WhisperTokenizerFast
from transformers.models.whisper.generation_whisper import _dynamic_time_warping, _median_filter

from ingest.alignment import (
    dtw,
    frame_levels,
    median_filter,
    snap_to_voice,
    split_words,
    voice_ends,
    voice_starts,
    word_times,
)
from ingest.models import OfflineModels
from ingest.types import Segment, Word
from ingest.windows import clean_segments


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 3), (12, 80), (40, 300)])
def test_the_warp_is_the_reference_warp(shape: tuple[int, int]) -> None:
    """The same path as transformers' own (cell by cell) implementation, ties included."""
    rng = np.random.default_rng(sum(shape))
    for matrix in (rng.normal(size=shape), np.round(rng.normal(size=shape), 1)):  # rounded: many ties
        ours = dtw(matrix)
        reference = _dynamic_time_warping(matrix)
        assert np.array_equal(ours[0], reference[0]) and np.array_equal(ours[1], reference[1])


def test_the_smoothing_is_the_reference_median_filter() -> None:
    import torch

    x = np.random.default_rng(1).normal(size=(3, 6, 50))
    for values in (x, np.round(x)):  # rounded: many ties
        for width in (7, 5):  # 7 (the one used) runs a sorting network, other widths a sort
            assert np.allclose(median_filter(values, width), _median_filter(torch.tensor(values), width).numpy())


@pytest.fixture(scope="module")
def tokenizer(offline_models: OfflineModels) -> WhisperTokenizerFast:
    return WhisperTokenizerFast.from_pretrained(offline_models.whisper["whisper-base"])


def _words(tokenizer: WhisperTokenizerFast, text: str, language: str = "en") -> list[str]:
    tokens = tokenizer.encode(text, add_special_tokens=False)
    words, groups = split_words(tokens, tokenizer.decode, language=language)
    assert [t for g in groups for t in g] == tokens  # every token belongs to exactly one word, in order
    return words


def test_words_keep_their_punctuation_and_hyphens(tokenizer: WhisperTokenizerFast) -> None:
    words = _words(tokenizer, ' "Ask not," he said (twice): self-substantial fuel... and so-on!')
    assert [w.strip() for w in words] == [
        '"Ask',
        'not,"',
        "he",
        "said",
        "(twice):",
        "self-substantial",
        "fuel...",
        "and",
        "so-on!",
    ]
    assert all(w.startswith(" ") for w in words)


def test_numbers_and_contractions_stay_one_word(tokenizer: WhisperTokenizerFast) -> None:
    assert [w.strip() for w in _words(tokenizer, " It's 6,000 computers, isn't it?")] == [
        "It's",
        "6,000",
        "computers,",
        "isn't",
        "it?",
    ]


def test_languages_without_spaces_are_cut_into_whole_characters(tokenizer: WhisperTokenizerFast) -> None:
    words = _words(tokenizer, "我们今天开会。", language="zh")
    # a word per token group that decodes to whole characters; the full stop joins the word before it
    assert words == ["我们", "今天", "开", "会。"]


def test_times_follow_the_warp() -> None:
    """Three words of 1, 2 and 1 tokens plus end-of-text over 100 frames, the attention moving along a
    known path: each word starts where its first token is attended to."""
    onsets = [10, 30, 40, 70, 90]  # the frame where each token (and end-of-text) begins
    matrix = np.full((5, 100), -1.0)
    for row, (a, b) in enumerate(zip(onsets, [*onsets[1:], 100], strict=True)):
        matrix[row, a:b] = 1.0
    words = word_times(matrix, [" one", " two", " three"], [[1], [2, 3], [4]], [0.9, 0.8, 0.6, 0.5])
    assert [w.text for w in words] == [" one", " two", " three"]
    assert [w.tokens for w in words] == [1, 2, 1]
    # the first word is pulled in from the window start (twice the median word length at most)
    assert [round(w.start_s, 2) for w in words[1:]] == [0.6, 1.4]
    assert words[0].end_s == pytest.approx(0.6) and words[-1].end_s == pytest.approx(1.8)
    assert words[1].probability == pytest.approx(0.7)


def test_cleaning_keeps_words_inside_their_segment_and_in_order() -> None:
    seg = Segment(
        1.0,
        3.0,
        "early late",
        (Word(0.5, 1.6, "early", 0.9), Word(1.2, 3.4, "late", 0.8)),  # before the segment, overlapping, past it
    )
    [clean], _ = clean_segments([seg], last_end_s=1.1)
    assert clean.start_s == 1.1
    assert [(w.start_s, w.end_s) for w in clean.words] == [(1.1, 1.6), (1.6, 3.0)]
    assert [w.text for w in clean.words] == ["early", "late"]


def test_a_word_after_a_pause_starts_where_the_voice_does() -> None:
    rate = 16_000
    t = np.arange(3 * rate) / rate
    audio = np.where(t >= 1.3, 0.3 * np.sin(2 * np.pi * 220 * t), 0.0005 * np.sin(2 * np.pi * 50 * t))
    levels = frame_levels(audio.astype(np.float32), rate)
    spans = [(1.0, 1.8, True), (1.8, 2.2, False), (2.5, 2.9, True)]  # the first begins in the pause
    starts = voice_starts(spans, levels)
    assert starts[0] == pytest.approx(1.3 - 0.02, abs=0.011)  # moved on to the voice, a little before it
    assert starts[1:] == [1.8, 2.5]  # inside a word, or already in the voice: unchanged
    # in a window that starts later the offsets count from its start; in steady noise nothing moves
    assert voice_starts([(11.0, 11.8, True)], levels, offset_s=10.0) == [pytest.approx(11.28, abs=0.011)]
    noise = frame_levels(np.random.default_rng(0).normal(0, 0.1, 3 * rate).astype(np.float32), rate)
    assert voice_starts(spans, noise) == [1.0, 1.8, 2.5]


def _voiced(rate: int, seconds: float, spans: list[tuple[float, float]]) -> np.ndarray:
    """A tone where ``spans`` say, a faint hum elsewhere: speech with pauses, as frame levels see it."""
    t = np.arange(int(seconds * rate)) / rate
    on = np.zeros_like(t, dtype=bool)
    for a, b in spans:
        on |= (t >= a) & (t < b)
    return np.where(on, 0.3 * np.sin(2 * np.pi * 220 * t), 0.0005 * np.sin(2 * np.pi * 50 * t)).astype(np.float32)


def test_a_pause_between_two_contiguous_words_comes_back_to_the_transcript() -> None:
    # The voice: a sentence until 1.2 s, the next from 2.0 s to 2.8 s, then 3.3-3.9 s with a stop
    # consonant's closure at 3.5-3.58 s.
    rate = 16_000
    levels = frame_levels(_voiced(rate, 4.0, [(0.2, 1.2), (2.0, 2.8), (3.3, 3.5), (3.58, 3.9)]), rate)
    # the warp split the first pause between the two words: "it." ends at 1.6, "Next" starts there
    starts = voice_starts([(0.9, 1.6, False), (1.6, 2.4, False), (3.55, 3.8, False)], levels)
    assert starts[0] == 0.9  # already in the voice
    assert starts[1] == pytest.approx(2.0 - 0.02, abs=0.011)  # opened on 0.4 s of quiet: moved to the voice
    assert starts[2] == 3.55  # the closure before it is too short to be a pause
    ends = voice_ends([(0.9, 1.6, 1.6), (2.0, 2.4, 3.3), (3.3, 3.45, 3.55)], levels)
    assert ends[0] == pytest.approx(1.2 + 0.05, abs=0.011)  # closed on 0.4 s of quiet: back to the voice's end
    assert ends[1] == pytest.approx(2.8 + 0.05, abs=0.011)  # ended early, the voice went on: on to where it stops
    assert ends[2] == 3.45  # the voice runs on into the next word: no pause to measure, nothing moves
    # the words' times from another window's start; in steady noise nothing moves
    assert voice_ends([(10.9, 11.6, 11.6)], levels, offset_s=10.0) == [pytest.approx(11.25, abs=0.011)]
    noise = frame_levels(np.random.default_rng(0).normal(0, 0.1, 4 * rate).astype(np.float32), rate)
    assert voice_ends([(0.9, 1.6, 1.6), (2.0, 2.4, 3.3)], noise) == [1.6, 2.4]
    assert voice_starts([(1.6, 2.4, False)], noise) == [1.6]
    # both at once, as the transcriber does: each end bounded by where the next word now starts
    spans = [(0.9, 1.6, False), (1.6, 2.4, False)]
    assert snap_to_voice(spans, levels, offset_s=0.0, end_s=4.0) == [(0.9, ends[0]), (starts[1], ends[1])]
    assert snap_to_voice([], levels, offset_s=0.0, end_s=4.0) == []  # a window Whisper heard nothing in
