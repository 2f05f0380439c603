"""Request and response models of the REST API (the contract in shared/DESIGN.md)."""

from __future__ import annotations

import math
from typing import Literal, cast

from pydantic import BaseModel, Field

from ingest.catalog import JobRecord, MediaRecord
from ingest.types import Segment
from retrieval.search import SearchResult
from retrieval.types import Moment

__all__ = [
    "IngestAccepted",
    "IngestRequest",
    "JobPublic",
    "MediaPublic",
    "MomentPublic",
    "SearchResponse",
    "SegmentPublic",
    "TranscriptPublic",
    "WordPublic",
    "watch_url",
]


JobStatus = Literal["queued", "running", "done", "failed", "canceled"]


class MomentPublic(BaseModel):
    media_id: str
    title: str
    filename: str
    kind: str
    start: float = Field(description="Seconds from the start of the media where the moment begins.")
    end: float
    score: float
    text: str
    highlights: list[tuple[int, int]] = Field(description="Character offsets [from, to) of matched words in text.")
    highlight_starts: list[float] = Field(
        default_factory=list,
        description="Where each highlight is spoken (seconds), one per highlight, when the media has word times.",
    )
    url: str = Field(description="/watch/<media_id>?t=<start seconds>")

    @classmethod
    def of(cls, m: Moment) -> MomentPublic:
        """The contract's shape of a retrieved moment, with the link that opens the player at it."""
        return cls(
            media_id=m.media_id,
            title=m.title,
            filename=m.filename,
            kind=m.kind,
            start=m.start,
            end=m.end,
            score=m.score,
            text=m.text,
            highlights=list(m.highlights),
            highlight_starts=list(m.highlight_starts),
            url=watch_url(m.media_id, m.start),
        )


def watch_url(media_id: str, start: float) -> str:
    """The watch page at ``start``, in tenths of a second rounded down (whole seconds print bare): the
    player starts at or just before the moment, never after it, and word times keep their precision."""
    tenths = max(0, math.floor(start * 10 + 1e-6))
    t = str(tenths // 10) if tenths % 10 == 0 else f"{tenths // 10}.{tenths % 10}"
    return f"/watch/{media_id}?t={t}"


class SearchResponse(BaseModel):
    query: str
    took_ms: float
    results: list[MomentPublic]

    @classmethod
    def of(cls, result: SearchResult) -> SearchResponse:
        """The ``/api/search`` response for a search result."""
        return cls(query=result.query, took_ms=result.took_ms, results=[MomentPublic.of(m) for m in result.moments])


class MediaPublic(BaseModel):
    id: str
    title: str
    filename: str
    kind: Literal["audio", "video"]
    duration_s: float
    language: str
    created_at: float
    status: str
    size_bytes: int
    stream_url: str
    watch_url: str

    @classmethod
    def of(cls, m: MediaRecord) -> MediaPublic:
        return cls(
            id=m.id,
            title=m.title,
            filename=m.filename,
            kind=m.kind,
            duration_s=m.duration_s,
            language=m.language,
            created_at=m.created_at,
            status=m.status,
            size_bytes=m.size_bytes,
            stream_url=f"/api/media/{m.id}/stream",
            watch_url=f"/watch/{m.id}",
        )


class JobPublic(BaseModel):
    id: str
    media_id: str | None
    status: JobStatus
    stage: str
    progress: float = Field(ge=0, le=1)
    eta_s: float | None
    error: str | None
    source: str = Field(description='The URL, "upload:<file name>", or "path" for a file under a library root.')
    source_kind: Literal["upload", "url", "path"]
    title: str | None
    attempts: int
    created_at: float
    updated_at: float

    @classmethod
    def of(cls, j: JobRecord) -> JobPublic:
        # A library path is not shown: it would tell any reader of the API the server's folder layout.
        source = "path" if j.source_kind == "path" else j.source
        return cls(
            id=j.id,
            media_id=j.media_id,
            status=cast(JobStatus, j.status),
            stage=j.stage,
            progress=min(1.0, max(0.0, j.progress)),
            eta_s=j.eta_s,
            error=j.error,
            source=source,
            source_kind=j.source_kind,
            title=j.title,
            attempts=j.attempts,
            created_at=j.created_at,
            updated_at=j.updated_at,
        )


class IngestRequest(BaseModel):
    """Ingest by URL (fetched by the server) or by a path under a configured library root."""

    url: str | None = Field(default=None, max_length=4096)
    path: str | None = Field(default=None, max_length=4096)
    title: str | None = Field(default=None, max_length=500)


class IngestAccepted(BaseModel):
    media_id: str | None = Field(description="Known at once for uploads and paths; for URLs, once fetched.")
    job_id: str


class WordPublic(BaseModel):
    start: float
    end: float
    word: str
    probability: float


class SegmentPublic(BaseModel):
    start: float
    end: float
    text: str
    words: list[WordPublic] | None = Field(
        default=None, description="Each word with its time, where the media was transcribed with word timing"
    )

    @classmethod
    def of(cls, segment: Segment) -> SegmentPublic:
        words = [
            WordPublic(start=w.start_s, end=w.end_s, word=w.text, probability=w.probability) for w in segment.words
        ]
        return cls(start=segment.start_s, end=segment.end_s, text=segment.text, words=words or None)


class TranscriptPublic(BaseModel):
    media_id: str
    segments: list[SegmentPublic]
