"""The ingest job queue's worker: runs queued jobs from the catalog through the stages, one at a time.

Progress (0..1 over fetch, hash, probe, decode, transcribe, index) and an ETA are written to the job row,
so any process can show them. Several workers (threads of servers, or ``moments worker`` processes) can
share one catalog: a job is leased to one worker, which renews the lease while it works; a job whose
lease runs out (its worker died) is taken over by another. A worker that starts on the same machine as
a dead one ends that one's leases at once. The new owner removes whatever points the dead run wrote, and
point ids are deterministic, so the result has exactly the points of a clean run.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ingest.catalog import Catalog, JobRecord
from ingest.errors import IngestError, WorkAbandonedError
from ingest.fetch import FetchPolicy, fetch_url
from ingest.pipeline import Ingestor, Stage, overall_progress
from retrieval.errors import RetrievalError

__all__ = ["JobCanceledError", "JobRunner", "JobRunnerOptions"]

log = logging.getLogger("moments.jobs")
FETCH_SHARE = 0.1  # of a URL job's progress bar


class JobCanceledError(IngestError):
    """The job was canceled while it ran."""


@dataclass(frozen=True)
class JobRunnerOptions:
    media_dir: Path
    downloads_dir: Path
    fetch: FetchPolicy = field(default_factory=FetchPolicy)
    poll_s: float = 0.5
    write_every_s: float = 0.5
    lease_s: float = 60.0


class _Reporter:
    """Throttled progress writes and cancel checks for one running job."""

    def __init__(self, catalog: Catalog, job: JobRecord, every_s: float, base: float = 0.0, worker: str = "") -> None:
        self.catalog, self.job, self.every_s, self.base, self.worker = catalog, job, every_s, base, worker
        self.started = time.monotonic()
        self.last_write = 0.0
        self.last_stage = ""

    def __call__(self, stage: str, fraction: float) -> None:
        now = time.monotonic()
        if stage == self.last_stage and now - self.last_write < self.every_s:
            return
        self.last_stage, self.last_write = stage, now
        current = self.catalog.get_job(self.job.id)
        if current is None or current.status == "canceled":
            raise JobCanceledError("canceled")
        if self.worker and current.worker != self.worker:
            raise WorkAbandonedError(f"job {self.job.id} was taken over by {current.worker}")
        progress = self.base + (1 - self.base) * fraction
        elapsed = now - self.started
        eta = round(elapsed * (1 - progress) / progress, 1) if progress > 0.05 else None
        self.catalog.update_job(self.job.id, stage=stage, progress=round(progress, 4), eta_s=eta)


class JobRunner:
    """A background thread that takes queued jobs from the catalog and ingests them."""

    def __init__(self, catalog: Catalog, ingestor: Ingestor, options: JobRunnerOptions) -> None:
        self.catalog = catalog
        self.ingestor = ingestor
        self.options = options
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._current: str | None = None
        self._heartbeat: threading.Thread | None = None

    def start(self) -> None:
        dead = [w for w in self.catalog.running_workers() if _dead_local_worker(w)]
        if self.catalog.expire_leases(dead):
            log.info("took over the jobs of dead workers %s", ", ".join(dead))
        self._thread = threading.Thread(target=self._loop, name="moments-jobs", daemon=True)
        self._thread.start()
        self._heartbeat = threading.Thread(target=self._renew_leases, name="moments-lease", daemon=True)
        self._heartbeat.start()

    def _renew_leases(self) -> None:
        """Keep the current job's lease alive even while one long model call blocks progress reports."""
        while not self._stop.wait(self.options.lease_s / 4):
            job_id = self._current
            if job_id is not None:
                self.catalog.renew_lease(job_id, self.worker_id, self.options.lease_s)

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self.run_once()
            except Exception:  # the loop must survive anything one job does
                log.exception("job runner error")
                ran = False
            if not ran:
                self._wake.wait(self.options.poll_s)
                self._wake.clear()

    def run_once(self) -> bool:
        """Claim and run one queued job. Returns False when the queue is empty."""
        job = self.catalog.claim_next_job(self.worker_id, self.options.lease_s)
        if job is None:
            return False
        self._current = job.id
        try:
            self._run(job)
        except WorkAbandonedError:
            log.warning("job %s was taken over by another worker; leaving it", job.id)
        except JobCanceledError:
            self._discard_owned(job)
            self.catalog.update_job(job.id, status="canceled", stage="canceled", eta_s=None)
        except (IngestError, RetrievalError) as exc:
            self._discard_owned(job)
            self.catalog.update_job(job.id, status="failed", stage="failed", error=str(exc), eta_s=None)
        except Exception as exc:
            log.exception("job %s failed", job.id)
            self._discard_owned(job)
            self.catalog.update_job(
                job.id,
                status="failed",
                stage="failed",
                eta_s=None,
                error=f"internal error ({type(exc).__name__}); see the server log",
            )
        return True

    def _discard_owned(self, job: JobRecord) -> None:
        current = self.catalog.get_job(job.id) or job
        if (current.owned_file or current.source.startswith(("http://", "https://"))) and current.input_path:
            Path(current.input_path).unlink(missing_ok=True)

    def _run(self, job: JobRecord) -> None:
        if job.media_id and self.catalog.find_media(job.media_id) is None:
            # A previous attempt died part-way: drop whatever it indexed before starting again.
            self.ingestor.index.delete_media(job.media_id)
        is_url = job.source.startswith(("http://", "https://"))
        input_path = job.input_path
        base = 0.0
        filename = None
        if is_url:
            input_path = str(self._download(job))
            base = FETCH_SHARE
            filename = Path(urlsplit(job.source).path).name or None
        if input_path is None:
            raise IngestError("the job has no input file")
        report = _Reporter(self.catalog, job, self.options.write_every_s, base, self.worker_id)

        def on_progress(stage: Stage, fraction: float) -> None:
            report(stage, overall_progress(stage, fraction))

        result = self.ingestor.ingest_file(
            Path(input_path),
            on_progress=on_progress,
            on_identified=lambda media_id: self.catalog.update_job(job.id, media_id=media_id),
            source=job.source,
            title=job.title,
            filename=filename,
        )
        if job.owned_file or is_url:
            owned = Path(input_path)
            if result.status == "added":
                self.options.media_dir.mkdir(parents=True, exist_ok=True)
                kept = self.options.media_dir / f"{result.media_id}{owned.suffix.lower()}"
                shutil.move(str(owned), kept)
                self.catalog.set_media_path(result.media_id, str(kept))
            else:
                owned.unlink(missing_ok=True)
        self.catalog.update_job(job.id, status="done", stage="done", progress=1.0, eta_s=0.0, media_id=result.media_id)

    def _download(self, job: JobRecord) -> Path:
        url = job.source
        suffix = Path(urlsplit(url).path).suffix.lower()[:8] or ".media"
        self.options.downloads_dir.mkdir(parents=True, exist_ok=True)
        dest = self.options.downloads_dir / f"{job.id}{suffix}"
        self.catalog.update_job(job.id, stage="fetch", input_path=str(dest))
        report = _Reporter(self.catalog, job, self.options.write_every_s, worker=self.worker_id)

        def on_bytes(received: int, total: int | None) -> None:
            report("fetch", FETCH_SHARE * (received / total if total else 0.0))

        fetch_url(url, dest, self.options.fetch, on_progress=on_bytes)
        return dest


def _dead_local_worker(worker: str) -> bool:
    """A worker id of this machine whose process is gone."""
    host, _, rest = worker.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
