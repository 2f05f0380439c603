"""An app per test module from the factory, on a real data directory, with Whisper tiny.en."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.settings import Settings
from ingest.models import OfflineModels


def make_settings(tmp: Path, models: OfflineModels, **overrides: object) -> Settings:
    library = tmp / "library"
    library.mkdir(exist_ok=True)
    values: dict[str, object] = {
        "data_dir": tmp / "data",
        "models_dir": models.whisper["whisper-base"].parent,
        "whisper_model": "whisper-tiny.en",
        "cpu_threads": 2,
        "library_roots": [library],
        "url_allow_networks": ["127.0.0.2/32"],
        "max_upload_bytes": 8 * 1024 * 1024,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def wait_for_job(
    client: TestClient,
    job_id: str,
    timeout_s: float = 180.0,
    headers: dict[str, str] | None = None,
    until: Callable[[dict[str, object]], bool] | None = None,
) -> dict[str, object]:
    """Poll a job until it ends (or ``until`` holds), with a deadline."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job: dict[str, object] = client.get(f"/api/jobs/{job_id}", headers=headers or {}).json()
        if until is not None and until(job):
            return job
        if job["status"] in ("done", "failed", "canceled"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout_s} s")


@pytest.fixture(scope="module")
def jfk_wav(speech_clips: tuple[object, list[object]]) -> Path:
    jfk = next(c for c in speech_clips[1] if c.name == "jfk")  # type: ignore[attr-defined]
    return Path(jfk.path)  # type: ignore[attr-defined]
