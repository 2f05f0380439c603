"""Document embedding: float32 against bfloat16 autocast, on the same texts, alternating in one process.

Ingest embeds every passage, every transcript segment (with its neighbours' words) and, for chapters, every
sentence; this measures what the embedder's ``document_dtype`` buys on this CPU, and what it costs in
vector agreement (cosine to float32's vectors, and whether each query ranks the texts the same).

    python -m bench.embed_speed                     # 2,000 real English sentences, 2 threads, 3 rounds
    python -m bench.embed_speed --texts 500 --threads 1
    python -m bench.embed_speed --queries 200       # query embedding on onnxruntime: spinning or not

``--queries N``: the query path instead (one short text at a time on the onnxruntime session), the
session with its worker threads spinning between operators (the product's, stopped when a run ends)
against sleeping, alternated; prints p50 per query and the CPU the process burns in the second after.

The texts are the same real sentences bench/search_latency embeds (the docstrings of the installed
packages), 40-200 characters, the length of a transcript sentence.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from bench.report import cpu_facts
from bench.search_latency import _sentences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queries", type=int, default=0, help="time the query path on onnxruntime instead")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    if args.queries:
        torch.set_num_threads(args.threads)
        query_spinning(args.queries, args.rounds)
        return

    from retrieval.embedder import SentenceTransformerEmbedder, native_bf16

    torch.set_num_threads(args.threads)
    texts = _sentences(args.texts)
    embedders = {
        dtype: SentenceTransformerEmbedder(runtime="torch", document_dtype=dtype)  # type: ignore[arg-type]
        for dtype in ("float32", "bfloat16")
    }
    for e in embedders.values():
        e.embed_documents(texts[:64])  # load and warm up
    took: dict[str, list[float]] = {d: [] for d in embedders}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(args.rounds):
        for dtype, e in embedders.items():
            started = time.perf_counter()
            vectors[dtype] = e.embed_documents(texts)
            took[dtype].append(time.perf_counter() - started)
    cos = np.sum(vectors["float32"] * vectors["bfloat16"], axis=1)
    queries = vectors["float32"][:: max(1, len(texts) // 50)]  # texts as queries, ranking all texts
    same_top = np.mean([int(np.argmax(vectors["float32"] @ q) == np.argmax(vectors["bfloat16"] @ q)) for q in queries])
    top10 = np.mean(
        [
            len(set(np.argsort(-(vectors["float32"] @ q))[:10]) & set(np.argsort(-(vectors["bfloat16"] @ q))[:10])) / 10
            for q in queries
        ]
    )
    print(f"# document embedding, MiniLM, {len(texts)} sentences, {args.threads} threads, {args.rounds} rounds")
    print(f"# cpu: {cpu_facts()}; native bfloat16: {native_bf16()}")
    print("| dtype | median s | sentences / s | vs float32 |")
    print("| --- | --- | --- | --- |")
    base = statistics.median(took["float32"])
    for dtype, times in took.items():
        m = statistics.median(times)
        print(f"| {dtype} | {m:.2f} | {len(texts) / m:.0f} | {base / m:.2f}x |")
    print(
        f"# bfloat16 against float32: cosine min {cos.min():.5f}, mean {cos.mean():.6f}; "
        f"same first text for {same_top:.0%} of {len(queries)} queries, top-10 overlap {top10:.0%}"
    )


def query_spinning(n: int, rounds: int) -> None:
    """Query embedding on the product's onnxruntime session, spinning (``_session``'s default) against
    not, the two sessions alternated ``rounds`` times over the same ``n`` short queries."""
    import random

    import torch

    from retrieval.embedder import SentenceTransformerEmbedder, _export, _session

    embedder = SentenceTransformerEmbedder(runtime="onnx")
    model = embedder._load()
    encoder = embedder._onnx
    assert encoder is not None
    sample = model.preprocess(["an example sentence to trace the graph with"])
    graph = _export(model, sample, encoder.inputs)
    sessions = {"spinning": _session(graph), "sleeping": _session(graph, spinning=False)}
    rng = random.Random(11)
    pool = _sentences(2000)
    queries = [" ".join(rng.choice(pool).split()[: rng.randint(3, 8)]) for _ in range(n)]
    p50s: dict[str, list[float]] = {k: [] for k in sessions}
    idle: dict[str, list[float]] = {k: [] for k in sessions}
    for _ in range(rounds):
        for name, session in sessions.items():
            encoder.session = session
            for q in queries[:10]:
                encoder.encode(model, q)
            took = []
            for q in queries:
                started = time.perf_counter()
                encoder.encode(model, q)
                took.append((time.perf_counter() - started) * 1000)
            p50s[name].append(statistics.median(took))
            cpu = time.process_time()
            time.sleep(1.0)
            idle[name].append(time.process_time() - cpu)
    print(f"# query embedding on onnxruntime, MiniLM, {n} queries of 3-8 words, {torch.get_num_threads()} threads")
    print(f"# cpu: {cpu_facts()}")
    print("| worker threads | p50 ms per round | CPU s in the idle second after |")
    print("| --- | --- | --- |")
    for name in sessions:
        times, burnt = (", ".join(f"{x:.2f}" for x in xs) for xs in (p50s[name], idle[name]))
        print(f"| {name} | {times} | {burnt} |")


if __name__ == "__main__":
    main()
