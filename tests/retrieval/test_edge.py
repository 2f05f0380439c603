"""Qdrant Edge as the embedded index: what survives a kill, a folder from another version, the one-time
move of an older library from qdrant-client's local mode (points copied as they are, nothing lost if it
is interrupted), and the one-time rewrite of an Edge folder with float32 vectors into compact ones."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from api.services import Services
from api.settings import Settings
from retrieval.edge import DENSE_STORAGE, EDGE_VERSION, EdgePassageIndex, payload_files, read_ahead
from retrieval.errors import IndexMismatchError
from retrieval.index import IndexConfig, QdrantPassageIndex
from retrieval.migrate import MOVED_SUFFIX, compact_edge_vectors, migrate_local_to_edge, needs_migration
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
        "from retrieval.edge import DENSE_STORAGE, EDGE_VERSION, EdgePassageIndex\n"
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


def test_writes_waiting_for_their_flush_are_found_at_once_and_survive_a_kill(tmp_path: Path) -> None:
    # Writes reach Edge's segment files at most once a second (a flush holds the GIL for tens of ms); until
    # then they are in its write-ahead log: searchable at once, and a killed process loses none of them.
    code = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "import retrieval.edge\n"
        "from retrieval.edge import EdgePassageIndex\n"
        "from retrieval.sparse import document_vector\n"
        "from retrieval.types import SearchFilters\n"
        "from tests.retrieval.test_edge import _fill, _passages\n"
        "retrieval.edge.FLUSH_EVERY_S = 1e9  # never due: only the log holds them\n"
        f"index = EdgePassageIndex(Path({str(tmp_path)!r}))\n"
        "_fill(index, _passages(150))\n"
        "hits = index.search('keyword', None, document_vector('number 137'), SearchFilters(), 1)\n"
        "print(hits[0].passage.index, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == -9, proc.stderr
    assert proc.stdout.split() == ["137"]
    index = EdgePassageIndex(tmp_path)
    assert index.count() == 150 and index.count("m1") == 50
    index.flush()
    index.close()


def _resident(files: list[Path]) -> int:
    """Bytes of ``files`` in the page cache (util-linux ``fincore``)."""
    fincore = shutil.which("fincore")
    assert fincore, "fincore (util-linux) is needed to see the page cache"
    out = subprocess.run(
        [fincore, "-b", "-n", "-o", "RES", *map(str, files)], capture_output=True, text=True, check=True
    )
    return sum(int(x) for x in out.stdout.split())


def test_a_reopened_folder_has_its_payload_in_memory_before_the_first_search(tmp_path: Path) -> None:
    # Edge drops its payload pages from the page cache when it closes: after a restart, every passage a
    # search returned was first read from disk (8.5 ms for 50 instead of 1.1). Opening reads them ahead.
    index = EdgePassageIndex(tmp_path)
    _fill(index, _passages(300))
    index.close()
    index = EdgePassageIndex(tmp_path)
    assert index.read_ahead is not None
    index.read_ahead.join(30)
    files = payload_files(tmp_path / "moments")
    assert sum(f.stat().st_size for f in files) > 1 << 20
    assert _resident(files) >= sum(f.stat().st_size for f in files)
    hits = index.search("keyword", None, document_vector("number 7"), SearchFilters(), 1)
    assert [h.passage.index for h in hits] == [7]
    index.close()


def test_read_ahead_keeps_to_its_budget_and_stops_at_a_file_gone(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"x" * (3 << 20))
    b.write_bytes(b"y" * (1 << 20))
    assert read_ahead([a, b]) == 4 << 20  # both, when the machine has the memory
    assert read_ahead([a, b], budget=2 << 20) == 2 << 20  # no further than the budget, in whole chunks
    assert read_ahead([b, tmp_path / "gone", a]) == 1 << 20  # the folder replaced meanwhile: it ends there
    closed = threading.Event()
    closed.set()
    assert read_ahead([a, b], stop=closed) == 0  # the index closed before it began


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


def _float32_folder(
    root: Path, n: int
) -> tuple[set[str], list[object], list[tuple[str, list[float], dict[str, object]]]]:
    """An Edge index as this product wrote it before compact vectors (float32, no ``dense_storage`` in the
    stamp), filled with ``n`` passages; returns its point ids, answers and points."""
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
    )

    config = EdgeConfig(
        vectors={"dense": EdgeVectorParams(size=DIM, distance=Distance.Cosine)},
        sparse_vectors={"sparse": EdgeSparseVectorParams(modifier=Modifier.Idf)},
        optimizers=EdgeOptimizersConfig(indexing_threshold=10**9),
    )
    shard = EdgeShard.create(str(root / "moments"), config)
    for field in ("media_id", "kind", "language", "speakers", "embed_model"):
        shard.update(UpdateOperation.create_field_index(field, PayloadSchemaType.Keyword))
    shard.close()
    (root / "moments" / "moments-index.json").write_text(json.dumps({"edge_version": EDGE_VERSION, "dimension": DIM}))
    index = EdgePassageIndex(root)
    assert index.dense_storage == "float32"
    _fill(index, _passages(n))
    found = index.point_ids(), _answers(index), _points(index)
    index.close()
    return found


def _points(index: EdgePassageIndex) -> list[tuple[str, list[float], dict[str, object]]]:
    return [(p.id, p.dense, p.payload) for p in sorted(index.scroll(), key=lambda p: p.id)]


def _same_points(
    a: list[tuple[str, list[float], dict[str, object]]], b: list[tuple[str, list[float], dict[str, object]]]
) -> bool:
    """The same ids and payloads, and vectors equal within the compact storage's precision."""
    return [(i, pl) for i, _, pl in a] == [(i, pl) for i, _, pl in b] and bool(
        np.allclose(np.array([d for _, d, _ in a]), np.array([d for _, d, _ in b]), atol=1e-4)
    )


def test_a_float32_folder_is_rewritten_compact_with_the_same_points_and_answers(tmp_path: Path) -> None:
    root = tmp_path / "index"
    ids, answers, points = _float32_folder(root, 300)
    index = EdgePassageIndex(root)
    seen: list[tuple[int, int]] = []
    assert compact_edge_vectors(index, lambda done, total: seen.append((done, total))) == 300
    assert seen[-1] == (300, 300) and len(seen) >= 2  # progress as it goes
    assert index.dense_storage == DENSE_STORAGE
    assert index.point_ids() == ids and _answers(index) == answers and _same_points(_points(index), points)
    assert compact_edge_vectors(index) == 0  # once
    index.close()
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == ["moments"]
    assert not (tmp_path / "index.partial").exists()


def test_an_interrupted_rewrite_loses_nothing_and_runs_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "index"
    ids, answers, _ = _float32_folder(root, 600)
    writes = []
    real_write = EdgePassageIndex.write

    def dies_on_the_second_batch(self: EdgePassageIndex, points: object) -> None:
        writes.append(1)
        if len(writes) == 2:
            raise KeyboardInterrupt
        real_write(self, points)  # type: ignore[arg-type]

    index = EdgePassageIndex(root)
    monkeypatch.setattr(EdgePassageIndex, "write", dies_on_the_second_batch)
    with pytest.raises(KeyboardInterrupt):
        compact_edge_vectors(index)
    monkeypatch.undo()
    assert index.dense_storage == "float32" and index.point_ids() == ids and _answers(index) == answers
    assert compact_edge_vectors(index) == 600
    assert index.point_ids() == ids
    index.close()


def test_a_rewrite_cut_off_between_its_renames_is_put_right_on_open(tmp_path: Path) -> None:
    root = tmp_path / "index"
    ids, answers, _ = _float32_folder(root, 50)
    (root / "moments").rename(root / "moments.replaced")  # the old folder moved aside, the copy not yet in
    index = EdgePassageIndex(root)
    assert index.point_ids() == ids and _answers(index) == answers and index.dense_storage == "float32"
    index.close()


def test_services_rewrite_a_float32_library_on_first_open(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    _float32_folder(settings.index_path, 40)
    progress: list[int] = []
    services = Services(settings, on_migration=lambda done, _total: progress.append(done))
    try:
        index = services.index
        assert isinstance(index, EdgePassageIndex) and index.count() == 40
        assert index.dense_storage == DENSE_STORAGE and progress[-1] == 40
    finally:
        services.close()
