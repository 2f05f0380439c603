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
import socket
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass

from ingest.catalog import Catalog, JobRecord
from ingest.errors import IngestError, JobCanceledError, WorkAbandonedError
from ingest.library import Library
from ingest.pipeline import StopReason
from retrieval.errors import RetrievalError

__all__ = ["JobRunner", "JobRunnerOptions"]

log = logging.getLogger("moments.jobs")


@dataclass(frozen=True)
class JobRunnerOptions:
    poll_s: float = 0.5
    write_every_s: float = 0.5
    lease_s: float = 60.0


class _JobControl:
    """One running job's side of the ingest: throttled progress writes, and whether to stop.

    Whether to stop is read from the job's row (canceled by a user, or leased to another worker), at most
    once per ``every_s``, so a loop that asks at every chunk costs nothing.
    """

    def __init__(self, catalog: Catalog, job: JobRecord, worker: str, every_s: float) -> None:
        self.catalog, self.job, self.worker, self.every_s = catalog, job, worker, every_s
        self.started = time.monotonic()
        self.last_write = 0.0
        self.last_stage = ""
        self.last_check = 0.0
        self.last_progress = 0.0

    def report(self, stage: str, progress: float) -> None:
        self.last_progress = progress
        now = time.monotonic()
        if stage == self.last_stage and now - self.last_write < self.every_s:
            return
        self.last_stage, self.last_write = stage, now
        elapsed = now - self.started
        if progress > 0.05:
            eta: float | None = round(elapsed * (1 - progress) / progress, 1)
        else:  # too early to measure: what was expected when the job was queued, less the time gone
            eta = None if self.job.eta_s is None else round(max(1.0, self.job.eta_s - elapsed), 1)
        self.catalog.update_job(self.job.id, stage=stage, progress=round(progress, 4), eta_s=eta)

    def should_stop(self) -> StopReason | None:
        now = time.monotonic()
        if now - self.last_check < self.every_s:
            return None
        self.last_check = now
        current = self.catalog.find_job(self.job.id)
        if current is None or current.status == "canceled":
            return "canceled"
        if current.worker != self.worker:
            return "abandoned"
        return None


class JobRunner:
    """Two background threads that take queued jobs from the catalog and run them through the library:
    one downloads URL jobs' files, the other ingests files that are here, so a slow or stalled download
    (cut off at the fetch time cap) never holds up the transcription queue."""

    def __init__(self, catalog: Catalog, library: Library, options: JobRunnerOptions) -> None:
        self.catalog = catalog
        self.library = library
        self.options = options
        self._wake = {False: threading.Event(), True: threading.Event()}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._current: dict[bool, str | None] = {False: None, True: None}

    def start(self) -> None:
        dead = [w for w in self.catalog.running_workers() if _dead_local_worker(w)]
        if self.catalog.expire_leases(dead):
            log.info("took over the jobs of dead workers %s", ", ".join(dead))
        self._threads = [
            threading.Thread(target=self._loop, args=(False,), name="moments-jobs", daemon=True),
            threading.Thread(target=self._loop, args=(True,), name="moments-fetch", daemon=True),
            threading.Thread(target=self._renew_leases, name="moments-lease", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _renew_leases(self) -> None:
        """Keep the current jobs' leases alive even while one long model call blocks progress reports."""
        while not self._stop.wait(self.options.lease_s / 4):
            for job_id in list(self._current.values()):
                if job_id is None:
                    continue
                try:
                    self.catalog.renew_lease(job_id, self.worker_id, self.options.lease_s)
                except sqlite3.Error:  # a busy or briefly unreadable catalog: try again next round
                    log.warning("could not renew the lease on job %s", job_id, exc_info=True)

    def wake(self) -> None:
        for event in self._wake.values():
            event.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self.wake()
        for thread in self._threads[:2]:
            thread.join(timeout_s)

    def _loop(self, fetch: bool) -> None:
        while not self._stop.is_set():
            try:
                ran = self.run_once(fetch=fetch)
            except Exception:  # the loop must survive anything one job does
                log.exception("job runner error")
                ran = False
            if not ran:
                self._wake[fetch].wait(self.options.poll_s)
                self._wake[fetch].clear()

    def run_once(self, *, fetch: bool = False) -> bool:
        """Claim and run one queued job (with ``fetch``: download one URL job's file). Returns False when
        that queue is empty."""
        job = self.catalog.claim_next_job(self.worker_id, self.options.lease_s, fetch=fetch)
        if job is None:
            return False
        self._current[fetch] = job.id
        control = _JobControl(self.catalog, job, self.worker_id, self.options.write_every_s)
        try:
            if fetch:
                path = self.library.fetch(job, control)
                if self.catalog.hand_on_fetched(job.id, self.worker_id, str(path), control.last_progress):
                    self._wake[False].set()
                else:  # canceled or taken over while the last bytes came in
                    path.unlink(missing_ok=True)
            else:
                result = self.library.run(job, control)
                self.catalog.update_job(
                    job.id, status="done", stage="done", progress=1.0, eta_s=0.0, media_id=result.media_id
                )
        except WorkAbandonedError:
            log.warning("job %s was taken over by another worker; leaving it", job.id)
        except JobCanceledError:
            self.library.discard(job)
            self.catalog.update_job(job.id, status="canceled", stage="canceled", eta_s=None)
        except (IngestError, RetrievalError) as exc:
            self.library.discard(job)
            self.catalog.update_job(job.id, status="failed", stage="failed", error=str(exc), eta_s=None)
        except Exception as exc:
            log.exception("job %s failed", job.id)
            self.library.discard(job)
            self.catalog.update_job(
                job.id,
                status="failed",
                stage="failed",
                eta_s=None,
                error=f"internal error ({type(exc).__name__}); see the server log",
            )
        finally:
            self._current[fetch] = None
        return True


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
