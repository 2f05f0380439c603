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

    def report(self, stage: str, progress: float) -> None:
        now = time.monotonic()
        if stage == self.last_stage and now - self.last_write < self.every_s:
            return
        self.last_stage, self.last_write = stage, now
        elapsed = now - self.started
        eta = round(elapsed * (1 - progress) / progress, 1) if progress > 0.05 else None
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
    """A background thread that takes queued jobs from the catalog and runs them through the library."""

    def __init__(self, catalog: Catalog, library: Library, options: JobRunnerOptions) -> None:
        self.catalog = catalog
        self.library = library
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
        control = _JobControl(self.catalog, job, self.worker_id, self.options.write_every_s)
        try:
            result = self.library.run(job, control)
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
        else:
            self.catalog.update_job(
                job.id, status="done", stage="done", progress=1.0, eta_s=0.0, media_id=result.media_id
            )
        finally:
            self._current = None
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
