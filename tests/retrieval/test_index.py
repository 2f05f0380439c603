"""The Qdrant passage index with the real MiniLM embedder, run twice: on the embedded store and on a real
Qdrant server (congruence: the same queries give the same moments in the same order)."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bench.qdrant_server import QdrantProcess
from retrieval.embedder import SentenceTransformerEmbedder
from retrieval.errors import IndexMismatchError, QueryError
from retrieval.index import IndexConfig, PassageIndex, QdrantPassageIndex, open_index
from retrieval.search import Searcher, SearchOptions
from retrieval.sparse import document_vector, query_vector
from retrieval.types import Passage, SearchFilters

TEXTS = {
    "bridge": [
        "The old stone bridge carried carts for two hundred years.",
        "Then the flood washed the gravel away and the central pier sank.",
        "The arches cracked one after another and the bridge fell into the river.",
    ],
    "bees": [
        "Worker bees tell each other where flowers are with a waggle dance.",
        "The angle of the dance points toward the food relative to the sun.",
        "A strong hive makes twenty kilograms of honey in a good summer.",
    ],
    "bread": [
        "Sourdough needs flour, water, salt and a lot of patience.",
        "Feed the starter every day with fresh flour.",
        "Bake the loaf in a covered pot so that the steam stays inside.",
    ],
}


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    e = SentenceTransformerEmbedder()
    e.load()
    return e


def make_passage(media_id: str, kind: str, sentences: list[str], start: float = 100.0) -> Passage:
    """A one-window passage of ``sentences``, 8 s each (shared with the cluster test)."""
    offsets, pos = [], 0
    for s in sentences:
        offsets.append(pos)
        pos += len(s) + 1
    return Passage(
        media_id=media_id,
        index=0,
        start_s=start,
        end_s=start + 8 * len(sentences),
        text=" ".join(sentences),
        segment_starts=tuple(start + 8 * i for i in range(len(sentences))),
        segment_ends=tuple(start + 8 * i + 7 for i in range(len(sentences))),
        segment_offsets=tuple(offsets),
        title=media_id.title(),
        filename=f"{media_id}.mp4",
        kind=kind,
        language="en",
        created_at=1.0,
    )


def _fill(idx: PassageIndex, embedder: SentenceTransformerEmbedder) -> PassageIndex:
    idx.ensure_collection(embedder.dimension)
    for media_id, sentences in TEXTS.items():
        p = make_passage(media_id, "audio" if media_id == "bread" else "video", sentences)
        idx.upsert([p], embedder.embed_documents([p.text]), [document_vector(p.text)], embedder.model_id)
    return idx


def _config(backend: str, tmp_path: Path, server: QdrantProcess) -> IndexConfig:
    if backend == "edge":
        return IndexConfig(path=tmp_path / "index")
    if backend == "local":
        return IndexConfig(path=tmp_path / "qdrant", engine="local")
    return IndexConfig(url=server.url, collection=f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["edge", "local", "server"])
def index(
    request: pytest.FixtureRequest, tmp_path: Path, embedder: SentenceTransformerEmbedder, qdrant_server: QdrantProcess
) -> Iterator[PassageIndex]:
    idx = _fill(open_index(_config(request.param, tmp_path, qdrant_server)), embedder)
    yield idx
    idx.drop()
    idx.close()


QUERIES = [
    ("why did the bridge collapse", "semantic"),
    ("how do bees communicate the location of food", "hybrid"),
    ("honey kilograms", "keyword"),
    ('"covered pot"', "hybrid"),
    ("flour", "hybrid"),
    ("steam", "keyword"),
]


@pytest.mark.parametrize("engine", ["edge", "local"])
def test_embedded_and_server_give_the_same_moments(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, qdrant_server: QdrantProcess, engine: str
) -> None:
    embedded = _fill(open_index(_config(engine, tmp_path, qdrant_server)), embedder)
    server = _fill(open_index(_config("server", tmp_path, qdrant_server)), embedder)
    try:
        for q, mode in QUERIES:
            a = Searcher(embedder, embedded).search(q, mode=mode).moments  # type: ignore[arg-type]
            b = Searcher(embedder, server).search(q, mode=mode).moments  # type: ignore[arg-type]
            assert [(m.media_id, m.start, m.text) for m in a] == [(m.media_id, m.start, m.text) for m in b], q
            for x, y in zip(a, b, strict=True):
                assert x.score == pytest.approx(y.score, abs=1e-3)
        assert embedded.point_ids() == server.point_ids()
    finally:
        server.drop()
        embedded.close()
        server.close()


def test_server_collection_uses_the_configured_layout(
    qdrant_server: QdrantProcess, embedder: SentenceTransformerEmbedder
) -> None:
    from qdrant_client import QdrantClient

    name = f"t_{uuid.uuid4().hex[:12]}"
    idx = QdrantPassageIndex(IndexConfig(url=qdrant_server.url, collection=name, shard_number=2, on_disk=True))
    idx.ensure_collection(embedder.dimension)
    info = QdrantClient(url=qdrant_server.url).get_collection(name)
    assert info.config.params.shard_number == 2
    assert info.config.params.on_disk_payload is True
    assert set(info.payload_schema) == {"media_id", "kind", "language", "speakers", "embed_model"}  # filtered
    idx.drop()
    idx.close()


def test_workers_starting_together_all_get_the_one_collection(qdrant_server: QdrantProcess) -> None:
    """Several workers that find no collection at once: one creates it, none fails (a job lost to this
    race used to end "failed")."""
    from concurrent.futures import ThreadPoolExecutor

    from qdrant_client import QdrantClient

    name = f"t_{uuid.uuid4().hex[:12]}"
    indexes = [QdrantPassageIndex(IndexConfig(url=qdrant_server.url, collection=name)) for _ in range(6)]
    barrier = threading.Barrier(len(indexes))

    def start(idx: QdrantPassageIndex) -> None:
        barrier.wait()
        idx.ensure_collection(384)

    with ThreadPoolExecutor(len(indexes)) as pool:
        list(pool.map(start, indexes))  # re-raises the first failure
    client = QdrantClient(url=qdrant_server.url)
    assert client.get_collection(name).config.params.vectors["dense"].size == 384  # type: ignore[index]
    client.close()
    indexes[0].drop()
    for idx in indexes:
        idx.close()


def test_points_written_with_a_collection_tag_still_read(
    qdrant_server: QdrantProcess, embedder: SentenceTransformerEmbedder
) -> None:
    """Earlier versions stored a per-media "collection" key in each payload; it is ignored now."""
    from qdrant_client import QdrantClient, models

    name = f"t_{uuid.uuid4().hex[:12]}"
    idx = _fill(QdrantPassageIndex(IndexConfig(url=qdrant_server.url, collection=name)), embedder)
    client = QdrantClient(url=qdrant_server.url)
    client.set_payload(name, payload={"collection": "talks"}, points=models.Filter(), wait=True)
    try:
        moments = Searcher(embedder, idx).search("bees", filters=SearchFilters(kind="video")).moments
        assert moments[0].media_id == "bees"
    finally:
        client.close()
        idx.drop()
        idx.close()


def test_unreachable_server_is_a_clear_error_after_bounded_retries() -> None:
    import time

    from retrieval.errors import IndexUnavailableError

    started = time.monotonic()
    idx = QdrantPassageIndex(IndexConfig(url="http://127.0.0.1:9", timeout_s=1.0, connect_retries=2))
    with pytest.raises(IndexUnavailableError, match=r"127\.0\.0\.1:9"):
        idx.count()
    assert time.monotonic() - started < 15


def test_each_mode_finds_the_right_media_and_sentence(
    index: PassageIndex, embedder: SentenceTransformerEmbedder
) -> None:
    searcher = Searcher(embedder, index)
    top = searcher.search("why did the bridge collapse", mode="semantic").moments[0]
    assert (top.media_id, top.start) == ("bridge", 116.0)  # the sentence about the arches, not the window start
    top = searcher.search("how do bees communicate the location of food", mode="hybrid").moments[0]
    assert top.media_id == "bees" and top.start == 100.0
    top = searcher.search("honey kilograms", mode="keyword").moments[0]
    assert (top.media_id, top.start) == ("bees", 116.0)
    assert [top.text[s:e] for s, e in top.highlights] == ["kilograms", "honey"]


def test_quoted_phrase_must_appear(index: PassageIndex, embedder: SentenceTransformerEmbedder) -> None:
    searcher = Searcher(embedder, index)
    moments = searcher.search('"covered pot"').moments
    assert [m.media_id for m in moments] == ["bread"]
    assert moments[0].start == 116.0
    assert searcher.search('"pot covered"').moments == []


def test_filters(index: PassageIndex, embedder: SentenceTransformerEmbedder) -> None:
    searcher = Searcher(embedder, index)
    assert {m.media_id for m in searcher.search("food", filters=SearchFilters(kind="audio")).moments} == {"bread"}
    assert {m.media_id for m in searcher.search("food", filters=SearchFilters(media_id="bees")).moments} == {"bees"}


def test_upserting_again_keeps_the_count_and_delete_removes_one_media(
    index: PassageIndex, embedder: SentenceTransformerEmbedder
) -> None:
    assert index.count() == 3
    p = make_passage("bees", "video", TEXTS["bees"])
    index.upsert([p], embedder.embed_documents([p.text]), [document_vector(p.text)], embedder.model_id)
    assert index.count() == 3
    index.delete_media("bees")
    assert index.count() == 2 and index.count("bees") == 0


def test_bad_queries_are_refused(index: PassageIndex, embedder: SentenceTransformerEmbedder) -> None:
    searcher = Searcher(embedder, index)
    for kwargs in ({"q": "  "}, {"q": "x", "mode": "fuzzy"}, {"q": "x", "limit": 0}, {"q": "x" * 5000}):
        with pytest.raises(QueryError):
            searcher.search(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", ["edge", "local"])
def test_a_second_process_on_the_same_folder_gets_a_clear_error(tmp_path: Path, engine: str) -> None:
    import subprocess
    import sys

    folder = tmp_path / "q"
    first = open_index(IndexConfig(path=folder, engine=engine))  # type: ignore[arg-type]
    code = (
        "from pathlib import Path\n"
        "from retrieval.index import IndexConfig, open_index\n"
        f"open_index(IndexConfig(path=Path({str(folder)!r}), engine={engine!r}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    first.close()
    assert proc.returncode != 0
    assert "IndexLockedError" in proc.stderr and "moments serve" in proc.stderr


@pytest.mark.parametrize("engine", ["edge", "local"])
def test_a_different_vector_size_is_refused(tmp_path: Path, engine: str) -> None:
    idx = open_index(IndexConfig(path=tmp_path / "q", engine=engine))  # type: ignore[arg-type]
    idx.ensure_collection(384)
    with pytest.raises(IndexMismatchError, match="reindex"):
        idx.ensure_collection(768)
    assert idx.count() == 0
    idx.close()


class _Renamed:
    """The same weights under another model name, as after changing MOMENTS_EMBEDDING_MODEL."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner = inner
        self.model_id = "another-model"
        self.dimension = inner.dimension

    def load(self) -> None:
        self.inner.load()

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        return self.inner.embed_documents(texts)


def test_search_refuses_to_mix_embedding_models(index: PassageIndex, embedder: SentenceTransformerEmbedder) -> None:
    with pytest.raises(IndexMismatchError, match="reindex"):
        Searcher(_Renamed(embedder), index).search("bees")  # type: ignore[arg-type]


def test_a_server_that_is_not_qdrant_is_named_as_such(tmp_path: Path) -> None:
    """MOMENTS_QDRANT_URL pointing at any other web server: one clear sentence, not a decoding error."""
    import http.server
    import threading

    from retrieval.errors import IndexUnavailableError

    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        index = QdrantPassageIndex(IndexConfig(url=f"http://127.0.0.1:{server.server_address[1]}", connect_retries=1))
        with pytest.raises(IndexUnavailableError, match="is not a Qdrant server"):
            index.check()
        index.close()
    finally:
        server.shutdown()
        server.server_close()


def test_a_name_whisper_misheard_is_found_by_how_it_sounds(
    index: PassageIndex, embedder: SentenceTransformerEmbedder
) -> None:
    """Whisper writes names it does not know as it hears them; the name as typed still finds them, the
    sounding-alike word is highlighted, a word the library does say is matched as said, and a quoted
    phrase stays exact."""
    said = [
        "Kobawl is a language for business records.",
        "It was designed by a committee in nineteen sixty.",
        "Mochley built the first machine together with Eckert.",
        "Before Barnes Tristrup settled the question by designing another language.",
        "A letter to the editor in the July issue of day to mention made the term popular.",
    ]
    p = make_passage("history", "audio", said)
    index.upsert([p], embedder.embed_documents([p.text]), [document_vector(p.text)], embedder.model_id)
    searcher = Searcher(embedder, index)
    for mode in ("keyword", "hybrid"):
        top = searcher.search("COBOL", mode=mode).moments[0]  # type: ignore[arg-type]
        assert (top.media_id, top.start) == ("history", 100.0)
        assert [top.text[s:e] for s, e in top.highlights] == ["Kobawl"]
        top = searcher.search("who built the machine with mauchly", mode=mode).moments[0]  # type: ignore[arg-type]
        assert (top.media_id, top.start) == ("history", 116.0)
        assert "Mochley" in [top.text[s:e] for s, e in top.highlights]
        # One Metaphone edit away (STRSTRP, TRSTRP): a long name bent a little further still finds its place.
        top = searcher.search("Stroustrup", mode=mode).moments[0]  # type: ignore[arg-type]
        assert (top.media_id, top.start) == ("history", 124.0)
        assert "Tristrup" in [top.text[s:e] for s, e in top.highlights]
        # Written apart ("day to mention": TTMNXN, one edit from Datamation's TTMXN), heard together.
        top = searcher.search("Datamation", mode=mode).moments[0]  # type: ignore[arg-type]
        assert (top.media_id, top.start) == ("history", 132.0)
        assert [top.text[s:e] for s, e in top.highlights] == ["day to mention"]
    assert searcher.search('"cobol"').moments == []
    exact_only = Searcher(embedder, index, SearchOptions(near_sounds=False))  # the keys as before 2026-12-03
    assert exact_only.search("Stroustrup", mode="keyword").moments == []
    assert exact_only.search("Datamation", mode="keyword").moments == []
    assert exact_only.search("COBOL", mode="keyword").moments[0].start == 100.0
    assert searcher.search("cobol", mode="semantic").moments[0].highlights == []  # meaning only: no sounds


def _with_words(p: Passage, sentences: list[str], embedder: SentenceTransformerEmbedder) -> Passage:
    """``p`` (of ``sentences``) with a vector per segment and a time for every word, 0.4 s apart."""
    starts, offsets = [], []
    for seg_start, seg_offset, sentence in zip(p.segment_starts, p.segment_offsets, sentences, strict=True):
        for n, word in enumerate(re.finditer(r"\S+", sentence)):
            starts.append(round(seg_start + 0.4 * n, 2))
            offsets.append(seg_offset + word.start())
    vectors = embedder.embed_documents(sentences)
    return replace(p, segment_vectors=vectors, word_starts=tuple(starts), word_offsets=tuple(offsets))


def test_a_light_read_leaves_out_the_details_and_gets_them_back(
    index: PassageIndex, embedder: SentenceTransformerEmbedder
) -> None:
    """A phrase search reads its 400 candidates without segment vectors and word times, then reads them for
    the passages it keeps: the moment still opens on the phrase's first word, at that word's own time."""
    said = ["The harbour froze in the winter of the great storm.", "Ships waited outside the long stone pier."]
    p = _with_words(make_passage("harbour", "video", said, start=300.0), said, embedder)
    index.upsert([p], embedder.embed_documents([p.text]), [document_vector(p.text)], embedder.model_id)
    light = index.search("keyword", None, query_vector("stone pier"), SearchFilters(media_id="harbour"), 5, light=True)
    assert [(h.passage.media_id, h.passage.text) for h in light] == [("harbour", p.text)]
    assert light[0].passage.segment_vectors is None and light[0].passage.word_starts == ()
    (full,) = index.with_details([light[0].passage])
    assert full.word_starts == p.word_starts and full.word_offsets == p.word_offsets
    assert full.segment_vectors is not None and np.allclose(full.segment_vectors, p.segment_vectors, atol=1e-3)

    top = Searcher(embedder, index).search('"long stone pier"').moments[0]
    assert top.media_id == "harbour"
    assert top.start == 308.0 + 0.4 * 4  # "long", the fifth word of the second sentence
