"""Transcription speed: our transformers engine against faster-whisper, same Whisper base weights, same audio.

Each engine runs in its own process (so peak memory is its own), greedy decoding, VAD on, no conditioning
on previous text, with the same number of CPU threads. The audio is over 10 minutes of speech: the spoken
sample talks, one media item of the retrieval-quality set, and the real recorded clips. Prints audio seconds
per wall second, the ratio to faster-whisper's best mode that ran (BatchedInferencePipeline int8, else fp32)
at the same thread count, peak resident memory, and the
word error rate on the real recorded clips.

    python -m bench.asr_speed                   # 1 and 2 threads, every engine
    python -m bench.asr_speed --threads 2 --engines ours,fw-int8 --json asr.json
    python -m bench.asr_speed --threads 2 --rounds 3 --engines ours,ours-int8-decoder,fw-int8-batched   # alternated
    python -m bench.asr_speed --threads 2 --pair ours,ours-tails-alone   # two of ours, one process, file by file
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("MOMENTS_TEST_CACHE", REPO / ".cache"))
# ours: the product's defaults (word timing on); ours-no-words: the same without word timing (its cost);
# fw-int8-words: faster-whisper int8 with its own word timestamps, the peer of word timing;
# fw-int8-batched: faster-whisper's BatchedInferencePipeline (int8, 8 windows a batch), its fastest CPU mode
# and the peer every ratio is taken against when it runs; ours-int8-decoder: the decoder's self-attention
# and feed-forward in int8 (MOMENTS_WHISPER_INT8_DECODER=true), its gain on this CPU; ours-batch4: 4 windows a
# batch (MOMENTS_WHISPER_BATCH_SIZE=4), the default until 2026-12-04 (now 8, the peer's batch size);
# ours-tails-alone: each window Whisper stopped short of decoded again on its own from there (transformers'
# own way, the engine's until 2026-12-04) instead of the batch's tails packed together.
ENGINES = (
    "ours",
    "ours-no-words",
    "ours-int8-decoder",
    "ours-batch4",
    "ours-tails-alone",
    "ours-fp32",
    "fw-fp32",
    "fw-int8",
    "fw-int8-words",
    "fw-int8-batched",
)
# Our variants' options (TranscribeOptions fields) beside the product's defaults ("ours").
VARIANTS: dict[str, dict[str, Any]] = {
    "ours-fp32": {"dtype": "float32", "batch_size": 1, "int8_vocab": False},
    "ours-no-words": {"word_timestamps": False},
    "ours-int8-decoder": {"int8_decoder": "true"},
    "ours-batch4": {"batch_size": 4},
    "ours-tails-alone": {"pack_tails": False},
}
PEERS = ("fw-int8-batched", "fw-fp32")  # the ratio's reference: the first of these that ran
QUALITY_MEDIA = ("hacker-folklore",)  # with the sample talks and the clips: over 10 minutes of speech


def _ct2_base_folder() -> Path:
    """faster-whisper wants one model.bin: join the pack's two parts once."""
    from ingest.models import pack_sources

    source, parts = pack_sources("whisper-base")
    out = CACHE / "ct2" / "whisper-base"
    if not (out / "model.bin").is_file():
        out.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            (out / name).write_bytes((source / name).read_bytes())
        tmp = out / "model.bin.partial"
        with tmp.open("wb") as f:
            for p in parts:
                f.write(p.read_bytes())
        tmp.rename(out / "model.bin")
    return out


def _worker(engine: str, threads: int, files: list[str]) -> None:
    import numpy as np

    from ingest.media import decode_audio

    audios = [decode_audio(Path(f), max_duration_s=3 * 3600) for f in files]
    texts: list[str] = []
    if engine.startswith("ours"):
        from ingest.models import prepare_offline
        from ingest.whisper import TranscribeOptions, WhisperTranscriber

        folder = prepare_offline(CACHE / "models", ["whisper-base"]).whisper["whisper-base"]
        # "ours" is the product's defaults (bf16 where the CPU has it, 8 windows a batch, int8 vocabulary
        # projection); "ours-fp32" the same engine in float32, one window at a time, no int8.
        variant = VARIANTS.get(engine, {})
        engine_obj = WhisperTranscriber(TranscribeOptions(model=str(folder), cpu_threads=threads, **variant))
        engine_obj.load()
        engine_obj.transcribe(np.zeros(16_000, dtype=np.float32))  # warm-up
        started = time.perf_counter()
        for audio in audios:
            texts.append(" ".join(s.text for s in engine_obj.transcribe(audio).segments))
    else:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        compute = "float32" if engine == "fw-fp32" else "int8"
        words = engine.endswith("-words")
        model = WhisperModel(str(_ct2_base_folder()), device="cpu", compute_type=compute, cpu_threads=threads)
        batched = BatchedInferencePipeline(model) if engine.endswith("-batched") else None
        list(model.transcribe(np.zeros(16_000, dtype=np.float32))[0])  # warm-up
        started = time.perf_counter()
        for audio in audios:
            if batched is not None:  # VAD on by default; windows are not conditioned on each other
                segments, _ = batched.transcribe(audio, beam_size=1, language="en", batch_size=8)
            else:
                segments, _ = model.transcribe(
                    audio,
                    beam_size=1,
                    vad_filter=True,
                    condition_on_previous_text=False,
                    language="en",
                    word_timestamps=words,
                )
            texts.append(" ".join(s.text.strip() for s in segments))
    wall = time.perf_counter() - started
    audio_s = sum(a.size for a in audios) / 16_000
    from bench.report import peak_rss_mb

    peak_mb = peak_rss_mb()
    print(json.dumps({"engine": engine, "audio_s": audio_s, "wall_s": wall, "peak_rss_mb": peak_mb, "texts": texts}))


def _inputs() -> tuple[list[str], dict[str, str], dict[str, str]]:
    """Audio files, and the reference texts of the real recordings and of the spoken (synthetic) media."""
    from bench.quality.build import build_set
    from bench.speech import build_samples
    from bench.speech_clips import ensure_clips

    samples = CACHE / "samples"
    if not (samples / "manifest.json").is_file():
        build_samples(samples)
    talks = json.loads((samples / "manifest.json").read_text())
    quality = build_set(CACHE / "quality")
    media = [*talks, *(m for m in quality["media"] if m["name"] in QUALITY_MEDIA)]
    spoken = {m["path"]: " ".join(s["text"] for s in m["sentences"]) for m in media}
    sonnet, clips = ensure_clips(CACHE / "speech")
    recorded = {str(c.path): c.text for c in [sonnet, *clips]}
    return [*spoken, *recorded], recorded, spoken


def _run(engine: str, threads: int, files: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.asr_speed", "--worker", engine, "--threads", str(threads), "--files", *files]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True, env=env)
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _pair(engines: list[str], threads: int) -> None:
    """Both engines in this process, each file transcribed by both in turn (the order swapped every other
    file); prints each file's WER and the totals: speed, and WER weighted by each file's words."""
    import numpy as np

    from bench.quality.build import build_set
    from bench.report import cpu_facts
    from bench.wer import word_error_rate
    from ingest.media import decode_audio
    from ingest.models import prepare_offline
    from ingest.whisper import TranscribeOptions, WhisperTranscriber

    folder = prepare_offline(CACHE / "models", ["whisper-base"]).whisper["whisper-base"]
    loaded = {}
    for name in engines:
        options = TranscribeOptions(model=str(folder), cpu_threads=threads, **VARIANTS.get(name, {}))
        loaded[name] = WhisperTranscriber(options)
        loaded[name].transcribe(np.zeros(16_000, dtype=np.float32))  # load and warm up
    wall = dict.fromkeys(engines, 0.0)
    errors: dict[str, list[tuple[float, int]]] = {name: [] for name in engines}
    total_s = 0.0
    print(f"# {' against '.join(engines)}, {threads} threads, alternated file by file; cpu: {cpu_facts()}")
    print(f"| media | {' | '.join(f'WER {name}' for name in engines)} |")
    print(f"| --- |{' --- |' * len(engines)}")
    for i, media in enumerate(build_set(CACHE / "quality")["media"]):
        audio = decode_audio(Path(media["path"]), max_duration_s=3 * 3600)
        total_s += audio.size / 16_000
        reference = " ".join(s["text"] for s in media["sentences"])
        for name in engines if i % 2 == 0 else engines[::-1]:
            started = time.perf_counter()
            text = " ".join(s.text for s in loaded[name].transcribe(audio).segments)
            wall[name] += time.perf_counter() - started
            errors[name].append((word_error_rate(reference, text), len(reference.split())))
        print(f"| {media['name']} | {' | '.join(f'{errors[name][-1][0]:.2%}' for name in engines)} |")
    for name in engines:
        weighted = sum(e * n for e, n in errors[name]) / sum(n for _, n in errors[name])
        print(
            f"{name}: {total_s:.0f} s of audio in {wall[name]:.1f} s, {total_s / wall[name]:.2f}x real time, "
            f"WER {weighted:.2%}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"any of {', '.join(ENGINES)}")
    parser.add_argument("--rounds", type=int, default=1, help="run the engines this many times, alternated")
    parser.add_argument("--json", type=Path, help="write the figures here (the report reads them)")
    parser.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--files", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument(
        "--pair",
        help="two of our engines (ours,ours-tails-alone) loaded in one process and alternated file by file over "
        "the quality set's media (continuous speech): a difference smaller than this VM's drift between runs",
    )
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, int(args.threads), args.files)
        return
    if args.pair:
        _pair(args.pair.split(","), int(args.threads.split(",")[-1]))
        return

    from bench.report import cpu_facts
    from bench.wer import word_error_rate

    files, refs, spoken = _inputs()
    engines = args.engines.split(",")
    runs: list[dict[str, Any]] = []
    audio_s = 0.0
    for threads in (int(t) for t in args.threads.split(",")):
        # Rounds alternate the engines (the order reversed every other round), and each ratio is taken
        # against the peer of its own round: this VM's speed drifts more from minute to minute than the
        # gaps between our variants, and a ratio inside one round holds where absolute figures do not.
        rounds = []
        for number in range(args.rounds):
            order = engines if number % 2 == 0 else engines[::-1]
            by_engine = {engine: _run(engine, threads, files) for engine in order}
            rounds.append([by_engine[engine] for engine in engines])
        for column, engine in enumerate(engines):
            results = [round_[column] for round_ in rounds]
            r = results[0]
            speeds = [x["audio_s"] / x["wall_s"] for x in results]
            ratios = []
            for round_ in rounds:
                peer = next((x for name in PEERS for x in round_ if x["engine"] == name), round_[0])
                mine = round_[column]
                ratios.append((mine["audio_s"] / mine["wall_s"]) / (peer["audio_s"] / peer["wall_s"]))
            wers = [word_error_rate(refs[f], t) for f, t in zip(files, r["texts"], strict=True) if f in refs]
            spoken_wers = [word_error_rate(spoken[f], t) for f, t in zip(files, r["texts"], strict=True) if f in spoken]
            runs.append(
                {
                    "engine": engine,
                    "threads": threads,
                    "speed": statistics.median(speeds),
                    "speeds": speeds,
                    "vs_peer": statistics.median(ratios),
                    "ratios": ratios,
                    "peak_rss_mb": max(x["peak_rss_mb"] for x in results),
                    "wer": sum(wers) / len(wers),
                    "wer_spoken": sum(spoken_wers) / len(spoken_wers),
                }
            )
            audio_s = r["audio_s"]
    peer_name = next((name for name in PEERS if name in engines), engines[0])
    print(
        f"# ASR speed, Whisper base, {audio_s:.0f} s of audio ({len(files)} files), "
        f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}"
    )
    print(f"# cpu: {cpu_facts()}")
    print(f"# {args.rounds} round(s); speed and ratio: the median over rounds, each ratio within its own round")
    print(
        f"| engine | threads | audio s / wall s | vs {peer_name} | ratio per round | peak RSS MB | WER real clips "
        "| WER spoken |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for run in runs:
        per_round = ", ".join(f"{x:.2f}" for x in run["ratios"])
        print(
            f"| {run['engine']} | {run['threads']} | {run['speed']:.2f} | {run['vs_peer']:.2f}x | {per_round} | "
            f"{run['peak_rss_mb']:.0f} | {run['wer']:.1%} | {run['wer_spoken']:.1%} |"
        )
    if args.json:
        figures = {"audio_s": audio_s, "files": len(files), "cpu": cpu_facts(), "runs": runs}
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
