"""Wiring: settings into the components of ingest and retrieval, in one place, one way down.

Every composition root (the app factory, the CLI, the benchmarks) builds one ``Services`` from its
``Settings``; each component gets the option dataclass of its own package and its collaborators, never
the settings themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from api.settings import Settings
from ingest.catalog import Catalog
from ingest.errors import IngestError
from ingest.fetch import FetchPolicy
from ingest.jobs import JobRunner, JobRunnerOptions
from ingest.library import Library, LibraryOptions
from ingest.models import OFFLINE_PACKS
from ingest.passages import passage_max_s
from ingest.pipeline import IngestOptions, Ingestor, PassageOptions, SegmentStage
from ingest.speakers import SpeakerOptions
from ingest.speed import Expectation, expect, faster_choice
from ingest.voices import SpeakerStage, VoiceEmbedder
from ingest.whisper import TranscribeOptions, WhisperTranscriber
from retrieval.edge import DENSE_STORAGE, EdgePassageIndex
from retrieval.embedder import SentenceTransformerEmbedder
from retrieval.errors import RetrievalError
from retrieval.index import IndexConfig, PassageIndex, open_index
from retrieval.search import Searcher, SearchOptions

__all__ = ["Services"]

log = logging.getLogger("moments.services")
MigrationProgress = Callable[[int, int], None]


def whisper_source(settings: Settings) -> str:
    """The configured model, with the offline pack names mapped to their converted folders."""
    name = settings.whisper_model
    if name in OFFLINE_PACKS and (settings.resolved_models_dir / name).is_dir():
        return str(settings.resolved_models_dir / name)
    return name


def index_config(settings: Settings, url: str | None = None, collection: str | None = None) -> IndexConfig:
    """The configured index, or (with ``url``) a Qdrant server to move the library to."""
    if url is not None:
        return IndexConfig(url=url, api_key=settings.qdrant_api_key, collection=collection or settings.collection)
    return IndexConfig(
        path=None if settings.qdrant_url else settings.index_path,
        url=settings.qdrant_url,
        api_key=settings.qdrant_api_key,
        collection=settings.collection,
    )


class Services:
    """The components of one process, built lazily from settings so a command loads only what it uses."""

    def __init__(self, settings: Settings, *, on_migration: MigrationProgress | None = None) -> None:
        self.settings = settings
        self.on_migration = on_migration
        self._catalog: Catalog | None = None
        self._index: PassageIndex | None = None
        self._embedder: SentenceTransformerEmbedder | None = None
        self._transcriber: WhisperTranscriber | None = None
        self._ingestor: Ingestor | None = None
        self._searcher: Searcher | None = None
        self._library: Library | None = None
        self._voices: VoiceEmbedder | None = None
        self.model_status: dict[str, str] = {"embedding_model": "not loaded", "whisper_model": "not loaded"}

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = Catalog(self.settings.catalog_path)
        return self._catalog

    @property
    def index(self) -> PassageIndex:
        """The index; opening it takes the embedded folder's lock (IndexLockedError if a server holds it).

        A library made before Qdrant Edge is moved to it here, once, and an Edge folder with float32 vectors
        is compacted (points copied, nothing re-embedded).
        """
        if self._index is None:
            s = self.settings
            if not s.qdrant_url:
                self._migrate_embedded()
            index = open_index(index_config(s))
            if isinstance(index, EdgePassageIndex):
                self._compact_embedded(index)
            self._index = index
        return self._index

    def _compact_embedded(self, index: EdgePassageIndex) -> None:
        from retrieval.migrate import compact_edge_vectors

        if index.dense_storage == DENSE_STORAGE:
            return
        log.warning("rewriting the embedded index at %s with %s vectors (once)", index.path, DENSE_STORAGE)
        try:
            copied = compact_edge_vectors(index, self.on_migration)
        except BaseException:
            index.close()  # the lock goes with it; the folder is as it was, and the next start copies again
            raise
        log.warning("rewrote %d passages", copied)

    def _migrate_embedded(self) -> None:
        from retrieval.migrate import migrate_local_to_edge, needs_migration

        s = self.settings
        if not needs_migration(s.legacy_index_path, s.index_path, s.collection):
            return
        log.warning("moving the embedded index from %s to Qdrant Edge at %s (once)", s.legacy_index_path, s.index_path)
        moved = migrate_local_to_edge(s.legacy_index_path, s.index_path, s.collection, self.on_migration)
        log.warning("moved %d passages; the old folder is kept as %s.moved", moved, s.legacy_index_path.name)

    def open_index(self) -> None:
        """Open the index now and check it answers: a locked folder or a Qdrant server that is down shows
        up here (IndexLockedError, IndexUnavailableError) instead of in the middle of the first job."""
        self.index.check()

    @property
    def embedder(self) -> SentenceTransformerEmbedder:
        if self._embedder is None:
            s = self.settings
            self._embedder = SentenceTransformerEmbedder(
                s.embedding_model,
                runtime=s.embedding_runtime,
                cache_dir=s.resolved_models_dir,
                document_dtype=s.embedding_dtype,
            )
        return self._embedder

    @property
    def transcriber(self) -> WhisperTranscriber:
        if self._transcriber is None:
            s = self.settings
            self._transcriber = WhisperTranscriber(
                TranscribeOptions(
                    model=whisper_source(s),
                    device=s.whisper_device,
                    dtype=s.whisper_dtype,
                    cpu_threads=s.cpu_threads,
                    batch_size=s.whisper_batch_size,
                    int8_vocab=s.whisper_int8_vocab,
                    int8_decoder=s.whisper_int8_decoder,
                    word_timestamps=s.word_timestamps,
                    language=s.language,
                    allow_download=s.allow_download,
                )
            )
        return self._transcriber

    @property
    def voices(self) -> VoiceEmbedder:
        if self._voices is None:
            self._voices = VoiceEmbedder()
        return self._voices

    def stages(self) -> list[SegmentStage]:
        """The stages between transcription and index: finding the speakers, where turned on."""
        s = self.settings
        if not s.speakers:
            return []
        options = SpeakerOptions(
            num_speakers=s.num_speakers, min_speakers=s.min_speakers, max_speakers=max(s.min_speakers, s.max_speakers)
        )
        return [SpeakerStage(self.voices, options)]

    def ingest_options(self) -> IngestOptions:
        s = self.settings
        return IngestOptions(
            max_duration_s=s.max_duration_s,
            passages=PassageOptions(
                target_s=s.passage_target_s, max_s=passage_max_s(s.passage_target_s), overlap_s=s.passage_overlap_s
            ),
        )

    @property
    def ingestor(self) -> Ingestor:
        if self._ingestor is None:
            self._ingestor = self.ingestor_for(self.index)
        return self._ingestor

    def ingestor_for(self, index: PassageIndex) -> Ingestor:
        """An ingestor writing to ``index`` (the configured one, or a server to move the library to)."""
        return Ingestor(self.catalog, self.transcriber, self.embedder, index, self.ingest_options(), self.stages())

    @property
    def library(self) -> Library:
        if self._library is None:
            s = self.settings
            self._library = Library(
                self.catalog,
                self.ingestor,
                LibraryOptions(
                    media_dir=s.media_dir,
                    uploads_dir=s.uploads_dir,
                    roots=tuple(s.library_roots),
                    fetch=FetchPolicy(
                        max_bytes=s.url_max_bytes, timeout_s=s.url_timeout_s, allow_networks=tuple(s.url_allow_networks)
                    ),
                    max_duration_s=s.max_duration_s,
                    expect_s=self.expected_seconds,
                ),
            )
        return self._library

    def expectation(self, duration_s: float) -> Expectation | None:
        """How long ingesting ``duration_s`` of audio should take here with the configured model: from this
        machine's last ingests with it, else from the benchmarks' figures (ingest/speed.py)."""
        s = self.settings
        model = whisper_source(s)
        device = "cuda" if s.whisper_device == "cuda" else "cpu"
        if s.whisper_device == "auto":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        recent = self.catalog.recent_rates(model)  # the catalog records the model as the transcriber names it
        return expect(duration_s, model, device=device, threads=s.cpu_threads, speakers=s.speakers, recent_rates=recent)

    def expected_seconds(self, duration_s: float) -> float | None:
        found = self.expectation(duration_s)
        return None if found is None else found.seconds

    def expectation_line(self, duration_s: float) -> str | None:
        """What the CLI says before an ingest: the expected time, and a faster model where it is slow."""
        found = self.expectation(duration_s)
        if found is None:
            return None
        line = f"expected about {_clock(found.seconds)} ({found.rate:.1f}x real time, from {found.basis})"
        faster = faster_choice(whisper_source(self.settings), found, device="cpu")
        if faster is not None:
            name, times = faster
            line += f"; MOMENTS_WHISPER_MODEL={name} would take about {_clock(found.seconds / times)}"
        return line

    def runner(self, poll_s: float = 0.5) -> JobRunner:
        return JobRunner(self.catalog, self.library, JobRunnerOptions(poll_s=poll_s, lease_s=self.settings.job_lease_s))

    @property
    def searcher(self) -> Searcher:
        """One searcher per process: its once-only checks (the embedding-model scan) stay off the request path."""
        if self._searcher is None:
            self._searcher = Searcher(
                self.embedder,
                self.index,
                SearchOptions(
                    max_moments_per_media=self.settings.max_moments_per_media, story_margin=self.settings.story_margin
                ),
                chapters=self.catalog,
                speakers=self.catalog,
            )
        return self._searcher

    def load_models(self, *, whisper: bool = True) -> None:
        """Load the models now (Whisper only where this process transcribes); a failure is recorded for
        /api/ready rather than raised."""
        loaders = [("embedding_model", self.embedder.load)]
        if whisper:
            loaders.append(("whisper_model", self.transcriber.load))
            if self.settings.speakers:
                loaders.append(("speaker_model", self.voices.load))
        else:
            self.model_status.pop("whisper_model", None)  # not this process's business
        for name, load in loaders:
            try:
                load()
                self.model_status[name] = "ok"
            except (IngestError, RetrievalError) as exc:
                self.model_status[name] = f"unavailable: {exc}"

    def close(self) -> None:
        if self._index is not None:
            self._index.close()


def _clock(seconds: float) -> str:
    """``45 s``, ``3 min 20 s``, ``1 h 05 min``."""
    s = max(1, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"
