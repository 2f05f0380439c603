"""Ingest jobs: list, detail, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import LibraryDep, ServicesDep
from api.routing import GetAndHeadRoute
from api.schemas import JobPublic

router = APIRouter(prefix="/api/jobs", tags=["jobs"], route_class=GetAndHeadRoute)


@router.get("", response_model=list[JobPublic], summary="Recent jobs, newest first")
def list_jobs(services: ServicesDep, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[JobPublic]:
    return [JobPublic.of(j) for j in services.catalog.list_jobs(limit)]


@router.get("/{job_id}", response_model=JobPublic, responses={404: {}})
def get_job(job_id: str, services: ServicesDep) -> JobPublic:
    return JobPublic.of(services.catalog.get_job(job_id))


@router.post("/{job_id}/cancel", response_model=JobPublic, responses={401: {}, 404: {}, 409: {}})
def cancel_job(job_id: str, library: LibraryDep) -> JobPublic:
    """Cancel a queued or running job; its worker stops at its next step and removes what it wrote."""
    return JobPublic.of(library.cancel(job_id))
