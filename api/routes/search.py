"""GET /api/search."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from api.deps import ServicesDep
from api.routing import GetAndHeadRoute
from api.schemas import SearchResponse
from retrieval.search import MAX_LIMIT, MAX_QUERY_CHARS
from retrieval.types import SearchFilters, SearchMode

router = APIRouter(prefix="/api", tags=["search"], route_class=GetAndHeadRoute)


@router.get(
    "/search", response_model=SearchResponse, response_model_exclude_none=True, summary="Ranked moments for a query"
)
async def search(
    services: ServicesDep,
    q: Annotated[
        str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description='What was said; "quoted phrases" must match')
    ],
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10,
    mode: SearchMode = "hybrid",
    media_id: Annotated[str | None, Query(max_length=64)] = None,
    kind: Literal["audio", "video"] | None = None,
    language: Annotated[str | None, Query(max_length=16)] = None,
    speaker: Annotated[
        str | None,
        Query(
            max_length=80, description="Only what this speaker said: a display name (any case) or a label (SPEAKER_1)"
        ),
    ] = None,
) -> SearchResponse:
    searcher = services.searcher
    speakers = await run_in_threadpool(searcher.speakers_called, speaker) if speaker and speaker.strip() else None
    filters = SearchFilters(media_id=media_id or None, kind=kind, language=language or None, speakers=speakers)
    result = await run_in_threadpool(searcher.search, q, limit=limit, mode=mode, filters=filters)
    return SearchResponse.of(result)
