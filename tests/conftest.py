"""Shared fixtures: real models from the registry packs, real speech, real ffmpeg and Festival.

Heavy fixtures are session-scoped and cached under ``.cache/`` (override with MOMENTS_TEST_CACHE), so a
second run starts fast. Nothing here downloads from the model hub.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.qdrant_server import QdrantProcess, ensure_qdrant_binary
from bench.speech import SpokenMedia, build_samples
from bench.speech_clips import Clip, SonnetClip, ensure_clips
from ingest.models import OfflineModels, prepare_offline
from ingest.whisper import TranscribeOptions, WhisperTranscriber

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("MOMENTS_TEST_CACHE", REPO / ".cache"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def offline_models() -> OfflineModels:
    return prepare_offline(CACHE / "models")


@pytest.fixture(scope="session")
def qdrant_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QdrantProcess]:
    """A real Qdrant server for the session (the official binary, sha256-checked), stopped afterwards."""
    server = QdrantProcess(ensure_qdrant_binary(CACHE), tmp_path_factory.mktemp("qdrant")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def speech_clips() -> tuple[SonnetClip, list[Clip]]:
    return ensure_clips(CACHE / "speech")


@pytest.fixture(scope="session")
def base_transcriber(offline_models: OfflineModels) -> WhisperTranscriber:
    t = WhisperTranscriber(TranscribeOptions(model=str(offline_models.whisper["whisper-base"]), cpu_threads=2))
    t.load()
    return t


@pytest.fixture(scope="session")
def tiny_transcriber(offline_models: OfflineModels) -> WhisperTranscriber:
    t = WhisperTranscriber(TranscribeOptions(model=str(offline_models.whisper["whisper-tiny.en"]), cpu_threads=2))
    t.load()
    return t


@pytest.fixture(scope="session")
def sample_talks() -> list[SpokenMedia]:
    """The two sample talks (video MP4 and audio MP3, about 3 minutes each), spoken by Festival."""
    out = CACHE / "samples"
    manifest = out / "manifest.json"
    if not manifest.is_file():
        build_samples(out)
    import json

    from bench.speech import SpokenSentence

    return [
        SpokenMedia(Path(m["path"]), m["kind"], m["duration_s"], [SpokenSentence(**s) for s in m["sentences"]])
        for m in json.loads(manifest.read_text())
    ]


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, capture_output=True)


@pytest.fixture
def tone_wav(tmp_path: Path) -> Path:
    path = tmp_path / "tone.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-ar", "16000", str(path))
    return path


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)
