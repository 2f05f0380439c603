"""Qdrant Edge as the embedded index: what survives a kill, a folder from another version, and the one-time
move of an older library from qdrant-client's local mode (points copied as they are, nothing lost if it
is interrupted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from api.services import Services
from api.settings import Settings
from retrieval.edge import EdgePassageIndex
from retrieval.errors import IndexMismatchError
from retrieval.index import IndexConfig, QdrantPassageIndex
from retrieval.migrate import MOVED_SUFFIX, migrate_local_to_edge, needs_migration
from retrieval.sparse import document_vector
from retrieval.types import Passage, SearchFilters

DIM = 8


def _passages(n: int, media: int = 3) -> list[Passage]:
    return [
        Passage(
            media_id=f"m{i % media}",
            index=i,
            start_s=i * 10.0,
            end_s=i * 10.0 + 9.0,
            text=f"passage {i} about tides and the moon number {i}",
            segment_starts=(i * 10.0,),
            segment_ends=(i * 10.0 + 9.0,),
            segment_offsets=(0,),
            title="Tides",
            filename="tides.mp3",
            kind="audio",
            language="en",
            created_at=1.0,
            segment_vectors=np.ones((1, DIM), dtype=np.float32) / np.sqrt(DIM),
        )
        for i in range(n)
    ]


def _fill(index: EdgePassageIndex | QdrantPassageIndex, passages: list[Passage]) -> None:
    rng = np.random.default_rng(7)
    index.ensure_collection(DIM)
    dense = rng.normal(size=(len(passages), DIM)).astype(np.float32)
    dense /= np.linalg.norm(dense, axis=1, keepdims=True)
    for i in range(0, len(passages), 100):
        chunk = passages[i : i + 100]
        index.upsert(chunk, dense[i : i + 100], [document_vector(p.text) for p in chunk], "test-model")


def _answers(index: EdgePassageIndex | QdrantPassageIndex) -> list[object]:
    """Nearest neighbours in order; every keyword match with its score (ties may come in any order)."""
    rng = np.random.default_rng(3)
    out: list[object] = []
    for q in range(5):
        dense = rng.normal(size=DIM).astype(np.float32)
        dense /= np.linalg.norm(dense)
        hits = index.search("semantic", dense, None, SearchFilters(), 10)
        out.append([(h.passage.media_id, h.passage.index) for h in hits])
        hits = index.search("keyword", None, document_vector(f"number {q}"), SearchFilters(), 1000)
        out.append(sorted((round(h.score, 4), h.passage.index) for h in hits))
    return out


def test_what_an_upsert_returned_from_survives_a_kill(tmp_path: Path) -> None:
    code = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from retrieval.edge import EdgePassageIndex\n"
        "from tests.retrieval.test_edge import _fill, _passages\n"
        f"index = EdgePassageIndex(Path({str(tmp_path)!r}))\n"
        "_fill(index, _passages(150))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == -9, proc.stderr
    index = EdgePassageIndex(tmp_path)  # the killed process's lock went with it
    assert index.count() == 150 and index.count("m1") == 50
    index.close()


def test_a_folder_from_another_edge_version_says_how_to_rebuild(tmp_path: Path) -> None:
    index = EdgePassageIndex(tmp_path)
    _fill(index, _passages(10))
    index.close()
    stamp = tmp_path / "moments" / "moments-index.json"
    stamp.write_text(json.dumps({**json.loads(stamp.read_text()), "edge_version": "0.1.0"}))
    with pytest.raises(IndexMismatchError, match=r"written by qdrant-edge 0\.1\.0.*moments reindex"):
        EdgePassageIndex(tmp_path)


def test_an_older_library_moves_to_edge_with_the_same_points_and_answers(tmp_path: Path) -> None:
    old, new = tmp_path / "qdrant", tmp_path / "index"
    local = QdrantPassageIndex(IndexConfig(path=old, engine="local"))
    _fill(local, _passages(300))
    before_ids, before_answers = local.point_ids(), _answers(local)
    local.close()
    assert needs_migration(old, new, "moments")
    seen: list[tuple[int, int]] = []
    assert migrate_local_to_edge(old, new, "moments", lambda done, total: seen.append((done, total))) == 300
    assert seen[-1] == (300, 300) and len(seen) >= 2  # progress as it goes
    assert not old.exists() and (tmp_path / f"qdrant{MOVED_SUFFIX}").is_dir()  # kept, renamed
    assert not needs_migration(old, new, "moments")
    edge = EdgePassageIndex(new)
    assert edge.point_ids() == before_ids
    assert _answers(edge) == before_answers
    edge.close()


def test_an_interrupted_move_loses_nothing_and_runs_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = tmp_path / "qdrant", tmp_path / "index"
    local = QdrantPassageIndex(IndexConfig(path=old, engine="local"))
    _fill(local, _passages(600))
    local.close()
    writes = []
    real_write = EdgePassageIndex.write

    def dies_on_the_second_batch(self: EdgePassageIndex, points: object) -> None:
        writes.append(1)
        if len(writes) == 2:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C half-way
        real_write(self, points)  # type: ignore[arg-type]

    monkeypatch.setattr(EdgePassageIndex, "write", dies_on_the_second_batch)
    with pytest.raises(KeyboardInterrupt):
        migrate_local_to_edge(old, new, "moments")
    monkeypatch.undo()
    assert (old / "collection" / "moments").is_dir() and not (new / "moments").exists()
    assert migrate_local_to_edge(old, new, "moments") == 600


def test_services_move_an_older_library_on_first_open(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    local = QdrantPassageIndex(IndexConfig(path=settings.legacy_index_path, engine="local"))
    _fill(local, _passages(40))
    local.close()
    progress: list[int] = []
    services = Services(settings, on_migration=lambda done, _total: progress.append(done))
    try:
        assert isinstance(services.index, EdgePassageIndex) and services.index.count() == 40
        assert progress[-1] == 40
    finally:
        services.close()
