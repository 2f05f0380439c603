"""Plain data passed between ingestion stages: frozen dataclasses, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["MediaInfo", "MediaKind", "Segment", "Speaker", "SpeakerTurn", "SpeechWindow", "Transcript", "Word"]

MediaKind = Literal["audio", "video"]


@dataclass(frozen=True)
class Word:
    """One spoken word, in seconds from the start of the media, with the model's confidence in it (0..1).

    ``text`` is the word as the transcript spells it, punctuation attached and without a leading space.
    """

    start_s: float
    end_s: float
    text: str
    probability: float


@dataclass(frozen=True)
class Segment:
    """One transcript segment, in seconds from the start of the media.

    ``words`` are its words in order, each inside the segment, when word timing was on; empty otherwise
    (and for media transcribed before words existed). ``speaker`` is the label of who speaks it
    (``SPEAKER_1`` ...) when speakers were found; None otherwise.
    """

    start_s: float
    end_s: float
    text: str
    words: tuple[Word, ...] = ()
    speaker: str | None = None


@dataclass(frozen=True)
class SpeakerTurn:
    """A stretch of one speaker's voice, in seconds; ``speaker`` numbers the voices of one file from 0."""

    start_s: float
    end_s: float
    speaker: int


@dataclass(frozen=True)
class Speaker:
    """One voice of a media item: its label (``SPEAKER_1`` ...), the display name a user gave it (None until
    then), how long it speaks in the transcript and in how many segments, and when it is first heard."""

    media_id: str
    label: str
    name: str | None
    speaking_s: float
    segments: int
    first_s: float

    @property
    def display(self) -> str:
        return self.name or self.label


@dataclass(frozen=True)
class SpeechWindow:
    """A stretch of audio of at most one Whisper window, in seconds from the start of the media."""

    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class MediaInfo:
    """What ffprobe says about an accepted media file."""

    format_name: str
    kind: MediaKind
    duration_s: float
    audio_codec: str
    title: str | None
    audio_duration_s: float | None = None  # the audio stream's own length, where the container records it


@dataclass(frozen=True)
class Transcript:
    """A whole file's segments and the language they are in."""

    segments: list[Segment]
    language: str
