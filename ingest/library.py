"""The library: the one owner of every media file, from its arrival to its deletion.

A file arrives three ways: an upload (stored under ``DATA_DIR/uploads`` until its job runs), a URL
(fetched by the job into the same folder) or a path under a configured library root (referenced where it
is, never moved or deleted). Each arrival is checked at the door (probe, hash, URL and path rules) and
becomes a job whose source kind is stored with it. When the job has ingested a file the library owns, the
file moves to ``DATA_DIR/media/<media id><suffix>``; when the job fails or is canceled, it is deleted.
Removing a media item removes its points, its catalog rows and the file the library kept, whoever asks
(the REST API or the CLI).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from ingest.catalog import Catalog, JobRecord
from ingest.errors import IngestError, PathRefusedError
from ingest.fetch import FetchPolicy, check_url, download
from ingest.media import probe_media
from ingest.pipeline import IngestControl, Ingestor, IngestResult, StopReason, media_id_for, stop_if_asked

__all__ = ["Library", "LibraryOptions", "Submitted", "resolve_library_path", "safe_filename"]

FETCH_SHARE = 0.1  # of a URL job's progress bar
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


@dataclass(frozen=True)
class LibraryOptions:
    media_dir: Path  # files the library keeps, named by media id
    uploads_dir: Path  # uploads and downloads waiting for (or in) their job
    roots: tuple[Path, ...] = ()  # folders whose files may be ingested by path
    fetch: FetchPolicy = field(default_factory=FetchPolicy)
    max_duration_s: float = 4 * 3600.0
    # How long an ingest of so many seconds of audio is expected to take (None: not known); the job's ETA
    # until its own progress can tell.
    expect_s: Callable[[float], float | None] | None = None


@dataclass(frozen=True)
class Submitted:
    media_id: str | None  # known at once for uploads and paths; for URLs once fetched
    job_id: str


def safe_filename(name: str | None) -> str:
    """A file name safe to store and to put in a header: no folders, no odd characters, at most 120."""
    base = Path(name or "upload").name.replace("\0", "")
    base = _SAFE_NAME.sub("_", base).strip(" .") or "upload"
    return base[-120:]


def _suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return suffix if 1 < len(suffix) <= 8 else ".media"


def resolve_library_path(raw: str, roots: Sequence[Path]) -> Path:
    """The real path of ``raw`` if it is a file inside one of ``roots``; ``..`` and symlinks are resolved
    first, so neither can lead out of a root."""
    if not roots:
        raise PathRefusedError("path ingest is off: no library roots are configured (MOMENTS_LIBRARY_ROOTS)")
    if "\0" in raw:
        raise PathRefusedError("invalid path")
    try:
        candidate = Path(raw)
        real_roots = [r.expanduser().resolve() for r in roots]
        if not candidate.is_absolute():
            candidate = real_roots[0] / candidate
        real = candidate.resolve()
        inside = any(real == root or root in real.parents for root in real_roots)
        is_file = inside and real.is_file()
    except (OSError, RuntimeError) as exc:  # a name too long, a symlink loop ...: the file system said no
        raise PathRefusedError(f"{raw[:200]}: {getattr(exc, 'strerror', None) or exc}") from exc
    if not inside:
        raise PathRefusedError(f"{raw} is outside the library roots")
    if not is_file:
        raise PathRefusedError(f"{raw}: no such file in the library")
    return real


class _FromBase:
    """The ingest's progress mapped into what is left of a job's bar after the fetch."""

    def __init__(self, control: IngestControl, base: float) -> None:
        self.control, self.base = control, base

    def report(self, stage: str, progress: float) -> None:
        self.control.report(stage, self.base + (1 - self.base) * progress)

    def should_stop(self) -> StopReason | None:
        return self.control.should_stop()


class Library:
    """Submits files as jobs, runs a job's file through the ingestor, and removes media."""

    def __init__(self, catalog: Catalog, ingestor: Ingestor, options: LibraryOptions) -> None:
        self.catalog = catalog
        self.ingestor = ingestor
        self.options = options

    # arrival ---------------------------------------------------------------------------------------
    def submit_upload(self, data: BinaryIO, filename: str | None, title: str | None = None) -> Submitted:
        """Store an uploaded body, check it is media we accept, and queue it; a refused file is deleted."""
        name = safe_filename(filename)
        self.options.uploads_dir.mkdir(parents=True, exist_ok=True)
        stored = self.options.uploads_dir / f"{uuid.uuid4().hex}{_suffix(name)}"
        try:
            with stored.open("wb") as out:
                shutil.copyfileobj(data, out, 1 << 20)
            eta = self._check_media(stored, name)
            media_id = media_id_for(stored)
            job = self.catalog.create_job(
                f"upload:{name}",
                "upload",
                input_path=str(stored),
                title=title or None,
                filename=name,
                media_id=media_id,
                eta_s=eta,
            )
        except BaseException:
            stored.unlink(missing_ok=True)
            raise
        return Submitted(media_id, job.id)

    def submit_url(self, url: str, title: str | None = None) -> Submitted:
        """Check the URL at the door (scheme, public address) and queue its download."""
        check_url(url, self.options.fetch)
        job = self.catalog.create_job(url, "url", title=title or None)
        return Submitted(None, job.id)

    def submit_path(self, raw: str, title: str | None = None) -> Submitted:
        """Queue a file under a library root; it is referenced where it is, never moved."""
        path = resolve_library_path(raw, self.options.roots)
        eta = self._check_media(path, path.name)
        media_id = media_id_for(path)
        job = self.catalog.create_job(
            str(path), "path", input_path=str(path), title=title or None, media_id=media_id, eta_s=eta
        )
        return Submitted(media_id, job.id)

    def _check_media(self, path: Path, name: str) -> float | None:
        """Refuse what is not media we accept; for what is, the expected ingest time (None: not known)."""
        info = probe_media(path, max_duration_s=self.options.max_duration_s, name=name)
        return self.options.expect_s(info.duration_s) if self.options.expect_s is not None else None

    # a job's file ----------------------------------------------------------------------------------
    def run(self, job: JobRecord, control: IngestControl) -> IngestResult:
        """Ingest a job's file (fetching a URL first unless that was done), then keep or delete the file
        if it is the library's."""
        base = 0.0
        filename = job.filename
        if job.source_kind == "url":
            fetched = Path(job.input_path) if job.input_path else None
            input_path = fetched if fetched is not None and fetched.is_file() else self.fetch(job, control)
            base = FETCH_SHARE
            filename = filename or Path(urlsplit(job.source).path).name or None
        elif job.input_path:
            input_path = Path(job.input_path)
        else:
            raise IngestError("the job has no input file")
        result = self.ingestor.ingest_file(
            input_path, control=_FromBase(control, base), source=job.source, title=job.title, filename=filename
        )
        if job.owns_file:
            self._keep(input_path, result)
        return result

    def fetch(self, job: JobRecord, control: IngestControl) -> Path:
        """Download a URL job's file into the uploads folder, reporting progress; stop when asked."""
        self.options.uploads_dir.mkdir(parents=True, exist_ok=True)
        dest = self.options.uploads_dir / f"{job.id}{_suffix(urlsplit(job.source).path)}"
        control.report("fetch", 0.0)
        with contextlib.closing(download(job.source, dest, self.options.fetch)) as progress:
            for received, total in progress:
                control.report("fetch", FETCH_SHARE * (received / total if total else 0.0))
                stop_if_asked(control)
        return dest

    def _keep(self, owned: Path, result: IngestResult) -> None:
        if result.status != "added":
            owned.unlink(missing_ok=True)  # the same bytes are in the library already
            return
        self.options.media_dir.mkdir(parents=True, exist_ok=True)
        kept = self.options.media_dir / f"{result.media_id}{owned.suffix.lower()}"
        shutil.move(str(owned), kept)
        self.catalog.set_media_path(result.media_id, str(kept))

    def discard(self, job: JobRecord) -> None:
        """Delete the file of a job that failed or was canceled, if the library owns it."""
        current = self.catalog.find_job(job.id) or job
        if current.owns_file and current.input_path:
            Path(current.input_path).unlink(missing_ok=True)

    def cancel(self, job_id: str) -> JobRecord:
        """Cancel a queued or running job. A running one stops at its next step and cleans up after
        itself; the file of a queued one is deleted here, since no worker will look at it again."""
        before = self.catalog.get_job(job_id)
        job = self.catalog.cancel_job(job_id)
        if before.status == "queued":
            self.discard(job)
        return job

    # removal ---------------------------------------------------------------------------------------
    def remove(self, media_id: str) -> None:
        """Remove a media item everywhere: its points, its catalog rows and the file the library kept.

        Raises UnknownMediaError if there is no such item. A file referenced under a library root stays.
        """
        record = self.catalog.get_media(media_id)
        self.ingestor.index.delete_media(media_id)
        self.catalog.delete_media(media_id)
        kept = Path(record.path)
        if kept.parent.resolve() == self.options.media_dir.resolve():
            kept.unlink(missing_ok=True)
