"""The ffmpeg adapter: probe a file and decode its audio to 16 kHz mono float32.

Only this module talks to ffmpeg (through ffmpeg-python). Every call pins ffmpeg to the one input file:
the path is passed as a ``file:`` URL, only the ``file`` protocol is allowed, and only demuxers of real
audio/video containers may open it, so an HLS or concat playlist renamed ``.mp4`` can never make ffmpeg
read other files or the network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ingest.errors import (
    CorruptMediaError,
    EmptyMediaError,
    MediaTooLongError,
    UnsupportedMediaError,
)
from ingest.formats import ALLOWED_DEMUXERS
from ingest.types import MediaInfo, MediaKind

__all__ = ["check_complete", "decode_audio", "probe_media"]

SAMPLE_RATE_HZ = 16_000

_WHITELIST = ",".join(ALLOWED_DEMUXERS)
_SNIFF_BYTES = 4096


def _input_url(path: Path) -> str:
    # "file:" stops ffmpeg from reading a name like "concat:a|b" or "http:..." as a protocol.
    return "file:" + str(path.resolve())


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        # A cut in the middle of a multi-byte character at the end is still text.
        try:
            head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


def _sniff(path: Path, name: str) -> None:
    if not path.is_file():
        raise UnsupportedMediaError(f"{path}: not a file")
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
    if not head:
        raise EmptyMediaError(f"{name}: the file is empty")
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith((b"#EXTM3U", b"ffconcat", b"<?xml", b"<MPD", b"[playlist]")):
        raise UnsupportedMediaError(f"{name}: a playlist or manifest, not a media file; refused")
    if _looks_like_text(head):
        raise UnsupportedMediaError(f"{name}: a text file, not audio or video")


def _last_line(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "ffmpeg could not read it"


def _refused_by_allowlist(stderr: bytes) -> bool:
    return b"not on whitelist" in stderr


def _kind(streams: list[dict[str, Any]]) -> MediaKind:
    for s in streams:
        if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic"):
            return "video"
    return "audio"


def probe_media(path: Path, *, max_duration_s: float, name: str | None = None) -> MediaInfo:
    """Check that ``path`` is one real audio/video file we accept, and describe it.

    Raises UnsupportedMediaError, CorruptMediaError, EmptyMediaError or MediaTooLongError.
    """
    import ffmpeg

    name = name or path.name  # what the user calls the file (an upload is stored under another name)
    _sniff(path, name)
    try:
        info = ffmpeg.probe(
            _input_url(path),
            v="error",
            protocol_whitelist="file",
            format_whitelist=_WHITELIST,
        )
    except ffmpeg.Error as exc:
        if _refused_by_allowlist(exc.stderr or b""):
            raise UnsupportedMediaError(f"{name}: not an audio/video container we accept") from exc
        reason = _last_line(exc.stderr or b"")
        raise CorruptMediaError(f"{name}: cannot be read as audio or video ({reason})") from exc
    except FileNotFoundError as exc:  # ffprobe itself is missing
        raise CorruptMediaError("ffprobe is not installed; install ffmpeg (apt install ffmpeg)") from exc

    fmt = info.get("format", {})
    format_name = str(fmt.get("format_name", ""))
    if format_name not in ALLOWED_DEMUXERS:
        raise UnsupportedMediaError(f"{name}: container {format_name!r} is not accepted")
    streams = info.get("streams", [])
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    if not audio:
        raise EmptyMediaError(f"{name}: has no audio track")
    try:
        duration_s = float(fmt.get("duration") or audio[0].get("duration") or 0.0)
    except ValueError:
        duration_s = 0.0
    if duration_s > max_duration_s:
        raise MediaTooLongError(
            f"{name}: {duration_s / 60:.1f} min is longer than the {max_duration_s / 60:.1f} min cap "
            "(MOMENTS_MAX_DURATION_S)"
        )
    title = (fmt.get("tags") or {}).get("title")
    try:
        audio_duration_s: float | None = float(audio[0]["duration"])
    except (KeyError, TypeError, ValueError):
        audio_duration_s = None
    return MediaInfo(
        format_name=format_name,
        kind=_kind(streams),
        duration_s=duration_s,
        audio_codec=str(audio[0].get("codec_name", "unknown")),
        title=str(title) if title else None,
        audio_duration_s=audio_duration_s,
    )


def decode_audio(path: Path, *, max_duration_s: float, name: str | None = None) -> np.ndarray:
    """The first audio track as 16 kHz mono float32 samples in [-1, 1].

    Decodes at most ``max_duration_s`` plus one second, so a file whose header lies about its length is
    still caught by the cap.
    """
    import ffmpeg

    name = name or path.name

    stream = ffmpeg.input(_input_url(path), protocol_whitelist="file", format_whitelist=_WHITELIST).output(
        "pipe:", format="f32le", acodec="pcm_f32le", ac=1, ar=SAMPLE_RATE_HZ, map="0:a:0", t=max_duration_s + 1
    )
    try:
        out, _ = stream.global_args("-nostdin", "-v", "error").run(capture_stdout=True, capture_stderr=True)
    except ffmpeg.Error as exc:
        if _refused_by_allowlist(exc.stderr or b""):
            raise UnsupportedMediaError(f"{name}: not an audio/video container we accept") from exc
        reason = _last_line(exc.stderr or b"")
        raise CorruptMediaError(f"{name}: cannot decode its audio ({reason})") from exc
    audio = np.frombuffer(out, dtype=np.float32)
    if audio.size == 0:
        raise EmptyMediaError(f"{name}: the audio track has no samples")
    if audio.size / SAMPLE_RATE_HZ > max_duration_s:
        raise MediaTooLongError(f"{name}: longer than the {max_duration_s / 60:.1f} min cap")
    return audio.copy()


def check_complete(name: str, info: MediaInfo, decoded_s: float) -> None:
    """Refuse a file whose audio ends well before its own header says it does (a truncated download or
    copy whose index survived): indexing the part that decodes would hide that the rest is missing.

    Small gaps are normal (encoder padding, estimated lengths of VBR files), so only a file that decodes
    to less than 80% of its audio stream's recorded length, and more than 3 s short, is refused.
    """
    expected = info.audio_duration_s
    if expected and decoded_s < 0.8 * expected and expected - decoded_s > 3.0:
        raise CorruptMediaError(
            f"{name}: the file ends early: its audio decodes to {decoded_s:.1f} s of the {expected:.1f} s its "
            "header records (a truncated download or copy?); refused"
        )
