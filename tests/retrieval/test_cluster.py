"""Qdrant's distributed mode: three peers on loopback, a collection with 2 shards and replication factor 2;
with one peer killed, search returns the same moments."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.qdrant_server import QdrantProcess, ensure_qdrant_binary
from retrieval.embedder import SentenceTransformerEmbedder
from retrieval.errors import RetrievalError
from retrieval.index import IndexConfig, QdrantPassageIndex
from retrieval.search import Searcher
from retrieval.sparse import document_vector
from tests.conftest import CACHE
from tests.retrieval.test_index import QUERIES, TEXTS, make_passage

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[QdrantProcess]]:
    binary = ensure_qdrant_binary(CACHE)
    first = QdrantProcess(binary, tmp_path / "p0", cluster=True).start()
    peers = [first]
    try:
        for i in (1, 2):
            peers.append(QdrantProcess(binary, tmp_path / f"p{i}", cluster=True, bootstrap=first.p2p_uri).start())
        deadline = time.monotonic() + 60
        while True:
            with urllib.request.urlopen(f"{first.url}/cluster", timeout=5) as r:
                if len(json.loads(r.read())["result"]["peers"]) == 3:
                    break
            assert time.monotonic() < deadline, "the three peers did not form a cluster"
            time.sleep(0.3)
        yield peers
    finally:
        for p in peers:
            p.stop()


def _moments(searcher: Searcher) -> list[list[tuple[str, float]]]:
    out = []
    for q, mode in QUERIES:
        result = searcher.search(q, mode=mode)  # type: ignore[arg-type]
        out.append([(m.media_id, m.start) for m in result.moments])
    return out


def test_search_survives_losing_a_peer(cluster: list[QdrantProcess]) -> None:
    embedder = SentenceTransformerEmbedder()
    index = QdrantPassageIndex(
        IndexConfig(url=cluster[0].url, collection="moments", shard_number=2, replication_factor=2)
    )
    index.ensure_collection(embedder.dimension)
    for n, start in enumerate((0.0, 100.0, 200.0)):  # several passages per media, spread over the shards
        for media_id, sentences in TEXTS.items():
            words = ["first", "second", "third"][n]
            said = [f"This is the {words} part about {media_id}.", *sentences]
            p = make_passage(media_id, "video", said, start=start)
            p = type(p)(**{**p.__dict__, "index": int(start // 100)})
            index.upsert([p], embedder.embed_documents([p.text]), [document_vector(p.text)], embedder.model_id)
    with urllib.request.urlopen(f"{cluster[0].url}/collections/moments/cluster", timeout=5) as r:
        info = json.loads(r.read())["result"]
    shards = info["local_shards"] + info["remote_shards"]
    assert {s["shard_id"] for s in shards} == {0, 1} and len(shards) == 4  # 2 shards x 2 replicas
    searcher = Searcher(embedder, index)
    before = _moments(searcher)
    assert all(before)
    assert index.count() == 9

    cluster[2].kill()
    deadline = time.monotonic() + 60
    while True:
        try:
            after = _moments(searcher)
            break
        except RetrievalError:  # the first requests may time out on the dead replica
            assert time.monotonic() < deadline
            time.sleep(1)
    assert after == before
    assert index.count() == 9
    index.close()
