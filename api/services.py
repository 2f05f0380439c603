"""Wiring: settings into the components of ingest and retrieval. Used by each composition root."""

from __future__ import annotations

from api.settings import Settings
from ingest.catalog import Catalog
from ingest.errors import IngestError
from ingest.models import OFFLINE_PACKS
from ingest.passages import passage_max_s
from ingest.pipeline import IngestOptions, Ingestor
from ingest.whisper import TranscribeOptions, WhisperTranscriber
from retrieval.embedder import SentenceTransformerEmbedder
from retrieval.errors import RetrievalError
from retrieval.index import IndexConfig, QdrantPassageIndex
from retrieval.search import Searcher, SearchOptions

__all__ = ["Services"]


def whisper_source(settings: Settings) -> str:
    """The configured model, with the offline pack names mapped to their converted folders."""
    name = settings.whisper_model
    if name in OFFLINE_PACKS and (settings.resolved_models_dir / name).is_dir():
        return str(settings.resolved_models_dir / name)
    return name


class Services:
    """The components of one process, built lazily from settings so a command loads only what it uses."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._catalog: Catalog | None = None
        self._index: QdrantPassageIndex | None = None
        self._embedder: SentenceTransformerEmbedder | None = None
        self._transcriber: WhisperTranscriber | None = None
        self._searcher: Searcher | None = None
        self.model_status: dict[str, str] = {"embedding_model": "not loaded", "whisper_model": "not loaded"}

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = Catalog(self.settings.catalog_path)
        return self._catalog

    @property
    def index(self) -> QdrantPassageIndex:
        if self._index is None:
            s = self.settings
            self._index = QdrantPassageIndex(
                IndexConfig(
                    path=None if s.qdrant_url else s.index_path,
                    url=s.qdrant_url,
                    api_key=s.qdrant_api_key,
                    collection=s.collection,
                )
            )
        return self._index

    @property
    def embedder(self) -> SentenceTransformerEmbedder:
        if self._embedder is None:
            self._embedder = SentenceTransformerEmbedder(self.settings.embedding_model)
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
                    language=s.language,
                    allow_download=s.allow_download,
                )
            )
        return self._transcriber

    def ingestor(self) -> Ingestor:
        s = self.settings
        return Ingestor(
            self.catalog,
            self.transcriber,
            self.embedder,
            self.index,
            IngestOptions(
                max_duration_s=s.max_duration_s,
                passage_target_s=s.passage_target_s,
                passage_max_s=passage_max_s(s.passage_target_s),
                passage_overlap_s=s.passage_overlap_s,
            ),
        )

    def searcher(self) -> Searcher:
        """One searcher per process: its once-only checks (the embedding-model scan) stay off the request path."""
        if self._searcher is None:
            self._searcher = Searcher(
                self.embedder, self.index, SearchOptions(max_moments_per_media=self.settings.max_moments_per_media)
            )
        return self._searcher

    def load_models(self) -> None:
        """Load both models now; a failure is recorded for /api/ready rather than raised."""
        for name, load in (("embedding_model", self.embedder.load), ("whisper_model", self.transcriber.load)):
            try:
                load()
                self.model_status[name] = "ok"
            except (IngestError, RetrievalError) as exc:
                self.model_status[name] = f"unavailable: {exc}"

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
