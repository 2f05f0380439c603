"""Festival's word times are ground truth the word-timestamp benchmark can trust: in order, inside their
sentence, covering the text's words, ending where the audio ends, and sitting on the loud parts of the media
(real Festival and ffmpeg; no Whisper)."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from bench.speech import (
    SAMPLE_RATE_HZ,
    SpokenMedia,
    SpokenWord,
    _write_track,
    build_spoken_media,
    check_words,
    media_from_json,
    require_festival,
    scheme_string,
    speak_with_words,
)
from bench.word_times import match_words, normalise, score_spoken
from ingest.media import decode_audio

LEAD_S = 1.5
SENTENCES = [
    "Good evening, and welcome to the harbor town lecture series, where tonight's talk is about bridges.",
    'In 1999, "Dr. Smith" paid $42 for a well-known book - C:\\temp\\notes - and then, after a pause, left.',
    "Thank you for listening.",
]


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> tuple[SpokenMedia, np.ndarray]:
    try:
        require_festival()
    except RuntimeError as exc:
        pytest.fail(str(exc))  # the benchmark's truth depends on it: a silent skip would hide that
    out = tmp_path_factory.mktemp("words") / "talk.mp3"
    media = build_spoken_media(SENTENCES, out, kind="audio", lead_s=LEAD_S, pause_s=1.0, words=True)
    return media, decode_audio(out, max_duration_s=120)


def _said(text: str) -> list[str]:
    return [w for w in (normalise(t) for t in text.split()) if w]


def test_word_times_run_in_order_inside_their_sentence(spoken: tuple[SpokenMedia, np.ndarray]) -> None:
    media, _ = spoken
    assert [s.text for s in media.sentences] == SENTENCES
    for s in media.sentences:
        check_words(s)
        starts = [w.start_s for w in s.words]
        assert starts == sorted(starts)
        assert all(s.start_s <= w.start_s < w.end_s <= s.end_s for w in s.words), s
        assert all(a.end_s <= b.start_s for a, b in itertools.pairwise(s.words)), s


def test_words_cover_the_text_in_order(spoken: tuple[SpokenMedia, np.ndarray]) -> None:
    media, _ = spoken
    for s in media.sentences:
        assert [normalise(w.text) for w in s.words] == _said(s.text)
    # "42" is said as two words and "U.S.A."-like tokens as letters, but each written word is one entry
    assert "1999" in [w.text for w in media.sentences[1].words]


def test_first_and_last_words_meet_the_sentence_edges(spoken: tuple[SpokenMedia, np.ndarray]) -> None:
    media, _ = spoken
    assert media.sentences[0].words[0].start_s == pytest.approx(LEAD_S, abs=0.002)  # the trim is accounted for
    for s in media.sentences:
        assert s.words[0].start_s - s.start_s < 0.3, s.words[0]
        assert s.end_s - s.words[-1].end_s < 0.5, s.words[-1]


def test_last_word_ends_near_the_end_of_festival_audio(tmp_path: Path) -> None:
    (clip, words), *_ = speak_with_words([SENTENCES[2]], tmp_path, "one")
    assert words[0].start_s == 0.0
    assert clip.size / SAMPLE_RATE_HZ - words[-1].end_s < 0.5
    assert [w.text for w in words] == ["Thank", "you", "for", "listening"]


def _loudness(audio: np.ndarray, start_s: float, end_s: float) -> float:
    part = audio[int(start_s * SAMPLE_RATE_HZ) : int(end_s * SAMPLE_RATE_HZ)]
    return float(np.abs(part).max()) if part.size else 0.0


def test_words_sit_on_speech_in_the_encoded_media(spoken: tuple[SpokenMedia, np.ndarray]) -> None:
    """The times hold in the decoded MP3 (and in an MP4 of the same track): every word is loud, the pauses
    inside a sentence that Festival put between words and those between sentences are quiet, and speech
    starts where the first word does (no encoder delay left over)."""
    media, mp3 = spoken
    with tempfile.TemporaryDirectory() as tmp:
        _write_track(mp3, Path(tmp) / "talk.mp4", "video")
        mp4 = decode_audio(Path(tmp) / "talk.mp4", max_duration_s=120)
    words = [w for s in media.sentences for w in s.words]
    for audio in (mp3, mp4):
        onset = np.flatnonzero(np.abs(audio) > 0.02)[0] / SAMPLE_RATE_HZ
        assert onset == pytest.approx(words[0].start_s, abs=0.03)
        assert all(_loudness(audio, w.start_s, w.end_s) > 0.05 for w in words)
        gaps = [(a.end_s, b.start_s) for a, b in itertools.pairwise(words) if b.start_s - a.end_s > 0.1]
        assert len(gaps) >= len(SENTENCES) + 2  # the sentence pauses and a few commas
        assert all(_loudness(audio, a + 0.03, b - 0.03) < 0.03 for a, b in gaps), gaps


def test_word_times_survive_a_json_round_trip(spoken: tuple[SpokenMedia, np.ndarray]) -> None:
    from dataclasses import asdict

    media, _ = spoken
    assert media_from_json({**asdict(media), "path": str(media.path)}) == media


def test_scheme_strings_escape_quotes_backslashes_and_line_breaks() -> None:
    assert scheme_string('say "hi" \\ there\nnow') == '"say \\"hi\\" \\\\ there now"'


def test_matching_normalises_and_scores_only_shared_words() -> None:
    assert match_words(["Hello,", "big", "World!"], ["hello", "world.", "again"]) == [(0, 0), (2, 1)]
    ref = [SpokenWord("Hello,", 1.0, 1.4), SpokenWord("world", 1.5, 2.0)]
    media = SimpleNamespace(sentences=[SimpleNamespace(words=ref)])
    hyp = [SimpleNamespace(text=" hello", start_s=1.1), SimpleNamespace(text="word", start_s=1.5)]
    transcript = SimpleNamespace(segments=[SimpleNamespace(start_s=0.9, words=hyp)])
    scored = score_spoken(media, transcript)
    assert scored.matched == 1
    assert scored.reference_words == 2
    assert scored.errors == pytest.approx((0.1,))
    assert scored.baseline == ()  # inside a segment, no segment time says when a word is


def test_line_and_first_word_scores_use_the_matched_word() -> None:
    from bench.word_times import score_first_word, score_lines

    hyp = [SimpleNamespace(text=t, start_s=s) for t, s in [("From", 2.8), ("fairest", 3.1), ("That,", 6.0)]]
    transcript = SimpleNamespace(segments=[SimpleNamespace(start_s=2.5, words=hyp)])
    # without word timing: one segment opening on "From", one on "thereby" (not a line's first word)
    plain = SimpleNamespace(
        segments=[SimpleNamespace(start_s=2.5, text="From fairest That,"), SimpleNamespace(start_s=7.0, text="thereby")]
    )
    lines = score_lines(["From fairest creatures", "That thereby"], [2.68, 5.88], transcript, plain)
    assert lines.errors == pytest.approx((0.12, 0.12))
    assert lines.baseline == pytest.approx((0.18,))
    assert score_first_word("from fairest", 2.7, transcript).errors == pytest.approx((0.1,))


def test_segment_openings_compare_the_word_time_with_the_segment_start_without_word_timing() -> None:
    from bench.word_times import score_openings

    ref = [SpokenWord("Ask", 1.0, 1.3), SpokenWord("not", 1.3, 1.6), SpokenWord("what", 2.0, 2.4)]
    timed = SimpleNamespace(
        segments=[
            SimpleNamespace(
                start_s=1.05,
                words=[SimpleNamespace(text=t, start_s=s) for t, s in [("Ask", 1.05), ("not,", 1.3), ("what", 2.1)]],
            )
        ]
    )
    plain = SimpleNamespace(
        segments=[SimpleNamespace(start_s=0.4, text="Ask not,"), SimpleNamespace(start_s=1.8, text="what")]
    )
    scored = score_openings(ref, timed, plain)
    assert scored.errors == pytest.approx((0.05, 0.1)) and scored.baseline == pytest.approx((0.6, 0.2))
