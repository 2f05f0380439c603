"""The benchmark report: the harnesses' figures as one dated Markdown page with its plots.

    python -m bench.report --quality Q.json --asr A.json [--latency L.md] [--out bench/reports]

``make bench`` runs the harnesses and then this. The page records the machine it ran on and the commands
that reproduce every table; the plots are plain SVG (no plotting library), so they diff and render on
any Markdown viewer.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["bar_chart_svg", "latency_by_size", "line_chart_svg", "machine_facts", "render_report"]

REPO = Path(__file__).resolve().parent.parent
PALETTE = ("#1d3557", "#e76f51", "#2a9d8f", "#e9c46a", "#8d99ae")


def peak_rss_mb() -> float:
    """This process's own peak resident memory in MB: VmHWM, which (unlike ``ru_maxrss``) a child does not
    inherit from the parent it was forked from."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_facts() -> str:
    """The CPU model and the flags that decide engine speed, recorded with every figure."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("model name")), "")
    flags = next((ln.split(":", 1)[1].split() for ln in info.splitlines() if ln.startswith("flags")), [])
    wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16")
    return f"{model or platform.processor() or platform.machine()}; " + " ".join(f for f in wanted if f in flags)


def machine_facts() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        memory = f"{mem_kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration):
        memory = "unknown"
    try:
        flags = set(next(ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")).split())
        bf16 = sorted(flags & {"avx512_bf16", "amx_bf16"})
    except (OSError, StopIteration):
        bf16 = []
    versions = []
    for pkg in ("torch", "transformers", "ctranslate2", "faster-whisper", "sentence-transformers", "qdrant-client"):
        try:
            versions.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            continue
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "native bf16": ", ".join(bf16) if bf16 else "no",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "packages": ", ".join(versions),
        "commit": commit or "unknown",
    }


def bar_chart_svg(title: str, groups: list[str], series: dict[str, list[float]], *, unit: str = "") -> str:
    """A grouped bar chart: one group per entry of ``groups``, one bar per series, value labels on top."""
    width, height, left, bottom, top = 640, 300, 48, 40, 36
    plot_w, plot_h = width - left - 16, height - bottom - top
    peak = max((v for values in series.values() for v in values), default=1.0) or 1.0
    group_w = plot_w / max(1, len(groups))
    bar_w = group_w * 0.8 / max(1, len(series))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        f'font-size="11"><rect width="100%" height="100%" fill="white"/>',
        f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14">{title}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 16}" y2="{top + plot_h}" stroke="#333"/>',
    ]
    for gi, group in enumerate(groups):
        x0 = left + gi * group_w + group_w * 0.1
        gx = left + (gi + 0.5) * group_w
        out.append(f'<text x="{gx:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{group}</text>')
        for si, values in enumerate(series.values()):
            value = values[gi]
            h = plot_h * value / peak
            x = x0 + si * bar_w
            y = top + plot_h - h
            color = PALETTE[si % len(PALETTE)]
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w * 0.92:.1f}" height="{h:.1f}" fill="{color}"/>')
            label = f"{value:.2f}{unit}" if value < 10 else f"{value:.1f}{unit}"
            out.append(f'<text x="{x + bar_w * 0.46:.1f}" y="{y - 3:.1f}" text-anchor="middle">{label}</text>')
    for si, name in enumerate(series):
        x = left + si * 150
        color = PALETTE[si % len(PALETTE)]
        out.append(f'<rect x="{x}" y="{height - 14}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{x + 14}" y="{height - 5}">{name}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


_LATENCY_ROW = re.compile(
    r"^\|\s*(?P<engine>\w+) (?P<size>\d+)(?P<unit>[kM])\s*\|\s*(?P<path>[^|]+?)\s*\|\s*(?P<mode>\w+)\s*\|"
    r"\s*p50\s+(?P<p50>[\d.]+) ms"
)


def latency_by_size(printed: str) -> dict[str, list[tuple[int, float]]]:
    """``bench.search_latency``'s rows as ``"engine path mode" -> [(passages, p50 ms), ...]``, sizes ascending
    (several runs' output may be pasted together)."""
    series: dict[str, dict[int, float]] = {}
    for line in printed.splitlines():
        m = _LATENCY_ROW.match(line.strip())
        if m:
            size = int(m["size"]) * (1000 if m["unit"] == "k" else 1_000_000)
            series.setdefault(f"{m['engine']} {m['path']} {m['mode']}", {})[size] = float(m["p50"])
    return {name: sorted(points.items()) for name, points in series.items()}


def line_chart_svg(title: str, series: dict[str, list[tuple[int, float]]], *, unit: str = "ms") -> str:
    """Lines of value against library size on a log axis, one per series, each point labelled."""
    width, height, left, bottom, top = 640, 320, 52, 58, 36
    plot_w, plot_h = width - left - 56, height - bottom - top
    sizes = sorted({x for points in series.values() for x, _ in points}) or [1]
    peak = max((y for points in series.values() for _, y in points), default=1.0) or 1.0
    lo, hi = math.log10(sizes[0]), math.log10(sizes[-1])
    span = (hi - lo) or 1.0

    def px(x: int) -> float:
        return left + plot_w * ((math.log10(x) - lo) / span if hi > lo else 0.5)

    def py(y: float) -> float:
        return top + plot_h - plot_h * y / peak

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        f'font-size="11"><rect width="100%" height="100%" fill="white"/>',
        f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14">{title}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#333"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#333"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{peak:.0f} {unit}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>',
    ]
    for x in sizes:
        label = f"{x // 1_000_000}M" if x >= 1_000_000 else f"{x // 1000}k"
        out.append(f'<text x="{px(x):.1f}" y="{top + plot_h + 14}" text-anchor="middle">{label} passages</text>')
    for si, (name, points) in enumerate(series.items()):
        color = PALETTE[si % len(PALETTE)]
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
        out.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y in points:
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/>')
            out.append(f'<text x="{px(x) + 5:.1f}" y="{py(y) - 5:.1f}" fill="{color}">{y:.0f}</text>')
        lx, ly = left + (si % 3) * 200, height - 24 + (si // 3) * 14
        out.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{lx + 14}" y="{ly}">{name}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _quality_section(q: dict[str, Any]) -> tuple[list[str], str]:
    s = q["set"]
    modes = list(q["modes"])
    kinds = sorted(q["modes"][modes[0]]["recall_at_5_by_kind"])
    lines = [
        "## Retrieval quality",
        "",
        f"{s['queries']} queries over {s['media']} media ({s['speech_min']} min of speech) from `bench/quality/`, "
        f"transcribed by Whisper `{s['whisper_model']}`, embedded by `{s['embedding_model']}`, passages "
        f"{s['passage_target_s']:g} s with {s['passage_overlap_s']:g} s overlap. A hit is the right media item "
        "with a moment overlapping the answer; the jump error is how far, in seconds, the first hit starts from "
        "where the answer starts.",
        "",
        "| mode | Recall@1 | Recall@5 | MRR@10 | median jump error s | first hits within 5 s | "
        + " | ".join(f"R@5 {k}" for k in kinds)
        + " | p50 ms |",
        "| --- " * (7 + len(kinds)) + "|",
    ]
    for mode in modes:
        m = q["modes"][mode]
        jump = "-" if m["median_jump_error_s"] is None else f"{m['median_jump_error_s']:.1f}"
        lines.append(
            f"| {mode} | {m['recall_at_1']:.3f} | {m['recall_at_5']:.3f} | {m['mrr_at_10']:.3f} | {jump} | "
            f"{m['jumps_within_5_s']:.0%} | "
            + " | ".join(f"{m['recall_at_5_by_kind'][k]:.2f}" for k in kinds)
            + f" | {m['p50_ms']:.0f} |"
        )
    svg = bar_chart_svg(
        "Retrieval quality by search mode",
        modes,
        {
            "Recall@1": [q["modes"][m]["recall_at_1"] for m in modes],
            "Recall@5": [q["modes"][m]["recall_at_5"] for m in modes],
            "MRR@10": [q["modes"][m]["mrr_at_10"] for m in modes],
        },
    )
    return lines, svg


def _asr_section(a: dict[str, Any]) -> tuple[list[str], str]:
    runs = a["runs"]
    lines = [
        "## Transcription speed",
        "",
        f"Whisper base, the same weights in every engine, {a['audio_s']:.0f} s of audio ({a['files']} files: "
        "the spoken sample talks and development-set media plus the real recordings), greedy decoding, VAD on. "
        "Speed is audio seconds per wall second; the peer is faster-whisper fp32 at the same thread count. "
        "WER is the mean over the real recorded clips (LibriVox, JFK) and over the spoken media against the "
        "text Festival read. `ours` is the product's defaults (bf16 where the CPU has it, 8 windows per batch "
        "since 2026-12-04, 4 before), an int8 "
        "vocabulary projection, word timing); `ours-no-words` the same without word timing; `ours-fp32` the same "
        "engine in float32, one window at a time, no int8; `fw-int8-words` faster-whisper int8 with word "
        "timestamps.",
        "",
        "| engine | threads | audio s / wall s | vs faster-whisper fp32 | peak RSS MB | WER real clips | WER spoken |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in runs:
        lines.append(
            f"| {r['engine']} | {r['threads']} | {r['speed']:.2f} | {r['vs_peer']:.2f}x | {r['peak_rss_mb']:.0f} | "
            f"{r['wer']:.1%} | {r['wer_spoken']:.1%} |"
        )
    threads = sorted({r["threads"] for r in runs})
    engines = list(dict.fromkeys(r["engine"] for r in runs))
    speed = {(r["engine"], r["threads"]): r["speed"] for r in runs}
    svg = bar_chart_svg(
        "Transcription speed (audio s per wall s) by engine",
        engines,
        {f"{t} thread{'s' if t > 1 else ''}": [speed.get((e, t), 0.0) for e in engines] for t in threads},
    )
    return lines, svg


def _as_markdown(printed: str) -> list[str]:
    """A harness's printed output as Markdown: its table rows together, every other line a paragraph."""
    out: list[str] = []
    for line in printed.strip().splitlines():
        line = line.removeprefix("# ").strip()
        if line.startswith("|"):
            if out and out[-1] and not out[-1].startswith("|"):
                out.append("")
            out.append(line)
        elif line:
            out += ["", line] if out else [line]
    return out


def render_report(
    quality: dict[str, Any] | None, asr: dict[str, Any] | None, latency_md: str | None, out: Path
) -> Path:
    """Write ``out/<date>.md`` (and its SVG plots) and list it in ``out/README.md``; return the page."""
    day = time.strftime("%Y-%m-%d")
    out.mkdir(parents=True, exist_ok=True)
    facts = machine_facts()
    lines = [
        f"# Benchmark report, {day}",
        "",
        "Produced by `make bench` (the harnesses under `bench/`, then `python -m bench.report`). Figures are "
        "from one run on the machine below; compare ratios within a table, not absolute times across machines.",
        "",
        "| machine | |",
        "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in facts.items()],
        "",
    ]
    if quality is not None:
        section, svg = _quality_section(quality)
        (out / f"{day}-quality.svg").write_text(svg)
        lines += [*section, "", f"![Recall by mode]({day}-quality.svg)", ""]
        lines += ["Rerun: `python -m bench.quality --misses` (any `MOMENTS_*` retrieval setting applies).", ""]
    if asr is not None:
        section, svg = _asr_section(asr)
        (out / f"{day}-asr.svg").write_text(svg)
        lines += [*section, "", f"![Speed by engine]({day}-asr.svg)", ""]
        lines += ["Rerun: `python -m bench.asr_speed --threads 1,2`.", ""]
    if latency_md:
        lines += ["## Search latency", "", *_as_markdown(latency_md), ""]
        hybrid = {name: points for name, points in latency_by_size(latency_md).items() if name.endswith("hybrid")}
        if hybrid:
            plot = f"{day}-latency.svg"
            (out / plot).write_text(line_chart_svg("Hybrid search p50 against library size", hybrid))
            lines += [f"![Hybrid search latency against library size]({plot})", ""]
        lines += ["Rerun: `python -m bench.search_latency`.", ""]
    page = out / f"{day}.md"
    page.write_text("\n".join(lines))
    reports = sorted((p.name for p in out.glob("????-??-??.md")), reverse=True)
    index = ["# Benchmark reports", "", "Newest first; `make bench` adds one.", ""]
    index += [f"- [{name.removesuffix('.md')}]({name})" for name in reports]
    (out / "README.md").write_text("\n".join(index) + "\n")
    return page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quality", type=Path, help="JSON from python -m bench.quality --json")
    parser.add_argument("--asr", type=Path, help="JSON from python -m bench.asr_speed --json")
    parser.add_argument("--latency", type=Path, help="Markdown printed by python -m bench.search_latency")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "reports")
    args = parser.parse_args()

    def load(path: Path | None) -> dict[str, Any] | None:
        return json.loads(path.read_text()) if path is not None and path.is_file() else None

    latency = args.latency.read_text() if args.latency is not None and args.latency.is_file() else None
    page = render_report(load(args.quality), load(args.asr), latency, args.out)
    print(f"wrote {page.relative_to(REPO) if page.is_relative_to(REPO) else page}")


if __name__ == "__main__":
    main()
