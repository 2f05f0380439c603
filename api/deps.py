"""Dependencies shared by the routes, defined once as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.services import Services
from api.settings import Settings
from ingest.jobs import JobRunner
from ingest.library import Library

__all__ = ["LibraryDep", "RunnerDep", "ServicesDep", "SettingsDep"]


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_runner(request: Request) -> JobRunner | None:
    """The job runner of this process; None on a search-only server (jobs run in `moments worker`)."""
    runner: JobRunner | None = request.app.state.runner
    return runner


def get_library(request: Request) -> Library:
    services: Services = request.app.state.services
    return services.library


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RunnerDep = Annotated[JobRunner | None, Depends(get_runner)]
LibraryDep = Annotated[Library, Depends(get_library)]
