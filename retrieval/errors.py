"""Errors raised by retrieval.

::

    RetrievalError
    ├── EmbeddingModelError   the embedding model cannot be found or loaded
    ├── IndexAccessError      the index cannot serve the request
    │   ├── IndexUnavailableError  the Qdrant server cannot be reached
    │   ├── IndexLockedError       another process owns the embedded index folder
    │   └── IndexMismatchError     the collection was built with another embedding model or size
    └── QueryError            the query cannot be run (empty, unknown mode ...)
"""

from __future__ import annotations

__all__ = [
    "EmbeddingModelError",
    "IndexAccessError",
    "IndexLockedError",
    "IndexMismatchError",
    "IndexUnavailableError",
    "QueryError",
    "RetrievalError",
]


class RetrievalError(Exception):
    """Base class for every error retrieval raises on purpose."""


class EmbeddingModelError(RetrievalError):
    """The embedding model cannot be found or loaded."""


class IndexAccessError(RetrievalError):
    """The passage index cannot serve the request."""


class IndexUnavailableError(IndexAccessError):
    """The Qdrant server cannot be reached."""


class IndexLockedError(IndexAccessError):
    """Another process owns the embedded index folder."""


class IndexMismatchError(IndexAccessError):
    """The collection was built with another embedding model or vector size."""


class QueryError(RetrievalError):
    """The query cannot be run."""
