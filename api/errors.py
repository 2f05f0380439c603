"""One error shape for every 4xx/5xx: ``{"error": {"code": ..., "message": ...}}``.

Domain errors from ``ingest`` and ``retrieval`` map to HTTP statuses here and only here.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ingest.errors import (
    CatalogError,
    CorruptMediaError,
    EmptyMediaError,
    FetchError,
    IngestError,
    JobCanceledError,
    JobFinishedError,
    MediaError,
    MediaTooLongError,
    ModelError,
    PathRefusedError,
    SourceRefusedError,
    UnknownJobError,
    UnknownMediaError,
    UnknownSpeakerError,
    UnsupportedMediaError,
    UrlRefusedError,
    WorkAbandonedError,
)
from retrieval.errors import (
    EmbeddingModelError,
    IndexAccessError,
    IndexLockedError,
    IndexMismatchError,
    IndexUnavailableError,
    QueryError,
    RetrievalError,
)

__all__ = ["STATUS", "error_body", "install_error_handlers", "status_of"]

log = logging.getLogger("moments.api")

# Every class of both error trees, most specific first (tests/api/test_errors.py keeps it complete).
STATUS: list[tuple[type[Exception], int, str]] = [
    (UnknownMediaError, 404, "not_found"),
    (UnknownJobError, 404, "not_found"),
    (UnknownSpeakerError, 422, "unknown_speaker"),
    (JobFinishedError, 409, "job_finished"),
    (CatalogError, 409, "catalog_conflict"),
    (UnsupportedMediaError, 415, "unsupported_media"),
    (CorruptMediaError, 422, "corrupt_media"),
    (EmptyMediaError, 422, "empty_media"),
    (MediaTooLongError, 413, "media_too_long"),
    (MediaError, 422, "bad_media"),
    (PathRefusedError, 403, "path_refused"),
    (UrlRefusedError, 400, "url_refused"),
    (SourceRefusedError, 403, "source_refused"),
    (FetchError, 422, "fetch_failed"),
    (ModelError, 503, "model_unavailable"),
    (JobCanceledError, 409, "job_canceled"),
    (WorkAbandonedError, 409, "job_taken_over"),
    (IngestError, 400, "bad_request"),
    (QueryError, 400, "bad_query"),
    (IndexMismatchError, 409, "index_mismatch"),
    (IndexUnavailableError, 503, "index_unavailable"),
    (IndexLockedError, 503, "index_locked"),
    (IndexAccessError, 503, "index_unavailable"),
    (EmbeddingModelError, 503, "model_unavailable"),
    (RetrievalError, 400, "bad_request"),
]


def status_of(exc: Exception) -> tuple[int, str]:
    """The HTTP status and error code of a domain error (500 for one that is in neither tree)."""
    for cls, status, code in STATUS:
        if isinstance(exc, cls):
            return status, code
    return 500, "internal_error"


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def _domain(_request: Request, exc: Exception) -> JSONResponse:
    status, code = status_of(exc)
    return JSONResponse(error_body(code, str(exc)), status_code=status)


def _http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {
        401: "unauthorized",
        404: "not_found",
        405: "method_not_allowed",
        409: "conflict",
        413: "too_large",
        415: "unsupported_media_type",
        422: "invalid_request",
    }
    return JSONResponse(
        error_body(codes.get(exc.status_code, "http_error"), str(exc.detail)),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def _validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    message = f"{where}: {first.get('msg', 'invalid request')}" if where else str(first.get("msg", "invalid"))
    return JSONResponse(error_body("invalid_request", message), status_code=422)


def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse(error_body("internal_error", "internal error; see the server log"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(IngestError, _domain)
    app.add_exception_handler(RetrievalError, _domain)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(Exception, _unexpected)
