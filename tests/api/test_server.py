"""``moments serve`` as a real process: a job killed mid-transcription resumes to exactly the points of a
clean run, and the CLI in another terminal works through the server that owns the embedded index."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bench.speech import SpokenMedia
from ingest.models import OfflineModels
from retrieval.index import IndexConfig, QdrantPassageIndex

pytestmark = pytest.mark.slow

MOMENTS = str(Path(sys.executable).parent / "moments")


def _env(data_dir: Path, models: OfflineModels) -> dict[str, str]:
    return {
        **os.environ,
        "MOMENTS_DATA_DIR": str(data_dir),
        "MOMENTS_MODELS_DIR": str(models.whisper["whisper-base"].parent),
        "MOMENTS_WHISPER_MODEL": "whisper-tiny.en",
        "MOMENTS_CPU_THREADS": "2",
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "200",
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data_dir: Path, models: OfflineModels) -> None:
        self.env = _env(data_dir, models)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "server.log"

    def start(self, timeout_s: float = 120.0) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [MOMENTS, "serve", "--port", str(self.port)],
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(f"{self.url}/api/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError("server did not become ready:\n" + self.log.read_text()[-3000:])

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def job(self, job_id: str) -> dict[str, object]:
        data: dict[str, object] = httpx.get(f"{self.url}/api/jobs/{job_id}", timeout=10).json()
        return data


def _wait(server: Server, job_id: str, until: object, timeout_s: float = 300.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = server.job(job_id)
        if until(job):  # type: ignore[operator]
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} stuck: {server.job(job_id)}")


def _point_ids(data_dir: Path) -> set[str]:
    index = QdrantPassageIndex(IndexConfig(path=data_dir / "qdrant"))
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
    clean_dir = tmp_path / "clean"
    subprocess.run(
        [MOMENTS, "ingest", str(podcast.path)], env=_env(clean_dir, offline_models), check=True, capture_output=True
    )
    clean = _point_ids(clean_dir)
    assert len(clean) >= 5

    data_dir = tmp_path / "server"
    server = Server(data_dir, offline_models)
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
    try:
        env = server.env
        ingest = subprocess.run(
            [MOMENTS, "ingest", str(jfk.path)], env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert ingest.returncode == 0, ingest.stderr
        assert "in use by the server" in ingest.stderr and server.url in ingest.stderr
        found = subprocess.run(
            [MOMENTS, "search", "ask what you can do for your country", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert found.returncode == 0, found.stderr
        results = json.loads(found.stdout)["results"]
        assert results and results[0]["filename"] == Path(jfk.path).name
    finally:
        server.stop()
