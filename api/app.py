"""The FastAPI application factory: ``create_app(settings)``; serve with ``moments serve``."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.errors import install_error_handlers
from api.middleware import DoorMiddleware
from api.routes import health, jobs, media, search, web
from api.services import Services
from api.settings import Settings
from retrieval.errors import IndexUnavailableError

__all__ = ["create_app"]

log = logging.getLogger("moments.api")


def create_app(settings: Settings | None = None, *, load_models: bool = True, public_url: str | None = None) -> FastAPI:
    """Build the app. Its lifespan opens the catalog and the index, loads the models, starts the job
    worker, and (when ``public_url`` is given) records it so a CLI in another terminal can find it."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = Services(settings)
        try:
            services.open_index()  # a locked embedded folder fails the start, clearly
        except IndexUnavailableError as exc:
            # A Qdrant server that is down now may be up in a minute: serve anyway, report 503 on
            # /api/ready and on the routes that need the index, and reconnect on the next request.
            log.warning("Qdrant server unreachable at start (%s); /api/ready reports 503 until it is", exc)
        if load_models:
            services.load_models(whisper=settings.ingest_worker)
        # A search-only server queues jobs for `moments worker` processes and never loads Whisper.
        runner = services.runner() if settings.ingest_worker else None
        if runner is not None:
            runner.start()
        app.state.settings, app.state.services, app.state.runner = settings, services, runner
        marker = settings.server_file
        if public_url:
            marker.write_text(json.dumps({"url": public_url, "pid": os.getpid()}))
        try:
            yield
        finally:
            if public_url:
                with contextlib.suppress(FileNotFoundError):
                    marker.unlink()
            if runner is not None:
                runner.stop()
            services.close()

    app = FastAPI(
        title="moments",
        version="0.1.0",
        summary="Search what was said in a library of video and audio, and jump to the moment.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for router in (health.router, search.router, media.router, jobs.router, web.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=web.WEB_DIR), name="static")
    app.add_middleware(DoorMiddleware, api_key=settings.api_key, max_body_bytes=settings.max_upload_bytes)
    return app
