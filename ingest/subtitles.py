"""Pure transcript formatting: SRT, WebVTT, plain text and JSON-ready dicts."""

from __future__ import annotations

from collections.abc import Sequence

from ingest.types import Segment

__all__ = ["FORMATS", "format_timestamp", "render_transcript"]

FORMATS = ("json", "srt", "vtt", "txt")


def format_timestamp(seconds: float, *, decimal: str = ".", always_hours: bool = True) -> str:
    ms = max(0, round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    head = f"{h:02d}:" if always_hours or h else ""
    return f"{head}{m:02d}:{s:02d}{decimal}{ms:03d}"


def _srt(segments: Sequence[Segment]) -> str:
    blocks = [
        f"{i}\n{format_timestamp(s.start_s, decimal=',')} --> {format_timestamp(s.end_s, decimal=',')}\n{s.text}\n"
        for i, s in enumerate(segments, 1)
    ]
    return "\n".join(blocks)


def _vtt(segments: Sequence[Segment]) -> str:
    blocks = [f"{format_timestamp(s.start_s)} --> {format_timestamp(s.end_s)}\n{s.text}\n" for s in segments]
    return "WEBVTT\n\n" + "\n".join(blocks)


def render_transcript(segments: Sequence[Segment], fmt: str) -> str:
    """Render as ``srt``, ``vtt`` or ``txt`` (JSON is the API's job: see ``segments_as_dicts``)."""
    if fmt == "srt":
        return _srt(segments)
    if fmt == "vtt":
        return _vtt(segments)
    if fmt == "txt":
        return "\n".join(s.text for s in segments) + ("\n" if segments else "")
    raise ValueError(f"unknown transcript format {fmt!r}; choose one of {', '.join(FORMATS)}")


def segments_as_dicts(segments: Sequence[Segment]) -> list[dict[str, float | str]]:
    return [{"start": s.start_s, "end": s.end_s, "text": s.text} for s in segments]
