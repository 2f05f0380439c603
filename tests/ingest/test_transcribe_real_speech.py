"""Real recorded speech through the real Whisper base weights, via the product's transformers engine."""

from __future__ import annotations

import itertools

import pytest

from bench.speech_clips import Clip, SonnetClip
from bench.wer import normalize_words, word_error_rate
from ingest.media import decode_audio
from ingest.whisper import WhisperTranscriber

pytestmark = pytest.mark.slow

CLIP_NAMES = ["jfk", "austen-0870", "austen-0880", "austen-0890", "austen-0920", "austen-0930", "sonnet"]


@pytest.fixture(scope="module")
def transcripts(
    base_transcriber: WhisperTranscriber, speech_clips: tuple[SonnetClip, list[Clip]]
) -> dict[str, tuple[Clip, list[tuple[float, float, str]]]]:
    sonnet, others = speech_clips
    out = {}
    for clip in [sonnet, *others]:
        t = base_transcriber.transcribe(decode_audio(clip.path, max_duration_s=600))
        out[clip.name] = (clip, [(s.start_s, s.end_s, s.text) for s in t.segments])
    return out


@pytest.mark.parametrize("name", CLIP_NAMES)
def test_word_error_rate_under_15_percent(
    transcripts: dict[str, tuple[Clip, list[tuple[float, float, str]]]], name: str
) -> None:
    clip, segments = transcripts[name]
    hypothesis = " ".join(text for _, _, text in segments)
    wer = word_error_rate(clip.text, hypothesis)
    assert wer < 0.15, f"{name}: WER {wer:.1%}\nref: {clip.text}\nhyp: {hypothesis}"


def test_sonnet_segments_start_where_their_words_are_read(
    transcripts: dict[str, tuple[Clip, list[tuple[float, float, str]]]],
) -> None:
    """A segment that starts a line starts within 1 s of the line's reference time; one that starts mid-line
    (Whisper may split "Within thine | own bud ...") starts inside that line's reference span."""
    clip, segments = transcripts["sonnet"]
    assert isinstance(clip, SonnetClip)
    assert len(segments) >= 4
    lines = list(zip(clip.line_starts, clip.line_ends, [normalize_words(t) for t in clip.lines], strict=True))
    for start, _, text in segments:
        first = normalize_words(text)[:2]
        nearest = min(clip.line_starts, key=lambda t: abs(t - start))
        if abs(nearest - start) <= 1.0:
            continue
        inside = [
            (b, e)
            for b, e, words in lines
            if any(words[i : i + 2] == first for i in range(1, len(words))) and b <= start <= e
        ]
        assert inside, f"segment at {start:.2f}s ({text!r}) is {start - nearest:+.2f}s from a line start"


def test_times_are_monotonic_and_inside_the_audio(
    transcripts: dict[str, tuple[Clip, list[tuple[float, float, str]]]],
) -> None:
    _, segments = transcripts["sonnet"]
    for (s1, e1, _), (s2, _, _) in itertools.pairwise(segments):
        assert s1 < e1 <= s2 + 1e-6
    assert segments[-1][1] <= 53.3
