"""Errors raised by ingestion. Each says what is wrong and, where it can, what to do.

::

    IngestError
    ├── MediaError                 the input file cannot be ingested
    │   ├── UnsupportedMediaError  not an audio/video container we accept (text, playlist, image ...)
    │   ├── CorruptMediaError      a container we accept, but it cannot be decoded
    │   ├── EmptyMediaError        no audio stream, or no samples
    │   └── MediaTooLongError      longer than the configured duration cap
    ├── SourceRefusedError         a source we will not read
    │   ├── PathRefusedError       a path outside every library root (or path ingest is off)
    │   └── UrlRefusedError        a URL we will not fetch (scheme, credentials, non-public address)
    ├── FetchError                 a URL that could not be fetched (network, HTTP status, size or time cap)
    ├── ModelError                 a model cannot be found or loaded
    ├── CatalogError               the catalog refuses an operation
    │   ├── UnknownMediaError      no media with that id
    │   ├── UnknownSpeakerError    a speaker label the media does not have
    │   ├── UnknownJobError        no job with that id
    │   └── JobFinishedError       the job has already ended (it cannot be canceled)
    ├── JobCanceledError           the job was canceled while it ran: stop, and remove what it wrote
    └── WorkAbandonedError         another worker took the job over: stop, and touch nothing

``api/errors.py`` maps every leaf to one HTTP status; a test keeps the two in step.
"""

from __future__ import annotations

__all__ = [
    "CatalogError",
    "CorruptMediaError",
    "EmptyMediaError",
    "FetchError",
    "IngestError",
    "JobCanceledError",
    "JobFinishedError",
    "MediaError",
    "MediaTooLongError",
    "ModelError",
    "PathRefusedError",
    "SourceRefusedError",
    "UnknownJobError",
    "UnknownMediaError",
    "UnknownSpeakerError",
    "UnsupportedMediaError",
    "UrlRefusedError",
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


class SourceRefusedError(IngestError):
    """A source (path or URL) that the library will not read."""


class PathRefusedError(SourceRefusedError):
    """The path is outside every configured library root (or no root is configured)."""


class UrlRefusedError(SourceRefusedError):
    """The URL may not be fetched (scheme, credentials, address, redirect)."""


class FetchError(IngestError):
    """The URL could not be fetched (network error, HTTP error, too large, too slow)."""


class ModelError(IngestError):
    """A model cannot be found or loaded."""


class CatalogError(IngestError):
    """The catalog refuses an operation."""


class UnknownMediaError(CatalogError):
    """No media with that id."""


class UnknownSpeakerError(CatalogError):
    """A speaker label that the media item does not have."""


class UnknownJobError(CatalogError):
    """No job with that id."""


class JobFinishedError(CatalogError):
    """The job has already ended."""


class JobCanceledError(IngestError):
    """The job was canceled while it ran."""


class WorkAbandonedError(IngestError):
    """This worker lost the job's lease; the new owner cleans up, so this one must not."""
