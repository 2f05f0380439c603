"""Where Whisper stops short of a window's end, the rest of the window's speech is still transcribed, at its
time, by the packed pass over the batch's tails (real Whisper base, real speech)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

import ingest.whisper as engine
from bench.speech import SpokenMedia
from bench.wer import normalize_words, word_error_rate
from ingest.media import decode_audio
from ingest.types import SpeechWindow
from ingest.whisper import WhisperTranscriber
from ingest.windows import TailPiece

pytestmark = pytest.mark.slow


def test_the_speech_whisper_stops_short_of_is_transcribed_where_it_is_said(
    base_transcriber: WhisperTranscriber, sample_talks: list[SpokenMedia], monkeypatch: pytest.MonkeyPatch
) -> None:
    talk = sample_talks[0]  # the lecture: about 3 minutes of continuous speech
    tails: list[tuple[float, float]] = []  # in media time
    windows_of_batch: list[SpeechWindow] = []
    decode_batch, pack_tails = WhisperTranscriber._decode_batch, engine.pack_tails

    def watched_decode(self: WhisperTranscriber, audio: Any, windows: Any, language: str) -> Any:
        windows_of_batch[:] = windows
        return decode_batch(self, audio, windows, language)

    def watched_pack(pieces: list[TailPiece], **kwargs: Any) -> Any:
        pieces = list(pieces)
        tails.extend(
            (windows_of_batch[p.row].start_s + p.start_s, windows_of_batch[p.row].start_s + p.end_s) for p in pieces
        )
        return pack_tails(pieces, **kwargs)

    monkeypatch.setattr(WhisperTranscriber, "_decode_batch", watched_decode)
    monkeypatch.setattr(engine, "pack_tails", watched_pack)
    segments = base_transcriber.transcribe(decode_audio(talk.path, max_duration_s=600)).segments

    assert tails, "Whisper base stopped short of no window here: this test no longer reaches the packed pass"
    words = [w for s in segments for w in s.words]
    checked = 0
    for start, end in tails:
        # What the reader said within the tail (sentences mostly inside it) is found among the words the
        # transcript times there.
        said = [
            w
            for s in talk.sentences
            if s.start_s >= start - 0.5 and s.end_s <= end + 0.5
            for w in normalize_words(s.text)
        ]
        heard = set(normalize_words(" ".join(w.text for w in words if start - 0.5 <= w.start_s <= end + 0.5)))
        if said:
            checked += 1
            found = sum(w in heard for w in said) / len(said)
            assert found >= 0.8, f"tail {start:.1f}-{end:.1f} s: said {said}, heard {sorted(heard)}"
    assert checked, f"no tail held a whole sentence: {tails}"
    assert all(a.end_s <= b.start_s for a, b in itertools.pairwise(segments))
    reference = " ".join(s.text for s in talk.sentences)
    assert word_error_rate(reference, " ".join(s.text for s in segments)) < 0.08
