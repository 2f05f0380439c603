"""Media: ingest (upload, URL, library path), list, detail, delete, transcript, stream."""

from __future__ import annotations

import mimetypes
import re
import shutil
import uuid
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.deps import RunnerDep, ServicesDep, SettingsDep
from api.schemas import IngestAccepted, IngestRequest, MediaPublic, SegmentPublic, TranscriptPublic
from ingest.errors import MediaError, UnknownMediaError
from ingest.fetch import FetchPolicy, check_url
from ingest.library import resolve_library_path
from ingest.media import probe_media
from ingest.pipeline import media_id_for
from ingest.subtitles import render_transcript

router = APIRouter(prefix="/api/media", tags=["media"])

_CONTENT_TYPES = {
    "mov,mp4,m4a,3gp,3g2,mj2": ("video/mp4", "audio/mp4"),
    "matroska,webm": ("video/webm", "audio/webm"),
    "ogg": ("video/ogg", "audio/ogg"),
    "mp3": ("audio/mpeg", "audio/mpeg"),
    "wav": ("audio/wav", "audio/wav"),
    "flac": ("audio/flac", "audio/flac"),
    "aac": ("audio/aac", "audio/aac"),
}
_TEXT_TYPES = {"srt": "application/x-subrip", "vtt": "text/vtt", "txt": "text/plain"}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")

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


def safe_filename(name: str | None) -> str:
    base = Path(name or "upload").name.replace("\0", "")
    base = _SAFE_NAME.sub("_", base).strip(" .") or "upload"
    return base[-120:]


def _accepted(media_id: str | None, job_id: str) -> JSONResponse:
    return JSONResponse(IngestAccepted(media_id=media_id, job_id=job_id).model_dump(), status_code=202)


@router.post(
    "",
    status_code=202,
    response_model=IngestAccepted,
    summary="Ingest an upload (multipart field `file`), a URL or a library path; returns the job at once",
    openapi_extra=_INGEST_BODY,
    responses={400: {}, 401: {}, 403: {}, 413: {}, 415: {}, 422: {}},
)
async def ingest_media(
    request: Request, services: ServicesDep, settings: SettingsDep, runner: RunnerDep
) -> JSONResponse:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        return await _ingest_upload(request, services, settings, runner)
    if not content_type.startswith("application/json"):
        raise HTTPException(415, "send multipart/form-data with a `file` field, or JSON with `url` or `path`")
    try:
        body = IngestRequest.model_validate_json(await request.body())
    except ValueError as exc:
        raise HTTPException(422, f"invalid JSON body: {str(exc).splitlines()[0]}") from exc
    if (body.url is None) == (body.path is None):
        raise HTTPException(422, "give exactly one of `url` or `path`")
    if body.url is not None:
        policy = FetchPolicy(allow_networks=tuple(settings.url_allow_networks))
        await run_in_threadpool(check_url, body.url, policy)
        job = services.catalog.create_job(body.url, title=body.title, owned_file=True)
        runner.wake()
        return _accepted(None, job.id)
    path = resolve_library_path(body.path or "", settings.library_roots)
    await run_in_threadpool(probe_media, path, max_duration_s=settings.max_duration_s)
    media_id = await run_in_threadpool(media_id_for, path)
    job = services.catalog.create_job(str(path), input_path=str(path), title=body.title)
    runner.wake()
    return _accepted(media_id, job.id)


async def _ingest_upload(
    request: Request, services: ServicesDep, settings: SettingsDep, runner: RunnerDep
) -> JSONResponse:
    form = await request.form(max_files=1, max_fields=4)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(422, "the multipart body needs a `file` field with the media file")
        title = form.get("title")
        name = safe_filename(upload.filename)
        folder = settings.uploads_dir / uuid.uuid4().hex
        folder.mkdir(parents=True, exist_ok=True)
        stored = folder / name
        try:
            with stored.open("wb") as out:
                await run_in_threadpool(shutil.copyfileobj, upload.file, out, 1 << 20)
            await run_in_threadpool(probe_media, stored, max_duration_s=settings.max_duration_s)
            media_id = await run_in_threadpool(media_id_for, stored)
        except (MediaError, OSError):
            shutil.rmtree(folder, ignore_errors=True)
            raise
        job = services.catalog.create_job(
            f"upload:{name}",
            input_path=str(stored),
            title=title if isinstance(title, str) and title else None,
            owned_file=True,
        )
    finally:
        await form.close()
    runner.wake()
    return _accepted(media_id, job.id)


@router.get("", response_model=list[MediaPublic], summary="The library, newest first")
def list_media(services: ServicesDep) -> list[MediaPublic]:
    return [MediaPublic.of(m) for m in services.catalog.list_media()]


@router.get("/{media_id}", response_model=MediaPublic, responses={404: {}})
def get_media(media_id: str, services: ServicesDep) -> MediaPublic:
    return MediaPublic.of(services.catalog.get_media(media_id))


@router.delete("/{media_id}", status_code=204, responses={401: {}, 404: {}})
def delete_media(media_id: str, services: ServicesDep, settings: SettingsDep) -> None:
    record = services.catalog.get_media(media_id)
    services.ingestor().remove(media_id)
    kept = Path(record.path)
    if kept.parent == settings.media_dir:
        kept.unlink(missing_ok=True)


@router.get(
    "/{media_id}/transcript",
    response_model=TranscriptPublic,
    responses={200: {"content": {t: {} for t in _TEXT_TYPES.values()}}, 404: {}},
    summary="The transcript as json, srt, vtt or txt",
)
def get_transcript(
    media_id: str, services: ServicesDep, format: Literal["json", "srt", "vtt", "txt"] = "json"
) -> TranscriptPublic | PlainTextResponse:
    segments = services.catalog.get_segments(media_id)
    if format == "json":
        return TranscriptPublic(
            media_id=media_id, segments=[SegmentPublic(start=s.start_s, end=s.end_s, text=s.text) for s in segments]
        )
    media = services.catalog.get_media(media_id)
    name = Path(safe_filename(media.filename)).stem or media_id
    return PlainTextResponse(
        render_transcript(segments, format),
        media_type=_TEXT_TYPES[format],
        headers={"Content-Disposition": f'inline; filename="{name}.{format}"'},
    )


@router.get(
    "/{media_id}/stream",
    response_class=FileResponse,
    responses={200: {"content": {"video/mp4": {}, "audio/mpeg": {}}}, 206: {}, 404: {}, 416: {}},
    summary="The media bytes, with HTTP Range support so players can seek",
)
def stream_media(
    media_id: str,
    services: ServicesDep,
    download: Annotated[bool, Query(description="As an attachment instead of inline")] = False,
) -> FileResponse:
    media = services.catalog.get_media(media_id)
    path = Path(media.path)
    if not path.is_file():
        raise UnknownMediaError(f"the file of media {media_id} is no longer available")
    video_type, audio_type = _CONTENT_TYPES.get(media.format_name, ("application/octet-stream",) * 2)
    content_type = video_type if media.kind == "video" else audio_type
    if content_type == "application/octet-stream":
        content_type = mimetypes.guess_type(media.filename)[0] or content_type
    return FileResponse(
        path,
        media_type=content_type,
        filename=safe_filename(media.filename),
        content_disposition_type="attachment" if download else "inline",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"},
    )
