"""The web pages: static HTML/CSS/JS from ``web/`` that talk to /api only."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from api.routing import GetAndHeadRoute

WEB_DIR = Path(__file__).resolve().parent.parent.parent / "web"
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'self'; media-src 'self' blob:; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "same-origin",
}

router = APIRouter(include_in_schema=False, route_class=GetAndHeadRoute)


def _page(name: str) -> FileResponse:
    return FileResponse(WEB_DIR / name, media_type="text/html; charset=utf-8", headers=_HEADERS)


@router.get("/")
def search_page() -> FileResponse:
    return _page("index.html")


@router.get("/watch/{media_id}")
def watch_page(media_id: str) -> FileResponse:
    return _page("watch.html")


@router.get("/library")
def library_page() -> FileResponse:
    return _page("library.html")
