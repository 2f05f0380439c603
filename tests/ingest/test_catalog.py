"""The SQLite catalog on a real file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ingest.catalog import Catalog, MediaRecord
from ingest.errors import UnknownMediaError
from ingest.types import Segment


def _record(media_id: str = "abc") -> MediaRecord:
    return MediaRecord(
        media_id,
        "/x.mp4",
        "/x.mp4",
        "x.mp4",
        "X",
        "video",
        "mov,mp4,m4a,3gp,3g2,mj2",
        10,
        12.5,
        "en",
        1.0,
        "ready",
        "whisper-base",
    )


def test_media_and_transcript_round_trip(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.sqlite3")
    cat.add_media(_record(), [Segment(0.0, 1.0, "one"), Segment(1.0, 2.0, "two")])
    reopened = Catalog(tmp_path / "c.sqlite3")
    assert reopened.get_media("abc").title == "X"
    assert [s.text for s in reopened.get_segments("abc")] == ["one", "two"]
    assert [m.id for m in reopened.list_media()] == ["abc"]


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.sqlite3")
    bad = [Segment(0.0, 1.0, "one"), Segment(1.0, 2.0, None)]  # type: ignore[arg-type]  # NOT NULL violation
    with pytest.raises(sqlite3.IntegrityError):
        cat.add_media(_record(), bad)
    assert cat.find_media("abc") is None
    assert cat.count_media() == 0


def test_delete_cascades_and_unknown_ids_are_reported(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.sqlite3")
    cat.add_media(_record(), [Segment(0.0, 1.0, "one")])
    cat.delete_media("abc")
    with pytest.raises(UnknownMediaError):
        cat.get_segments("abc")
    with pytest.raises(UnknownMediaError):
        cat.delete_media("abc")
    with sqlite3.connect(tmp_path / "c.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM segments").fetchone()[0] == 0


def test_jobs(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.sqlite3")
    job = cat.create_job("/x.mp4")
    cat.update_job(job.id, status="running", stage="transcribe", progress=0.5, eta_s=12.0)
    got = cat.get_job(job.id)
    assert got is not None and (got.status, got.stage, got.progress, got.eta_s) == ("running", "transcribe", 0.5, 12.0)
    with pytest.raises(ValueError, match="cannot update"):
        cat.update_job(job.id, id="other")


def test_job_queue_claims_in_order_once_and_requeues_after_a_crash(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.sqlite3")
    first = cat.create_job("upload:a.mp4", input_path="/tmp/a.mp4", title="A", owned_file=True)
    second = cat.create_job("https://example.org/b.mp3")
    claimed = cat.claim_next_job()
    assert claimed is not None and claimed.id == first.id and claimed.status == "running" and claimed.attempts == 1
    assert claimed.owned_file and claimed.input_path == "/tmp/a.mp4" and claimed.title == "A"
    again = cat.claim_next_job()
    assert again is not None and again.id == second.id
    assert cat.claim_next_job() is None
    assert cat.requeue_running_jobs() == 2  # the process died with both running
    reclaimed = cat.claim_next_job()
    assert reclaimed is not None and reclaimed.id == first.id and reclaimed.attempts == 2
