"""Ingestion of one file: hash, probe, decode, transcribe as a stream, cut passages, embed, index, chapters,
catalog.

The pipeline drives the loop: the transcriber yields batches of segments, each batch passes through the
configured stages and into the passage writer, and between batches the pipeline reports progress and asks
whether to stop. Nothing is half-written: the catalog row and transcript land in one transaction after the
index has all the points; if anything fails (or the job is canceled) after points were written, they are
deleted again. The media id is the content hash, so the same file ingested twice is one item and the
second ingest changes nothing.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from ingest.catalog import Catalog, MediaRecord
from ingest.chapters import ChapterOptions, find_chapters, sentence_units
from ingest.errors import JobCanceledError, UnsupportedMediaError, WorkAbandonedError
from ingest.media import check_complete, decode_audio, probe_media
from ingest.passages import (
    PASSAGE_OVERLAP_S,
    PASSAGE_TARGET_S,
    PassageDraft,
    cut_passages,
    passage_max_s,
    segment_contexts,
)
from ingest.types import Segment
from ingest.whisper import SegmentBatch, TranscriptionInfo
from retrieval.embedder import Embedder
from retrieval.index import PassageIndex, require_single_model
from retrieval.sparse import document_vector
from retrieval.types import Chapter, Passage

__all__ = [
    "UNATTENDED",
    "IngestControl",
    "IngestOptions",
    "IngestResult",
    "Ingestor",
    "PassageOptions",
    "PassageWriter",
    "SegmentStage",
    "Stage",
    "StopReason",
    "Transcriber",
    "chapters_of",
    "media_id_for",
    "stop_if_asked",
]

Stage = Literal["hash", "probe", "decode", "transcribe", "index", "done"]
StopReason = Literal["canceled", "abandoned"]

# Share of the whole ingest each stage takes, for one overall progress figure.
STAGE_SPANS: dict[str, tuple[float, float]] = {
    "hash": (0.0, 0.02),
    "probe": (0.02, 0.03),
    "decode": (0.03, 0.06),
    "transcribe": (0.06, 0.92),
    "index": (0.92, 1.0),
    "done": (1.0, 1.0),
}


class Transcriber(Protocol):
    """A speech-to-text engine that streams: ``info`` at once, segments batch by batch as they are decoded."""

    @property
    def model_name(self) -> str: ...

    def stream(self, audio: np.ndarray) -> tuple[TranscriptionInfo, Iterator[SegmentBatch]]: ...


class SegmentStage(Protocol):
    """A step between transcription and indexing (speakers ...), run on every batch.

    :meth:`start` sees the whole file's audio once, before the first batch is transcribed (a stage that needs
    the whole file, like finding the speakers, does its work there, reporting 0..1 progress); ``share`` is
    the part of the ingest's progress bar that takes (0 for none). :meth:`process` gets each batch's
    segments and returns the segments to index; stages run in the order they are configured, each on the
    output of the one before.
    """

    name: str
    share: float

    def start(self, audio: np.ndarray, on_progress: Callable[[float], None]) -> None: ...

    def process(self, segments: Sequence[Segment], audio: np.ndarray) -> list[Segment]: ...


class IngestControl(Protocol):
    """What the caller of an ingest sees and decides: progress out, a stop request in."""

    def report(self, stage: str, progress: float) -> None:
        """``stage`` is a :data:`Stage` (or a step before the ingest, like "fetch"); ``progress`` 0..1 overall."""

    def should_stop(self) -> StopReason | None:
        """Asked between steps; "canceled" rolls the ingest back, "abandoned" leaves it to the new owner."""


class _Unattended:
    def report(self, stage: str, progress: float) -> None:
        return None

    def should_stop(self) -> StopReason | None:
        return None


UNATTENDED: IngestControl = _Unattended()


@dataclass(frozen=True)
class PassageOptions:
    target_s: float = PASSAGE_TARGET_S
    max_s: float = passage_max_s(PASSAGE_TARGET_S)
    overlap_s: float = PASSAGE_OVERLAP_S


@dataclass(frozen=True)
class IngestOptions:
    max_duration_s: float = 4 * 3600.0
    passages: PassageOptions = PassageOptions()
    chapters: ChapterOptions = field(default_factory=ChapterOptions)


@dataclass(frozen=True)
class IngestResult:
    media_id: str
    status: Literal["added", "unchanged"]
    title: str
    duration_s: float
    segments: int
    passages: int


def media_id_for(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """The first 16 hex digits of the file's SHA-256: same bytes, same id."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def overall_progress(stage: str, fraction: float, spans: dict[str, tuple[float, float]] = STAGE_SPANS) -> float:
    lo, hi = spans[stage]
    return lo + (hi - lo) * min(1.0, max(0.0, fraction))


def stage_spans(stages: Sequence[SegmentStage]) -> dict[str, tuple[float, float]]:
    """The progress bar's spans: the stages that work on the whole file before transcription take their
    ``share`` of the transcription's span, in order."""
    spans = dict(STAGE_SPANS)
    lo, hi = STAGE_SPANS["transcribe"]
    at = lo
    for stage in stages:
        if stage.share > 0:
            width = (hi - lo) * stage.share
            spans[stage.name] = (at, at + width)
            at += width
    spans["transcribe"] = (at, hi)
    return spans


def to_passages(drafts: Sequence[PassageDraft], media: MediaRecord, segment_vectors: np.ndarray) -> list[Passage]:
    return [
        Passage(
            media_id=media.id,
            index=d.index,
            start_s=d.start_s,
            end_s=d.end_s,
            text=d.text,
            segment_starts=d.segment_starts,
            segment_ends=d.segment_ends,
            segment_offsets=d.segment_offsets,
            word_starts=d.word_starts,
            word_offsets=d.word_offsets,
            segment_speakers=d.segment_speakers,
            title=media.title,
            filename=media.filename,
            kind=media.kind,
            language=media.language,
            created_at=media.created_at,
            segment_vectors=segment_vectors[d.first_segment : d.first_segment + len(d.segment_starts)],
        )
        for d in drafts
    ]


class PassageWriter:
    """Embeds and indexes the passages of one media item as its transcript grows.

    Passage cutting is greedy from the start, so every passage but the last of a transcript prefix is
    final, and where the last one starts is fixed too: :meth:`add` indexes the final ones and keeps only
    the open tail to cut again with the next batch; :meth:`finish` indexes the rest. Point ids are
    deterministic, so nothing is ever indexed twice.
    """

    def __init__(
        self, embedder: Embedder, index: PassageIndex, record: MediaRecord, options: PassageOptions = PassageOptions()
    ) -> None:
        self.embedder = embedder
        self.index = index
        self.record = record
        self.options = options
        self.segments: list[Segment] = []
        self.indexed = 0  # passages written so far
        self._open_from = 0  # first segment of the passage that is not final yet
        self._segment_vectors: list[np.ndarray] = []

    def add(self, segments: Iterable[Segment]) -> None:
        """Take the next segments of the transcript; index every passage that is now final."""
        self.segments.extend(segments)
        drafts = self._cut()
        if len(drafts) > 1:
            self._write(drafts[:-1])
            self._open_from = drafts[-1].first_segment

    def finish(self, on_progress: Callable[[float], None] | None = None) -> None:
        """The transcript is complete: index the passages still open."""
        self._write(self._cut(), on_progress)
        self._open_from = len(self.segments)
        if on_progress is not None:
            on_progress(1.0)

    def _cut(self) -> list[PassageDraft]:
        o = self.options
        tail = cut_passages(self.segments[self._open_from :], target_s=o.target_s, max_s=o.max_s, overlap_s=o.overlap_s)
        return [replace(d, index=self.indexed + d.index, first_segment=self._open_from + d.first_segment) for d in tail]

    def _embed_segments(self, needed: int) -> None:
        """Segment vectors up to ``needed``; each segment is embedded with its neighbours' words."""
        have = len(self._segment_vectors)
        if needed <= have:
            return
        lo = max(0, have - 1)  # the segment before completes the first new one's sentence
        contexts = segment_contexts(self.segments[lo : needed + 1])  # and the next one the last's
        self._segment_vectors.extend(self.embedder.embed_documents(contexts[have - lo : needed - lo]))

    def _write(self, drafts: Sequence[PassageDraft], on_progress: Callable[[float], None] | None = None) -> None:
        if not drafts:
            return
        self._embed_segments(drafts[-1].first_segment + len(drafts[-1].segment_starts))
        passages = to_passages(drafts, self.record, np.stack(self._segment_vectors))
        batch = 64
        for i in range(0, len(passages), batch):
            chunk = passages[i : i + batch]
            # The title leads the passage's text: a talk's subject is often named there, not in every passage.
            dense = self.embedder.embed_documents([f"{p.title}. {p.text}" for p in chunk])
            sparse = [document_vector(p.text) for p in chunk]
            self.index.upsert(chunk, dense, sparse, self.embedder.model_id)
            if on_progress is not None:
                on_progress((i + len(chunk)) / len(passages))
        self.indexed += len(drafts)


def chapters_of(
    media_id: str, segments: Sequence[Segment], embedder: Embedder, options: ChapterOptions | None = None
) -> list[Chapter]:
    """A transcript's chapters: its sentences embedded (one batch through the embedder), then cut into
    topics by :func:`ingest.chapters.find_chapters`."""
    units = sentence_units(segments)
    if not units:
        return []
    vectors = embedder.embed_documents([u.text for u in units])
    return [
        Chapter(media_id, c.index, round(c.start_s, 3), round(c.end_s, 3), c.title, c.lead)
        for c in find_chapters(units, vectors, options or ChapterOptions())
    ]


def stop_if_asked(control: IngestControl) -> None:
    """Raise JobCanceledError or WorkAbandonedError if the controller asks to stop."""
    reason = control.should_stop()
    if reason == "canceled":
        raise JobCanceledError("canceled")
    if reason == "abandoned":
        raise WorkAbandonedError("the job was taken over by another worker")


class Ingestor:
    """Runs the ingestion of one file at a time against one catalog and one index."""

    def __init__(
        self,
        catalog: Catalog,
        transcriber: Transcriber,
        embedder: Embedder,
        index: PassageIndex,
        options: IngestOptions = IngestOptions(),
        stages: Sequence[SegmentStage] = (),
    ) -> None:
        self.catalog = catalog
        self.transcriber = transcriber
        self.embedder = embedder
        self.index = index
        self.options = options
        self.stages = tuple(stages)
        self._spans = stage_spans(self.stages)
        self._index_ready = False

    def ingest_file(
        self,
        path: Path,
        *,
        control: IngestControl = UNATTENDED,
        source: str | None = None,
        title: str | None = None,
        filename: str | None = None,
    ) -> IngestResult:
        """Ingest one file, start to end; the loop below is the whole process."""
        path = Path(path)
        started = time.monotonic()
        if not path.is_file():
            raise UnsupportedMediaError(f"{path}: no such file")
        control.report("hash", overall_progress("hash", 0.0))
        media_id = media_id_for(path)
        existing = self.catalog.find_media(media_id)
        if existing is not None:
            control.report("done", 1.0)
            return IngestResult(
                media_id,
                "unchanged",
                existing.title,
                existing.duration_s,
                len(self.catalog.get_segments(media_id)),
                self.index.count(media_id),
            )
        stop_if_asked(control)
        name = filename or path.name
        control.report("probe", overall_progress("probe", 0.0))
        info = probe_media(path, max_duration_s=self.options.max_duration_s, name=name)
        control.report("decode", overall_progress("decode", 0.0))
        audio = decode_audio(path, max_duration_s=self.options.max_duration_s, name=name)
        check_complete(name, info, audio.size / 16_000)
        record = MediaRecord(
            id=media_id,
            source=source or str(path.resolve()),
            path=str(path.resolve()),
            filename=name,
            title=title or info.title or Path(name).stem.replace("_", " "),
            kind=info.kind,
            format_name=info.format_name,
            size_bytes=path.stat().st_size,
            duration_s=round(audio.size / 16_000, 3),
            language="",
            created_at=time.time(),
            status="ready",
            asr_model=self.transcriber.model_name,
        )
        stop_if_asked(control)
        self._prepare_index()
        # Whatever an earlier, interrupted run of this file indexed goes first: the catalog does not know it.
        self.index.delete_media(media_id)
        try:
            for stage in self.stages:
                self._start_stage(stage, audio, control)
            speech, batches = self.transcriber.stream(audio)
            writer = PassageWriter(
                self.embedder, self.index, replace(record, language=speech.language), self.options.passages
            )
            control.report("transcribe", self._progress("transcribe", 0.0))
            for batch in batches:
                segments: Sequence[Segment] = batch.segments
                for stage in self.stages:
                    segments = stage.process(segments, audio)
                # Passages are indexed as the transcript grows, so a long file becomes searchable early; the
                # progress reported next includes what is searchable.
                writer.add(segments)
                control.report("transcribe", self._progress("transcribe", batch.fraction))
                stop_if_asked(control)
            control.report("index", overall_progress("index", 0.0))
            writer.finish(on_progress=lambda f: control.report("index", overall_progress("index", 0.9 * f)))
            self.index.flush()  # on disk before the catalog says the file is here
            chapters = chapters_of(media_id, writer.segments, self.embedder, self.options.chapters)
            took = round(time.monotonic() - started, 2)
            self.catalog.add_media(replace(writer.record, ingest_s=took), writer.segments, chapters)
        except WorkAbandonedError:
            raise  # the new owner of the job cleans up; this worker must not touch its points
        except BaseException:
            self.index.delete_media(media_id)
            raise
        control.report("done", 1.0)
        return IngestResult(media_id, "added", record.title, record.duration_s, len(writer.segments), writer.indexed)

    def _progress(self, stage: str, fraction: float) -> float:
        return overall_progress(stage, fraction, self._spans)

    def _start_stage(self, stage: SegmentStage, audio: np.ndarray, control: IngestControl) -> None:
        if stage.share <= 0:
            stage.start(audio, lambda _f: None)
            return
        control.report(stage.name, self._progress(stage.name, 0.0))
        stage.start(audio, lambda f: control.report(stage.name, self._progress(stage.name, f)))
        stop_if_asked(control)

    def _prepare_index(self) -> None:
        """Create the collection if needed, and refuse an index built with another embedding model (checked once)."""
        self.index.ensure_collection(self.embedder.dimension)
        if not self._index_ready:
            require_single_model(self.index, self.embedder.model_id)
            self._index_ready = True

    def reindex(self, *, on_progress: Callable[[int, int], None] | None = None) -> int:
        """Rebuild every media item's points, and its chapters, from the catalog (no re-transcription).
        Returns the number of passages."""
        self.index.drop()  # every point is rebuilt, with the configured embedding model
        self._index_ready = False
        self._prepare_index()
        total = 0
        media = self.catalog.list_media()
        for n, record in enumerate(media):
            writer = PassageWriter(self.embedder, self.index, record, self.options.passages)
            try:
                segments = self.catalog.get_segments(record.id)
                writer.add(segments)
                writer.finish()
                self.catalog.set_chapters(
                    record.id, chapters_of(record.id, segments, self.embedder, self.options.chapters)
                )
            except BaseException:
                self.index.delete_media(record.id)
                raise
            total += writer.indexed
            if on_progress is not None:
                on_progress(n + 1, len(media))
        self.index.flush()
        return total
