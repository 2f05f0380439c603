"""The embedded index: Qdrant's own engine in-process (Qdrant Edge, ``qdrant-edge-py``), one folder.

The same points, payload and queries as on a Qdrant server (:mod:`retrieval.points`), so search gives the
same moments in the same order; sparse scoring and fusion run in Qdrant's Rust code instead of
qdrant-client's pure-Python local mode (milliseconds at 100k passages instead of a second).

What this adapter handles on purpose (see ``shared/OFFLINE.md``, "Qdrant Edge"):

- Search stays exact: the shard is created with an indexing threshold no library reaches, so no HNSW graph
  is ever built. Edge has no background optimizer and holds the GIL while it builds one (seconds at 10k
  points, every other thread stalled); an exact scan of 100k 384-dimensional vectors costs milliseconds.
- Dense vectors are stored as 16-bit TurboQuant codes (``VectorStorageDatatype.Turbo16``: a fixed rotation,
  then 16 bits a dimension), not float32: the scan reads half the memory. At 100k MiniLM passages the
  nearest-50 scan took 7.5 ms instead of 15.8 (AMD EPYC, AVX2), the same 50 for all of 100 queries and the
  top 10 in the same order for 99, scores within 1e-4, vectors read back within 1e-5. Scalar int8
  quantization scanned in 5.7 ms, but Edge builds it only when ``optimize()`` rewrites a segment, which held
  the GIL for 5 s at 15k passages and 28 s at 96k. A folder written with float32 vectors (before this
  layout) is copied into the new one once, on first open (:func:`retrieval.migrate.compact_edge_vectors`).
- Durability: Edge keeps updates in a write-ahead log that survives a crash of the process, but reaches its
  segment files only at ``flush()``, which holds the GIL for 30-60 ms at 100k passages (a search waits that
  long). Writes are flushed at most once a second while they stream in, and always by :meth:`flush` (the
  ingestor calls it before a job is reported done, so a done job survives a power cut), by a delete and at
  close; a job killed half-way is cleaned up by its resumption (deterministic ids). An upsert is applied in
  steps of 16 points (4 ms each at 100k, against 12-20 ms for the ingest writer's 64), so a search waits
  for one step, not for the batch.
- Payload pages are read ahead when a folder opens: Edge keeps its payload in memory-mapped pages and drops
  them from the page cache when it closes, so after every restart each passage's first read was a disk
  read (two page faults, about 0.17 ms a passage: 8.5 ms for the 50 candidates of a search, against 1.1 ms
  once read; AMD EPYC, 10k passages). A background thread reads the payload files once (28 ms for 64 MB at
  10k passages; ``os`` reads release the GIL, so searches meanwhile do not wait), up to half the memory the
  machine has free; the kernel may evict them later like any cached file.
- One process per folder: a lock file is taken when the index is opened, so a second process gets the same
  clear "in use" error as with local mode (and the CLI goes through the running server).
- The folder format is not promised stable across Edge versions: the version that wrote a folder is
  recorded beside it; another version refuses it with a message that says how to rebuild
  (``moments reindex``: re-embedding from the catalog, no re-transcription).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import numpy as np

from retrieval.errors import IndexLockedError, IndexMismatchError, QueryError
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

__all__ = ["DENSE_STORAGE", "EDGE_VERSION", "EdgePassageIndex"]

EDGE_VERSION = "0.9.0"  # the qdrant-edge-py release this adapter was written and tested against
RRF_K = 2  # Qdrant's default rank constant, so fusion scores equal a server's
_STAMP = "moments-index.json"
_NEVER_INDEX = 10**9  # points before Edge would build an HNSW graph: never, search stays exact
DENSE_STORAGE = "turbo16"  # how dense vectors are stored (the stamp records it; older folders say nothing: float32)
_REPLACED = ".replaced"  # a collection folder moved aside while its compacted copy takes its place
FLUSH_EVERY_S = 1.0  # while writes stream in, the longest they wait in the write-ahead log for a flush
_WRITE_STEP = 16  # points applied under one lock (and one hold of the GIL): what a search may wait for
_READ_AHEAD_CHUNK = 1 << 20  # bytes a read-ahead read takes at a time


def _installed_version() -> str:
    try:
        return metadata.version("qdrant-edge-py")
    except metadata.PackageNotFoundError:
        return "unknown"


class EdgePassageIndex:
    """A passage collection in a Qdrant Edge shard under ``root/<collection>``."""

    def __init__(self, root: Path, collection: str = "moments") -> None:
        self.root = root
        self.collection = collection
        self.path = root / collection
        self._lock = threading.RLock()  # the bindings are not documented as thread-safe: one call at a time
        self._shard: Any = None
        self.read_ahead: threading.Thread | None = None  # the payload files' read-ahead of the last open
        self._closed = threading.Event()  # ends a read-ahead still running (a start-up probe opens and closes)
        self._unflushed_since: float | None = None  # monotonic time of the first write not flushed yet
        root.mkdir(parents=True, exist_ok=True)
        self._lock_file = self._take_folder_lock(root / f".{collection}.lock")
        self._finish_interrupted_replace()
        if (self.path / _STAMP).is_file():
            self._open()

    # opening -----------------------------------------------------------------------------------------
    def _take_folder_lock(self, path: Path) -> IO[str]:
        handle = path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise IndexLockedError(
                f"the embedded index at {self.path} is in use by another moments process "
                "(is `moments serve` running?). Stop it, or use a Qdrant server (MOMENTS_QDRANT_URL)."
            ) from None
        return handle

    def _finish_interrupted_replace(self) -> None:
        """A :meth:`replace_with` cut off between its two renames left the old collection aside and none in
        place: the old one goes back (its copy is made again)."""
        aside = self.path.with_name(self.path.name + _REPLACED)
        if aside.is_dir():
            if (self.path / _STAMP).is_file():
                shutil.rmtree(aside)  # the copy was in place: only the removal of the old one was left
            else:
                if self.path.exists():
                    shutil.rmtree(self.path)
                aside.rename(self.path)

    @property
    def dense_storage(self) -> str:
        """How this folder stores dense vectors: ``DENSE_STORAGE``, or "float32" for a folder made before it."""
        if not (self.path / _STAMP).is_file():
            return DENSE_STORAGE
        return str(self._stamp().get("dense_storage", "float32"))

    def replace_with(self, other: Path) -> None:
        """Put the collection folder ``other`` (a complete copy, closed) in place of this one, keeping the
        folder's lock all along; an interruption is finished by the next open (``_finish_interrupted_replace``)."""
        aside = self.path.with_name(self.path.name + _REPLACED)
        with self._lock:
            if self._shard is not None:
                self._shard.close()  # what it holds is being replaced: nothing to flush
                self._shard = None
            self._unflushed_since = None
            self.path.rename(aside)
            other.rename(self.path)  # from here the copy is the collection
            shutil.rmtree(aside)
            self._open()

    def _stamp(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.path / _STAMP).read_text())
        return data

    def _open(self) -> None:
        from qdrant_edge import EdgeShard

        written_by = str(self._stamp().get("edge_version"))
        if written_by != _installed_version():
            raise IndexMismatchError(
                f"the embedded index at {self.path} was written by qdrant-edge {written_by}, and this is "
                f"{_installed_version()}; run `moments reindex` to rebuild it from the catalog "
                "(no re-transcription)"
            )
        try:
            self._shard = EdgeShard.load(str(self.path))
        except Exception as exc:  # the bindings raise plain Exceptions
            if "WouldBlock" in str(exc):
                raise IndexLockedError(f"the embedded index at {self.path} is in use by another process") from exc
            raise IndexMismatchError(
                f"the embedded index at {self.path} cannot be opened ({exc}); run `moments reindex` to rebuild "
                "it from the catalog"
            ) from exc
        self.read_ahead = threading.Thread(
            target=read_ahead,
            args=(payload_files(self.path),),
            kwargs={"stop": self._closed},
            name="edge-read-ahead",
            daemon=True,
        )
        self.read_ahead.start()

    def _create(self, dimension: int) -> None:
        from qdrant_edge import (
            Distance,
            EdgeConfig,
            EdgeOptimizersConfig,
            EdgeShard,
            EdgeSparseVectorParams,
            EdgeVectorParams,
            Modifier,
            PayloadSchemaType,
            UpdateOperation,
            VectorStorageDatatype,
        )

        if self.path.exists():
            shutil.rmtree(self.path)  # an earlier creation that did not finish (no stamp)
        config = EdgeConfig(
            vectors={
                DENSE: EdgeVectorParams(
                    size=dimension, distance=Distance.Cosine, datatype=VectorStorageDatatype.Turbo16
                )
            },
            sparse_vectors={SPARSE: EdgeSparseVectorParams(modifier=Modifier.Idf)},
            optimizers=EdgeOptimizersConfig(indexing_threshold=_NEVER_INDEX),
        )
        shard = EdgeShard.create(str(self.path), config)
        for field in (*FILTER_FIELDS, SPEAKERS, "embed_model"):
            shard.update(UpdateOperation.create_field_index(field, PayloadSchemaType.Keyword))
        shard.flush()
        # The stamp comes last: a folder without it is an unfinished creation, removed on the next try.
        stamp = {"edge_version": _installed_version(), "dimension": dimension, "dense_storage": DENSE_STORAGE}
        (self.path / _STAMP).write_text(json.dumps(stamp))
        self._shard = shard

    # the PassageIndex protocol -------------------------------------------------------------------------
    def check(self) -> None:
        """Nothing to reach: the folder's lock was taken when this object was made."""

    def ensure_collection(self, dimension: int) -> None:
        with self._lock:
            if self._shard is None:
                self._create(dimension)
                return
            size = self._stamp().get("dimension")
            if size != dimension:
                raise IndexMismatchError(
                    f"the index holds {size}-dimensional vectors but the embedding model makes {dimension}; "
                    "run `moments reindex` after changing MOMENTS_EMBEDDING_MODEL"
                )

    def upsert(
        self, passages: Sequence[Passage], dense: np.ndarray, sparse: Sequence[SparseVector], embed_model: str
    ) -> None:
        self.write(
            StoredPoint(
                point_id(p.media_id, p.index),
                [float(x) for x in dense[i]],
                (list(sparse[i].indices), list(sparse[i].values)),
                payload_of(p, embed_model),
            )
            for i, p in enumerate(passages)
        )

    def write(self, points: Iterable[StoredPoint]) -> None:
        """Upsert points as they are stored (also the migration's way in), flushed before returning."""
        from qdrant_edge import Point, UpdateOperation
        from qdrant_edge import SparseVector as EdgeSparse

        batch = [
            Point(
                id=p.id,
                vector={DENSE: p.dense, SPARSE: EdgeSparse(indices=p.sparse[0], values=p.sparse[1])},
                payload=p.payload,
            )
            for p in points
        ]
        for i in range(0, len(batch), _WRITE_STEP):
            with self._lock:
                self._require_shard().update(UpdateOperation.upsert_points(batch[i : i + _WRITE_STEP]))
                if self._unflushed_since is None:
                    self._unflushed_since = time.monotonic()
        if self._unflushed_since is not None and time.monotonic() - self._unflushed_since >= FLUSH_EVERY_S:
            self.flush()

    def flush(self) -> None:
        """Every write so far into the segment files (on disk past a power cut, not only in the log)."""
        with self._lock:
            if self._shard is not None and self._unflushed_since is not None:
                self._shard.flush()
            self._unflushed_since = None

    def delete_media(self, media_id: str) -> None:
        from qdrant_edge import UpdateOperation

        with self._lock:
            if self._shard is None:
                return
            self._shard.update(UpdateOperation.delete_points_by_filter(self._filter(SearchFilters(media_id=media_id))))
            self._shard.flush()
            self._unflushed_since = None

    def drop(self) -> None:
        """Remove every point (the folder goes; the next ``ensure_collection`` creates it again)."""
        with self._lock:
            if self._shard is not None:
                self._shard.close()
                self._shard = None
            self._unflushed_since = None
            if self.path.exists():
                shutil.rmtree(self.path)

    def count(self, media_id: str | None = None) -> int:
        from qdrant_edge import CountRequest

        with self._lock:
            if self._shard is None:
                return 0
            flt = self._filter(SearchFilters(media_id=media_id)) if media_id else None
            return int(self._shard.count(CountRequest(exact=True, filter=flt)))

    def count_other_models(self, embed_model: str) -> int:
        from qdrant_edge import CountRequest, FieldCondition, Filter, MatchValue

        with self._lock:
            if self._shard is None:
                return 0
            flt = Filter(must_not=[FieldCondition(key="embed_model", match=MatchValue(value=embed_model))])
            return int(self._shard.count(CountRequest(exact=True, filter=flt)))

    def point_ids(self, media_id: str | None = None) -> set[str]:
        """Every point id (of one media item), for consistency checks."""
        return {p.id for p in self.scroll(media_id=media_id, with_vectors=False)}

    def scroll(
        self, *, media_id: str | None = None, with_vectors: bool = True, batch: int = 256
    ) -> Iterator[StoredPoint]:
        from qdrant_edge import ScrollRequest

        flt = self._filter(SearchFilters(media_id=media_id)) if media_id else None
        offset: Any = None
        while True:
            with self._lock:
                if self._shard is None:
                    return
                records, offset = self._shard.scroll(
                    ScrollRequest(offset=offset, limit=batch, filter=flt, with_payload=True, with_vector=with_vectors)
                )
            for r in records:
                yield _stored(r, with_vectors)
            if offset is None:
                return

    @staticmethod
    def _filter(filters: SearchFilters) -> Any:
        from qdrant_edge import FieldCondition, Filter, MatchAny, MatchValue

        must: list[Any] = [
            FieldCondition(key=field, match=MatchValue(value=value))
            for field in FILTER_FIELDS
            if (value := getattr(filters, field))
        ]
        if filters.speakers:
            must.append(FieldCondition(key=SPEAKERS, match=MatchAny(any=list(filters.speakers))))
        return Filter(must=must) if must else None

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
        from qdrant_edge import Fusion, PayloadSelector, Prefetch, Query, QueryRequest
        from qdrant_edge import SparseVector as EdgeSparse

        flt = self._filter(filters)
        payload: Any = PayloadSelector.Exclude(list(DETAIL_FIELDS)) if light else True
        sparse_q = EdgeSparse(indices=list(sparse.indices), values=list(sparse.values)) if sparse else None
        if mode == "semantic" or (mode == "hybrid" and sparse_q is None):
            if dense is None:
                raise QueryError("semantic search needs a query vector")
            request = QueryRequest(
                query=Query.Nearest(dense.tolist(), using=DENSE), filter=flt, limit=limit, with_payload=payload
            )
        elif mode == "keyword":
            if sparse_q is None:
                return []
            request = QueryRequest(
                query=Query.Nearest(sparse_q, using=SPARSE), filter=flt, limit=limit, with_payload=payload
            )
        else:
            if dense is None or sparse_q is None:
                raise QueryError("hybrid search needs a query vector")
            fusion: Any = Fusion.Rrf(k=RRF_K)  # the stub types the nested class apart from Fusion
            request = QueryRequest(
                prefetches=[
                    Prefetch(query=Query.Nearest(dense.tolist(), using=DENSE), filter=flt, limit=limit),
                    Prefetch(query=Query.Nearest(sparse_q, using=SPARSE), filter=flt, limit=limit),
                ],
                query=fusion,
                limit=limit,
                with_payload=payload,
            )
        with self._lock:
            if self._shard is None:
                return []
            points = self._shard.query(request)
        return [Hit(passage=passage_of(p.payload or {}), score=float(p.score)) for p in points]

    def with_details(self, passages: Sequence[Passage]) -> list[Passage]:
        """``passages`` read by a ``light`` search, with their segment vectors and word times (one lookup by
        id); a passage deleted in between stays as it was."""
        from qdrant_edge import PayloadSelector

        if not passages:
            return []
        ids = [point_id(p.media_id, p.index) for p in passages]
        fields = PayloadSelector.Include(["media_id", "index", *DETAIL_FIELDS])
        with self._lock:
            records = [] if self._shard is None else self._shard.retrieve(ids, with_payload=fields, with_vector=False)
        return with_details(passages, [r.payload for r in records if r.payload])

    def says(self, words: Sequence[SparseVector], filters: SearchFilters) -> list[bool]:
        from qdrant_edge import Query, QueryBatchRequest, QueryRequest
        from qdrant_edge import SparseVector as EdgeSparse

        flt = self._filter(filters)
        requests = [
            QueryRequest(
                query=Query.Nearest(EdgeSparse(indices=list(w.indices), values=list(w.values)), using=SPARSE),
                filter=flt,
                limit=1,
                with_payload=False,
            )
            for w in words
        ]
        with self._lock:
            if self._shard is None or not requests:
                return [False] * len(words)
            answers = self._shard.query_batch(QueryBatchRequest(requests))
        return [bool(a) for a in answers]

    def _require_shard(self) -> Any:
        if self._shard is None:
            raise RuntimeError("the index has no collection yet; call ensure_collection first")  # a programming error
        return self._shard

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            if self._shard is not None:
                self.flush()
                self._shard.close()
                self._shard = None
            if not self._lock_file.closed:  # closing twice is harmless
                with contextlib.suppress(OSError):
                    fcntl.flock(self._lock_file, fcntl.LOCK_UN)
                self._lock_file.close()


def payload_files(collection: Path) -> list[Path]:
    """The files of a shard's payload storage, one set per segment: what a search reads from disk."""
    return sorted(f for f in collection.glob("segments/*/payload_storage/*") if f.is_file())


def _free_memory() -> int:
    """Bytes of memory the kernel says are available (MemAvailable), or 0 where it does not say."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def read_ahead(files: Sequence[Path], budget: int | None = None, stop: threading.Event | None = None) -> int:
    """Read ``files`` once, in order, so their pages are in the page cache before a search maps them; at
    most ``budget`` bytes (half the available memory by default), ending early once ``stop`` is set (the
    index closed). Returns the bytes read. A file that goes away meanwhile (the folder replaced or dropped)
    ends it quietly."""
    left = _free_memory() // 2 if budget is None else budget
    done = 0
    buffer = bytearray(_READ_AHEAD_CHUNK)
    for file in files:
        try:
            with file.open("rb", buffering=0) as handle:
                while left > 0 and not (stop is not None and stop.is_set()) and (n := handle.readinto(buffer)):
                    done += n
                    left -= n
        except OSError:
            return done
        if left <= 0:
            break
    return done


def _stored(record: Any, with_vectors: bool) -> StoredPoint:
    dense: list[float] = []
    sparse: tuple[list[int], list[float]] = ([], [])
    if with_vectors and record.vector:
        vectors = record.vector
        dense = [float(x) for x in vectors[DENSE]]
        sv = vectors.get(SPARSE)
        if sv is not None:
            sparse = (list(sv.indices), list(sv.values))
    return StoredPoint(str(record.id), dense, sparse, dict(record.payload or {}))
