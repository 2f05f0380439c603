"""Ingest jobs: list, detail, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from api.deps import ServicesDep
from api.schemas import JobPublic

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


@router.get("", response_model=list[JobPublic], summary="Recent jobs, newest first")
def list_jobs(services: ServicesDep, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[JobPublic]:
    return [JobPublic.of(j) for j in services.catalog.list_jobs(limit)]


@router.get("/{job_id}", response_model=JobPublic, responses={404: {}})
def get_job(job_id: str, services: ServicesDep) -> JobPublic:
    job = services.catalog.get_job(job_id)
    if job is None:
        raise HTTPException(404, f"no job with id {job_id!r}")
    return JobPublic.of(job)


@router.post("/{job_id}/cancel", response_model=JobPublic, responses={401: {}, 404: {}, 409: {}})
def cancel_job(job_id: str, services: ServicesDep) -> JobPublic:
    job = services.catalog.get_job(job_id)
    if job is None:
        raise HTTPException(404, f"no job with id {job_id!r}")
    if job.status in ("done", "failed", "canceled"):
        raise HTTPException(409, f"the job is already {job.status}")
    services.catalog.update_job(job_id, status="canceled", stage="canceled", eta_s=None)
    updated = services.catalog.get_job(job_id)
    assert updated is not None
    return JobPublic.of(updated)
