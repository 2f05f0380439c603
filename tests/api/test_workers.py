"""Several ``moments worker`` processes share one job queue (SQLite, WAL) beside a real Qdrant server:
each job runs once, and a dead worker's job is taken over when its lease runs out."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from bench.qdrant_server import QdrantProcess
from ingest.catalog import Catalog
from ingest.models import OfflineModels
from retrieval.index import IndexConfig, QdrantPassageIndex
from tests.conftest import ffmpeg
from tests.live_server import MOMENTS, server_env

pytestmark = pytest.mark.slow


def _wait_all(catalog: Catalog, ids: list[str], timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        jobs = [catalog.get_job(i) for i in ids]
        if all(j is not None and j.status in ("done", "failed", "canceled") for j in jobs):
            return
        time.sleep(0.3)
    raise AssertionError([catalog.get_job(i) for i in ids])


def test_workers_share_the_queue_and_take_over_a_dead_workers_job(
    tmp_path: Path,
    offline_models: OfflineModels,
    qdrant_server: QdrantProcess,
    jfk_wav: Path,
    sample_talks: list[object],
) -> None:
    collection = "workers_test"
    env = server_env(
        tmp_path / "data",
        offline_models,
        MOMENTS_QDRANT_URL=qdrant_server.url,
        MOMENTS_COLLECTION=collection,
        MOMENTS_JOB_LEASE_S="4",
        MOMENTS_CPU_THREADS="1",
    )
    catalog = Catalog(tmp_path / "data" / "catalog.sqlite3")
    clips = []
    for i in range(4):  # distinct files: the JFK clip behind tones of different pitch
        clip = tmp_path / f"clip{i}.wav"
        ffmpeg(
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency={300 + 100 * i}:duration=1",
            "-i",
            str(jfk_wav),
            "-filter_complex",
            "[0:a][1:a]concat=n=2:v=0:a=1",
            "-ar",
            "16000",
            str(clip),
        )
        clips.append(clip)
    ids = [catalog.create_job(str(c), "path", input_path=str(c)).id for c in clips]
    workers = [
        subprocess.Popen(
            [MOMENTS, "worker", "--poll", "0.2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    try:
        _wait_all(catalog, ids)
        jobs = [catalog.get_job(i) for i in ids]
        summary = [(j.status, j.attempts, j.worker, j.error) for j in jobs if j is not None]
        assert all(j is not None and j.status == "done" and j.attempts == 1 for j in jobs), summary
        assert len({j.worker for j in jobs if j is not None}) >= 2  # the work was shared

        # A long job; its worker is killed mid-way and another one finishes it.
        podcast = sample_talks[1].path  # type: ignore[attr-defined]
        long_id = catalog.create_job(str(podcast), "path", input_path=str(podcast)).id
        deadline = time.monotonic() + 120
        while (job := catalog.find_job(long_id)) is not None and job.stage != "transcribe":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        owner = job.worker if job else None
        victim = next(w for w in workers if owner and f":{w.pid}:" in owner)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        _wait_all(catalog, [long_id], timeout_s=400)
        done = catalog.get_job(long_id)
        assert done is not None and done.status == "done" and done.attempts == 2 and done.worker != owner
    finally:
        for w in workers:
            w.send_signal(signal.SIGINT)
        for w in workers:
            try:
                w.wait(20)
            except subprocess.TimeoutExpired:
                w.kill()
    index = QdrantPassageIndex(IndexConfig(url=qdrant_server.url, collection=collection))
    media = catalog.list_media()
    assert len(media) == 5
    assert sum(index.count(m.id) for m in media) == index.count()
    index.drop()
    index.close()


def test_a_search_only_server_queues_jobs_for_the_workers_and_never_loads_whisper(
    tmp_path: Path, offline_models: OfflineModels, qdrant_server: QdrantProcess, jfk_wav: Path
) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.services import Services
    from tests.api.conftest import make_settings, wait_for_job

    settings = make_settings(
        tmp_path, offline_models, qdrant_url=qdrant_server.url, collection="search_only", ingest_worker=False
    )
    with TestClient(create_app(settings)) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        ready = client.get("/api/ready").json()
        assert ready["ready"] and ready["jobs"] == "queued for `moments worker`"
        assert "whisper_model" not in ready["checks"]
        with jfk_wav.open("rb") as f:
            job_id = client.post("/api/media", files={"file": ("jfk.wav", f, "audio/wav")}).json()["job_id"]
        time.sleep(1.5)
        assert client.get(f"/api/jobs/{job_id}").json()["status"] == "queued"  # nobody here runs it
        # a worker (what `moments worker` runs) takes it from the shared queue
        worker = Services(
            make_settings(tmp_path, offline_models, qdrant_url=qdrant_server.url, collection="search_only")
        )
        runner = worker.runner(poll_s=0.2)
        runner.start()
        try:
            assert wait_for_job(client, job_id)["status"] == "done"
        finally:
            runner.stop()
            worker.close()
        top = client.get("/api/search", params={"q": "ask what you can do for your country"}).json()["results"][0]
        assert top["filename"] == "jfk.wav"
        # the search server never loaded Whisper (the library it queues through only holds the engine)
        assert services._transcriber is None or services._transcriber._model is None


def test_a_search_only_server_needs_a_qdrant_server(tmp_path: Path, offline_models: OfflineModels) -> None:
    from pydantic import ValidationError

    from tests.api.conftest import make_settings

    with pytest.raises(ValidationError, match="MOMENTS_INGEST_WORKER=false needs a Qdrant server"):
        make_settings(tmp_path, offline_models, ingest_worker=False)
    env = server_env(tmp_path / "data", offline_models)
    proc = subprocess.run(
        [MOMENTS, "serve", "--no-worker"], check=False, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "needs a Qdrant server (MOMENTS_QDRANT_URL)" in proc.stderr
