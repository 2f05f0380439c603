"""Media: ingest (upload, URL, library path), list, detail, delete, transcript, stream."""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Body, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.deps import LibraryDep, RunnerDep, ServicesDep
from api.routing import GetAndHeadRoute
from api.schemas import (
    ChapterPublic,
    ChaptersPublic,
    IngestAccepted,
    IngestRequest,
    MediaPublic,
    SegmentPublic,
    SpeakerPublic,
    SpeakersPublic,
    TranscriptPublic,
)
from ingest.errors import UnknownMediaError
from ingest.formats import content_type
from ingest.library import Submitted, safe_filename
from ingest.subtitles import chapters_vtt, render_transcript

router = APIRouter(prefix="/api/media", tags=["media"], route_class=GetAndHeadRoute)

_RANGE = re.compile(r"^bytes=\s*(\d*)\s*-\s*(\d*)\s*(,\s*(\d*)\s*-\s*(\d*)\s*)*$")
_RANGE_PART = re.compile(r"(\d*)\s*-\s*(\d*)")


def _readable_range(value: str) -> bool:
    """A byte-range set we can read: each part "a-b" with a <= b, "a-" or "-n" (RFC 9110 section 14.1.2)."""
    if not _RANGE.match(value):
        return False
    for first, last in _RANGE_PART.findall(value.partition("=")[2]):
        if not first and not last:
            return False
        if first and last and int(first) > int(last):
            return False
    return True


def _ignore_unreadable_range(request: Request) -> None:
    """RFC 9110 section 14.2: a Range header the server cannot read is ignored, and the whole body is
    sent with 200 (an unsatisfiable but readable one still gets 416)."""
    value = request.headers.get("range")
    if value is not None and not _readable_range(value):
        request.scope["headers"] = [(k, v) for k, v in request.scope["headers"] if k.lower() != b"range"]


_TEXT_TYPES = {"srt": "application/x-subrip", "vtt": "text/vtt", "txt": "text/plain"}

_INGEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}, "title": {"type": "string"}},
                }
            },
            "application/json": {"schema": {"$ref": "#/components/schemas/IngestRequest"}},
        },
    }
}


def _accepted(submitted: Submitted, runner: RunnerDep) -> JSONResponse:
    if runner is not None:  # a search-only server leaves the job to the workers polling the queue
        runner.wake()
    body = IngestAccepted(media_id=submitted.media_id, job_id=submitted.job_id)
    return JSONResponse(body.model_dump(), status_code=202)


@router.post(
    "",
    status_code=202,
    response_model=IngestAccepted,
    summary="Ingest an upload (multipart field `file`), a URL or a library path; returns the job at once",
    openapi_extra=_INGEST_BODY,
    responses={400: {}, 401: {}, 403: {}, 413: {}, 415: {}, 422: {}},
)
async def ingest_media(request: Request, library: LibraryDep, runner: RunnerDep) -> JSONResponse:
    content_type_ = request.headers.get("content-type", "")
    if content_type_.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=4)
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise HTTPException(422, "the multipart body needs a `file` field with the media file")
            title = form.get("title")
            submitted = await run_in_threadpool(
                library.submit_upload, upload.file, upload.filename, title if isinstance(title, str) else None
            )
        finally:
            await form.close()
        return _accepted(submitted, runner)
    if not content_type_.startswith("application/json"):
        raise HTTPException(415, "send multipart/form-data with a `file` field, or JSON with `url` or `path`")
    try:
        body = IngestRequest.model_validate_json(await request.body())
    except ValueError as exc:
        raise HTTPException(422, f"invalid JSON body: {str(exc).splitlines()[0]}") from exc
    if (body.url is None) == (body.path is None):
        raise HTTPException(422, "give exactly one of `url` or `path`")
    if body.url is not None:
        submitted = await run_in_threadpool(library.submit_url, body.url, body.title)
    else:
        submitted = await run_in_threadpool(library.submit_path, body.path or "", body.title)
    return _accepted(submitted, runner)


@router.get("", response_model=list[MediaPublic], summary="The library, newest first")
def list_media(services: ServicesDep) -> list[MediaPublic]:
    return [MediaPublic.of(m) for m in services.catalog.list_media()]


@router.get("/{media_id}", response_model=MediaPublic, responses={404: {}})
def get_media(media_id: str, services: ServicesDep) -> MediaPublic:
    return MediaPublic.of(services.catalog.get_media(media_id))


@router.delete("/{media_id}", status_code=204, responses={401: {}, 404: {}})
def delete_media(media_id: str, library: LibraryDep) -> None:
    library.remove(media_id)


@router.get(
    "/{media_id}/chapters",
    response_model=ChaptersPublic,
    responses={200: {"content": {"text/vtt": {}}}, 404: {}},
    summary="The chapters (topics) of a media item, as json or as a WebVTT chapters track",
)
def get_chapters(
    media_id: str, services: ServicesDep, format: Literal["json", "vtt"] = "json"
) -> ChaptersPublic | PlainTextResponse:
    chapters = services.catalog.get_chapters(media_id)
    if format == "json":
        return ChaptersPublic(media_id=media_id, chapters=[ChapterPublic.of(c) for c in chapters])
    return PlainTextResponse(
        chapters_vtt(chapters), media_type="text/vtt", headers={"X-Content-Type-Options": "nosniff"}
    )


_NAME_MAX = 80


@router.get(
    "/{media_id}/speakers",
    response_model=SpeakersPublic,
    responses={404: {}},
    summary="Who speaks in a media item: each voice's label, display name and speaking time",
)
def get_speakers(media_id: str, services: ServicesDep) -> SpeakersPublic:
    return SpeakersPublic(
        media_id=media_id, speakers=[SpeakerPublic.of(s) for s in services.catalog.get_speakers(media_id)]
    )


@router.patch(
    "/{media_id}/speakers",
    response_model=SpeakersPublic,
    responses={401: {}, 404: {}, 422: {}},
    summary='Name speakers: {"SPEAKER_1": "Alice", ...} (null or "" clears a name); search finds the names',
)
def rename_speakers(
    media_id: str,
    services: ServicesDep,
    names: Annotated[
        dict[
            Annotated[str, Field(pattern=r"^SPEAKER_[0-9]{1,3}$")], Annotated[str, Field(max_length=_NAME_MAX)] | None
        ],
        Body(examples=[{"SPEAKER_1": "Alice", "SPEAKER_2": "Bob"}]),
    ],
) -> SpeakersPublic:
    if not names:
        raise HTTPException(422, 'give at least one speaker: {"SPEAKER_1": "Alice"}')
    if len(names) > 100:
        raise HTTPException(422, "at most 100 speakers at once")
    cleaned = {label: _display_name(name) for label, name in names.items()}
    speakers = services.catalog.rename_speakers(media_id, cleaned)
    return SpeakersPublic(media_id=media_id, speakers=[SpeakerPublic.of(s) for s in speakers])


def _display_name(name: str | None) -> str | None:
    """A name as shown: whitespace collapsed, no control characters; None for a blank one."""
    if name is None:
        return None
    if any(ord(ch) < 32 or ord(ch) == 127 or 0xD800 <= ord(ch) <= 0xDFFF for ch in name):
        raise HTTPException(422, "a speaker name cannot hold control characters or lone surrogates")
    return " ".join(name.split()) or None


@router.get(
    "/{media_id}/transcript",
    response_model=TranscriptPublic,
    response_model_exclude_none=True,
    responses={200: {"content": {t: {} for t in _TEXT_TYPES.values()}}, 404: {}},
    summary="The transcript as json, srt, vtt or txt",
)
def get_transcript(
    media_id: str,
    services: ServicesDep,
    format: Literal["json", "srt", "vtt", "txt"] = "json",
    words: Annotated[
        bool, Query(description="vtt: each word's time as a cue timestamp (<00:00:01.250>); cues stay segments")
    ] = False,
) -> TranscriptPublic | PlainTextResponse:
    segments = services.catalog.get_segments(media_id)
    speakers = services.catalog.get_speakers(media_id)
    if format == "json":
        return TranscriptPublic(
            media_id=media_id,
            segments=[SegmentPublic.of(s) for s in segments],
            speakers=[SpeakerPublic.of(s) for s in speakers] or None,
        )
    media = services.catalog.get_media(media_id)
    name = Path(safe_filename(media.filename)).stem or media_id
    return PlainTextResponse(
        render_transcript(segments, format, word_times=words, speakers={s.label: s.display for s in speakers}),
        media_type=_TEXT_TYPES[format],
        headers={"Content-Disposition": f'inline; filename="{name}.{format}"', "X-Content-Type-Options": "nosniff"},
    )


@router.get(
    "/{media_id}/stream",
    response_class=FileResponse,
    responses={200: {"content": {"video/mp4": {}, "audio/mpeg": {}}}, 206: {}, 404: {}, 416: {}},
    summary="The media bytes, with HTTP Range support so players can seek",
)
def stream_media(
    media_id: str,
    request: Request,
    services: ServicesDep,
    download: Annotated[bool, Query(description="As an attachment instead of inline")] = False,
) -> FileResponse:
    media = services.catalog.get_media(media_id)
    path = Path(media.path)
    if not path.is_file():
        raise UnknownMediaError(f"the file of media {media_id} is no longer available")
    _ignore_unreadable_range(request)
    served_as = content_type(media.format_name, media.kind)
    if served_as == "application/octet-stream":
        served_as = mimetypes.guess_type(media.filename)[0] or served_as
    return FileResponse(
        path,
        media_type=served_as,
        filename=safe_filename(media.filename),
        content_disposition_type="attachment" if download else "inline",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"},
    )
