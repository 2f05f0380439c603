"""A real local HTTP server that misbehaves on purpose (slow, stalled and endless bodies, redirects), and
a canary server that counts every request that reaches it. For the URL door's tests."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Seen:
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, Host header)


class _Handler(http.server.BaseHTTPRequestHandler):
    media: bytes = b""
    seen: Seen
    stop: threading.Event

    def do_GET(self) -> None:
        self.seen.requests.append((self.path, self.headers.get("Host", "")))
        route = self.path.split("?")[0]
        try:
            if route == "/media.wav":
                self._head(200, len(self.media), "audio/wav")
                self.wfile.write(self.media)
            elif route == "/slow":  # headers, then 50 bytes a second for ever
                self._head(200, 10**6, "video/mp4")
                while not self.stop.wait(1.0):
                    self.wfile.write(b"\0" * 50)
                    self.wfile.flush()
            elif route == "/stall":  # headers, then nothing
                self._head(200, 10**6, "video/mp4")
                self.stop.wait(60)
            elif route == "/endless":  # as fast as it goes, no length
                self._head(200, None, "video/mp4")
                chunk = b"\0" * 65536
                while not self.stop.is_set():
                    self.wfile.write(chunk)
            elif route.startswith("/redirect"):
                self.send_response(302)
                self.send_header("Location", self.path.partition("to=")[2])
                self.end_headers()
            else:
                self._head(404, 0, "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            return

    def _head(self, status: int, length: int | None, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@dataclass
class Site:
    base: str
    seen: Seen


@contextmanager
def serve(host: str, media: Path | None = None) -> Iterator[Site]:
    """Serve the misbehaving routes on ``host`` (a loopback address) at a free port."""
    seen, stop = Seen(), threading.Event()
    handler = type("Handler", (_Handler,), {"media": media.read_bytes() if media else b"", "seen": seen, "stop": stop})
    server = http.server.ThreadingHTTPServer((host, 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Site(f"http://{host}:{server.server_address[1]}", seen)
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        time.sleep(0)  # let the handler threads see the stop
