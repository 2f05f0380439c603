"""Library roots: a path may be ingested by reference only if it lies inside a configured root."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ingest.errors import IngestError

__all__ = ["PathRefusedError", "resolve_library_path"]


class PathRefusedError(IngestError):
    """The path is outside every configured library root (or no root is configured)."""


def resolve_library_path(raw: str, roots: Sequence[Path]) -> Path:
    """The real path of ``raw`` if it is a file inside one of ``roots``; ``..`` and symlinks are resolved
    first, so neither can lead out of a root."""
    if not roots:
        raise PathRefusedError("path ingest is off: no library roots are configured (MOMENTS_LIBRARY_ROOTS)")
    if "\0" in raw:
        raise PathRefusedError("invalid path")
    candidate = Path(raw)
    real_roots = [r.expanduser().resolve() for r in roots]
    if not candidate.is_absolute():
        candidate = real_roots[0] / candidate
    real = candidate.resolve()
    if not any(real == root or root in real.parents for root in real_roots):
        raise PathRefusedError(f"{raw} is outside the library roots")
    if not real.is_file():
        raise PathRefusedError(f"{raw}: no such file in the library")
    return real
