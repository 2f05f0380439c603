"""Pure transcript formatting: SRT, WebVTT, plain text and JSON-ready dicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def _srt(segments: Sequence[Segment], speakers: Mapping[str, str]) -> str:
    """SubRip cues; a cue whose speaker is known starts with their name (``Alice: ...``)."""
    blocks = [
        f"{i}\n{format_timestamp(s.start_s, decimal=',')} --> {format_timestamp(s.end_s, decimal=',')}\n"
        f"{_said_by(s, speakers)}{s.text}\n"
        for i, s in enumerate(segments, 1)
    ]
    return "\n".join(blocks)


def _said_by(segment: Segment, speakers: Mapping[str, str]) -> str:
    return f"{speakers.get(segment.speaker, segment.speaker)}: " if segment.speaker else ""


def _voice(segment: Segment, speakers: Mapping[str, str]) -> str:
    """A WebVTT voice tag (``<v Alice>``) for a segment whose speaker is known."""
    if not segment.speaker:
        return ""
    name = speakers.get(segment.speaker, segment.speaker)
    return f"<v {_cue_text(name).replace(chr(10), ' ')}>"


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


def _vtt(segments: Sequence[Segment], *, word_times: bool, speakers: Mapping[str, str]) -> str:
    blocks = [
        f"{format_timestamp(s.start_s)} --> {format_timestamp(s.end_s)}\n"
        f"{_voice(s, speakers)}{_timed_words(s) if word_times and s.words else _cue_text(s.text)}\n"
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


def _txt(segments: Sequence[Segment], speakers: Mapping[str, str]) -> str:
    """One line per segment; where the speaker changes, the line starts with the new speaker's name."""
    lines, last = [], None
    for s in segments:
        lines.append(f"{_said_by(s, speakers) if s.speaker != last else ''}{s.text}")
        last = s.speaker
    return "\n".join(lines) + ("\n" if segments else "")


def render_transcript(
    segments: Sequence[Segment], fmt: str, *, word_times: bool = False, speakers: Mapping[str, str] | None = None
) -> str:
    """Render as ``srt``, ``vtt`` or ``txt`` (JSON is the API's job: see ``segments_as_dicts``).

    Cues are segments; ``word_times`` adds each word's time inside the WebVTT cues (karaoke style) where
    the segments have words. Segments with a speaker carry it: a voice tag (``<v Alice>``) in WebVTT, a
    ``Alice:`` prefix in SRT and, where the speaker changes, in text. ``speakers`` maps labels to display
    names (a label without one is shown as itself).
    """
    names = speakers or {}
    if fmt == "srt":
        return _srt(segments, names)
    if fmt == "vtt":
        return _vtt(segments, word_times=word_times, speakers=names)
    if fmt == "txt":
        return _txt(segments, names)
    raise ValueError(f"unknown transcript format {fmt!r}; choose one of {', '.join(FORMATS)}")


def segments_as_dicts(segments: Sequence[Segment]) -> list[dict[str, Any]]:
    """The JSON shape of the API's transcript: ``words`` only on segments that have them."""
    out: list[dict[str, Any]] = []
    for s in segments:
        row: dict[str, Any] = {"start": s.start_s, "end": s.end_s, "text": s.text}
        if s.speaker:
            row["speaker"] = s.speaker
        if s.words:
            row["words"] = [
                {"start": w.start_s, "end": w.end_s, "word": w.text, "probability": w.probability} for w in s.words
            ]
        out.append(row)
    return out
