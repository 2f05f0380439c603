"""Spoken media from known text, with the time each sentence starts: for tests, the demo and benchmarks.

Festival (Debian ``festival`` + ``festvox-us-slt-hts``) speaks each sentence; the sentences are joined
with pauses into one track whose sentence start times are known exactly, then encoded into a video
container (an MP4 with a plain picture) or an audio one (MP3). Usage::

    python -m bench.speech samples OUT_DIR      # the two sample talks of tests/data/talks.json
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE_HZ = 16_000
VOICE = "(voice_cmu_us_slt_arctic_hts)"
TALKS = Path(__file__).resolve().parent.parent / "tests" / "data" / "talks.json"


@dataclass(frozen=True)
class SpokenSentence:
    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class SpokenMedia:
    path: Path
    kind: str
    duration_s: float
    sentences: list[SpokenSentence]


def require_festival() -> None:
    if shutil.which("text2wave") is None:
        raise RuntimeError("festival is not installed: apt-get install festival festvox-us-slt-hts")


def _read_audio(path: Path) -> np.ndarray:
    raw = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-i",
            str(path),
            "-f",
            "f32le",
            "-ac",
            "1",
            "-ar",
            str(SAMPLE_RATE_HZ),
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.float32)


def speak(text: str, workdir: Path, name: str) -> np.ndarray:
    """One sentence through Festival, as 16 kHz float32 samples with edge silence trimmed."""
    txt = workdir / f"{name}.txt"
    wav = workdir / f"{name}.wav"
    txt.write_text(text + "\n")
    subprocess.run(["text2wave", "-eval", VOICE, str(txt), "-o", str(wav)], check=True, capture_output=True)
    audio = _read_audio(wav)
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    return audio[loud[0] : loud[-1] + 1] if loud.size else audio


def _write_track(audio: np.ndarray, out: Path, kind: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    pcm = ["-f", "f32le", "-ar", str(SAMPLE_RATE_HZ), "-ac", "1", "-i", "-"]
    if kind == "video":
        duration = f"{audio.size / SAMPLE_RATE_HZ:.3f}"
        cmd = [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            *pcm,
            "-f",
            "lavfi",
            "-i",
            f"color=c=0x1d3557:s=320x180:r=5:d={duration}",
            "-shortest",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            "-movflags",
            "+faststart",
            str(out),
        ]
    else:
        cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", *pcm, "-c:a", "libmp3lame", "-b:a", "64k", str(out)]
    subprocess.run(cmd, input=audio.astype(np.float32).tobytes(), check=True, capture_output=True)


def build_spoken_media(
    sentences: list[str],
    out: Path,
    *,
    kind: str,
    pause_s: float = 1.0,
    lead_s: float = 1.0,
    pauses_s: list[float] | None = None,
) -> SpokenMedia:
    """Speak ``sentences`` into ``out`` (video: .mp4, audio: .mp3) and return where each one starts.

    ``pauses_s`` gives the silence after each sentence (default ``pause_s`` after every one)."""
    require_festival()
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=2) as pool:
        clips = list(pool.map(lambda a: speak(a[1], Path(tmp), f"s{a[0]:03d}"), enumerate(sentences)))
    parts: list[np.ndarray] = [np.zeros(int(lead_s * SAMPLE_RATE_HZ), np.float32)]
    spoken: list[SpokenSentence] = []
    t = lead_s
    gaps = pauses_s if pauses_s is not None else [pause_s] * len(sentences)
    for text, clip, gap_s in zip(sentences, clips, gaps, strict=True):
        dur = clip.size / SAMPLE_RATE_HZ
        spoken.append(SpokenSentence(text, round(t, 3), round(t + dur, 3)))
        gap = int(gap_s * SAMPLE_RATE_HZ)
        parts += [clip, np.zeros(gap, np.float32)]
        t += dur + gap / SAMPLE_RATE_HZ
    audio = np.concatenate(parts)
    _write_track(audio, out, kind)
    return SpokenMedia(out, kind, round(audio.size / SAMPLE_RATE_HZ, 3), spoken)


def build_samples(out_dir: Path) -> list[SpokenMedia]:
    """The sample talks from tests/data/talks.json, plus a manifest.json of sentence times."""
    talks = json.loads(TALKS.read_text())["media"]
    media = []
    for talk in talks:
        suffix = ".mp4" if talk["kind"] == "video" else ".mp3"
        media.append(build_spoken_media(talk["sentences"], out_dir / f"{talk['name']}{suffix}", kind=talk["kind"]))
    manifest = [{**asdict(m), "path": str(m.path)} for m in media]
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return media


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "samples":
        sys.exit("usage: python -m bench.speech samples OUT_DIR")
    for m in build_samples(Path(sys.argv[2])):
        print(f"{m.path}\t{m.kind}\t{m.duration_s:.1f} s\t{len(m.sentences)} sentences")
