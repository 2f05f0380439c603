"""``moments serve`` as a real process: a job killed mid-transcription resumes to exactly the points of a
clean run, and the CLI in another terminal works through the server that owns the embedded index."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from bench.speech import SpokenMedia
from ingest.models import OfflineModels
from retrieval.index import IndexConfig, open_index
from tests.live_server import MOMENTS, Server, server_env

pytestmark = pytest.mark.slow


def _wait(server: Server, job_id: str, until: object, timeout_s: float = 300.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = server.job(job_id)
        if until(job):  # type: ignore[operator]
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} stuck: {server.job(job_id)}")


def _point_ids(data_dir: Path) -> set[str]:
    index = open_index(IndexConfig(path=data_dir / "index"))
    try:
        return index.point_ids()
    finally:
        index.close()


@pytest.fixture
def podcast(sample_talks: list[SpokenMedia]) -> SpokenMedia:
    return next(t for t in sample_talks if t.kind == "audio")


def test_killed_job_resumes_to_exactly_the_points_of_a_clean_run(
    tmp_path: Path, offline_models: OfflineModels, podcast: SpokenMedia
) -> None:
    # Two windows a batch: the 3-minute podcast is 7 windows, so the job reports progress (and writes
    # passages) batch by batch, and it can be killed between two of them; the default 8 is one batch.
    few = {"MOMENTS_WHISPER_BATCH_SIZE": "2"}
    clean_dir = tmp_path / "clean"
    subprocess.run(
        [MOMENTS, "ingest", str(podcast.path)],
        env=server_env(clean_dir, offline_models, **few),
        check=True,
        capture_output=True,
    )
    clean = _point_ids(clean_dir)
    assert len(clean) >= 5

    data_dir = tmp_path / "server"
    server = Server(data_dir, offline_models, **few)
    server.start()
    try:
        with podcast.path.open("rb") as f:
            r = httpx.post(f"{server.url}/api/media", files={"file": (podcast.path.name, f, "audio/mpeg")}, timeout=60)
        assert r.status_code == 202
        job_id = r.json()["job_id"]
        # Kill it once some passages are already searchable (indexed while transcribing).
        _wait(server, job_id, lambda j: j["stage"] == "transcribe" and float(j["progress"]) > 0.45)  # type: ignore[arg-type]
        server.kill()
    finally:
        server.stop()
    partial = _point_ids(data_dir)
    assert 0 < len(partial) < len(clean)  # died part-way, with some points written

    server.start()
    try:
        job = _wait(server, job_id, lambda j: j["status"] in ("done", "failed", "canceled"))
        assert job["status"] == "done" and job["attempts"] == 2, job
    finally:
        server.stop()
    assert _point_ids(data_dir) == clean


def test_cli_goes_through_the_server_that_owns_the_index(
    tmp_path: Path, offline_models: OfflineModels, speech_clips: tuple[object, list[object]]
) -> None:
    jfk = next(c for c in speech_clips[1] if c.name == "jfk")  # type: ignore[attr-defined]
    server = Server(tmp_path, offline_models)
    server.start()

    def moments(*args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [MOMENTS, *args], env=server.env, capture_output=True, text=True, timeout=300, check=False
        )
        assert proc.returncode == 0, proc.stderr
        return proc

    def kept_files() -> list[Path]:
        return sorted((tmp_path / "media").glob("*")) if (tmp_path / "media").exists() else []

    try:
        ingest = moments("ingest", str(jfk.path))
        assert "in use by the server" in ingest.stderr and server.url in ingest.stderr
        results = json.loads(moments("search", "ask what you can do for your country", "--json").stdout)["results"]
        assert results and results[0]["filename"] == Path(jfk.path).name
        media_id = results[0]["media_id"]
        # The server has no library roots, so the CLI uploaded the file and the server keeps a copy.
        assert [p.stem for p in kept_files()] == [media_id]

        # Removal through the server: points, rows and the kept file all go.
        assert f"via {server.url}" in moments("media", "rm", media_id).stdout
        assert kept_files() == []
        assert httpx.get(f"{server.url}/api/media/{media_id}", timeout=10).status_code == 404
        gone = moments("search", "ask what you can do for your country", "--json", "--media-id", media_id)
        assert json.loads(gone.stdout)["results"] == []

        moments("ingest", str(jfk.path))
        assert [p.stem for p in kept_files()] == [media_id]
    finally:
        server.stop()
    # Removal by the CLI on its own (no server): the same result.
    assert "via" not in moments("media", "rm", media_id).stdout
    assert kept_files() == []
    assert json.loads(moments("media", "ls", "--json").stdout) == []
    assert _point_ids(tmp_path) == set()
    assert list((tmp_path / "uploads").iterdir()) == []  # no file and no empty folder left by the uploads
