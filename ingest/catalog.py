"""The SQLite catalog: media, their transcripts, and ingest jobs. The source of truth.

The Qdrant collection is an index rebuilt from here (``moments reindex``). A media row appears only
together with its whole transcript, in one transaction, so a failed ingest leaves no trace.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ingest.errors import JobFinishedError, UnknownJobError, UnknownMediaError, UnknownSpeakerError
from ingest.types import MediaKind, Segment, Speaker, Word
from retrieval.types import Chapter

__all__ = ["Catalog", "JobRecord", "MediaRecord", "SourceKind"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS media (
    id          TEXT PRIMARY KEY,
    source      TEXT NOT NULL,
    path        TEXT NOT NULL,
    filename    TEXT NOT NULL,
    title       TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('audio', 'video')),
    format_name TEXT NOT NULL,
    size_bytes  INTEGER NOT NULL,
    duration_s  REAL NOT NULL,
    language    TEXT NOT NULL,
    created_at  REAL NOT NULL,
    status      TEXT NOT NULL,
    asr_model   TEXT NOT NULL,
    ingest_s    REAL
);
CREATE TABLE IF NOT EXISTS segments (
    media_id TEXT NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    idx      INTEGER NOT NULL,
    start_s  REAL NOT NULL,
    end_s    REAL NOT NULL,
    text     TEXT NOT NULL,
    words    TEXT,
    speaker  TEXT,
    PRIMARY KEY (media_id, idx)
);
CREATE TABLE IF NOT EXISTS speakers (
    media_id TEXT NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    label    TEXT NOT NULL,
    name     TEXT,
    PRIMARY KEY (media_id, label)
);
CREATE TABLE IF NOT EXISTS chapters (
    media_id TEXT NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    idx      INTEGER NOT NULL,
    start_s  REAL NOT NULL,
    end_s    REAL NOT NULL,
    title    TEXT NOT NULL,
    lead BLOB,
    PRIMARY KEY (media_id, idx)
);
CREATE TABLE IF NOT EXISTS jobs (
    id         TEXT PRIMARY KEY,
    media_id   TEXT,
    source     TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'canceled')),
    stage      TEXT NOT NULL,
    progress   REAL NOT NULL DEFAULT 0,
    eta_s      REAL,
    error      TEXT,
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    input_path TEXT,
    title      TEXT,
    worker     TEXT,
    lease_until REAL,
    source_kind TEXT NOT NULL DEFAULT 'path' CHECK (source_kind IN ('upload', 'url', 'path')),
    filename   TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, created_at);
"""
_ADDED_JOB_COLUMNS = {
    "input_path": "TEXT",
    "title": "TEXT",
    "worker": "TEXT",
    "lease_until": "REAL",
    "source_kind": "TEXT NOT NULL DEFAULT 'path' CHECK (source_kind IN ('upload', 'url', 'path'))",
    "filename": "TEXT",
}
# Jobs made before the source kind was stored: the one place it is read back from the source text.
_GUESS_SOURCE_KIND = (
    "UPDATE jobs SET source_kind = CASE WHEN source LIKE 'http://%' OR source LIKE 'https://%' THEN 'url' "
    "WHEN source LIKE 'upload:%' THEN 'upload' ELSE 'path' END"
)
SourceKind = Literal["upload", "url", "path"]


def _words_json(words: Sequence[Word]) -> str | None:
    """A segment's words as compact JSON rows ``[start, end, word, probability]``; NULL when it has none."""
    if not words:
        return None
    return json.dumps([[w.start_s, w.end_s, w.text, w.probability] for w in words], ensure_ascii=False)


def _words_of(blob: str | None) -> tuple[Word, ...]:
    if not blob:
        return ()
    return tuple(Word(float(s), float(e), str(t), float(p)) for s, e, t, p in json.loads(blob))


def _vector_blob(v: np.ndarray | None) -> bytes | None:
    return None if v is None else np.asarray(v, dtype="<f4").tobytes()


def _vector_of(blob: bytes | None) -> np.ndarray | None:
    return None if not blob else np.frombuffer(blob, dtype="<f4").copy()


@dataclass(frozen=True)
class MediaRecord:
    id: str
    source: str
    path: str
    filename: str
    title: str
    kind: MediaKind
    format_name: str
    size_bytes: int
    duration_s: float
    language: str
    created_at: float
    status: str
    asr_model: str
    ingest_s: float | None = None  # how long its ingest took, from the hash to the catalog row (wall seconds)


@dataclass(frozen=True)
class JobRecord:
    id: str
    media_id: str | None
    source: str
    status: str
    stage: str
    progress: float
    eta_s: float | None
    error: str | None
    attempts: int
    created_at: float
    updated_at: float
    input_path: str | None = None  # the local file to ingest (an upload, a download, a library file)
    title: str | None = None
    worker: str | None = None  # the worker holding the lease while it runs
    lease_until: float | None = None
    source_kind: SourceKind = "path"
    filename: str | None = None  # the name the user knows the file by (an upload's own name)

    @property
    def owns_file(self) -> bool:
        """The input file is the library's (an upload, a download): kept with the media or deleted."""
        return self.source_kind in ("upload", "url")


_MEDIA_COLUMNS = (
    "id, source, path, filename, title, kind, format_name, size_bytes, duration_s, language, "
    "created_at, status, asr_model, ingest_s"
)
_JOB_COLUMNS = (
    "id, media_id, source, status, stage, progress, eta_s, error, attempts, created_at, updated_at, input_path, "
    "title, worker, lease_until, source_kind, filename"
)


def _job(row: tuple[Any, ...]) -> JobRecord:
    return JobRecord(*row)


class Catalog:
    """A SQLite file under the data directory (WAL mode, so readers never block the writer)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            # Columns added after the first release: add them to catalogs made before.
            have = {r[1] for r in db.execute("PRAGMA table_info(jobs)")}
            for column, decl in _ADDED_JOB_COLUMNS.items():
                if column not in have:
                    db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {decl}")
            if "source_kind" not in have:
                db.execute(_GUESS_SOURCE_KIND)
            if "ingest_s" not in {r[1] for r in db.execute("PRAGMA table_info(media)")}:
                db.execute("ALTER TABLE media ADD COLUMN ingest_s REAL")
            # Word times and speakers came later; segments stored before have none (NULL).
            segment_columns = {r[1] for r in db.execute("PRAGMA table_info(segments)")}
            for column in ("words", "speaker"):
                if column not in segment_columns:
                    db.execute(f"ALTER TABLE segments ADD COLUMN {column} TEXT")

    def _reader(self) -> sqlite3.Connection:
        """This thread's own connection for the reads every search makes (its chapters, its speakers' names):
        kept open, not opened per call (an open and its pragma cost about 0.4 ms, two per search). In
        autocommit, so each read sees what was committed before it and holds no snapshot after it."""
        db: sqlite3.Connection | None = getattr(self._local, "reader", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self._local.reader = db
        return db

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._reader().execute(sql, params).fetchall()
        except sqlite3.Error:  # a connection gone bad (the file replaced underneath it): once more, fresh
            self._local.reader = None
            return self._reader().execute(sql, params).fetchall()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("PRAGMA foreign_keys=ON")
        try:
            with db:  # one transaction: commit on success, roll back on error
                yield db
        finally:
            db.close()

    # media -----------------------------------------------------------------------------------------
    def add_media(self, record: MediaRecord, segments: Sequence[Segment], chapters: Sequence[Chapter] = ()) -> None:
        """Insert (or replace) a media item, its whole transcript and its chapters atomically."""
        with self._connect() as db:
            db.execute("DELETE FROM media WHERE id = ?", (record.id,))
            db.execute(
                f"INSERT INTO media ({_MEDIA_COLUMNS}) VALUES ({', '.join('?' * 14)})",
                (
                    record.id,
                    record.source,
                    record.path,
                    record.filename,
                    record.title,
                    record.kind,
                    record.format_name,
                    record.size_bytes,
                    record.duration_s,
                    record.language,
                    record.created_at,
                    record.status,
                    record.asr_model,
                    record.ingest_s,
                ),
            )
            db.executemany(
                "INSERT INTO segments (media_id, idx, start_s, end_s, text, words, speaker) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (record.id, i, s.start_s, s.end_s, s.text, _words_json(s.words), s.speaker)
                    for i, s in enumerate(segments)
                ],
            )
            labels = dict.fromkeys(s.speaker for s in segments if s.speaker)
            db.executemany("INSERT INTO speakers (media_id, label) VALUES (?, ?)", [(record.id, x) for x in labels])
            self._insert_chapters(db, record.id, chapters)

    @staticmethod
    def _insert_chapters(db: sqlite3.Connection, media_id: str, chapters: Sequence[Chapter]) -> None:
        db.executemany(
            "INSERT INTO chapters (media_id, idx, start_s, end_s, title, lead) VALUES (?, ?, ?, ?, ?, ?)",
            [(media_id, c.index, c.start_s, c.end_s, c.title, _vector_blob(c.lead)) for c in chapters],
        )

    def set_chapters(self, media_id: str, chapters: Sequence[Chapter]) -> None:
        """Replace a media item's chapters (``moments reindex`` computes them again)."""
        self.get_media(media_id)
        with self._connect() as db:
            db.execute("DELETE FROM chapters WHERE media_id = ?", (media_id,))
            self._insert_chapters(db, media_id, chapters)

    def get_chapters(self, media_id: str) -> list[Chapter]:
        """A media item's chapters in order; empty for media ingested before chapters existed."""
        self.get_media(media_id)
        return self.chapters_of([media_id]).get(media_id, [])

    def chapters_of(self, media_ids: Sequence[str]) -> dict[str, list[Chapter]]:
        """The chapters of each of ``media_ids`` that has any, in order (what search asks, per query)."""
        ids = list(dict.fromkeys(media_ids))
        if not ids:
            return {}
        rows = self._read(
            "SELECT media_id, idx, start_s, end_s, title, lead FROM chapters "
            f"WHERE media_id IN ({', '.join('?' * len(ids))}) ORDER BY media_id, idx",
            ids,
        )
        out: dict[str, list[Chapter]] = {}
        for media_id, idx, start, end, title, blob in rows:
            out.setdefault(media_id, []).append(Chapter(media_id, idx, start, end, title, _vector_of(blob)))
        return out

    def get_media(self, media_id: str) -> MediaRecord:
        with self._connect() as db:
            row = db.execute(f"SELECT {_MEDIA_COLUMNS} FROM media WHERE id = ?", (media_id,)).fetchone()
        if row is None:
            raise UnknownMediaError(f"no media with id {media_id!r}")
        return MediaRecord(*row)

    def find_media(self, media_id: str) -> MediaRecord | None:
        try:
            return self.get_media(media_id)
        except UnknownMediaError:
            return None

    def list_media(self) -> list[MediaRecord]:
        with self._connect() as db:
            rows = db.execute(f"SELECT {_MEDIA_COLUMNS} FROM media ORDER BY created_at DESC, id").fetchall()
        return [MediaRecord(*r) for r in rows]

    def delete_media(self, media_id: str) -> None:
        with self._connect() as db:
            cur = db.execute("DELETE FROM media WHERE id = ?", (media_id,))
        if cur.rowcount == 0:
            raise UnknownMediaError(f"no media with id {media_id!r}")

    def set_media_path(self, media_id: str, path: str) -> None:
        with self._connect() as db:
            db.execute("UPDATE media SET path = ? WHERE id = ?", (path, media_id))

    def get_segments(self, media_id: str) -> list[Segment]:
        self.get_media(media_id)
        with self._connect() as db:
            rows = db.execute(
                "SELECT start_s, end_s, text, words, speaker FROM segments WHERE media_id = ? ORDER BY idx",
                (media_id,),
            ).fetchall()
        return [Segment(start, end, text, _words_of(words), speaker) for start, end, text, words, speaker in rows]

    # speakers --------------------------------------------------------------------------------------
    def get_speakers(self, media_id: str) -> list[Speaker]:
        """A media item's voices in order of first appearance, with their display names and speaking time;
        empty when speakers were not found (turned off, no speech, or ingested before they existed)."""
        self.get_media(media_id)
        with self._connect() as db:
            rows = db.execute(
                "SELECT sp.label, sp.name, COALESCE(SUM(sg.end_s - sg.start_s), 0), COUNT(sg.idx), "
                "COALESCE(MIN(sg.start_s), 0) FROM speakers sp LEFT JOIN segments sg "
                "ON sg.media_id = sp.media_id AND sg.speaker = sp.label WHERE sp.media_id = ? "
                "GROUP BY sp.label ORDER BY MIN(sg.start_s), sp.label",
                (media_id,),
            ).fetchall()
        return [
            Speaker(media_id, label, name, round(float(t), 3), int(n), float(first))
            for label, name, t, n, first in rows
        ]

    def rename_speakers(self, media_id: str, names: dict[str, str | None]) -> list[Speaker]:
        """Set display names (``{"SPEAKER_1": "Alice"}``; None or "" clears one). All or nothing: a label the
        media does not have raises UnknownSpeakerError and changes nothing."""
        known = {s.label for s in self.get_speakers(media_id)}
        unknown = sorted(set(names) - known)
        if unknown:
            have = ", ".join(sorted(known)) or "none"
            raise UnknownSpeakerError(f"media {media_id!r} has no speaker {', '.join(unknown)} (it has: {have})")
        with self._connect() as db:
            db.executemany(
                "UPDATE speakers SET name = ? WHERE media_id = ? AND label = ?",
                [((name or "").strip() or None, media_id, label) for label, name in names.items()],
            )
        return self.get_speakers(media_id)

    def speaker_names(self, media_ids: Sequence[str] | None = None) -> dict[tuple[str, str], str]:
        """``(media_id, label) -> name`` of every named speaker (of ``media_ids``, or of the whole library)."""
        if media_ids is None:
            rows = self._read("SELECT media_id, label, name FROM speakers WHERE name IS NOT NULL")
        else:
            ids = list(dict.fromkeys(media_ids))
            if not ids:
                return {}
            rows = self._read(
                "SELECT media_id, label, name FROM speakers WHERE name IS NOT NULL "
                f"AND media_id IN ({', '.join('?' * len(ids))})",
                ids,
            )
        return {(m, label): name for m, label, name in rows}

    def speakers_called(self, who: str) -> list[tuple[str, str]]:
        """``(media_id, label)`` of every speaker whose display name is ``who`` (any case), or whose label is
        (``SPEAKER_2`` names the second voice of every media that has one); ``<media_id>/<label>`` names one."""
        media_id, sep, label = who.strip().rpartition("/")
        if sep:
            with self._connect() as db:
                row = db.execute(
                    "SELECT media_id, label FROM speakers WHERE media_id = ? AND label = upper(?)", (media_id, label)
                ).fetchone()
            return [(row[0], row[1])] if row else []
        with self._connect() as db:
            rows = db.execute(
                "SELECT media_id, label FROM speakers WHERE lower(name) = lower(?) OR label = upper(?) "
                "ORDER BY media_id, label",
                (who.strip(), who.strip()),
            ).fetchall()
        return [(m, label) for m, label in rows]

    def recent_rates(self, asr_model: str, limit: int = 5) -> list[float]:
        """Audio seconds per wall second of the last ``limit`` ingests with ``asr_model`` here."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT duration_s / ingest_s FROM media WHERE asr_model = ? AND ingest_s > 0 "
                "ORDER BY created_at DESC LIMIT ?",
                (asr_model, limit),
            ).fetchall()
        return [float(r[0]) for r in rows]

    def count_media(self) -> int:
        with self._connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM media").fetchone()[0])

    # jobs ------------------------------------------------------------------------------------------
    def create_job(
        self,
        source: str,
        source_kind: SourceKind,
        *,
        input_path: str | None = None,
        title: str | None = None,
        filename: str | None = None,
        media_id: str | None = None,
        eta_s: float | None = None,
    ) -> JobRecord:
        """Queue a job; ``eta_s`` is how long it is expected to take once it runs (None: not known)."""
        now = time.time()
        job = JobRecord(
            id=uuid.uuid4().hex,
            media_id=media_id,
            source=source,
            status="queued",
            stage="queued",
            progress=0.0,
            eta_s=None if eta_s is None else round(eta_s, 1),
            error=None,
            attempts=0,
            created_at=now,
            updated_at=now,
            input_path=input_path,
            title=title,
            source_kind=source_kind,
            filename=filename,
        )
        values = [getattr(job, name.strip()) for name in _JOB_COLUMNS.split(",")]
        with self._connect() as db:
            db.execute(f"INSERT INTO jobs ({_JOB_COLUMNS}) VALUES ({', '.join('?' * len(values))})", values)
        return job

    def claim_next_job(self, worker: str = "local", lease_s: float = 60.0, *, fetch: bool = False) -> JobRecord | None:
        """Take the oldest queued job, or a running one whose lease ran out (its worker died), and lease
        it to ``worker``. Atomic: of several workers asking at once, one wins each job.

        ``fetch`` chooses between the two queues: URL jobs whose file is still to be downloaded, and every
        other job (so a slow download never holds up the transcription of files that are here).
        """
        now = time.time()
        to_fetch = "source_kind = 'url' AND input_path IS NULL"
        which = to_fetch if fetch else f"NOT ({to_fetch})"
        with self._connect() as db:
            row = db.execute(
                "UPDATE jobs SET status = 'running', stage = 'starting', attempts = attempts + 1, worker = ?, "
                "lease_until = ?, updated_at = ? "
                "WHERE id = (SELECT id FROM jobs WHERE (status = 'queued' "
                "            OR (status = 'running' AND COALESCE(lease_until, 0) < ?)) "
                f"            AND {which} ORDER BY created_at, id LIMIT 1) "
                f"RETURNING {_JOB_COLUMNS}",
                (worker, now + lease_s, now, now),
            ).fetchone()
        return _job(row) if row else None

    def hand_on_fetched(self, job_id: str, worker: str, input_path: str, progress: float) -> bool:
        """A URL job's file is downloaded: queue it again for transcription (the same attempt). False if
        the job is no longer this worker's (canceled, or taken over)."""
        with self._connect() as db:
            cur = db.execute(
                "UPDATE jobs SET status = 'queued', stage = 'fetched', input_path = ?, progress = ?, "
                "attempts = attempts - 1, worker = NULL, lease_until = NULL, updated_at = ? "
                "WHERE id = ? AND worker = ? AND status = 'running'",
                (input_path, progress, time.time(), job_id, worker),
            )
        return cur.rowcount == 1

    def renew_lease(self, job_id: str, worker: str, lease_s: float) -> bool:
        """Extend ``worker``'s lease on a running job; False if the job is no longer its to run."""
        with self._connect() as db:
            cur = db.execute(
                "UPDATE jobs SET lease_until = ? WHERE id = ? AND worker = ? AND status = 'running'",
                (time.time() + lease_s, job_id, worker),
            )
        return cur.rowcount == 1

    def expire_leases(self, workers: list[str]) -> int:
        """End the leases of workers known to be dead, so their jobs are taken over at once."""
        if not workers:
            return 0
        marks = ", ".join("?" * len(workers))
        with self._connect() as db:
            cur = db.execute(
                f"UPDATE jobs SET lease_until = 0 WHERE status = 'running' AND worker IN ({marks})", workers
            )
        return cur.rowcount

    def running_workers(self) -> list[str]:
        with self._connect() as db:
            return [r[0] for r in db.execute("SELECT DISTINCT worker FROM jobs WHERE status = 'running'") if r[0]]

    def update_job(self, job_id: str, **fields: object) -> None:
        allowed = {"media_id", "status", "stage", "progress", "eta_s", "error", "attempts", "input_path"}
        if not fields.keys() <= allowed:
            raise ValueError(f"cannot update {sorted(fields.keys() - allowed)}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._connect() as db:
            db.execute(f"UPDATE jobs SET {sets}, updated_at = ? WHERE id = ?", (*fields.values(), time.time(), job_id))

    def find_job(self, job_id: str) -> JobRecord | None:
        with self._connect() as db:
            row = db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def get_job(self, job_id: str) -> JobRecord:
        job = self.find_job(job_id)
        if job is None:
            raise UnknownJobError(f"no job with id {job_id!r}")
        return job

    def cancel_job(self, job_id: str) -> JobRecord:
        """Mark a queued or running job canceled (its worker stops at its next check and cleans up)."""
        with self._connect() as db:
            cur = db.execute(
                "UPDATE jobs SET status = 'canceled', stage = 'canceled', eta_s = NULL, updated_at = ? "
                "WHERE id = ? AND status IN ('queued', 'running')",
                (time.time(), job_id),
            )
        job = self.get_job(job_id)
        if cur.rowcount == 0:
            raise JobFinishedError(f"the job is already {job.status}")
        return job

    def list_jobs(self, limit: int = 100) -> list[JobRecord]:
        with self._connect() as db:
            rows = db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,)).fetchall()
        return [_job(r) for r in rows]
