"""Search latency at 10k passages on the embedded store: the Python search call and /api/search over HTTP.

The library is synthetic but real text: sentences from the docstrings of Python's standard library are
grouped into passages of 4-6 "segments" with times. Sentence vectors come from the real MiniLM model; a
passage's dense vector is the normalised mean of its sentences' vectors (embedding 10k passages as well
would add minutes and change nothing about search latency). Prints p50/p99 per mode.

    python -m bench.search_latency [--passages 10000] [--queries 200]
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def _sentences(limit: int) -> list[str]:
    found: list[str] = []
    for mod in sorted(m.name for m in pkgutil.iter_modules() if not m.name.startswith("_")):
        if len(found) >= limit:
            break
        try:
            module = importlib.import_module(mod)
        except Exception:  # noqa: BLE001 - some stdlib modules do not import everywhere
            continue
        for obj in [module, *vars(module).values()]:
            doc = getattr(obj, "__doc__", None)
            if isinstance(doc, str):
                for s in re.split(r"(?<=[.!?])\s+", " ".join(doc.split())):
                    if 40 <= len(s) <= 200 and s not in found:
                        found.append(s)
    return found[:limit]


def _percentiles(samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=100)
    return f"p50 {statistics.median(samples):7.1f} ms   p99 {q[98]:7.1f} ms"


def build_library(data_dir: Path, n_passages: int, seed: int = 7) -> list[str]:
    from ingest.catalog import Catalog
    from retrieval.embedder import SentenceTransformerEmbedder
    from retrieval.index import IndexConfig, QdrantPassageIndex
    from retrieval.sparse import document_vector
    from retrieval.types import Passage

    rng = random.Random(seed)
    pool = _sentences(6000)
    embedder = SentenceTransformerEmbedder()
    started = time.perf_counter()
    vectors = embedder.embed_documents(pool)
    print(f"embedded {len(pool)} sentences in {time.perf_counter() - started:.1f} s")
    Catalog(data_dir / "catalog.sqlite3")
    index = QdrantPassageIndex(IndexConfig(path=data_dir / "qdrant"))
    index.ensure_collection(embedder.dimension)
    passages, dense, sparse = [], [], []
    started = time.perf_counter()
    for i in range(n_passages):
        media = f"m{i // 100:04d}"
        k = rng.randint(4, 6)
        picks = [rng.randrange(len(pool)) for _ in range(k)]
        texts = [pool[j] for j in picks]
        offsets, pos = [], 0
        for t in texts:
            offsets.append(pos)
            pos += len(t) + 1
        start = (i % 100) * 20.0
        seg_vecs = vectors[picks]
        passages.append(
            Passage(
                media_id=media,
                index=i % 100,
                start_s=start,
                end_s=start + 6 * k,
                text=" ".join(texts),
                segment_starts=tuple(start + 6 * n for n in range(k)),
                segment_ends=tuple(start + 6 * n + 5 for n in range(k)),
                segment_offsets=tuple(offsets),
                title=f"Lecture {media}",
                filename=f"{media}.mp4",
                kind="video" if i % 3 else "audio",
                language="en",
                created_at=0.0,
                segment_vectors=seg_vecs,
            )
        )
        mean = seg_vecs.mean(axis=0)
        dense.append(mean / np.linalg.norm(mean))
        sparse.append(document_vector(passages[-1].text))
        if len(passages) == 256 or i == n_passages - 1:
            index.upsert(passages, np.stack(dense), sparse, embedder.model_id)
            passages, dense, sparse = [], [], []
    took = time.perf_counter() - started
    print(f"indexed {n_passages} passages in {took:.1f} s ({n_passages / took:.0f} points/s, embedded store)")
    index.close()
    return [" ".join(rng.choice(pool).split()[: rng.randint(3, 8)]) for _ in range(400)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from retrieval.embedder import SentenceTransformerEmbedder
    from retrieval.index import IndexConfig, QdrantPassageIndex
    from retrieval.search import Searcher

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        queries = build_library(data_dir, args.passages)[: args.queries]
        print(
            f"# search latency, {args.passages} passages, embedded store, {args.queries} queries, "
            f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}"
        )
        embedder = SentenceTransformerEmbedder()
        embedder.load()
        index = QdrantPassageIndex(IndexConfig(path=data_dir / "qdrant"))
        searcher = Searcher(embedder, index)
        for mode in ("hybrid", "semantic", "keyword"):
            searcher.search(queries[0], mode=mode)  # warm-up
            samples = []
            for q in queries:
                t = time.perf_counter()
                searcher.search(q, mode=mode)  # type: ignore[arg-type]
                samples.append((time.perf_counter() - t) * 1000)
            print(f"python  {mode:8s} {_percentiles(samples)}")
        index.close()

        import httpx

        port = 8765
        env = {**os.environ, "MOMENTS_DATA_DIR": str(data_dir), "MOMENTS_WHISPER_MODEL": "/nonexistent"}
        log = (data_dir / "server.log").open("wb")
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "moments"), "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.3)
            with httpx.Client(base_url=url, timeout=30) as client:
                for mode in ("hybrid", "semantic", "keyword"):
                    client.get("/api/search", params={"q": queries[0], "mode": mode})
                    samples = []
                    for q in queries:
                        t = time.perf_counter()
                        r = client.get("/api/search", params={"q": q, "mode": mode})
                        r.raise_for_status()
                        samples.append((time.perf_counter() - t) * 1000)
                    print(f"http    {mode:8s} {_percentiles(samples)}")
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
