"""The ingest pipeline's bookkeeping: ids, idempotence and rollback, on a real catalog and index.

The transcriber here is a stand-in returning fixed segments: these tests are about what happens around
transcription (the real engine has its own tests), so they stay fast.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ingest.catalog import Catalog, MediaRecord
from ingest.pipeline import Ingestor, media_id_for
from ingest.types import Segment, Transcript
from retrieval.embedder import SentenceTransformerEmbedder
from retrieval.index import IndexConfig, QdrantPassageIndex


class ScriptedTranscriber:
    model_name = "scripted"

    def __init__(self) -> None:
        self.indexed_while_transcribing: list[int] = []
        self.index: QdrantPassageIndex | None = None

    def transcribe(
        self,
        audio: np.ndarray,
        on_progress: Callable[[float], None] | None = None,
        on_segments: Callable[[list[Segment], str], None] | None = None,
    ) -> Transcript:
        seconds = audio.size / 16_000
        segs = [Segment(t, t + 2.5, f"Sentence number {int(t)} about tides.") for t in np.arange(0, seconds, 3.0)]
        for part in (len(segs) // 2, 3 * len(segs) // 4):  # as if two batches of windows were done
            if on_segments:
                on_segments(segs[:part], "en")
            if self.index is not None:
                self.indexed_while_transcribing.append(self.index.count())
        if on_progress:
            on_progress(1.0)
        return Transcript(segments=segs, language="en")


class BrokenCatalog(Catalog):
    def add_media(self, record: MediaRecord, segments: object) -> None:  # type: ignore[override]
        raise OSError("disk full")


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


def _ingestor(tmp_path: Path, embedder: SentenceTransformerEmbedder, catalog_cls: type[Catalog] = Catalog) -> Ingestor:
    index = QdrantPassageIndex(IndexConfig(path=tmp_path / "qdrant"))
    return Ingestor(catalog_cls(tmp_path / "catalog.sqlite3"), ScriptedTranscriber(), embedder, index)


@pytest.fixture
def long_tone(tmp_path: Path) -> Path:
    from tests.conftest import ffmpeg

    path = tmp_path / "tone.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=90", "-ar", "16000", str(path))
    return path


def test_same_bytes_same_id_and_a_second_ingest_changes_nothing(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, long_tone: Path
) -> None:
    copy = tmp_path / "copy.wav"
    copy.write_bytes(long_tone.read_bytes())
    assert media_id_for(copy) == media_id_for(long_tone)
    ingestor = _ingestor(tmp_path, embedder)
    stages: list[str] = []
    first = ingestor.ingest_file(long_tone, on_progress=lambda stage, _f: stages.append(stage))
    assert first.status == "added" and first.passages >= 3
    assert stages[0] == "hash" and stages[-1] == "done" and "transcribe" in stages and "index" in stages
    points = ingestor.index.count()
    second = ingestor.ingest_file(copy)
    assert (second.status, second.media_id) == ("unchanged", first.media_id)
    assert ingestor.index.count() == points
    assert ingestor.catalog.count_media() == 1


def test_passages_become_searchable_while_the_transcript_grows(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, long_tone: Path
) -> None:
    ingestor = _ingestor(tmp_path, embedder)
    transcriber = ingestor.transcriber
    assert isinstance(transcriber, ScriptedTranscriber)
    transcriber.index = ingestor.index  # type: ignore[assignment]
    result = ingestor.ingest_file(long_tone)
    first, second = transcriber.indexed_while_transcribing
    assert 0 < first < second < result.passages == ingestor.index.count()


def test_a_failure_after_indexing_removes_the_points_again(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, long_tone: Path
) -> None:
    ingestor = _ingestor(tmp_path, embedder, BrokenCatalog)
    with pytest.raises(OSError, match="disk full"):
        ingestor.ingest_file(long_tone)
    assert ingestor.index.count() == 0
    assert ingestor.catalog.count_media() == 0


def test_reindex_rebuilds_the_same_points_from_the_catalog(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, long_tone: Path
) -> None:
    ingestor = _ingestor(tmp_path, embedder)
    result = ingestor.ingest_file(long_tone)
    before = ingestor.index.count()
    ingestor.index.drop()
    assert ingestor.index.count() == 0
    assert ingestor.reindex() == result.passages
    assert ingestor.index.count() == before
