"""Whole ingest against the engine alone: how much of the time after transcription the rest of the
pipeline costs (decode, VAD, passages, embeddings, index writes, chapters, the catalog).

    python -m bench.ingest_speed                  # the 8 media of the quality set (42 min), Whisper base
    MOMENTS_WHISPER_MODEL=whisper-base python -m bench.ingest_speed --threads 2

Both runs use the product's settings and the same files, one after the other in one process, after one
warm-up: first the engine alone (``WhisperTranscriber.transcribe`` on each file's decoded audio), then the
whole ingest through the REST API (``POST /api/media {"path"}`` for each file into a fresh library, the
job runner of the app, until every job is done). Prints audio seconds per wall second of each, their
ratio, and the process's peak memory.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("MOMENTS_TEST_CACHE", REPO / ".cache"))


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("MOMENTS_WHISPER_MODEL", "whisper-base")
    os.environ["MOMENTS_CPU_THREADS"] = str(args.threads)

    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.services import Services
    from api.settings import Settings
    from bench.quality.build import build_set
    from bench.report import cpu_facts
    from ingest.media import decode_audio
    from ingest.models import OFFLINE_PACKS, prepare_offline

    manifest = build_set(CACHE / "quality")
    files = [Path(m["path"]) for m in manifest["media"]]
    work = Path(tempfile.mkdtemp(prefix="moments-ingest-speed-"))
    try:
        roots = work / "library"
        roots.mkdir()
        for f in files:  # the library root holds the files the API may ingest by path
            shutil.copy(f, roots / f.name)
        settings = Settings(data_dir=work / "data", models_dir=CACHE / "models", library_roots=[roots], language="en")
        if settings.whisper_model in OFFLINE_PACKS:
            prepare_offline(CACHE / "models", [settings.whisper_model])

        engine_services = Services(settings)
        engine = engine_services.transcriber
        engine.load()
        engine.transcribe(decode_audio(files[0], max_duration_s=4 * 3600)[: 20 * 16_000])  # warm-up
        audio_s = 0.0
        started = time.perf_counter()
        for f in files:
            audio = decode_audio(f, max_duration_s=4 * 3600)
            audio_s += audio.size / 16_000
            engine.transcribe(audio)
        engine_wall = time.perf_counter() - started
        engine_services.close()
        del engine, engine_services

        with TestClient(create_app(settings)) as client:
            started = time.perf_counter()
            jobs = [client.post("/api/media", json={"path": str(roots / f.name)}).json()["job_id"] for f in files]
            while True:
                states = [client.get(f"/api/jobs/{j}").json()["status"] for j in jobs]
                if all(s in ("done", "failed", "canceled") for s in states):
                    break
                time.sleep(0.5)
            ingest_wall = time.perf_counter() - started
            assert all(s == "done" for s in states), states
        engine_speed, ingest_speed = audio_s / engine_wall, audio_s / ingest_wall
        print(
            f"# Ingest speed, {settings.whisper_model}, {args.threads} threads, {audio_s:.0f} s of audio in "
            f"{len(files)} files, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}"
        )
        print(f"# cpu: {cpu_facts()}")
        print("| run | wall s | audio s / wall s |")
        print("| --- | --- | --- |")
        print(f"| engine alone (transcribe) | {engine_wall:.0f} | {engine_speed:.2f} |")
        print(f"| whole ingest through the API | {ingest_wall:.0f} | {ingest_speed:.2f} |")
        print(f"| ratio | | {ingest_speed / engine_speed:.2f}x |")
        print(f"peak RSS of the process: {_peak_rss_mb():.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
