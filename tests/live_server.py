"""A real ``moments serve`` process for tests that need one (kill/restart, the CLI beside it, a browser)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ingest.models import OfflineModels

MOMENTS = str(Path(sys.executable).parent / "moments")


def server_env(data_dir: Path, models: OfflineModels, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "MOMENTS_DATA_DIR": str(data_dir),
        "MOMENTS_MODELS_DIR": str(models.whisper["whisper-base"].parent),
        "MOMENTS_WHISPER_MODEL": "whisper-tiny.en",
        "MOMENTS_CPU_THREADS": "2",
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "200",
        **extra,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data_dir: Path, models: OfflineModels, **extra_env: str) -> None:
        self.env = server_env(data_dir, models, **extra_env)
        self.port = free_port()
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
