"""Spoken media from known text, with the time each sentence starts: for tests, the demo and benchmarks.

Festival (Debian ``festival`` + ``festvox-us-slt-hts``) speaks each sentence; the sentences are joined
with pauses into one track whose sentence start times are known exactly, then encoded into a video
container (an MP4 with a plain picture) or an audio one (MP3). With ``words=True`` every written word's start
and end come along too, read from Festival's own utterance structure (the times its synthesizer placed
each word at), so a word-timestamp benchmark has exact ground truth. Usage::

    python -m bench.speech samples OUT_DIR      # the two sample talks of tests/data/talks.json
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_RATE_HZ = 16_000
VOICE = "(voice_cmu_us_slt_arctic_hts)"
TALKS = Path(__file__).resolve().parent.parent / "tests" / "data" / "talks.json"


@dataclass(frozen=True)
class SpokenWord:
    """One written word (a whitespace-separated piece of the text, edge punctuation stripped) and when
    it is said, in seconds. A token said as several words ("42" as "forty two",
    "U.S.A." as three letters) spans all of them; a token that is not said at all ("-") has no entry."""

    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class SpokenSentence:
    text: str
    start_s: float
    end_s: float
    words: tuple[SpokenWord, ...] = ()  # in media time; empty unless built with words=True


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


# Festival prints, for each sentence TAG, one line per token (a whitespace-separated piece of the text): its
# first spoken word's start and its last spoken word's end (word_start/word_end are Festival's own word
# features: the start of the word's first segment, the end of its last), or "-" for a token it does not
# say; then the end of the utterance's last segment (the wave's length). A word with no syllables (the "'s"
# of "tonight's", whose segment joined "tonight") has no times of its own and is passed over.
_DUMP = """
(define (moments_dump tag utt)
  (let ((tok (utt.relation.first utt 'Token)))
    (while tok
      (let ((said nil))
        (mapcar (lambda (d)
                  (if (and (item.relation d 'Word) (item.relation.daughter1 d 'SylStructure))
                      (set! said (cons d said))))
                (item.daughters tok))
        (if said
            (format t "@@T\\t%s\\t%s\\t%s\\t%s\\n" tag (item.name tok)
                    (item.feat (car (reverse said)) "word_start") (item.feat (car said) "word_end"))
            (format t "@@T\\t%s\\t%s\\t-\\t-\\n" tag (item.name tok))))
      (set! tok (item.next tok))))
  (if (utt.relation.last utt 'Segment)
      (format t "@@E\\t%s\\t%s\\n" tag (item.feat (utt.relation.last utt 'Segment) "end"))))
"""
_LOUD = 0.01  # edge samples quieter than this are trimmed, as speak() does
_FESTIVAL_SLACK_S = 0.02  # wave length against the last segment's end
_EARLY_SOUND_S = 0.05  # how far before Festival's first word the kept audio may start
_EDGE_PUNCTUATION = "\"'“”‘’()[]{}<>,.;:!?"


def scheme_string(text: str) -> str:
    """``text`` as a Scheme string literal: backslashes and quotes escaped, line breaks made spaces."""
    flat = re.sub(r"\s+", " ", text).strip()
    return '"' + flat.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _trim(audio: np.ndarray) -> tuple[np.ndarray, int]:
    """``audio`` without its quiet edges, and how many samples were cut from its start."""
    loud = np.flatnonzero(np.abs(audio) > _LOUD)
    return (audio[loud[0] : loud[-1] + 1], int(loud[0])) if loud.size else (audio, 0)


def speak_with_words(texts: list[str], workdir: Path, name: str) -> list[tuple[np.ndarray, tuple[SpokenWord, ...]]]:
    """Each text through one Festival process: 16 kHz float32 samples with edge silence trimmed, and the
    times of its words in seconds from the start of the trimmed samples.

    The trim is accounted for: Festival's times are shifted back by the cut leading silence and clamped to
    the kept samples (what is cut is below the loudness floor, so a word cannot audibly start there)."""
    script = [VOICE, _DUMP]
    for i, text in enumerate(texts):
        wav = workdir / f"{name}-{i:04d}.wav"
        script += [
            f"(set! utt (Utterance Text {scheme_string(text)}))",
            "(utt.synth utt)",
            f"(utt.save.wave utt {scheme_string(str(wav))} 'riff)",
            f'(moments_dump "{i}" utt)',
        ]
    scm = workdir / f"{name}.scm"
    scm.write_text("\n".join(script) + "\n", encoding="utf-8")
    proc = subprocess.run(["festival", "-b", str(scm)], check=False, capture_output=True)  # checked below
    tokens: dict[int, list[tuple[str, str, str]]] = {i: [] for i in range(len(texts))}
    ends: dict[int, float] = {}
    for line in proc.stdout.decode("utf-8", errors="replace").splitlines():
        fields = line.split("\t")
        if fields[0] == "@@T" and len(fields) == 5:
            tokens[int(fields[1])].append((fields[2], fields[3], fields[4]))
        elif fields[0] == "@@E" and len(fields) == 3:
            ends[int(fields[1])] = float(fields[2])
    out = []
    for i, text in enumerate(texts):
        if i not in ends:
            err = proc.stderr.decode(errors="replace")[-500:]
            raise RuntimeError(f"festival did not speak {text[:60]!r}: {err}")
        raw = _read_audio(workdir / f"{name}-{i:04d}.wav")
        if abs(raw.size / SAMPLE_RATE_HZ - ends[i]) > _FESTIVAL_SLACK_S:
            raise RuntimeError(f"festival wave of {raw.size / SAMPLE_RATE_HZ:.3f} s, segments end at {ends[i]:.3f} s")
        words = _written_words(text, tokens[i])
        clip, cut = _trim(raw)
        shift, dur = cut / SAMPLE_RATE_HZ, clip.size / SAMPLE_RATE_HZ
        if words and not words[0][1] - _EARLY_SOUND_S <= shift < words[0][2]:
            # sound well before the first word, or a first word below the trim floor: the times would not
            # describe the kept audio
            raise RuntimeError(f"audio starts at {shift:.3f} s, its first word at {words[0][1]:.3f} s: {text!r}")
        said = tuple(SpokenWord(w, min(max(a - shift, 0.0), dur), min(max(b - shift, 0.0), dur)) for w, a, b in words)
        out.append((clip, said))
    return out


def _written_words(text: str, tokens: list[tuple[str, str, str]]) -> list[tuple[str, float, float]]:
    """The said tokens with their times, named as the text writes them (edge punctuation stripped).

    Festival may rename a token as it reads it ("1937-1942" becomes "1937"); its tokens are the text's
    whitespace-separated pieces, so each one takes its piece's spelling when the counts agree."""
    pieces = text.split()
    if len(pieces) != len(tokens):
        pieces = [t[0] for t in tokens]
    return [
        (piece.strip(_EDGE_PUNCTUATION) or tok, float(a), float(b))
        for piece, (tok, a, b) in zip(pieces, tokens, strict=True)
        if a != "-"
    ]


def check_words(sentence: SpokenSentence, *, slack_s: float = 0.002) -> None:
    """Raise ValueError unless the sentence's words run in order and lie inside it (``slack_s`` for the
    millisecond rounding of media times)."""
    last = sentence.start_s - slack_s
    for w in sentence.words:
        if not (last - slack_s <= w.start_s <= w.end_s + slack_s and w.end_s <= sentence.end_s + slack_s):
            raise ValueError(f"{w} out of order or outside {sentence.start_s}-{sentence.end_s}: {sentence.text!r}")
        last = w.end_s


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
    words: bool = False,
    jobs: int = 2,
) -> SpokenMedia:
    """Speak ``sentences`` into ``out`` (video: .mp4, audio: .mp3) and return where each one starts.

    ``pauses_s`` gives the silence after each sentence (default ``pause_s`` after every one). With
    ``words`` each sentence also carries its words' times (Festival speaks the sentences itself, in one
    process per chunk, instead of through text2wave). ``jobs`` Festival processes run at once."""
    require_festival()
    said: list[tuple[SpokenWord, ...]] = [()] * len(sentences)
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
        if words:
            size = max(1, -(-len(sentences) // max(jobs, 1)))
            chunks = [sentences[i : i + size] for i in range(0, len(sentences), size)]
            done = list(pool.map(lambda a: speak_with_words(a[1], Path(tmp), f"b{a[0]}"), enumerate(chunks)))
            clips = [clip for part in done for clip, _ in part]
            said = [w for part in done for _, w in part]
        else:
            clips = list(pool.map(lambda a: speak(a[1], Path(tmp), f"s{a[0]:03d}"), enumerate(sentences)))
    parts: list[np.ndarray] = [np.zeros(int(lead_s * SAMPLE_RATE_HZ), np.float32)]
    spoken: list[SpokenSentence] = []
    t = lead_s
    gaps = pauses_s if pauses_s is not None else [pause_s] * len(sentences)
    for text, clip, gap_s, ws in zip(sentences, clips, gaps, said, strict=True):
        dur = clip.size / SAMPLE_RATE_HZ
        placed = tuple(SpokenWord(w.text, round(t + w.start_s, 3), round(t + w.end_s, 3)) for w in ws)
        spoken.append(SpokenSentence(text, round(t, 3), round(t + dur, 3), placed))
        check_words(spoken[-1])
        gap = int(gap_s * SAMPLE_RATE_HZ)
        parts += [clip, np.zeros(gap, np.float32)]
        t += dur + gap / SAMPLE_RATE_HZ
    audio = np.concatenate(parts)
    _write_track(audio, out, kind)
    return SpokenMedia(out, kind, round(audio.size / SAMPLE_RATE_HZ, 3), spoken)


def media_from_json(obj: dict[str, Any]) -> SpokenMedia:
    """A SpokenMedia back from ``dataclasses.asdict`` JSON (``path`` as a string), words included."""
    sentences = [
        SpokenSentence(s["text"], s["start_s"], s["end_s"], tuple(SpokenWord(**w) for w in s.get("words", ())))
        for s in obj["sentences"]
    ]
    return SpokenMedia(Path(obj["path"]), obj["kind"], obj["duration_s"], sentences)


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
