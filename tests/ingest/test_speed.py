"""The expected ingest time said before the work starts: from this machine's own ingests, else from the
benchmarks' figures, else nothing; and the job's ETA that shows it until progress can tell."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ingest.catalog import Catalog, MediaRecord
from ingest.jobs import _JobControl
from ingest.speed import MEASURED_CPU, expect, faster_choice, model_family
from ingest.types import Segment


def test_the_measured_families_are_known_by_hub_id_or_folder() -> None:
    assert model_family("distil-whisper/distil-large-v3") == "distil-large-v3"
    assert model_family("/data/models/whisper-base") == "whisper-base"
    assert model_family("openai/whisper-small") is None  # not measured here: no figure is made up


def test_an_expectation_from_the_benchmarks_scaled_for_threads_and_speakers() -> None:
    base, _ = MEASURED_CPU["whisper-base"]
    two = expect(600.0, "/m/whisper-base", device="cpu", threads=2)
    assert two is not None and two.seconds == pytest.approx(600 / base) and "bench/asr_speed" in two.basis
    one = expect(600.0, "/m/whisper-base", device="cpu", threads=1)
    assert one is not None and one.seconds > 1.9 * two.seconds
    with_speakers = expect(600.0, "/m/whisper-base", device="cpu", threads=2, speakers=True)
    assert with_speakers is not None and with_speakers.seconds == pytest.approx(two.seconds * 1.23)
    assert expect(600.0, "/m/whisper-base", device="cuda", threads=2) is None  # not measured on a GPU
    assert expect(600.0, "openai/whisper-small", device="cpu", threads=2) is None


def test_this_machines_own_ingests_win_and_a_slow_model_names_the_faster_one() -> None:
    mine = expect(600.0, "openai/whisper-small", device="cpu", threads=2, recent_rates=[4.0, 5.0, 100.0])
    assert mine is not None and mine.rate == 5.0 and mine.basis == "the last 3 ingests on this machine"
    large = expect(600.0, "distil-whisper/distil-large-v3", device="cpu", threads=2)
    assert large is not None and large.rate < 6
    name, times = faster_choice("distil-whisper/distil-large-v3", large, device="cpu") or ("", 0.0)
    assert name == "whisper-base" and times == pytest.approx(10.4 / 3.5)
    base = expect(600.0, "/m/whisper-base", device="cpu", threads=2)
    assert faster_choice("/m/whisper-base", base, device="cpu") is None


def _record(media_id: str, ingest_s: float | None) -> MediaRecord:
    return MediaRecord(media_id, "/x", "/x", "x.wav", "X", "audio", "wav", 10, 120.0, "en", 1.0, "ready", "m", ingest_s)


def test_the_catalog_keeps_how_long_each_ingest_took(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.sqlite3")
    cat.add_media(_record("a", 30.0), [Segment(0.0, 1.0, "one")])
    cat.add_media(dataclasses.replace(_record("b", None), created_at=2.0), [Segment(0.0, 1.0, "two")])
    assert cat.get_media("a").ingest_s == 30.0
    assert cat.recent_rates("m") == [4.0]  # 120 s of audio in 30 s; the one without a time does not count
    assert cat.recent_rates("other") == []


def test_a_jobs_eta_is_the_expectation_until_its_progress_can_tell(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.sqlite3")
    queued = cat.create_job("/x.wav", "path", input_path="/x.wav", eta_s=90.0)
    assert cat.get_job(queued.id).eta_s == 90.0  # said as soon as it is queued
    job = cat.claim_next_job("w")
    assert job is not None
    control = _JobControl(cat, job, "w", every_s=0.0)
    control.report("probe", 0.02)
    assert 85.0 <= (cat.get_job(job.id).eta_s or 0) <= 90.0
    control.started -= 10.0  # ten seconds later, a quarter done: the measured ETA takes over
    control.report("transcribe", 0.25)
    assert cat.get_job(job.id).eta_s == pytest.approx(30.0, abs=0.5)
