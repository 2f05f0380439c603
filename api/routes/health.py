"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import ServicesDep
from api.routing import GetAndHeadRoute
from retrieval.errors import RetrievalError

router = APIRouter(prefix="/api", tags=["health"], route_class=GetAndHeadRoute)


@router.get("/health", summary="The process is alive")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="The index is reachable and the models are loaded", response_model=None)
def ready(services: ServicesDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        services.index.check()
        checks["index"] = "ok"
    except (RetrievalError, OSError) as exc:
        checks["index"] = f"unavailable: {exc}"
    checks.update(services.model_status)
    ok = all(v == "ok" for v in checks.values())
    jobs = "run here" if services.settings.ingest_worker else "queued for `moments worker`"
    return JSONResponse({"ready": ok, "checks": checks, "jobs": jobs}, status_code=200 if ok else 503)
