"""Pure transcript formatting: SRT, WebVTT, plain text and JSON-ready dicts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ingest.types import Segment
from retrieval.types import Chapter

__all__ = ["FORMATS", "chapters_vtt", "format_timestamp", "render_transcript"]

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


def _cue_text(text: str) -> str:
    """Text inside a WebVTT cue: ``&``, ``<`` and ``>`` are markup there and must be escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _timed_words(segment: Segment) -> str:
    """A cue's text with a ``<hh:mm:ss.mmm>`` timestamp before each word after the first.

    WebVTT wants each timestamp after the cue's start, after the one before and before the cue's end;
    a word whose time breaks that (two words in one millisecond) goes without one.
    """
    words = segment.words
    texts = [w.text for w in words]
    sep = "" if "".join(texts) == segment.text else " "  # languages written without spaces
    parts = [_cue_text(texts[0])]
    last_ms = round(segment.start_s * 1000)
    end_ms = round(segment.end_s * 1000)
    for w in words[1:]:
        ms = round(w.start_s * 1000)
        if last_ms < ms < end_ms:
            parts.append(f"{sep}<{format_timestamp(w.start_s)}>{_cue_text(w.text)}")
            last_ms = ms
        else:
            parts.append(sep + _cue_text(w.text))
    return "".join(parts)


def _vtt(segments: Sequence[Segment], *, word_times: bool) -> str:
    blocks = [
        f"{format_timestamp(s.start_s)} --> {format_timestamp(s.end_s)}\n"
        f"{_timed_words(s) if word_times and s.words else _cue_text(s.text)}\n"
        for s in segments
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)


def chapters_vtt(chapters: Sequence[Chapter]) -> str:
    """A WebVTT chapters track (``<track kind="chapters">``): one cue per chapter, its title as the text.

    Each cue runs to the next chapter's start, so the player's chapter menu covers the whole timeline."""
    blocks = []
    for i, c in enumerate(chapters):
        end = chapters[i + 1].start_s if i + 1 < len(chapters) else max(c.end_s, c.start_s + 0.001)
        blocks.append(
            f"chapter-{c.index + 1}\n{format_timestamp(c.start_s)} --> {format_timestamp(end)}\n{_cue_text(c.title)}\n"
        )
    return "WEBVTT\n\n" + "\n".join(blocks)


def render_transcript(segments: Sequence[Segment], fmt: str, *, word_times: bool = False) -> str:
    """Render as ``srt``, ``vtt`` or ``txt`` (JSON is the API's job: see ``segments_as_dicts``).

    Cues are segments; ``word_times`` adds each word's time inside the WebVTT cues (karaoke style) where
    the segments have words.
    """
    if fmt == "srt":
        return _srt(segments)
    if fmt == "vtt":
        return _vtt(segments, word_times=word_times)
    if fmt == "txt":
        return "\n".join(s.text for s in segments) + ("\n" if segments else "")
    raise ValueError(f"unknown transcript format {fmt!r}; choose one of {', '.join(FORMATS)}")


def segments_as_dicts(segments: Sequence[Segment]) -> list[dict[str, Any]]:
    """The JSON shape of the API's transcript: ``words`` only on segments that have them."""
    out: list[dict[str, Any]] = []
    for s in segments:
        row: dict[str, Any] = {"start": s.start_s, "end": s.end_s, "text": s.text}
        if s.words:
            row["words"] = [
                {"start": w.start_s, "end": w.end_s, "word": w.text, "probability": w.probability} for w in s.words
            ]
        out.append(row)
    return out
