"""Errors raised by retrieval.

::

    RetrievalError
    ├── EmbeddingModelError   the embedding model cannot be found or loaded
    ├── IndexError_           base for index problems
    │   ├── IndexUnavailableError  the Qdrant server cannot be reached
    │   ├── IndexLockedError       another process owns the embedded index folder
    │   └── IndexMismatchError     the collection was built with another embedding model or size
    └── QueryError            the query cannot be run (empty, unknown mode ...)
"""

from __future__ import annotations

__all__ = [
    "EmbeddingModelError",
    "IndexLockedError",
    "IndexMismatchError",
    "IndexProblem",
    "IndexUnavailableError",
    "QueryError",
    "RetrievalError",
]


class RetrievalError(Exception):
    """Base class for every error retrieval raises on purpose."""


class EmbeddingModelError(RetrievalError):
    """The embedding model cannot be found or loaded."""


class IndexProblem(RetrievalError):
    """The passage index cannot serve the request."""


class IndexUnavailableError(IndexProblem):
    """The Qdrant server cannot be reached."""


class IndexLockedError(IndexProblem):
    """Another process owns the embedded index folder."""


class IndexMismatchError(IndexProblem):
    """The collection was built with another embedding model or vector size."""


class QueryError(RetrievalError):
    """The query cannot be run."""
