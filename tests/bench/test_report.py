"""The benchmark report: a dated page with the tables, two plots and the machine, listed in the index."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path

from bench.report import render_report


def _mode(r1: float) -> dict[str, object]:
    return {
        "recall_at_1": r1,
        "recall_at_5": 0.9,
        "mrr_at_10": 0.8,
        "median_jump_error_s": 0.3,
        "jumps_within_5_s": 0.87,
        "recall_at_5_by_kind": {"keyword": 1.0, "paraphrase": 0.94},
        "p50_ms": 25.0,
        "queries": [],
    }


def test_report_holds_the_tables_plots_and_machine(tmp_path: Path) -> None:
    quality = {
        "set": {
            "queries": 66,
            "media": 8,
            "speech_min": 42.4,
            "whisper_model": "whisper-base",
            "passage_target_s": 20.0,
            "passage_overlap_s": 7.0,
            "embedding_model": "all-MiniLM-L6-v2",
        },
        "modes": {"keyword": _mode(0.712), "semantic": _mode(0.803), "hybrid": _mode(0.848)},
    }
    run = {"peak_rss_mb": 900.0, "wer": 0.023, "wer_spoken": 0.05}
    asr = {
        "audio_s": 770.0,
        "files": 10,
        "runs": [
            {"engine": "ours", "threads": 1, "speed": 9.5, "vs_peer": 1.1, **run},
            {"engine": "fw-fp32", "threads": 1, "speed": 8.6, "vs_peer": 1.0, **run},
            {"engine": "ours", "threads": 2, "speed": 15.2, "vs_peer": 1.2, **run},
            {"engine": "fw-fp32", "threads": 2, "speed": 12.7, "vs_peer": 1.0, **run},
        ],
    }
    latency = "\n".join(
        [
            "| library | path | mode | latency |",
            "| --- | --- | --- | --- |",
            "| edge 10k | python | hybrid | p50    26.0 ms   p99    41.0 ms |",
            "| edge 10k | http | hybrid | p50    31.5 ms   p99    50.0 ms |",
            "| edge 10k | http | keyword | p50    12.0 ms   p99    20.0 ms |",
            "| edge 100k | http | hybrid | p50    48.2 ms   p99    75.0 ms |",
            "| server 1000k | http | hybrid | p50    22.0 ms   p99    35.0 ms |",
        ]
    )
    page = render_report(quality, asr, latency, tmp_path)
    day = time.strftime("%Y-%m-%d")
    assert page == tmp_path / f"{day}.md"
    text = page.read_text()
    assert "| hybrid | 0.848 | 0.900 | 0.800 | 0.3 | 87% |" in text
    assert "| ours | 2 | 15.20 | 1.20x | 900 | 2.3% | 5.0% |" in text
    assert "| edge 100k | http | hybrid | p50    48.2 ms   p99    75.0 ms |" in text
    assert "| cores |" in text and "| commit |" in text
    for plot in (f"{day}-quality.svg", f"{day}-asr.svg"):
        assert f"]({plot})" in text
        svg = ET.parse(tmp_path / plot).getroot()  # well-formed, with one bar per value
        bars = [e for e in svg.iter("{http://www.w3.org/2000/svg}rect") if e.get("height") not in (None, "100%", "10")]
        assert len(bars) == (9 if "quality" in plot else 4)
    # latency against library size: one line per engine and path, hybrid only, a point per size measured
    assert f"]({day}-latency.svg)" in text
    svg = ET.parse(tmp_path / f"{day}-latency.svg").getroot()
    lines = {e.get("points") for e in svg.iter("{http://www.w3.org/2000/svg}polyline")}
    assert len(lines) == 3
    assert sorted(len(str(p).split()) for p in lines) == [1, 1, 2]  # edge http at 10k and 100k
    labels = [e.text for e in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert "edge http hybrid" in labels and "server http hybrid" in labels and "edge http keyword" not in labels
    assert {"10k passages", "100k passages", "1M passages"} <= set(labels)
    assert f"[{day}]({day}.md)" in (tmp_path / "README.md").read_text()
