"""The door: auth and upload size are checked before any request body is read or stored."""

from __future__ import annotations

import hmac
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DoorMiddleware"]

_WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class _BodyTooLargeError(Exception):
    pass


async def _reply(send: Send, status: int, code: str, message: str, headers: list[tuple[bytes, bytes]] = []) -> None:  # noqa: B006
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-content-type-options", b"nosniff"),
                (b"connection", b"close"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class DoorMiddleware:
    """Refuses unauthorized writes (401) and over-size bodies (413) before the app sees the body, and marks
    every response ``X-Content-Type-Options: nosniff``.

    A declared Content-Length over the cap is refused at once; a chunked body is counted as it streams
    and cut off at the cap.
    """

    def __init__(self, app: ASGIApp, *, api_key: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, original_send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, original_send)
            return

        async def send(message: Message) -> None:
            # Every answer says what it is and must not be sniffed as something else (JSON, transcripts,
            # media); routes that set the header already keep theirs.
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                if b"x-content-type-options" not in have:
                    message = {
                        **message,
                        "headers": [*message.get("headers", []), (b"x-content-type-options", b"nosniff")],
                    }
            await original_send(message)

        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        method = scope["method"]
        if method in _WRITE_METHODS and scope["path"].startswith("/api/") and self.api_key:
            given = headers.get(b"authorization", b"").decode("latin-1")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.api_key}".encode()):
                await _reply(
                    send,
                    401,
                    "unauthorized",
                    "this write needs Authorization: Bearer <api key>",
                    [(b"www-authenticate", b"Bearer")],
                )
                return
        if method not in _WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await _reply(send, 413, "too_large", f"the body is over the {self.max_body_bytes}-byte upload cap")
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLargeError:
            if not started:
                await _reply(send, 413, "too_large", f"the body is over the {self.max_body_bytes}-byte upload cap")
