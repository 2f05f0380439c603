"""The SQLite catalog on a real file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ingest.catalog import Catalog, MediaRecord
from ingest.errors import JobFinishedError, UnknownJobError, UnknownMediaError, UnknownSpeakerError
from ingest.types import Segment, Word


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
    job = cat.create_job("/x.mp4", "path", input_path="/x.mp4")
    cat.update_job(job.id, status="running", stage="transcribe", progress=0.5, eta_s=12.0)
    got = cat.get_job(job.id)
    assert got is not None and (got.status, got.stage, got.progress, got.eta_s) == ("running", "transcribe", 0.5, 12.0)
    with pytest.raises(ValueError, match="cannot update"):
        cat.update_job(job.id, id="other")


def test_job_queue_leases_each_job_to_one_worker_and_takes_over_expired_leases(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.sqlite3")
    first = cat.create_job("upload:a.mp4", "upload", input_path="/tmp/a.mp4", title="A", filename="a.mp4")
    second = cat.create_job("https://example.org/b.mp3", "url")
    claimed = cat.claim_next_job("w1", lease_s=60)
    assert claimed is not None and claimed.id == first.id and claimed.status == "running" and claimed.attempts == 1
    assert (
        claimed.owns_file
        and claimed.filename == "a.mp4"
        and claimed.input_path == "/tmp/a.mp4"
        and claimed.title == "A"
        and claimed.worker == "w1"
    )
    assert cat.claim_next_job("w2", lease_s=60) is None  # the URL waits for the fetch queue
    again = cat.claim_next_job("w2", lease_s=60, fetch=True)
    assert again is not None and again.id == second.id
    assert cat.hand_on_fetched(second.id, "w2", "/tmp/b.mp3", 0.1)  # downloaded: on to transcription
    assert not cat.hand_on_fetched(second.id, "w2", "/tmp/b.mp3", 0.1)  # once
    fetched = cat.claim_next_job("w2", lease_s=60)
    assert fetched is not None and fetched.id == second.id and fetched.input_path == "/tmp/b.mp3"
    assert fetched.attempts == 1
    assert cat.claim_next_job("w3", lease_s=60) is None  # both leased
    assert cat.renew_lease(first.id, "w1", 60) and not cat.renew_lease(first.id, "w2", 60)
    assert cat.expire_leases(["w1"]) == 1  # w1 died
    taken = cat.claim_next_job("w3", lease_s=60)
    assert taken is not None and taken.id == first.id and taken.worker == "w3" and taken.attempts == 2
    assert not cat.renew_lease(first.id, "w1", 60)  # the old owner has lost it


def test_old_catalogs_gain_the_new_job_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE jobs (id TEXT PRIMARY KEY, media_id TEXT, source TEXT NOT NULL, status TEXT NOT NULL, "
            "stage TEXT NOT NULL, progress REAL NOT NULL DEFAULT 0, eta_s REAL, error TEXT, "
            "attempts INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, updated_at REAL NOT NULL)"
        )
        now = 1.0
        for source in ("upload:y.wav", "https://example.org/z.mp3", "/library/w.wav"):
            db.execute(
                "INSERT INTO jobs (id, source, status, stage, created_at, updated_at) "
                "VALUES (?, ?, 'queued', 'queued', ?, ?)",
                (source, source, now, now),
            )
    cat = Catalog(path)
    job = cat.create_job("upload:x.wav", "upload", input_path="/x.wav")
    assert cat.get_job(job.id) == job
    # Jobs from before the source kind was stored get it once, from their source.
    kinds = {j.source: (j.source_kind, j.owns_file) for j in cat.list_jobs()}
    assert kinds["upload:y.wav"] == ("upload", True)
    assert kinds["https://example.org/z.mp3"] == ("url", True)
    assert kinds["/library/w.wav"] == ("path", False)


def test_cancel_a_job_once(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.sqlite3")
    job = cat.create_job("/x.mp4", "path", input_path="/x.mp4")
    assert cat.cancel_job(job.id).status == "canceled"
    with pytest.raises(JobFinishedError, match="already canceled"):
        cat.cancel_job(job.id)
    with pytest.raises(UnknownJobError):
        cat.cancel_job("nope")
    assert cat.find_job("nope") is None


def test_words_round_trip_and_catalogs_made_before_words_still_open(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    with sqlite3.connect(path) as db:  # the segments table as it was before word times
        db.execute(
            "CREATE TABLE segments (media_id TEXT NOT NULL, idx INTEGER NOT NULL, start_s REAL NOT NULL, "
            "end_s REAL NOT NULL, text TEXT NOT NULL, PRIMARY KEY (media_id, idx))"
        )
    cat = Catalog(path)
    words = (Word(0.1, 0.4, "Ask", 0.91), Word(0.4, 0.9, "not,", 0.5), Word(0.9, 1.0, "« naïve »", 0.25))
    cat.add_media(_record(), [Segment(0.0, 1.0, "Ask not, « naïve »", words), Segment(1.0, 2.0, "no words")])
    first, second = Catalog(path).get_segments("abc")
    assert first.words == words and second.words == ()


def test_chapters_round_trip_with_their_lead_vectors_and_go_with_the_media(tmp_path: Path) -> None:
    import numpy as np

    from retrieval.types import Chapter

    cat = Catalog(tmp_path / "c.sqlite3")
    lead = np.linspace(-1, 1, 8, dtype=np.float32)
    chapters = [Chapter("abc", 0, 0.0, 5.0, "Bridges", lead), Chapter("abc", 1, 5.0, 12.5, "Bees", None)]
    cat.add_media(_record(), [Segment(0.0, 1.0, "one")], chapters)
    got = Catalog(tmp_path / "c.sqlite3").get_chapters("abc")
    assert [(c.index, c.start_s, c.end_s, c.title) for c in got] == [(0, 0.0, 5.0, "Bridges"), (1, 5.0, 12.5, "Bees")]
    assert got[0].lead is not None and np.array_equal(got[0].lead, lead) and got[1].lead is None
    cat.set_chapters("abc", chapters[:1])  # reindex computes them again
    assert [c.title for c in cat.chapters_of(["abc", "nope"])["abc"]] == ["Bridges"]
    cat.delete_media("abc")
    with sqlite3.connect(tmp_path / "c.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM chapters").fetchone()[0] == 0
    with pytest.raises(UnknownMediaError):
        cat.get_chapters("abc")


def test_search_time_reads_see_what_another_process_wrote_since_and_serve_every_thread(tmp_path: Path) -> None:
    """Chapters and speaker names are read on a connection each thread keeps open: a later write, even one
    made by another process (here another Catalog on the same file), is seen by the next read."""
    import threading

    from retrieval.types import Chapter

    reader = Catalog(tmp_path / "c.sqlite3")
    assert reader.chapters_of(["abc"]) == {} and reader.speaker_names() == {}  # the connection is open now
    writer = Catalog(tmp_path / "c.sqlite3")
    writer.add_media(
        _record(), [Segment(0.0, 2.0, "Welcome.", speaker="SPEAKER_1")], [Chapter("abc", 0, 0.0, 2.0, "Hi", None)]
    )
    writer.rename_speakers("abc", {"SPEAKER_1": "Alice"})
    assert [c.title for c in reader.chapters_of(["abc"])["abc"]] == ["Hi"]
    assert reader.speaker_names(["abc"]) == {("abc", "SPEAKER_1"): "Alice"}
    writer.set_chapters("abc", [Chapter("abc", 0, 0.0, 2.0, "Welcome", None)])
    seen: list[object] = []
    threads = [
        threading.Thread(
            target=lambda: seen.append((reader.chapters_of(["abc"])["abc"][0].title, reader.speaker_names()))
        )
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [("Welcome", {("abc", "SPEAKER_1"): "Alice"})] * 4


def test_speakers_are_stored_with_the_transcript_and_named_all_or_nothing(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.sqlite3")
    segments = [
        Segment(0.0, 2.0, "Welcome to the show.", speaker="SPEAKER_1"),
        Segment(2.5, 3.0, "Thanks.", speaker="SPEAKER_2"),
        Segment(3.5, 6.0, "Let us start.", speaker="SPEAKER_1"),
    ]
    cat.add_media(_record(), segments)
    cat.add_media(_record("def"), [Segment(0.0, 1.0, "Alone here.", speaker="SPEAKER_1")])
    assert [s.speaker for s in cat.get_segments("abc")] == ["SPEAKER_1", "SPEAKER_2", "SPEAKER_1"]
    first, second = cat.get_speakers("abc")
    assert (first.label, first.name, first.speaking_s, first.segments, first.first_s) == (
        "SPEAKER_1",
        None,
        4.5,
        2,
        0.0,
    )
    assert (second.label, second.speaking_s, second.first_s) == ("SPEAKER_2", 0.5, 2.5)

    with pytest.raises(UnknownSpeakerError, match="SPEAKER_9"):
        cat.rename_speakers("abc", {"SPEAKER_1": "Alice", "SPEAKER_9": "Nobody"})
    assert cat.get_speakers("abc")[0].name is None  # nothing changed
    named = cat.rename_speakers("abc", {"SPEAKER_1": "  Alice ", "SPEAKER_2": "Bob"})
    assert [s.display for s in named] == ["Alice", "Bob"]
    assert cat.speaker_names() == {("abc", "SPEAKER_1"): "Alice", ("abc", "SPEAKER_2"): "Bob"}
    assert cat.speakers_called("alice") == [("abc", "SPEAKER_1")]
    assert cat.speakers_called("speaker_1") == [("abc", "SPEAKER_1"), ("def", "SPEAKER_1")]  # a label: every file
    assert cat.speakers_called("def/SPEAKER_1") == [("def", "SPEAKER_1")]
    assert cat.speakers_called("Carol") == []
    cat.rename_speakers("abc", {"SPEAKER_2": ""})  # a blank name clears it
    assert cat.get_speakers("abc")[1].name is None
    cat.delete_media("abc")
    assert cat.speaker_names() == {}


def test_catalogs_made_before_speakers_open_and_their_segments_have_none(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE segments (media_id TEXT NOT NULL, idx INTEGER NOT NULL, start_s REAL NOT NULL, "
            "end_s REAL NOT NULL, text TEXT NOT NULL, words TEXT, PRIMARY KEY (media_id, idx))"
        )
    cat = Catalog(path)
    cat.add_media(_record(), [Segment(0.0, 1.0, "one")])
    assert cat.get_segments("abc")[0].speaker is None
    assert cat.get_speakers("abc") == []
