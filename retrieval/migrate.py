"""Moving an embedded library to the current layout, once, without re-embedding: from qdrant-client's local
mode to Qdrant Edge, and an Edge folder with float32 vectors to the compact storage of
``retrieval.edge.DENSE_STORAGE`` (half the memory read by each search).

The points (vectors and payload as they are) are copied into a new Edge folder beside the old one, named
``<new>.partial``; only when every point is there does the collection move into ``<new>``, with one
rename, and the old folder is then renamed ``<old>.moved`` (kept, so nothing is lost; delete it when you
like). An interruption at any moment
leaves the old folder as it was and the next start copies again from the beginning.

The compaction copies the points into ``<root>.partial`` the same way and then swaps the collection folders
while holding the index's lock (:meth:`EdgePassageIndex.replace_with`); the float32 copy is removed once
the new one is in place, and an interruption between the two renames is put right on the next open.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from retrieval.edge import DENSE_STORAGE, EdgePassageIndex
from retrieval.index import IndexConfig, QdrantPassageIndex
from retrieval.points import StoredPoint

__all__ = ["MOVED_SUFFIX", "compact_edge_vectors", "migrate_local_to_edge", "needs_migration"]

MOVED_SUFFIX = ".moved"
ProgressFn = Callable[[int, int], None]


def needs_migration(old: Path, new: Path, collection: str) -> bool:
    """An old local-mode folder holds the collection and no Edge index has been made from it yet."""
    return (old / "collection" / collection).is_dir() and not (new / collection).is_dir()


def migrate_local_to_edge(old: Path, new: Path, collection: str, on_progress: ProgressFn | None = None) -> int:
    """Copy every point of ``collection`` from the local-mode folder ``old`` into an Edge index at ``new``.
    Returns the number of points copied."""
    partial = new.with_name(new.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)  # what an interrupted earlier attempt left
    source = QdrantPassageIndex(IndexConfig(path=old, collection=collection, engine="local"))
    try:
        done = _copy_points(source, partial, collection, on_progress)
    finally:
        source.close()
    new.mkdir(parents=True, exist_ok=True)
    (partial / collection).rename(new / collection)  # one rename: the collection is there whole, or not at all
    shutil.rmtree(partial)
    old.rename(old.with_name(old.name + MOVED_SUFFIX))
    return done


def _copy_points(
    source: QdrantPassageIndex | EdgePassageIndex, partial: Path, collection: str, on_progress: ProgressFn | None
) -> int:
    """Every point of ``source`` written as it is into a new Edge collection under ``partial`` (closed when
    this returns); raises, leaving the source as it was, if the copy does not hold them all."""
    total = source.count()
    target = EdgePassageIndex(partial, collection)
    try:
        done = 0
        batch: list[StoredPoint] = []
        for point in source.scroll():
            if not batch and done == 0:
                target.ensure_collection(len(point.dense))
            batch.append(point)
            if len(batch) >= 256:
                target.write(batch)
                done += len(batch)
                batch = []
                if on_progress is not None:
                    on_progress(done, total)
        target.write(batch)
        done += len(batch)
        if target.count() != total:
            raise RuntimeError(f"copied {target.count()} of {total} points; the old index is left as it was")
    finally:
        target.close()
    if on_progress is not None:
        on_progress(done, total)
    return done


def compact_edge_vectors(index: EdgePassageIndex, on_progress: ProgressFn | None = None) -> int:
    """Rewrite an open Edge index whose dense vectors are stored as float32 into ``DENSE_STORAGE`` (the same
    points, payload and ids); returns the number of points copied, 0 when there was nothing to do."""
    if index.dense_storage == DENSE_STORAGE:
        return 0
    if index.count() == 0:
        index.drop()  # nothing to copy: the next ensure_collection makes the new layout
        return 0
    partial = index.root.with_name(index.root.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)  # what an interrupted earlier attempt left
    done = _copy_points(index, partial, index.collection, on_progress)
    index.replace_with(partial / index.collection)
    shutil.rmtree(partial)
    return done
