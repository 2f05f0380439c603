"""The Qdrant adapter: one collection of passages with a named dense and a named sparse vector.

The same code serves qdrant-client's embedded local mode (a folder under the data directory) and a
Qdrant server. Point ids are deterministic (uuid5 of media id, pipeline version, passage index), so a
re-run or a resumed job overwrites instead of duplicating.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from retrieval.errors import IndexLockedError, IndexMismatchError, IndexUnavailableError, QueryError
from retrieval.points import (
    DENSE,
    DETAIL_FIELDS,
    FILTER_FIELDS,
    SPARSE,
    SPEAKERS,
    StoredPoint,
    passage_of,
    payload_of,
    point_id,
    with_details,
)
from retrieval.sparse import SparseVector
from retrieval.types import Hit, Passage, SearchFilters, SearchMode

__all__ = ["IndexConfig", "PassageIndex", "QdrantPassageIndex", "open_index", "point_id", "require_single_model"]


@dataclass(frozen=True)
class IndexConfig:
    path: Path | None = None  # embedded: a folder
    url: str | None = None  # server mode
    # embedded engine: "edge" (Qdrant Edge, the default) or "local" (qdrant-client's local mode: older
    # libraries, read once to move them to Edge, and the comparison in bench/search_latency)
    engine: Literal["edge", "local"] = "edge"
    api_key: str | None = None
    collection: str = "moments"
    shard_number: int = 1
    replication_factor: int = 1
    on_disk: bool = False
    timeout_s: float = 10.0
    connect_retries: int = 4  # first contact with a server: tries before giving up (backoff 0.5 s, doubling)


class PassageIndex(Protocol):
    def ensure_collection(self, dimension: int) -> None: ...

    def upsert(
        self, passages: Sequence[Passage], dense: np.ndarray, sparse: Sequence[SparseVector], embed_model: str
    ) -> None: ...

    def delete_media(self, media_id: str) -> None: ...

    def flush(self) -> None:
        """Make every write so far durable, on disk past a power cut (before a job is reported done)."""
        ...

    def drop(self) -> None: ...

    def count_other_models(self, embed_model: str) -> int: ...

    def count(self, media_id: str | None = None) -> int: ...

    def search(
        self,
        mode: SearchMode,
        dense: np.ndarray | None,
        sparse: SparseVector | None,
        filters: SearchFilters,
        limit: int,
        *,
        light: bool = False,
    ) -> list[Hit]:
        """The best ``limit`` passages; ``light``: without ``points.DETAIL_FIELDS`` (segment vectors, word
        times), which :meth:`with_details` then reads for the few that are scored closely."""
        ...

    def with_details(self, passages: Sequence[Passage]) -> list[Passage]: ...

    def says(self, words: Sequence[SparseVector], filters: SearchFilters) -> list[bool]:
        """For each word's keyword vector: whether any passage within ``filters`` has one of its terms (one
        batched request, no payload)."""
        ...

    def check(self) -> None: ...

    def point_ids(self, media_id: str | None = None) -> set[str]: ...

    def scroll(self, *, media_id: str | None = None, with_vectors: bool = True) -> Iterator[StoredPoint]: ...

    def close(self) -> None: ...


def open_index(config: IndexConfig) -> PassageIndex:
    """The index a configuration names: a Qdrant server, Qdrant Edge in a folder, or local mode."""
    if config.url is None and config.engine == "edge":
        from retrieval.edge import EdgePassageIndex

        if config.path is None:
            raise ValueError("IndexConfig needs a path (embedded) or a url (server)")
        return EdgePassageIndex(config.path, config.collection)
    return QdrantPassageIndex(config)


class QdrantPassageIndex:
    """A passage collection in Qdrant (embedded folder or server)."""

    def __init__(self, config: IndexConfig) -> None:
        from qdrant_client import QdrantClient

        self.config = config
        self._server = config.url is not None
        self._connected = False
        try:
            if config.url:
                self._client = QdrantClient(url=config.url, api_key=config.api_key, timeout=int(config.timeout_s))
            else:
                if config.path is None:
                    raise ValueError("IndexConfig needs a path (embedded) or a url (server)")
                config.path.mkdir(parents=True, exist_ok=True)
                self._client = QdrantClient(path=str(config.path))
        except RuntimeError as exc:
            if "already accessed" in str(exc):
                raise IndexLockedError(
                    f"the embedded index at {config.path} is in use by another moments process "
                    "(is `moments serve` running?). Stop it, or use a Qdrant server (MOMENTS_QDRANT_URL)."
                ) from exc
            raise

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        attempts = 1 if self._connected or not self._server else max(1, self.config.connect_retries)
        delay = 0.5
        for attempt in range(attempts):
            try:
                result = fn(*args, **kwargs)
                self._connected = True
                return result
            except Exception as exc:
                name = type(exc).__name__
                if self._server and not self._connected and name in {"UnexpectedResponse", "ResponseHandlingException"}:
                    self._refuse_if_not_qdrant(exc)
                unreachable = name in {"ResponseHandlingException", "ConnectError", "ConnectTimeout", "RpcError"}
                if not (unreachable or isinstance(exc, ConnectionError)):
                    raise
                if attempt + 1 >= attempts:
                    raise IndexUnavailableError(
                        f"Qdrant at {self.config.url} is unreachable ({exc}); is the server running? "
                        "(MOMENTS_QDRANT_URL)"
                    ) from exc
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def _refuse_if_not_qdrant(self, exc: Exception) -> None:
        """A first answer Qdrant's client cannot read: if the server is not Qdrant at all (any web server
        at MOMENTS_QDRANT_URL), say so instead of showing a decoding error."""
        import httpx

        try:
            root = httpx.get(str(self.config.url), timeout=self.config.timeout_s, trust_env=False)
            looks_like_qdrant = "qdrant" in str(root.json().get("title", "")).lower()
        except (httpx.HTTPError, ValueError, AttributeError):
            looks_like_qdrant = False
        if not looks_like_qdrant:
            answer = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            raise IndexUnavailableError(
                f"the server at {self.config.url} is not a Qdrant server (it answered {answer!r}); "
                "check MOMENTS_QDRANT_URL"
            ) from exc

    def ensure_collection(self, dimension: int) -> None:
        """Create the collection if it is missing, or check that the one there fits the embedder. Several
        workers may start at once against one server: of those that find no collection, one creates it and
        the others, refused, check the one it made."""
        from qdrant_client import models

        name = self.config.collection
        if self._call(self._client.collection_exists, name):
            self._check_dimension(dimension)
            return
        try:
            self._call(
                self._client.create_collection,
                name,
                vectors_config={
                    DENSE: models.VectorParams(
                        size=dimension, distance=models.Distance.COSINE, on_disk=self.config.on_disk or None
                    )
                },
                sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
                shard_number=self.config.shard_number if self._server else None,
                replication_factor=self.config.replication_factor if self._server else None,
                on_disk_payload=self.config.on_disk or None,
            )
        except IndexUnavailableError:
            raise
        except Exception:
            if not self._call(self._client.collection_exists, name):
                raise
            self._check_dimension(dimension)  # another worker made it a moment ago
        if self._server:
            for field in (*FILTER_FIELDS, SPEAKERS, "embed_model"):
                self._call(self._client.create_payload_index, name, field, field_schema="keyword")

    def _check_dimension(self, dimension: int) -> None:
        name = self.config.collection
        info = self._call(self._client.get_collection, name)
        vectors = info.config.params.vectors
        size = vectors[DENSE].size if isinstance(vectors, dict) and DENSE in vectors else None
        if size != dimension:
            raise IndexMismatchError(
                f"collection {name!r} holds {size}-dimensional vectors but the embedding model makes "
                f"{dimension}; run `moments reindex` after changing MOMENTS_EMBEDDING_MODEL"
            )

    def upsert(
        self, passages: Sequence[Passage], dense: np.ndarray, sparse: Sequence[SparseVector], embed_model: str
    ) -> None:
        from qdrant_client import models

        points = [
            models.PointStruct(
                id=point_id(p.media_id, p.index),
                vector={
                    DENSE: dense[i].tolist(),
                    SPARSE: models.SparseVector(indices=sparse[i].indices, values=sparse[i].values),
                },
                payload=payload_of(p, embed_model),
            )
            for i, p in enumerate(passages)
        ]
        for i in range(0, len(points), 128):
            self._call(self._client.upsert, self.config.collection, points=points[i : i + 128], wait=True)

    def _exists(self) -> bool:
        return bool(self._call(self._client.collection_exists, self.config.collection))

    def delete_media(self, media_id: str) -> None:
        from qdrant_client import models

        if not self._exists():
            return
        selector = models.FilterSelector(filter=self._filter(SearchFilters(media_id=media_id)))
        self._call(self._client.delete, self.config.collection, points_selector=selector, wait=True)

    def flush(self) -> None:
        """Nothing to do: a server has applied and logged each write before it answers (``wait=True``), and
        local mode stores each write as it is made."""

    def drop(self) -> None:
        if self._exists():
            self._call(self._client.delete_collection, self.config.collection)

    def check(self) -> None:
        """Raise IndexUnavailableError (server down) unless the index answers; the embedded folder's lock
        was taken when this object was made (IndexLockedError)."""
        self._exists()

    def count(self, media_id: str | None = None) -> int:
        if not self._exists():
            return 0
        flt = self._filter(SearchFilters(media_id=media_id)) if media_id else None
        return int(self._call(self._client.count, self.config.collection, count_filter=flt, exact=True).count)

    def count_other_models(self, embed_model: str) -> int:
        """Points embedded with any model but ``embed_model`` (mixing models would corrupt search)."""
        from qdrant_client import models

        if not self._exists():
            return 0
        flt = models.Filter(
            must_not=[models.FieldCondition(key="embed_model", match=models.MatchValue(value=embed_model))]
        )
        return int(self._call(self._client.count, self.config.collection, count_filter=flt, exact=True).count)

    def point_ids(self, media_id: str | None = None) -> set[str]:
        """Every point id (of one media item), for consistency checks."""
        return {p.id for p in self.scroll(media_id=media_id, with_vectors=False)}

    def scroll(self, *, media_id: str | None = None, with_vectors: bool = True) -> Iterator[StoredPoint]:
        """Every stored point (of one media item), in batches, vectors included unless asked not to."""
        if not self._exists():
            return
        flt = self._filter(SearchFilters(media_id=media_id)) if media_id else None
        offset = None
        while True:
            points, offset = self._call(
                self._client.scroll,
                self.config.collection,
                scroll_filter=flt,
                limit=256,
                offset=offset,
                with_payload=True,
                with_vectors=with_vectors,
            )
            for p in points:
                vectors: Any = p.vector or {}
                sparse = vectors.get(SPARSE)
                yield StoredPoint(
                    str(p.id),
                    [float(x) for x in vectors.get(DENSE, [])],
                    (list(sparse.indices), list(sparse.values)) if sparse is not None else ([], []),
                    dict(p.payload or {}),
                )
            if offset is None:
                return

    @staticmethod
    def _filter(filters: SearchFilters) -> Any:
        from qdrant_client import models

        must: list[Any] = []
        for field in FILTER_FIELDS:
            value = getattr(filters, field)
            if value:
                must.append(models.FieldCondition(key=field, match=models.MatchValue(value=value)))
        if filters.speakers:
            must.append(models.FieldCondition(key=SPEAKERS, match=models.MatchAny(any=list(filters.speakers))))
        return models.Filter(must=must) if must else None

    def search(
        self,
        mode: SearchMode,
        dense: np.ndarray | None,
        sparse: SparseVector | None,
        filters: SearchFilters,
        limit: int,
        *,
        light: bool = False,
    ) -> list[Hit]:
        from qdrant_client import models

        if not self._exists():
            return []
        flt = self._filter(filters)
        payload: Any = models.PayloadSelectorExclude(exclude=list(DETAIL_FIELDS)) if light else True
        sparse_q = models.SparseVector(indices=sparse.indices, values=sparse.values) if sparse else None
        name = self.config.collection
        if mode == "semantic" or (mode == "hybrid" and sparse_q is None):
            if dense is None:
                raise QueryError("semantic search needs a query vector")
            res = self._call(
                self._client.query_points,
                name,
                query=dense.tolist(),
                using=DENSE,
                query_filter=flt,
                limit=limit,
                with_payload=payload,
            )
        elif mode == "keyword":
            if sparse_q is None:
                return []
            res = self._call(
                self._client.query_points,
                name,
                query=sparse_q,
                using=SPARSE,
                query_filter=flt,
                limit=limit,
                with_payload=payload,
            )
        else:
            if dense is None:
                raise QueryError("hybrid search needs a query vector")
            res = self._call(
                self._client.query_points,
                name,
                prefetch=[
                    models.Prefetch(query=dense.tolist(), using=DENSE, filter=flt, limit=limit),
                    models.Prefetch(query=sparse_q, using=SPARSE, filter=flt, limit=limit),
                ],
                query=models.FusionQuery(fusion=models.Fusion.RRF),
                limit=limit,
                with_payload=payload,
            )
        return [Hit(passage=passage_of(p.payload or {}), score=float(p.score)) for p in res.points]

    def with_details(self, passages: Sequence[Passage]) -> list[Passage]:
        """``passages`` read by a ``light`` search, with their segment vectors and word times (one request by
        id); a passage deleted in between stays as it was."""
        from qdrant_client import models

        if not passages or not self._exists():
            return list(passages)
        records = self._call(
            self._client.retrieve,
            self.config.collection,
            ids=[point_id(p.media_id, p.index) for p in passages],
            with_payload=models.PayloadSelectorInclude(include=["media_id", "index", *DETAIL_FIELDS]),
            with_vectors=False,
        )
        return with_details(passages, [r.payload for r in records if r.payload])

    def says(self, words: Sequence[SparseVector], filters: SearchFilters) -> list[bool]:
        from qdrant_client import models

        if not words or not self._exists():
            return [False] * len(words)
        flt = self._filter(filters)
        requests = [
            models.QueryRequest(
                query=models.SparseVector(indices=w.indices, values=w.values),
                using=SPARSE,
                filter=flt,
                limit=1,
                with_payload=False,
            )
            for w in words
        ]
        answers = self._call(self._client.query_batch_points, self.config.collection, requests=requests)
        return [bool(a.points) for a in answers]

    def close(self) -> None:
        self._client.close()


def require_single_model(index: PassageIndex, embed_model: str) -> None:
    """Refuse to use an index that holds passages embedded with another model: mixing vectors of two
    models makes similarities meaningless. ``moments reindex`` re-embeds everything with one model."""
    others = index.count_other_models(embed_model)
    if others:
        raise IndexMismatchError(
            f"the index holds {others} passages embedded with another model than {embed_model!r}; "
            "run `moments reindex` to re-embed the library with the configured model"
        )
