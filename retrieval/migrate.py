"""Moving an embedded library from qdrant-client's local mode to Qdrant Edge, once, without re-embedding.

The points (vectors and payload as they are) are copied into a new Edge folder beside the old one, named
``<new>.partial``; only when every point is there does the collection move into ``<new>``, with one
rename, and the old folder is then renamed ``<old>.moved`` (kept, so nothing is lost; delete it when you
like). An interruption at any moment
leaves the old folder as it was and the next start copies again from the beginning.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from retrieval.edge import EdgePassageIndex
from retrieval.index import IndexConfig, QdrantPassageIndex
from retrieval.points import StoredPoint

__all__ = ["MOVED_SUFFIX", "migrate_local_to_edge", "needs_migration"]

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
    finally:
        source.close()
    if on_progress is not None:
        on_progress(done, total)
    new.mkdir(parents=True, exist_ok=True)
    (partial / collection).rename(new / collection)  # one rename: the collection is there whole, or not at all
    shutil.rmtree(partial)
    old.rename(old.with_name(old.name + MOVED_SUFFIX))
    return done
