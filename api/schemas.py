"""Request and response models of the REST API (the contract in shared/DESIGN.md)."""

from __future__ import annotations

import math
from typing import Literal, cast

from pydantic import BaseModel, Field

from ingest.catalog import JobRecord, MediaRecord
from ingest.types import Segment, Speaker
from retrieval.search import SearchResult
from retrieval.types import Chapter, Moment

__all__ = [
    "ChapterPublic",
    "ChapterRefPublic",
    "ChaptersPublic",
    "IngestAccepted",
    "IngestRequest",
    "JobPublic",
    "MatchPublic",
    "MediaPublic",
    "MomentPublic",
    "SearchResponse",
    "SegmentPublic",
    "SpeakerPublic",
    "SpeakersPublic",
    "TranscriptPublic",
    "WordPublic",
    "watch_url",
]


JobStatus = Literal["queued", "running", "done", "failed", "canceled"]


class ChapterRefPublic(BaseModel):
    id: int = Field(description="The chapter's number in its media item, from 0 (as in /api/media/{id}/chapters)")
    title: str
    start: float


class MatchPublic(BaseModel):
    start: float = Field(description="Where the matched sentence starts (seconds)")
    end: float


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
    sounds_like: list[tuple[int, int]] = Field(
        default_factory=list,
        description="The highlights (character offsets, as in highlights) that match a query word only by how "
        "it sounds: a name the transcript spells the way Whisper heard it ('Kobawl' for 'COBOL').",
    )
    chapter: ChapterRefPublic | None = Field(default=None, description="The chapter the moment is in, where known")
    match: MatchPublic | None = Field(
        default=None,
        description="The sentence that matched, when the moment opens at its story's start instead (a query "
        "about the story as a whole); absent when the moment opens on the sentence itself.",
    )
    speaker: str | None = Field(
        default=None,
        description="Who speaks the moment: the speaker's display name, or its label (SPEAKER_1 ...) until it "
        "is given one; absent where speakers are not known",
    )
    speaker_id: str | None = Field(default=None, description="The speaker's label (SPEAKER_1 ...), where known")
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
            sounds_like=list(m.sounds_like),
            chapter=None
            if m.chapter is None
            else ChapterRefPublic(id=m.chapter.index, title=m.chapter.title, start=m.chapter.start),
            match=None if m.match is None else MatchPublic(start=m.match[0], end=m.match[1]),
            speaker=m.speaker_name or m.speaker,
            speaker_id=m.speaker,
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
    speakers: list[str] | None = Field(
        default=None,
        description='The speakers the query named ("what did Alice say about ..."): the results are what they '
        "said; absent when the query names no speaker",
    )

    @classmethod
    def of(cls, result: SearchResult) -> SearchResponse:
        """The ``/api/search`` response for a search result."""
        return cls(
            query=result.query,
            took_ms=result.took_ms,
            results=[MomentPublic.of(m) for m in result.moments],
            speakers=list(result.speakers) or None,
        )


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
    speaker: str | None = Field(
        default=None, description="The label of who speaks (SPEAKER_1 ...; names are in `speakers`), where known"
    )

    @classmethod
    def of(cls, segment: Segment) -> SegmentPublic:
        words = [
            WordPublic(start=w.start_s, end=w.end_s, word=w.text, probability=w.probability) for w in segment.words
        ]
        return cls(
            start=segment.start_s, end=segment.end_s, text=segment.text, words=words or None, speaker=segment.speaker
        )


class SpeakerPublic(BaseModel):
    id: str = Field(description="The speaker's label in its media item: SPEAKER_1, SPEAKER_2 ... in order of voice")
    name: str | None = Field(description="The display name given with PATCH /api/media/{id}/speakers; null until then")
    speaking_s: float = Field(description="Seconds of the transcript this speaker speaks")
    segments: int
    first_s: float = Field(description="Where the speaker is first heard (seconds)")

    @classmethod
    def of(cls, s: Speaker) -> SpeakerPublic:
        return cls(id=s.label, name=s.name, speaking_s=s.speaking_s, segments=s.segments, first_s=s.first_s)


class SpeakersPublic(BaseModel):
    media_id: str
    speakers: list[SpeakerPublic]


class TranscriptPublic(BaseModel):
    media_id: str
    segments: list[SegmentPublic]
    speakers: list[SpeakerPublic] | None = Field(default=None, description="Who speaks, where speakers are known")


class ChapterPublic(BaseModel):
    id: int
    start: float
    end: float
    title: str

    @classmethod
    def of(cls, c: Chapter) -> ChapterPublic:
        return cls(id=c.index, start=c.start_s, end=c.end_s, title=c.title)


class ChaptersPublic(BaseModel):
    media_id: str
    chapters: list[ChapterPublic]
