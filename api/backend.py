"""What the CLI works against: one interface, two implementations, chosen once.

``LocalBackend`` runs on this process's own components (it holds the embedded index's lock);
``RemoteBackend`` sends the same work to a running ``moments serve`` that owns the index, found through
``DATA_DIR/server.json``. :func:`connect` picks one: local if the index can be opened, else the server
that holds it. Both answer searches in the REST contract's shape (``SearchResponse``), so the CLI renders
one thing whichever it got.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from api.schemas import SearchResponse
from api.services import Services
from api.settings import Settings
from ingest.pipeline import StopReason
from retrieval.errors import IndexLockedError
from retrieval.types import SearchFilters, SearchMode

__all__ = ["Backend", "Ingested", "LocalBackend", "RemoteBackend", "RemoteError", "connect", "find_server"]

ReportFn = Callable[[str, float], None]


class RemoteError(Exception):
    """The server refused or failed a request; the message is the server's."""


@dataclass(frozen=True)
class Ingested:
    media_id: str
    detail: str  # what to tell the user: "12 segments, 3 passages", "already indexed", "via <url>"


class Backend(Protocol):
    where: str  # "" for this process, else the URL of the server doing the work

    def ingest(self, path: Path, title: str | None, report: ReportFn) -> Ingested: ...

    def search(
        self,
        query: str,
        *,
        limit: int,
        mode: SearchMode,
        media_id: str | None,
        kind: str | None,
        speaker: str | None = None,
    ) -> SearchResponse: ...

    def remove(self, media_id: str) -> None: ...

    def close(self) -> None: ...


class _Progress:
    """Progress to the CLI's bar; a local ingest is stopped with Ctrl-C, never asked to."""

    def __init__(self, report: ReportFn) -> None:
        self._report = report

    def report(self, stage: str, progress: float) -> None:
        self._report(stage, progress)

    def should_stop(self) -> StopReason | None:
        return None


class LocalBackend:
    """This process's own catalog, index and models."""

    where = ""

    def __init__(self, services: Services) -> None:
        self.services = services
        services.open_index()  # takes the embedded folder's lock now, or says who holds it

    def ingest(self, path: Path, title: str | None, report: ReportFn) -> Ingested:
        result = self.services.ingestor.ingest_file(path, control=_Progress(report), title=title)
        if result.status == "unchanged":
            return Ingested(result.media_id, "already indexed")
        return Ingested(result.media_id, f"{result.segments} segments, {result.passages} passages")

    def search(
        self,
        query: str,
        *,
        limit: int,
        mode: SearchMode,
        media_id: str | None,
        kind: str | None,
        speaker: str | None = None,
    ) -> SearchResponse:
        searcher = self.services.searcher
        speakers = searcher.speakers_called(speaker) if speaker and speaker.strip() else None
        filters = SearchFilters(media_id=media_id, kind=kind, speakers=speakers)
        return SearchResponse.of(searcher.search(query, limit=limit, mode=mode, filters=filters))

    def remove(self, media_id: str) -> None:
        self.services.library.remove(media_id)

    def close(self) -> None:
        self.services.close()


class RemoteBackend:
    """A running ``moments serve``, over its REST API."""

    def __init__(self, url: str, api_key: str | None) -> None:
        self.where = url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.where, headers=headers, timeout=60.0, trust_env=False)

    def alive(self) -> bool:
        try:
            return self._client.get("/api/health", timeout=3.0).status_code == 200
        except httpx.HTTPError:
            return False

    def _check(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            raise RemoteError(message)
        return response.json() if response.content else None

    def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        try:
            return self._check(self._client.request(method, url, **kwargs))
        except httpx.HTTPError as exc:
            raise RemoteError(f"the server at {self.where} did not answer: {exc}") from exc

    def ingest(self, path: Path, title: str | None, report: ReportFn, poll_s: float = 0.5) -> Ingested:
        """By library path if the server allows it, else by uploading the file; then follow the job."""
        try:
            response = self._client.post("/api/media", json={"path": str(path.resolve()), "title": title})
            if response.status_code == 403:
                with path.open("rb") as f:
                    files = {"file": (path.name, f, "application/octet-stream")}
                    response = self._client.post("/api/media", files=files, data={"title": title or ""}, timeout=None)
        except httpx.HTTPError as exc:
            raise RemoteError(f"the server at {self.where} did not answer: {exc}") from exc
        accepted: dict[str, Any] = self._check(response)
        while True:
            job: dict[str, Any] = self._call("GET", f"/api/jobs/{accepted['job_id']}")
            report(job["stage"], job["progress"])
            if job["status"] == "done":
                return Ingested(job["media_id"], f"via {self.where}")
            if job["status"] in ("failed", "canceled"):
                raise RemoteError(f"{path.name}: {job['status']}: {job.get('error') or ''}")
            time.sleep(poll_s)

    def search(
        self,
        query: str,
        *,
        limit: int,
        mode: SearchMode,
        media_id: str | None,
        kind: str | None,
        speaker: str | None = None,
    ) -> SearchResponse:
        params = {"q": query, "limit": limit, "mode": mode, "media_id": media_id, "kind": kind, "speaker": speaker}
        data = self._call("GET", "/api/search", params={k: v for k, v in params.items() if v is not None})
        return SearchResponse.model_validate(data)

    def remove(self, media_id: str) -> None:
        self._call("DELETE", f"/api/media/{media_id}")

    def close(self) -> None:
        self._client.close()


def find_server(settings: Settings) -> RemoteBackend | None:
    """The server recorded in the data directory, if it answers."""
    try:
        url = json.loads(settings.server_file.read_text())["url"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    server = RemoteBackend(str(url), settings.api_key)
    if server.alive():
        return server
    server.close()
    return None


def connect(services: Services, announce: Callable[[str], None]) -> Backend:
    """This process's components if the index can be opened; the server that holds it otherwise."""
    try:
        return LocalBackend(services)
    except IndexLockedError:
        server = find_server(services.settings)
        if server is None:
            raise
        announce(f"The index is in use by the server at {server.where}; sending the work there.")
        return server
