"""Talking to a running ``moments serve`` from the CLI, when that server owns the embedded index."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from api.settings import Settings
from retrieval.types import Moment

__all__ = ["RemoteError", "RemoteServer", "find_server"]


class RemoteError(Exception):
    """The server refused or failed a request; the message is the server's."""


def find_server(settings: Settings) -> RemoteServer | None:
    """The server recorded in the data directory, if it answers."""
    marker = settings.data_dir / "server.json"
    try:
        url = json.loads(marker.read_text())["url"]
    except (OSError, ValueError, KeyError):
        return None
    server = RemoteServer(url, settings.api_key)
    return server if server.alive() else None


class RemoteServer:
    def __init__(self, url: str, api_key: str | None) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.url, headers=headers, timeout=60.0, trust_env=False)

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

    def search(self, query: str, **params: str | int | None) -> tuple[list[Moment], float]:
        clean: dict[str, str | int] = {k: v for k, v in params.items() if v is not None}
        data = self._check(self._client.get("/api/search", params={"q": query, **clean}))
        moments = [
            Moment(
                media_id=r["media_id"],
                title=r["title"],
                filename=r["filename"],
                kind=r["kind"],
                start=r["start"],
                end=r["end"],
                score=r["score"],
                text=r["text"],
                highlights=[tuple(h) for h in r["highlights"]],
            )
            for r in data["results"]
        ]
        return moments, float(data["took_ms"])

    def submit(self, path: Path, title: str | None = None) -> dict[str, Any]:
        """Ingest by library path if the server allows it, else by uploading the file."""
        resolved = str(path.resolve())
        response = self._client.post("/api/media", json={"path": resolved, "title": title})
        if response.status_code == 403:
            with path.open("rb") as f:
                files = {"file": (path.name, f, "application/octet-stream")}
                response = self._client.post("/api/media", files=files, data={"title": title or ""}, timeout=None)
        accepted: dict[str, Any] = self._check(response)
        return accepted

    def wait(self, job_id: str, on_update: Callable[[dict[str, Any]], None], poll_s: float = 0.5) -> dict[str, Any]:
        while True:
            job: dict[str, Any] = self._check(self._client.get(f"/api/jobs/{job_id}"))
            on_update(job)
            if job["status"] in ("done", "failed", "canceled"):
                return job
            time.sleep(poll_s)

    def delete(self, media_id: str) -> None:
        self._check(self._client.delete(f"/api/media/{media_id}"))
