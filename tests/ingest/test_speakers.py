"""Pure diarization: windows over speech, voice vectors into speakers, turns onto segments and words.

The vectors here are made, not measured (the model's own test is tests/ingest/test_voices.py): voices as
random unit directions with noise, so each step's behaviour is checked against a known answer."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ingest.speakers import SpeakerOptions, assign_speakers, cluster_voices, embedding_windows, voice_turns
from ingest.types import Segment, SpeakerTurn, Word


def _voices(rng: np.random.Generator, count: int, dim: int = 192) -> np.ndarray:
    v = rng.normal(size=(count, dim))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _heard(voice: np.ndarray, rng: np.random.Generator, noise: float = 0.04) -> np.ndarray:
    v = voice + rng.normal(size=voice.shape) * noise
    return v / np.linalg.norm(v)


def _windows_of(truth: list[tuple[float, float, int]], voices: np.ndarray, rng: np.random.Generator):
    regions = [(s, e) for s, e, _ in truth]
    windows = embedding_windows(regions)
    vectors = []
    for s, e in windows:
        mid = (s + e) / 2
        who = next(k for a, b, k in truth if a - 1e-6 <= mid <= b + 1e-6)
        vectors.append(_heard(voices[who], rng))
    return regions, windows, np.stack(vectors)


def test_windows_cover_each_region_and_skip_the_tiny_ones() -> None:
    windows = embedding_windows([(0.0, 4.0), (5.0, 5.3), (6.0, 7.0)])
    assert (5.0, 5.3) not in windows and (6.0, 7.0) in windows  # too short for a voice; one window of its own
    inside = [w for w in windows if w[1] <= 4.0]
    assert inside[0] == (0.0, 1.5) and inside[-1] == (2.5, 4.0)
    assert all(b - a == pytest.approx(1.5) for a, b in inside)
    assert all(b[0] - a[0] <= SpeakerOptions().hop_s + 1e-9 for a, b in itertools.pairwise(inside))


def test_three_voices_become_three_speakers_in_order_of_first_appearance() -> None:
    rng = np.random.default_rng(1)
    voices = _voices(rng, 3)
    truth = [(0.0, 6.0, 2), (6.5, 12.0, 0), (12.4, 20.0, 1), (20.5, 26.0, 2)]
    regions, windows, vectors = _windows_of(truth, voices, rng)
    labels = cluster_voices(vectors, [b - a for a, b in windows])
    turns = voice_turns(regions, windows, labels)
    assert [t.speaker for t in turns] == [0, 1, 2, 0]  # the first voice heard is speaker 0
    for turn, (start, end, _) in zip(turns, truth, strict=True):
        assert turn.start_s == pytest.approx(start, abs=0.11) and turn.end_s == pytest.approx(end, abs=0.11)


def test_one_voice_is_one_speaker_and_the_count_can_be_fixed_or_bounded() -> None:
    rng = np.random.default_rng(2)
    voices = _voices(rng, 4)
    _, windows, one = _windows_of([(0.0, 30.0, 0)], voices, rng)
    assert set(cluster_voices(one, [1.5] * len(one)).tolist()) == {0}
    truth = [(0.0, 5.0, 0), (5.5, 10.0, 1), (10.5, 15.0, 2), (15.5, 20.0, 3)]
    _, windows, four = _windows_of(truth, voices, rng)
    weights = [b - a for a, b in windows]
    assert len(set(cluster_voices(four, weights).tolist())) == 4
    assert len(set(cluster_voices(four, weights, SpeakerOptions(num_speakers=2)).tolist())) == 2
    assert len(set(cluster_voices(four, weights, SpeakerOptions(max_speakers=3)).tolist())) == 3


def test_a_stray_window_does_not_become_a_speaker() -> None:
    """One odd window (a cough, a window across a change) in a minute of two voices joins the nearest."""
    rng = np.random.default_rng(3)
    voices = _voices(rng, 3)
    truth = [(0.0, 30.0, 0), (30.5, 60.0, 1)]
    _, windows, vectors = _windows_of(truth, voices, rng)
    vectors[10] = _heard(voices[2], rng)
    labels = cluster_voices(vectors, [b - a for a, b in windows])
    assert len(set(labels.tolist())) == 2


def test_a_change_inside_one_region_is_placed_near_where_it_happens() -> None:
    """Two voices with no pause between them: the turn boundary lands within half a window step of the truth
    (between the centres of the last window of one voice and the first of the other)."""
    rng = np.random.default_rng(4)
    voices = _voices(rng, 2)
    region = [(0.0, 12.0)]
    windows = embedding_windows(region)
    vectors = np.stack([_heard(voices[0 if (a + b) / 2 < 7.0 else 1], rng) for a, b in windows])
    labels = cluster_voices(vectors, [b - a for a, b in windows])
    turns = voice_turns(region, windows, labels)
    assert [t.speaker for t in turns] == [0, 1]
    assert turns[0].end_s == pytest.approx(7.0, abs=SpeakerOptions().hop_s / 2 + 0.1)


def _words(*spec: tuple[str, float, float]) -> tuple[Word, ...]:
    return tuple(Word(s, e, t, 0.9) for t, s, e in spec)


def test_a_segment_is_split_where_the_speaker_changes_between_words() -> None:
    words = _words(("So", 0.0, 0.3), ("what", 0.3, 0.6), ("now?", 0.6, 1.0), ("We", 1.4, 1.6), ("wait.", 1.6, 2.2))
    seg = Segment(0.0, 2.2, "So what now? We wait.", words)
    turns = [SpeakerTurn(0.0, 1.1, 0), SpeakerTurn(1.3, 2.3, 1)]
    out = assign_speakers([seg], turns)
    assert [(s.text, s.speaker) for s in out] == [("So what now?", "SPEAKER_1"), ("We wait.", "SPEAKER_2")]
    assert out[0].start_s == 0.0 and out[0].end_s == 1.0 and out[1].start_s == 1.4 and out[1].end_s == 2.2
    assert [w.text for w in out[1].words] == ["We", "wait."]


def test_one_word_that_strays_into_another_turn_does_not_split_the_segment() -> None:
    words = _words(("It", 0.0, 0.2), ("was", 0.2, 0.4), ("a", 0.45, 0.5), ("long", 0.6, 1.0), ("day.", 1.0, 1.5))
    seg = Segment(0.0, 1.5, "It was a long day.", words)
    turns = [SpeakerTurn(0.0, 0.42, 0), SpeakerTurn(0.42, 0.55, 1), SpeakerTurn(0.55, 1.6, 0)]
    out = assign_speakers([seg], turns)
    assert [(s.text, s.speaker) for s in out] == [("It was a long day.", "SPEAKER_1")]


def test_segments_without_words_take_the_speaker_they_overlap_most() -> None:
    segs = [Segment(0.0, 4.0, "first"), Segment(4.0, 9.0, "second"), Segment(30.0, 31.0, "far away")]
    turns = [SpeakerTurn(0.0, 4.5, 0), SpeakerTurn(4.6, 9.0, 1)]
    out = assign_speakers(segs, turns)
    assert [s.speaker for s in out] == ["SPEAKER_1", "SPEAKER_2", None]  # no turn within reach: unknown
    assert assign_speakers(segs, []) == segs  # no speakers found: the transcript as it was


def test_a_long_file_is_clustered_on_a_sample_and_every_window_still_gets_its_voice() -> None:
    rng = np.random.default_rng(5)
    voices = _voices(rng, 3)
    truth = [(i * 10.0, i * 10.0 + 9.5, i % 3) for i in range(60)]  # ten minutes, three voices in turn
    _, windows, vectors = _windows_of(truth, voices, rng)
    options = SpeakerOptions(max_linkage_windows=100)  # fewer than the windows: the sample path
    assert len(windows) > 300
    labels = cluster_voices(vectors, [1.25] * len(windows), options)
    whole = cluster_voices(vectors, [1.25] * len(windows))
    assert len(set(labels.tolist())) == 3 and (labels == whole).all()
