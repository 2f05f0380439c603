"""Ingestion of one file: hash, probe, decode, transcribe, cut passages, embed, index, catalog.

Nothing is half-written: the catalog row and transcript land in one transaction after the index has all
the points; if anything fails after points were written, they are deleted again. The media id is the
content hash, so the same file ingested twice is one item and the second ingest changes nothing.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from ingest.catalog import Catalog, MediaRecord
from ingest.errors import UnsupportedMediaError, WorkAbandonedError
from ingest.media import decode_audio, probe_media
from ingest.passages import (
    PASSAGE_OVERLAP_S,
    PASSAGE_TARGET_S,
    PassageDraft,
    cut_passages,
    passage_max_s,
    segment_contexts,
)
from ingest.types import Segment, Transcript
from retrieval.embedder import Embedder
from retrieval.index import PassageIndex, require_single_model
from retrieval.sparse import document_vector
from retrieval.types import Passage

__all__ = ["IngestOptions", "IngestResult", "Ingestor", "Stage", "media_id_for"]

Stage = Literal["hash", "probe", "decode", "transcribe", "index", "done"]
ProgressFn = Callable[[Stage, float], None]

# Share of the whole job each stage takes, for one overall progress figure.
STAGE_SPANS: dict[str, tuple[float, float]] = {
    "hash": (0.0, 0.02),
    "probe": (0.02, 0.03),
    "decode": (0.03, 0.06),
    "transcribe": (0.06, 0.92),
    "index": (0.92, 1.0),
    "done": (1.0, 1.0),
}


class Transcriber(Protocol):
    @property
    def model_name(self) -> str: ...

    def transcribe(
        self,
        audio: np.ndarray,
        on_progress: Callable[[float], None] | None = None,
        on_segments: Callable[[list[Segment], str], None] | None = None,
    ) -> Transcript: ...


@dataclass(frozen=True)
class IngestOptions:
    max_duration_s: float = 4 * 3600.0
    passage_target_s: float = PASSAGE_TARGET_S
    passage_max_s: float = passage_max_s(PASSAGE_TARGET_S)
    passage_overlap_s: float = PASSAGE_OVERLAP_S


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


def overall_progress(stage: Stage, fraction: float) -> float:
    lo, hi = STAGE_SPANS[stage]
    return lo + (hi - lo) * min(1.0, max(0.0, fraction))


def to_passages(
    drafts: list[PassageDraft], media: MediaRecord, segment_vectors: np.ndarray | None = None
) -> list[Passage]:
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
            title=media.title,
            filename=media.filename,
            kind=media.kind,
            language=media.language,
            created_at=media.created_at,
            collection=media.collection,
            segment_vectors=(
                None
                if segment_vectors is None
                else segment_vectors[d.first_segment : d.first_segment + len(d.segment_starts)]
            ),
        )
        for d in drafts
    ]


class PassageWriter:
    """Embeds and indexes the passages of one media item as its transcript grows.

    Passage cutting is greedy from the start, so every passage of a transcript prefix except the last is
    final; those are indexed at once, the rest when the transcript is complete. Point ids are
    deterministic, so nothing is ever indexed twice.
    """

    def __init__(self, ingestor: Ingestor, record: MediaRecord) -> None:
        self.ingestor = ingestor
        self.record = record
        self.indexed = 0
        self._segment_vectors: list[np.ndarray] = []

    def update(
        self,
        segments: list[Segment],
        *,
        language: str,
        final: bool,
        on_progress: Callable[[float], None] | None = None,
    ) -> None:
        if language and language != self.record.language:
            self.record = replace(self.record, language=language)
        opts, embedder = self.ingestor.options, self.ingestor.embedder
        drafts = cut_passages(
            segments, target_s=opts.passage_target_s, max_s=opts.passage_max_s, overlap_s=opts.passage_overlap_s
        )
        fresh = (drafts if final else drafts[:-1])[self.indexed :]
        if not fresh:
            if on_progress is not None:
                on_progress(1.0)
            return
        needed = fresh[-1].first_segment + len(fresh[-1].segment_starts)
        if needed > len(self._segment_vectors):
            contexts = segment_contexts(segments[: needed + 1])  # the next segment completes the last sentence
            new = embedder.embed_documents(contexts[len(self._segment_vectors) : needed])
            self._segment_vectors.extend(new)
        passages = to_passages(fresh, self.record, np.stack(self._segment_vectors))
        self.ingestor.index.ensure_collection(embedder.dimension)
        self.ingestor.check_models()
        batch = 64
        for i in range(0, len(passages), batch):
            chunk = passages[i : i + batch]
            # The title leads the passage's text: a talk's subject is often named there, not in every passage.
            dense = embedder.embed_documents([f"{p.title}. {p.text}" for p in chunk])
            sparse = [document_vector(p.text) for p in chunk]
            self.ingestor.index.upsert(chunk, dense, sparse, embedder.model_id)
            if on_progress is not None:
                on_progress((i + len(chunk)) / len(passages))
        self.indexed += len(fresh)


class Ingestor:
    """Runs the ingestion stages for one file at a time against one catalog and one index."""

    def __init__(
        self,
        catalog: Catalog,
        transcriber: Transcriber,
        embedder: Embedder,
        index: PassageIndex,
        options: IngestOptions = IngestOptions(),
    ) -> None:
        self.catalog = catalog
        self.transcriber = transcriber
        self.embedder = embedder
        self.index = index
        self.options = options
        self._models_checked = False

    def ingest_file(
        self,
        path: Path,
        *,
        on_progress: ProgressFn | None = None,
        source: str | None = None,
        title: str | None = None,
        collection: str | None = None,
        on_identified: Callable[[str], None] | None = None,
        filename: str | None = None,
    ) -> IngestResult:
        report: ProgressFn = on_progress or (lambda _stage, _f: None)
        path = Path(path)
        if not path.is_file():
            raise UnsupportedMediaError(f"{path}: no such file")
        report("hash", 0.0)
        media_id = media_id_for(path)
        if on_identified is not None:
            on_identified(media_id)
        existing = self.catalog.find_media(media_id)
        if existing is not None:
            report("done", 1.0)
            return IngestResult(
                media_id,
                "unchanged",
                existing.title,
                existing.duration_s,
                len(self.catalog.get_segments(media_id)),
                self.index.count(media_id),
            )
        report("probe", 0.0)
        info = probe_media(path, max_duration_s=self.options.max_duration_s)
        report("decode", 0.0)
        audio = decode_audio(path, max_duration_s=self.options.max_duration_s)
        record = MediaRecord(
            id=media_id,
            source=source or str(path.resolve()),
            path=str(path.resolve()),
            filename=filename or path.name,
            title=title or info.title or Path(filename or path.name).stem.replace("_", " "),
            kind=info.kind,
            format_name=info.format_name,
            size_bytes=path.stat().st_size,
            duration_s=round(audio.size / 16_000, 3),
            language="",
            created_at=time.time(),
            status="ready",
            asr_model=self.transcriber.model_name,
            collection=collection,
        )
        writer = PassageWriter(self, record)
        report("transcribe", 0.0)
        try:
            # Passages are indexed while the transcript grows, so a long file becomes searchable early.
            transcript = self.transcriber.transcribe(
                audio,
                lambda f: report("transcribe", f),
                on_segments=lambda segs, language: writer.update(segs, language=language, final=False),
            )
            report("index", 0.0)
            writer.update(
                transcript.segments,
                language=transcript.language,
                final=True,
                on_progress=lambda f: report("index", f),
            )
            self.catalog.add_media(writer.record, transcript.segments)
        except BaseException as exc:
            if not isinstance(exc, WorkAbandonedError):
                self.index.delete_media(media_id)
            raise
        report("done", 1.0)
        return IngestResult(
            media_id, "added", record.title, record.duration_s, len(transcript.segments), writer.indexed
        )

    def index_media(
        self,
        record: MediaRecord,
        segments: list[Segment],
        *,
        on_progress: Callable[[float], None] | None = None,
    ) -> int:
        """Embed and index a whole transcript, then write the catalog; on failure remove the points."""
        writer = PassageWriter(self, record)
        try:
            writer.update(segments, language=record.language, final=True, on_progress=on_progress)
            self.catalog.add_media(record, segments)
        except BaseException:
            self.index.delete_media(record.id)
            raise
        return writer.indexed

    def check_models(self) -> None:
        """Refuse to add passages to an index built with another embedding model (checked once)."""
        if not self._models_checked:
            require_single_model(self.index, self.embedder.model_id)
            self._models_checked = True

    def remove(self, media_id: str) -> None:
        """Delete a media item's points and its catalog rows (raises UnknownMediaError if unknown)."""
        self.catalog.get_media(media_id)
        self.index.delete_media(media_id)
        self.catalog.delete_media(media_id)

    def reindex(self, *, on_progress: Callable[[int, int], None] | None = None) -> int:
        """Rebuild every media item's points from the catalog (no re-transcription). Returns passages."""
        self.index.drop()  # every point is rebuilt, with the configured embedding model
        self._models_checked = True
        total = 0
        media = self.catalog.list_media()
        for n, record in enumerate(media):
            self.index.delete_media(record.id)
            total += self.index_media(record, self.catalog.get_segments(record.id))
            if on_progress is not None:
                on_progress(n + 1, len(media))
        return total
