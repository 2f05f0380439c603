"""Whole ingest against the engine alone: how much of the time after transcription the rest of the
pipeline costs (decode, VAD, passages, embeddings, index writes, chapters, the catalog).

    python -m bench.ingest_speed                  # the 8 media of the quality set (42 min), Whisper base
    MOMENTS_WHISPER_MODEL=whisper-base python -m bench.ingest_speed --threads 2

Both use the product's settings and the same files in one process, after a warm-up of each, file by
file in turn: the engine alone (``WhisperTranscriber.transcribe`` on the file's decoded audio, decoding
not timed), then the whole ingest through the REST API (``POST /api/media {"path"}`` into a fresh
library, the app's job runner, until the job is done: hash, probe, decode and all). Prints audio seconds
per wall second of each, their ratio, and the process's peak memory.
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
    from bench.report import cpu_facts, peak_rss_mb
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

        from bench.speech_clips import ensure_clips

        _, clips = ensure_clips(CACHE / "speech")
        warm = roots / "warm-up.wav"
        shutil.copy(clips[0].path, warm)
        engine_services = Services(settings)
        engine = engine_services.transcriber
        engine.load()
        engine_wall = ingest_wall = audio_s = 0.0
        with TestClient(create_app(settings)) as client:

            def ingest(path: Path) -> None:
                job = client.post("/api/media", json={"path": str(path)}).json()["job_id"]
                while (state := client.get(f"/api/jobs/{job}").json()["status"]) not in ("done", "failed", "canceled"):
                    time.sleep(0.2)
                assert state == "done", state

            ingest(warm)  # both engines warm (kernels, caches) before any timing
            engine.transcribe(decode_audio(warm, max_duration_s=60))
            # file by file, the engine alone and then the whole ingest: a machine whose speed drifts
            # drifts under both alike
            for f in files:
                audio = decode_audio(roots / f.name, max_duration_s=4 * 3600)
                audio_s += audio.size / 16_000
                started = time.perf_counter()
                engine.transcribe(audio)
                engine_wall += time.perf_counter() - started
                del audio
                started = time.perf_counter()
                ingest(roots / f.name)
                ingest_wall += time.perf_counter() - started
        engine_services.close()
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
        print(f"peak RSS of the process: {peak_rss_mb():.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
