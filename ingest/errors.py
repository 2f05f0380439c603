"""Errors raised by ingestion. Each says what is wrong and, where it can, what to do.

::

    IngestError
    ├── MediaError                 the input file cannot be ingested
    │   ├── UnsupportedMediaError  not an audio/video container we accept (text, playlist, image ...)
    │   ├── CorruptMediaError      a container we accept, but it cannot be decoded
    │   ├── EmptyMediaError        no audio stream, or no samples
    │   └── MediaTooLongError      longer than the configured duration cap
    ├── ModelError                 a model cannot be found or loaded
    ├── CatalogError               the catalog refuses an operation (unknown media id ...)
    └── WorkAbandonedError         another worker took the job over: stop, and touch nothing
"""

from __future__ import annotations

__all__ = [
    "CatalogError",
    "CorruptMediaError",
    "EmptyMediaError",
    "IngestError",
    "MediaError",
    "MediaTooLongError",
    "ModelError",
    "UnknownMediaError",
    "UnsupportedMediaError",
    "WorkAbandonedError",
]


class IngestError(Exception):
    """Base class for every error ingestion raises on purpose."""


class MediaError(IngestError):
    """The input file cannot be ingested."""


class UnsupportedMediaError(MediaError):
    """Not an audio or video container on the allowlist."""


class CorruptMediaError(MediaError):
    """An allowed container that cannot be decoded."""


class EmptyMediaError(MediaError):
    """No audio stream, or an audio stream without samples."""


class MediaTooLongError(MediaError):
    """Longer than the configured duration cap."""


class ModelError(IngestError):
    """A model cannot be found or loaded."""


class CatalogError(IngestError):
    """The catalog refuses an operation."""


class UnknownMediaError(CatalogError):
    """No media with that id."""


class WorkAbandonedError(IngestError):
    """This worker lost the job's lease; the new owner cleans up, so this one must not."""
