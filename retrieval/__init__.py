"""Retrieval: embedding, the Qdrant passage index, hybrid search and ranking into moments.

Importing this package is cheap: torch, sentence-transformers and qdrant-client load inside the adapters
on first use.
"""

from retrieval.errors import RetrievalError
from retrieval.types import Hit, Moment, Passage, SearchFilters, SearchMode

__all__ = ["Hit", "Moment", "Passage", "RetrievalError", "SearchFilters", "SearchMode"]
