"""The route class of every router: each GET route answers HEAD too (RFC 9110 section 9.3.2).

Players and download managers probe a stream with HEAD before they fetch it. FastAPI routes only the
methods they declare; this class lets a GET route take a HEAD request as well, sends the headers a GET
would send and no body, and leaves the OpenAPI document as it is (HEAD is implied by GET there).
"""

from __future__ import annotations

from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Message, Receive, Scope, Send

__all__ = ["GetAndHeadRoute"]


class GetAndHeadRoute(APIRoute):
    def _heads_get(self, scope: Scope) -> bool:
        return scope.get("type") == "http" and scope.get("method") == "HEAD" and "GET" in (self.methods or ())

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if self._heads_get(scope):
            return super().matches({**scope, "method": "GET"})
        return super().matches(scope)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._heads_get(scope):
            await super().handle(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        # The endpoint sees a HEAD request: a FileResponse then reads no file at all.
        await self.app(scope, receive, headers_only)
