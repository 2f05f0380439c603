"""Search latency on the embedded store (Qdrant Edge, and qdrant-client's local mode for comparison) and on
a Qdrant server: the Python search call and /api/search over HTTP, with upsert throughput, the longest
single write (Edge holds the GIL while it writes: every other thread waits that long), and the server's
memory.

The library is synthetic but real text: sentences from the docstrings of Python's standard library are
grouped into passages of 4-6 "segments" with times, each word with a time (spread evenly through its
segment) as a transcript with word times is stored. Sentence vectors come from the real MiniLM model; a
passage's dense vector is the normalised mean of its sentences' vectors (embedding 10k passages as well
would add minutes and change nothing about search latency). Prints p50/p99 per mode.

    python -m bench.search_latency                          # embedded 10k (Edge and local); server 10k, 100k
    python -m bench.search_latency --embedded 10000 100000 --local 10000 --server 100000 --queries 100
    python -m bench.search_latency --embedded --local --server 1000000 --server-batch 512   # server at 1M
    git worktree add /tmp/before <commit>                                                  # before / after:
    python -m bench.search_latency --embedded 10000 --local --server --trees /tmp/before . --rounds 3

Every library repeats the same 6,000 real sentences (and their real MiniLM vectors) in new combinations, so
a 1M-passage library costs no more embedding than a 10k one; only the upserts and the server's HNSW build
grow with it. Server latency is measured once the optimizer has indexed every vector (status green).
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
from typing import Any

import numpy as np

from bench.report import cpu_facts

REPO = Path(__file__).resolve().parent.parent


def _sentences(limit: int) -> list[str]:
    found: list[str] = []
    # The standard library's own modules only: importing whatever sits on sys.path would run any script in
    # the folder the benchmark is started from (and the installed packages' import-time side effects).
    # Not the two that act on import: ``this`` prints the Zen of Python, ``antigravity`` opens a browser.
    names = {m.name for m in pkgutil.iter_modules() if not m.name.startswith("_")} - {"this", "antigravity"}
    for mod in sorted(names & sys.stdlib_module_names):
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


def _embedder() -> Any:
    """MiniLM as the product embeds queries (``MOMENTS_EMBEDDING_RUNTIME`` applies), loaded."""
    from retrieval.embedder import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(runtime=os.environ.get("MOMENTS_EMBEDDING_RUNTIME", "auto"))  # type: ignore[arg-type]
    embedder.load()
    return embedder


def _percentiles(samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=100)
    return f"p50 {statistics.median(samples):7.1f} ms   p99 {q[98]:7.1f} ms"


def _pool(n: int) -> tuple[list[str], np.ndarray]:
    from retrieval.embedder import SentenceTransformerEmbedder

    pool = _sentences(n)
    started = time.perf_counter()
    vectors = SentenceTransformerEmbedder().embed_documents(pool)
    print(f"embedded {len(pool)} sentences in {time.perf_counter() - started:.1f} s (MiniLM, the sentence pool)")
    return pool, vectors


def build_library(
    config: object, n_passages: int, pool: list[str], vectors: np.ndarray, seed: int = 7, batch: int = 64
) -> tuple[float, float]:
    """Fill an index with ``n_passages``, ``batch`` at a time (64: the ingest writer's batch); returns upserted
    points per second and the longest write (s)."""
    from retrieval.index import IndexConfig, open_index
    from retrieval.sparse import document_vector
    from retrieval.types import Passage

    assert isinstance(config, IndexConfig)
    rng = random.Random(seed)
    index = open_index(config)
    index.ensure_collection(vectors.shape[1])
    passages, dense, sparse = [], [], []
    longest = 0.0
    started = time.perf_counter()
    for i in range(n_passages):
        media = f"m{i // 100:05d}"
        k = rng.randint(4, 6)
        picks = [rng.randrange(len(pool)) for _ in range(k)]
        texts = [pool[j] for j in picks]
        offsets, pos = [], 0
        start = (i % 100) * 20.0
        word_starts, word_offsets = [], []  # as a transcript with word times stores them, evenly spread
        for n, t in enumerate(texts):
            offsets.append(pos)
            places = [m.start() for m in re.finditer(r"\S+", t)]
            word_offsets += [pos + p for p in places]
            word_starts += [round(start + 6 * n + 5 * w / len(places), 2) for w in range(len(places))]
            pos += len(t) + 1
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
                word_starts=tuple(word_starts),
                word_offsets=tuple(word_offsets),
            )
        )
        mean = seg_vecs.mean(axis=0)
        dense.append(mean / np.linalg.norm(mean))
        sparse.append(document_vector(passages[-1].text))
        if len(passages) == batch or i == n_passages - 1:
            t = time.perf_counter()
            index.upsert(passages, np.stack(dense), sparse, "sentence-transformers/all-MiniLM-L6-v2")
            longest = max(longest, time.perf_counter() - t)
            passages, dense, sparse = [], [], []
    rate = n_passages / (time.perf_counter() - started)
    index.close()
    return rate, longest


def wait_until_indexed(url: str, collection: str, timeout_s: float = 3600) -> float:
    """Seconds until the server's optimizer has indexed the collection (status green, every vector in the
    HNSW graph): latency measured before that would be an exact scan of the unindexed segments."""
    import httpx

    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        info = httpx.get(f"{url}/collections/{collection}", timeout=30).json()["result"]
        indexed, points = info.get("indexed_vectors_count") or 0, info.get("points_count") or 0
        if info["status"] == "green" and indexed >= points:
            return time.monotonic() - started
        time.sleep(5)
    raise TimeoutError(f"the collection was not indexed within {timeout_s:.0f} s")


def _reopen_ms(config: object) -> float:
    """Opening the folder again and counting its points: what a restart of `moments serve` waits for."""
    from retrieval.index import IndexConfig, open_index

    assert isinstance(config, IndexConfig)
    started = time.perf_counter()
    index = open_index(config)
    index.count()
    took = (time.perf_counter() - started) * 1000
    index.close()
    return took


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _python_latency(config: object, queries: list[str], label: str) -> None:
    from retrieval.index import IndexConfig, open_index
    from retrieval.search import Searcher

    assert isinstance(config, IndexConfig)
    embedder = _embedder()
    index = open_index(config)
    searcher = Searcher(embedder, index)
    for mode in ("hybrid", "semantic", "keyword"):
        searcher.search(queries[0], mode=mode)  # type: ignore[arg-type]
        samples = []
        for q in queries:
            t = time.perf_counter()
            searcher.search(q, mode=mode)  # type: ignore[arg-type]
            samples.append((time.perf_counter() - t) * 1000)
        print(f"| {label} | python | {mode} | {_percentiles(samples)} |")
    index.close()


def _latency_during_writes(config: object, queries: list[str], pool: list[str], label: str) -> str:
    """Hybrid search while another thread writes as the ingest writer does (embed 64 passages with MiniLM,
    upsert them, flushed), in the same process: the p50/p99 a user sees while a file is being indexed.

    Whisper's own CPU use during a real ingest comes on top; this isolates what the index and the GIL add.
    Returns the summary row.
    """
    import threading

    from retrieval.index import IndexConfig, open_index
    from retrieval.search import Searcher
    from retrieval.sparse import document_vector
    from retrieval.types import Passage

    assert isinstance(config, IndexConfig)
    embedder = _embedder()
    index = open_index(config)
    searcher = Searcher(embedder, index)
    rng = random.Random(5)
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        batch = 0
        while not stop.is_set():
            texts = [" ".join(rng.choice(pool) for _ in range(5)) for _ in range(64)]
            vectors = embedder.embed_documents(texts)
            passages = [
                Passage(
                    media_id=f"ingest{batch:04d}",
                    index=k,
                    start_s=20.0 * k,
                    end_s=20.0 * k + 20,
                    text=t,
                    segment_starts=(20.0 * k,),
                    segment_ends=(20.0 * k + 20,),
                    segment_offsets=(0,),
                    title="ingest",
                    filename="ingest.mp4",
                    kind="video",
                    language="en",
                    created_at=0.0,
                )
                for k, t in enumerate(texts)
            ]
            index.upsert(passages, vectors, [document_vector(t) for t in texts], embedder.model_id)
            written[0] += len(passages)
            batch += 1

    searcher.search(queries[0])
    idle = []
    for q in queries:
        t = time.perf_counter()
        searcher.search(q)
        idle.append((time.perf_counter() - t) * 1000)
    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    busy = []
    started = time.perf_counter()
    for q in queries:
        t = time.perf_counter()
        searcher.search(q)
        busy.append((time.perf_counter() - t) * 1000)
    elapsed = time.perf_counter() - started
    stop.set()
    thread.join()
    index.close()
    p50, p99 = statistics.median(busy), statistics.quantiles(busy, n=100)[98]
    print(f"| {label} | python, during writes | hybrid | {_percentiles(busy)} |")
    return (
        f"{label} during writes: hybrid idle {_percentiles(idle)}, while writing {_percentiles(busy)} "
        f"(p99 {p99 / p50:.1f}x p50; {written[0] / elapsed:.0f} passages/s written meanwhile), "
        f"process RSS {_rss_mb(os.getpid()):.0f} MB (MiniLM and torch included)"
    )


def _http_latency(
    data_dir: Path, queries: list[str], label: str, extra_env: dict[str, str], tree: Path | None = None
) -> dict[str, float]:
    """p50 (ms) per mode of /api/search on a live `moments serve` over ``data_dir``; the code of ``tree`` (a
    checkout of another commit) instead of this one where given. Prints a row per mode."""
    import httpx

    from bench.qdrant_server import free_port

    port = free_port()
    env = {**os.environ, "MOMENTS_DATA_DIR": str(data_dir), "MOMENTS_WHISPER_MODEL": "/nonexistent", **extra_env}
    command = [str(Path(sys.executable).parent / "moments"), "serve", "--port", str(port)]
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
        command = [sys.executable, "-c", "import sys; from api.cli import main; sys.exit(main())", *command[1:]]
    log = (data_dir / "server.log").open("wb")
    server = subprocess.Popen(command, env=env, cwd=tree, stdout=log, stderr=subprocess.STDOUT)
    p50s: dict[str, float] = {}
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        with httpx.Client(base_url=url, timeout=60) as client:
            for mode in ("hybrid", "semantic", "keyword"):
                client.get("/api/search", params={"q": queries[0], "mode": mode})
                samples = []
                for q in queries:
                    t = time.perf_counter()
                    client.get("/api/search", params={"q": q, "mode": mode}).raise_for_status()
                    samples.append((time.perf_counter() - t) * 1000)
                print(f"| {label} | http | {mode} | {_percentiles(samples)} |")
                p50s[mode] = statistics.median(samples)
    finally:
        server.terminate()
        server.wait(30)
    return p50s


def _compare_trees(data_dir: Path, queries: list[str], label: str, trees: list[Path], rounds: int) -> list[str]:
    """The same library served by each tree's code in turn, ``rounds`` times: on a machine whose speed
    drifts, the ratio between trees within one run is the figure that holds. Returns the summary rows."""
    p50s: dict[Path, list[dict[str, float]]] = {tree: [] for tree in trees}
    for r in range(rounds):
        for tree in trees:
            p50s[tree].append(_http_latency(data_dir, queries, f"{label} {tree.name} round {r + 1}", {}, tree))
    rows = []
    for tree in trees:
        medians = {mode: statistics.median(run[mode] for run in p50s[tree]) for mode in p50s[tree][0]}
        rows.append(
            f"{label} http, {tree} (median of {rounds} alternating runs' p50): "
            + ", ".join(f"{mode} {ms:.1f} ms" for mode, ms in medians.items())
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedded", type=int, nargs="*", default=[10_000], help="passage counts, Qdrant Edge")
    parser.add_argument("--local", type=int, nargs="*", default=[10_000], help="passage counts, local mode")
    parser.add_argument("--server", type=int, nargs="*", default=[10_000, 100_000], help="passage counts, server")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument(
        "--trees",
        type=Path,
        nargs="*",
        default=[],
        help="checkouts (git worktree add /tmp/old <commit>) whose `moments serve` answer the embedded libraries "
        "in turn, instead of this tree's: before against after, in one run",
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternations of --trees")
    parser.add_argument(
        "--server-batch", type=int, default=64, help="passages per upsert, server (64: the ingest writer's)"
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from bench.qdrant_server import QdrantProcess, ensure_qdrant_binary
    from retrieval.index import IndexConfig

    pool, vectors = _pool(6000)
    rng = random.Random(11)
    queries = [" ".join(rng.choice(pool).split()[: rng.randint(3, 8)]) for _ in range(args.queries)]
    print(f"# search latency, {args.queries} queries per row, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    print(f"# cpu: {cpu_facts()}")
    print(f"# query embedding: MiniLM on {_embedder().runtime}")
    print("| library | path | mode | latency |")
    print("| --- | --- | --- | --- |")
    rows: list[str] = []
    for engine, counts in (("edge", args.embedded), ("local", args.local)):
        for n in counts:
            with tempfile.TemporaryDirectory() as tmp:
                # the folder `moments serve` opens for DATA_DIR=tmp
                config = IndexConfig(path=Path(tmp) / ("index" if engine == "edge" else "qdrant"), engine=engine)  # type: ignore[arg-type]
                rate, longest = build_library(config, n, pool, vectors)
                disk_kb = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file()) / 1024 / n
                rows.append(
                    f"{engine} {n}: upsert {rate:.0f} points/s, longest write of 64 {longest * 1000:.0f} ms, "
                    f"disk {disk_kb:.1f} KB/passage, reopen {_reopen_ms(config):.0f} ms"
                )
                label = f"{engine} {n // 1000}k"
                _python_latency(config, queries, label)
                if engine == "edge" and args.trees:
                    rows += _compare_trees(Path(tmp), queries, label, [t.resolve() for t in args.trees], args.rounds)
                elif engine == "edge":  # a server on a local-mode folder would move it to Edge first
                    _http_latency(Path(tmp), queries, label, {})
                    rows.append(_latency_during_writes(config, queries, pool, label))
    for n in args.server:
        with tempfile.TemporaryDirectory() as tmp:
            qdrant = QdrantProcess(ensure_qdrant_binary(REPO / ".cache"), Path(tmp) / "qdrant-server").start()
            try:
                config = IndexConfig(url=qdrant.url, collection="bench")
                started = time.perf_counter()
                rate, _longest = build_library(config, n, pool, vectors, batch=args.server_batch)
                built = time.perf_counter() - started
                waited = wait_until_indexed(qdrant.url, "bench")
                assert qdrant.proc is not None
                disk_kb = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file()) / 1024 / n
                rows.append(
                    f"server {n}: upsert {rate:.0f} points/s ({args.server_batch} a request; built in {built:.0f} s, "
                    f"indexed {waited:.0f} s later), Qdrant RSS {_rss_mb(qdrant.proc.pid):.0f} MB, "
                    f"disk {disk_kb:.1f} KB/passage"
                )
                label = f"server {n // 1000}k"
                _python_latency(config, queries, label)
                _http_latency(
                    Path(tmp), queries, label, {"MOMENTS_QDRANT_URL": qdrant.url, "MOMENTS_COLLECTION": "bench"}
                )
            finally:
                qdrant.stop()
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
