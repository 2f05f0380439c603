"""The deployment files parse and agree with the code (there is no Docker engine here to run them)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bench.qdrant_server import PACKAGE

REPO = Path(__file__).resolve().parent.parent


def test_compose_runs_qdrant_the_api_and_workers() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["qdrant"]["image"] == f"qdrant/qdrant:v{PACKAGE.rsplit('@', 1)[1]}"
    assert services["api"]["command"][0] == "serve" and services["worker"]["command"] == ["worker"]
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert env["MOMENTS_QDRANT_URL"] == "http://qdrant:6333"
        volumes = {v.split(":")[1] for v in services[name]["volumes"]}
        assert {"/data", "/models"} <= volumes
    assert set(compose["volumes"]) == {"qdrant-storage", "moments-data", "model-cache"}
    # the API container serves search and queues jobs; only the workers load Whisper and transcribe
    assert services["api"]["environment"]["MOMENTS_INGEST_WORKER"] == "false"
    assert "MOMENTS_INGEST_WORKER" not in services["worker"]["environment"]
    gpu = yaml.safe_load((REPO / "docker-compose.gpu.yml").read_text())
    assert set(gpu["services"]) == {"worker"}  # the GPU goes to the workers, not to the search server
    devices = gpu["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert (
        devices[0]["driver"] == "nvidia"
        and gpu["services"]["worker"]["environment"]["MOMENTS_WHISPER_DEVICE"] == "cuda"
    )


def test_dockerfile_mirrors_the_setup() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    makefile = (REPO / "Makefile").read_text()
    torch_pin = re.search(r"torch==[\d.]+", makefile)
    assert torch_pin and torch_pin.group(0) in dockerfile
    assert "ffmpeg" in dockerfile and re.search(r"^USER moments$", dockerfile, re.M)
    for folder in ("ingest", "retrieval", "api", "web"):
        assert f"COPY {folder} {folder}" in dockerfile
    assert 'VOLUME ["/data", "/models"]' in dockerfile
