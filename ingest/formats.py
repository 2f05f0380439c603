"""The one table of media formats we accept: ffmpeg demuxer, file suffixes, and the content types we serve.

Everything else derives from it: the demuxer allowlist ffmpeg is pinned to (:mod:`ingest.media`), the
suffixes a folder walk picks up (``moments ingest FOLDER``), and the ``Content-Type`` of the stream route.
Playlist and indirection demuxers (hls, concat, dash, image2, tee, lavfi ...) are absent on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingest.types import MediaKind

__all__ = ["ALLOWED_DEMUXERS", "FORMATS", "MEDIA_SUFFIXES", "MediaFormat", "content_type"]


@dataclass(frozen=True)
class MediaFormat:
    demuxer: str  # ffprobe's ``format_name``
    suffixes: tuple[str, ...]
    video_type: str  # Content-Type when the file has a video stream
    audio_type: str  # ... and when it is audio only


_OCTET = "application/octet-stream"

FORMATS: tuple[MediaFormat, ...] = (
    MediaFormat("mov,mp4,m4a,3gp,3g2,mj2", (".mp4", ".m4v", ".mov", ".m4a", ".3gp", ".3g2"), "video/mp4", "audio/mp4"),
    MediaFormat("matroska,webm", (".mkv", ".webm", ".mka"), "video/webm", "audio/webm"),
    MediaFormat("avi", (".avi",), "video/x-msvideo", "audio/x-msvideo"),
    MediaFormat("asf", (".wmv", ".wma", ".asf"), "video/x-ms-asf", "audio/x-ms-wma"),
    MediaFormat("flv", (".flv",), "video/x-flv", "video/x-flv"),
    MediaFormat("mpegts", (".ts", ".mts", ".m2ts"), "video/mp2t", "video/mp2t"),
    MediaFormat("mpeg", (".mpg", ".mpeg"), "video/mpeg", "audio/mpeg"),
    MediaFormat("mxf", (".mxf",), "application/mxf", "application/mxf"),
    MediaFormat("ogg", (".ogg", ".oga", ".ogv", ".opus"), "video/ogg", "audio/ogg"),
    MediaFormat("wav", (".wav",), "audio/wav", "audio/wav"),
    MediaFormat("w64", (".w64",), _OCTET, _OCTET),
    MediaFormat("mp3", (".mp3",), "audio/mpeg", "audio/mpeg"),
    MediaFormat("flac", (".flac",), "audio/flac", "audio/flac"),
    MediaFormat("aac", (".aac",), "audio/aac", "audio/aac"),
    MediaFormat("aiff", (".aiff", ".aif"), "audio/aiff", "audio/aiff"),
    MediaFormat("caf", (".caf",), "audio/x-caf", "audio/x-caf"),
    MediaFormat("amr", (".amr",), "audio/amr", "audio/amr"),
)

ALLOWED_DEMUXERS: tuple[str, ...] = tuple(f.demuxer for f in FORMATS)
MEDIA_SUFFIXES: frozenset[str] = frozenset(s for f in FORMATS for s in f.suffixes)
_BY_DEMUXER = {f.demuxer: f for f in FORMATS}


def content_type(format_name: str, kind: MediaKind) -> str:
    """The Content-Type to serve a file of this container and kind with (octet-stream if unknown)."""
    fmt = _BY_DEMUXER.get(format_name)
    if fmt is None:
        return _OCTET
    return fmt.video_type if kind == "video" else fmt.audio_type
