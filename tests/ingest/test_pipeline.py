"""The ingest pipeline's bookkeeping: ids, idempotence and rollback, on a real catalog and index.

The transcriber here is a stand-in returning fixed segments: these tests are about what happens around
transcription (the real engine has its own tests), so they stay fast.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from ingest.catalog import Catalog, MediaRecord
from ingest.errors import JobCanceledError
from ingest.pipeline import Ingestor, StopReason, media_id_for
from ingest.types import Segment
from ingest.whisper import SegmentBatch, TranscriptionInfo
from retrieval.embedder import SentenceTransformerEmbedder
from retrieval.index import IndexConfig, PassageIndex, open_index
from retrieval.sparse import query_vector
from retrieval.types import SearchFilters


class ScriptedTranscriber:
    """Fixed segments, one every 3 s, streamed in four batches as if four batches of windows were decoded."""

    model_name = "scripted"

    def __init__(self) -> None:
        self.indexed_while_transcribing: list[int] = []
        self.index: PassageIndex | None = None
        self.batches_decoded = 0

    def stream(self, audio: np.ndarray) -> tuple[TranscriptionInfo, Iterator[SegmentBatch]]:
        seconds = audio.size / 16_000
        segs = [Segment(t, t + 2.5, f"Sentence number {int(t)} about tides.") for t in np.arange(0, seconds, 3.0)]
        cuts = [0, len(segs) // 4, len(segs) // 2, 3 * len(segs) // 4, len(segs)]
        info = TranscriptionInfo(language="en", duration_s=seconds, speech_s=seconds, windows=4)

        def batches() -> Iterator[SegmentBatch]:
            for lo, hi in itertools.pairwise(cuts):
                if self.index is not None:
                    self.indexed_while_transcribing.append(self.index.count())
                self.batches_decoded += 1
                yield SegmentBatch(tuple(segs[lo:hi]), done_s=seconds * hi / len(segs), total_s=seconds)

        return info, batches()


class Progress:
    def __init__(self, stop_after: int | None = None) -> None:
        self.stages: list[str] = []
        self.progress: list[float] = []
        self.asked = 0
        self.stop_after = stop_after

    def report(self, stage: str, progress: float) -> None:
        self.stages.append(stage)
        self.progress.append(progress)

    def should_stop(self) -> StopReason | None:
        self.asked += 1
        return "canceled" if self.stop_after is not None and self.asked > self.stop_after else None


class Shout:
    """A stage that rewrites every segment, to see that stages sit between transcriber and index."""

    name = "shout"
    share = 0.0

    def start(self, audio: np.ndarray, on_progress: object) -> None:
        return None

    def process(self, segments: Sequence[Segment], audio: np.ndarray) -> list[Segment]:
        return [Segment(s.start_s, s.end_s, s.text.upper()) for s in segments]


class BrokenCatalog(Catalog):
    def add_media(self, record: MediaRecord, segments: object, chapters: object = ()) -> None:  # type: ignore[override]
        raise OSError("disk full")


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


def _ingestor(
    tmp_path: Path,
    embedder: SentenceTransformerEmbedder,
    catalog_cls: type[Catalog] = Catalog,
    stages: Sequence[Shout] = (),
) -> Ingestor:
    index = open_index(IndexConfig(path=tmp_path / "index"))
    return Ingestor(catalog_cls(tmp_path / "catalog.sqlite3"), ScriptedTranscriber(), embedder, index, stages=stages)


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
    progress = Progress()
    first = ingestor.ingest_file(long_tone, control=progress)
    assert first.status == "added" and first.passages >= 3
    stages = progress.stages
    assert stages[0] == "hash" and stages[-1] == "done" and "transcribe" in stages and "index" in stages
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(progress.progress)) and progress.progress[-1] == 1.0
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
    before_each_batch = transcriber.indexed_while_transcribing
    assert before_each_batch[0] == 0 <= before_each_batch[1]
    assert 0 < before_each_batch[2] < before_each_batch[3] < result.passages
    assert result.passages == ingestor.index.count()


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
    """Passages written batch by batch while transcribing are exactly those of the whole transcript at once."""
    ingestor = _ingestor(tmp_path, embedder)
    result = ingestor.ingest_file(long_tone)
    ids, fields, vectors = _points(ingestor.index)
    assert len(ids) == len(fields) == len(vectors) == result.passages
    ingestor.index.drop()
    assert ingestor.index.count() == 0
    assert ingestor.reindex() == result.passages
    ids_again, fields_again, vectors_again = _points(ingestor.index)
    assert (ids_again, fields_again) == (ids, fields)
    for i, v in vectors.items():  # the same texts embedded in other batches: equal up to float16 rounding
        assert np.allclose(vectors_again[i], v, atol=2e-3)


def _points(index: PassageIndex) -> tuple[set[str], dict[int, tuple[object, ...]], dict[int, np.ndarray]]:
    """Every point id, every passage's fields, and its segment vectors."""
    hits = index.search("keyword", None, query_vector("tides"), SearchFilters(), 10_000)
    fields = {
        h.passage.index: (h.passage.start_s, h.passage.end_s, h.passage.text, h.passage.segment_starts) for h in hits
    }
    vectors = {h.passage.index: h.passage.segment_vectors for h in hits if h.passage.segment_vectors is not None}
    return index.point_ids(), fields, vectors


def test_cancel_between_batches_stops_transcribing_and_leaves_nothing(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, long_tone: Path
) -> None:
    ingestor = _ingestor(tmp_path, embedder)
    progress = Progress(stop_after=2)  # go on after hash and after decode; stop after the first batch
    with pytest.raises(JobCanceledError):
        ingestor.ingest_file(long_tone, control=progress)
    transcriber = ingestor.transcriber
    assert isinstance(transcriber, ScriptedTranscriber)
    assert transcriber.batches_decoded == 1  # the loop stopped; the rest was never decoded
    assert ingestor.index.count() == 0
    assert ingestor.catalog.count_media() == 0


def test_stages_run_between_the_transcriber_and_the_index(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, long_tone: Path
) -> None:
    ingestor = _ingestor(tmp_path, embedder, stages=[Shout()])
    result = ingestor.ingest_file(long_tone)
    segments = ingestor.catalog.get_segments(result.media_id)
    assert segments and all(s.text == s.text.upper() and "TIDES" in s.text for s in segments)
