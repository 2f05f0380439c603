"""Speed patches for transformers' Whisper, all in one place, applied to one model by :func:`apply`.

Each patch is speed only: with none of them the engine decodes the same text (the int8 projection aside,
whose logits differ by quantization noise). Each acts on the one model it is given; nothing here replaces
a name inside transformers or changes process-wide state.

- ``shared-encoder-pass``: transformers' no-speech check (``WhisperNoSpeechDetection``) runs the whole
  model again on the features at the first decoding step, repeating the encoder pass (about a third of the
  CPU time of a window); a temperature fallback encodes again the windows it decodes again (their features
  cut out of the batch, a new tensor); language detection encodes the first windows that the first batch
  encodes once more. The encoder's last batch output is returned when it is called again with the very
  same features tensor and arguments, and its rows when it is called on windows whose features equal rows
  of that batch (compared value for value). Those rows are the batch's own output, which can differ from
  a pass over the fewer windows alone in the last bits of floating point (kernels block batches
  differently), as a different batch size would.
- ``cached-suppress-mask``: ``SuppressTokensLogitsProcessor`` builds its vocabulary mask with
  ``torch.isin`` at every decoding step (about 12% of CPU decoding time with Whisper base); the processor
  that this model's generate creates builds it once per generate call instead.
- ``shared-cross-attention-kv``: each decoder layer's cross-attention keys and values are projections of
  the encoder output, computed again by every model call that starts on it: the no-speech check, the first
  decoding step, and word timing's teacher-forced pass (on Whisper base at 4 windows, about a third of a
  second each on 2 CPU cores). Each projection returns its last outputs again when it is called with the
  very same encoder-output tensor (the two most recent, per thread): exact, the same arithmetic skipped.
- ``int8-vocab-projection`` (CPU): the vocabulary projection (vocabulary x d_model, tied to the token
  embeddings) is read in full at every token, so decoding is bound by memory bandwidth; an int8 copy reads
  a quarter of float32's bytes. Logits come out in float32.
- ``int8-decoder`` (CPU): the decoder's self-attention and feed-forward Linear layers dynamically quantized
  to int8, per output channel, the rest of the decoder (cross-attention included) in float32; the encoder keeps
  its dtype and hands its output over in float32. A decoding step at a few windows a batch is many small
  matrix products, each reading its whole weight: on a CPU without AMX (AVX-512 VNNI, AVX2) int8 reads a
  quarter of the bytes and runs on the integer dot-product units (bench/asr_speed, measured on AMD EPYC
  only; off unless asked for, see the README).

- ``held-tails``: where a window's decoding ends on a new segment's opening timestamp with no text after it
  (Whisper, near the end of its 30 s, often stops there though speech goes on), transformers decodes the
  window again from that timestamp: a whole encoder pass for a few seconds of speech, for about half the
  windows of continuous speech on Whisper base. While :func:`held_tails` is in effect, that window is
  finished instead and where its tail starts is handed to the engine, which transcribes the tails of a
  batch's windows together, packed into one window (:mod:`ingest.whisper`). Outside it, transformers
  behaves as it always does.

The first two and the last lean on how transformers' Whisper generate works inside (which processors it builds in
``_retrieve_logit_processors``, how the no-speech check calls the model), so they are applied only to
the transformers versions they were written and tested for (:data:`TESTED_TRANSFORMERS`); for any other
version they are skipped with one warning. The others use only the model's own modules and torch.

This module imports torch and transformers: the engine imports it when it loads a model.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import Any

import torch
from packaging.version import InvalidVersion, Version
from transformers import SuppressTokensLogitsProcessor

__all__ = [
    "CACHED_SUPPRESS_MASK",
    "HELD_TAILS",
    "INT8_DECODER",
    "INT8_VOCAB_PROJECTION",
    "SHARED_CROSS_KV",
    "SHARED_ENCODER_PASS",
    "TESTED_TRANSFORMERS",
    "CachedSuppressTokens",
    "apply",
    "held_tails",
]

SHARED_ENCODER_PASS = "shared-encoder-pass"
CACHED_SUPPRESS_MASK = "cached-suppress-mask"
INT8_VOCAB_PROJECTION = "int8-vocab-projection"
INT8_DECODER = "int8-decoder"
SHARED_CROSS_KV = "shared-cross-attention-kv"
HELD_TAILS = "held-tails"

# [low, high): the releases the internal patches were written and tested against (pyproject pins 5.23.0).
TESTED_TRANSFORMERS = (Version("5.23"), Version("5.24"))

log = logging.getLogger("moments.whisper")


def apply(model: Any, *, int8_vocab: bool, device: str, int8_decoder: bool = False) -> tuple[str, ...]:
    """Apply the speed patches that fit this ``model`` (a ``WhisperForConditionalGeneration`` on ``device``).

    Idempotent. Returns the names of the patches in effect. Patches that depend on transformers internals
    are skipped, with one warning, when the installed version is outside :data:`TESTED_TRANSFORMERS`.
    """
    applied: list[str] = []
    reason = _unsupported_reason()
    if reason is None:
        _share_encoder_pass(model)
        applied.append(SHARED_ENCODER_PASS)
        if _cache_suppress_mask(model):
            applied.append(CACHED_SUPPRESS_MASK)
        _hold_tails(model)
        applied.append(HELD_TAILS)
    else:
        log.warning(
            "Whisper speed patches %s skipped: %s (transcripts are unchanged, decoding is slower)",
            ", ".join((SHARED_ENCODER_PASS, CACHED_SUPPRESS_MASK, HELD_TAILS)),
            reason,
        )
    if int8_vocab and device == "cpu" and _quantize_vocab_projection(model):
        applied.append(INT8_VOCAB_PROJECTION)
    if int8_decoder and device == "cpu" and _quantize_decoder(model):
        applied.append(INT8_DECODER)
    if _share_cross_kv(model):  # after the decoder's layers took their final form
        applied.append(SHARED_CROSS_KV)
    log.info("Whisper speed patches applied: %s", ", ".join(applied) or "none")
    return tuple(applied)


def _unsupported_reason() -> str | None:
    """Why the internal patches do not fit the installed transformers, or None when they do."""
    low, high = TESTED_TRANSFORMERS
    # The installed distribution, not ``transformers.__version__``: the lazy ``transformers`` module
    # replaces itself in sys.modules as names are first imported from it, so a module object held here
    # may not be the one in use.
    try:
        version = metadata.version("transformers")
        installed = Version(version)
    except (metadata.PackageNotFoundError, InvalidVersion) as exc:
        return f"cannot read the installed transformers version ({exc})"
    if not low <= installed < high:
        return f"transformers {version} is outside the tested range >={low},<{high}"
    return None


def _share_encoder_pass(model: Any) -> None:
    """Serve the encoder's last batch output again: for the same features tensor and arguments, or for
    features whose rows equal rows of that batch (see the module's notes).

    The key is the tensor object itself first (holding it keeps its id from being reused), then the rows'
    values. Each thread keeps its own last batch: two threads transcribing at once must not see each
    other's windows.
    """
    encoder = model.model.encoder
    forward = encoder.forward
    if getattr(forward, "shares_encoder_pass", False):
        return
    local = threading.local()

    def shared_forward(input_features: Any = None, *args: Any, **kwargs: Any) -> Any:
        # return_dict only changes the wrapper type, and the model wraps a tuple itself; None means default.
        key = (args, tuple(sorted((k, v) for k, v in kwargs.items() if v is not None and k != "return_dict")))
        last = getattr(local, "last", None)
        if last is not None and _same_arguments(last[1], key):
            if last[0] is input_features:
                return last[2]
            rows = _rows_of(last[0], input_features) if not args and not _wants_more(kwargs) else None
            if rows is not None:
                return _take_rows(last[2], rows)
        output = forward(input_features, *args, **kwargs)
        local.last = (input_features, key, output)
        return output

    shared_forward.shares_encoder_pass = True  # type: ignore[attr-defined]
    encoder.forward = shared_forward


def _wants_more(kwargs: dict[str, Any]) -> bool:
    """Whether a call asks for more than the last hidden state (those outputs are not cut into rows)."""
    return bool(kwargs.get("output_attentions") or kwargs.get("output_hidden_states") or kwargs.get("head_mask"))


def _rows_of(batch: Any, features: Any) -> list[int] | None:
    """For each row of ``features``, the index of an equal row of ``batch``; None unless every row has one."""
    if not (torch.is_tensor(batch) and torch.is_tensor(features)):
        return None
    if features.dim() != 3 or batch.shape[1:] != features.shape[1:] or batch.dtype != features.dtype:
        return None
    if batch.device != features.device or features.shape[0] > batch.shape[0]:
        return None
    sums = batch.float().sum(dim=(1, 2))  # a cheap first look; equal rows are confirmed value for value
    rows: list[int] = []
    for row, total in zip(features, features.float().sum(dim=(1, 2)), strict=True):
        match = next((j for j in range(batch.shape[0]) if bool(sums[j] == total) and torch.equal(batch[j], row)), None)
        if match is None:
            return None
        rows.append(match)
    return rows


def _take_rows(output: Any, rows: list[int]) -> Any:
    """The encoder output for ``rows`` of its batch, in the same wrapper type."""
    if rows == list(range(output[0].shape[0])):  # the whole batch, in order: the very same output
        return output
    index = torch.tensor(rows, device=output[0].device)
    if isinstance(output, tuple):
        return (output[0].index_select(0, index),)
    return type(output)(last_hidden_state=output.last_hidden_state.index_select(0, index))


def _same_arguments(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Equal argument keys; tensors compare by identity (``==`` on them is elementwise)."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x is y:
            continue
        if isinstance(x, tuple) and isinstance(y, tuple):
            if not _same_arguments(x, y):
                return False
        elif torch.is_tensor(x) or torch.is_tensor(y) or x != y:
            return False
    return True


class CachedSuppressTokens(SuppressTokensLogitsProcessor):  # type: ignore[misc]
    """``SuppressTokensLogitsProcessor`` that builds its vocabulary mask once, not at every decoding step.

    The mask is the stock processor's own (``torch.isin`` over the vocabulary), kept while the vocabulary
    size and device stay the same, and applied the same way, so the scores are identical.
    """

    _mask: Any = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        mask = self._mask
        if mask is None or mask.shape[-1] != scores.shape[-1] or mask.device != scores.device:
            vocab = torch.arange(scores.shape[-1], device=scores.device)
            mask = torch.isin(vocab, self.suppress_tokens.to(scores.device))
            self._mask = mask
        return torch.where(mask, -float("inf"), scores)


def _cache_suppress_mask(model: Any) -> bool:
    """Make this model's generate use :class:`CachedSuppressTokens` for the processor it builds itself.

    Whisper's generate builds its logits processors in ``_retrieve_logit_processors``; the suppress
    processor there runs before the timestamp processor, which reads the suppressed scores, so it cannot
    be passed in from outside (``generate(logits_processor=...)`` appends after the built-in ones) without
    changing results. Instead this model's method is wrapped, on the instance, to turn the stock processor
    it returns into the caching subclass (same attributes, ``isinstance`` checks still hold). Other models
    and transformers itself are untouched.
    """
    retrieve = getattr(model, "_retrieve_logit_processors", None)
    if not callable(retrieve):
        return False
    if getattr(retrieve, "caches_suppress_mask", False):
        return True

    def retrieve_with_cached_mask(*args: Any, **kwargs: Any) -> Any:
        processors = retrieve(*args, **kwargs)
        for processor in processors or ():
            if type(processor) is SuppressTokensLogitsProcessor:
                processor.__class__ = CachedSuppressTokens
        return processors

    retrieve_with_cached_mask.caches_suppress_mask = True  # type: ignore[attr-defined]
    model._retrieve_logit_processors = retrieve_with_cached_mask
    return True


class _Int8Projection(torch.nn.Module):  # type: ignore[misc]
    """A dynamically quantized int8 linear layer that takes any float dtype and returns float32 logits."""

    def __init__(self, quantized: Any) -> None:
        super().__init__()
        self.inner = quantized

    def forward(self, hidden: Any) -> Any:
        return self.inner(hidden.float())


def _quantize_vocab_projection(model: Any) -> bool:
    """Replace this model's vocabulary projection with a dynamically quantized int8 copy.

    The token embeddings (tied to the projection) stay as they are.
    """
    projection = getattr(model, "proj_out", None)
    if isinstance(projection, _Int8Projection):
        return True
    if not isinstance(projection, torch.nn.Linear) or projection.bias is not None:
        log.info("no plain vocabulary projection (proj_out) to quantize; decoding without int8")
        return False
    weight = projection.weight.detach().float().clone()
    linear = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    linear.weight = torch.nn.Parameter(weight, requires_grad=False)
    try:
        # torch.ao.quantization is deprecated in favour of torchao (a dependency we do not want for one
        # matrix); while it lasts it is used, and once it is gone the projection stays as it is.
        with warnings.catch_warnings():  # its deprecation notices are not the user's concern
            warnings.simplefilter("ignore")
            quantized = torch.ao.quantization.quantize_dynamic(
                torch.nn.Sequential(linear), {torch.nn.Linear}, dtype=torch.qint8
            )[0]
    except (AttributeError, ImportError, RuntimeError) as exc:
        log.info("int8 vocabulary projection unavailable (%s); decoding without it", exc)
        return False
    model.proj_out = _Int8Projection(quantized)
    return True


def _float_encoder_output(model: Any) -> None:
    """Make the encoder return its last hidden state in float32 (whatever its own dtype), once.

    The cast is the encoder's own last step (its final layer norm's output), so every caller, and the
    shared encoder pass, sees one and the same float32 tensor for one pass.
    """
    norm = model.model.encoder.layer_norm
    forward = norm.forward
    if getattr(forward, "float_output", False):
        return

    def float_forward(hidden: Any) -> Any:
        return forward(hidden).float()

    float_forward.float_output = True  # type: ignore[attr-defined]
    norm.forward = float_forward


def _quantize_decoder(model: Any) -> bool:
    """Turn this model's decoder into float32 with dynamically quantized int8 Linear layers (per channel)."""
    decoder = model.model.decoder
    if getattr(decoder, "int8_linears", False):
        return True
    linear = torch.nn.Linear
    if not any(type(m) is linear for m in decoder.modules()):
        log.info("no Linear layers in the decoder to quantize; decoding without int8")
        return False
    try:
        with warnings.catch_warnings():  # torch.ao.quantization's deprecation notices
            warnings.simplefilter("ignore")
            qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
            decoder.float()
            # Cross-attention stays in float32: its keys and values are computed once per window (no gain),
            # and word timing reads its attention, which int8 queries and keys blur (the sonnet word-onset test
            # in tests/ingest/test_transcribe_real_speech.py: two line starts 0.7 s off).
            names = {
                name: qconfig
                for name, module in decoder.named_modules()
                if type(module) is linear and ".encoder_attn." not in f".{name}."
            }
            torch.ao.quantization.quantize_dynamic(decoder, names, dtype=torch.qint8, inplace=True)
    except (AttributeError, ImportError, RuntimeError) as exc:
        log.info("int8 decoder unavailable (%s); decoding in the model's dtype", exc)
        return False
    _float_encoder_output(model)
    decoder.int8_linears = True
    return True


def _share_cross_kv(model: Any) -> bool:
    """Make each decoder layer's cross-attention key and value projections return their last outputs again
    for the very same input tensor (the encoder output), keeping the two most recent per thread until
    :func:`forget_cross_kv`."""
    layers = getattr(model.model.decoder, "layers", None)
    found = [getattr(layer.encoder_attn, name, None) for layer in layers or () for name in ("k_proj", "v_proj")]
    projections = [p for p in found if isinstance(p, torch.nn.Module)]
    if not projections or len(projections) != len(found):
        return False
    local = getattr(model, "_moments_cross_kv", None)
    if local is None:
        local = threading.local()
        model._moments_cross_kv = local
    for number, projection in enumerate(projections):
        if getattr(projection.forward, "shares_cross_kv", False):
            continue
        forward = projection.forward

        def shared_forward(states: Any, _forward: Any = forward, _key: int = number) -> Any:
            memo: dict[int, list[tuple[Any, Any]]] | None = getattr(local, "memo", None)
            if memo is None:
                memo = local.memo = {}
            recent = memo.get(_key, [])
            for seen, output in recent:
                if seen is states:
                    return output
            output = _forward(states)
            memo[_key] = [(states, output), *recent[:1]]
            return output

        shared_forward.shares_cross_kv = True  # type: ignore[attr-defined]
        projection.forward = shared_forward
    return True


def _hold_tails(model: Any) -> None:
    """Give ``model`` its own ``_retrieve_segment`` (transformers' static method, looked up on the instance
    first): the same segments, but a window that would be decoded again from its last timestamp is
    finished, and that timestamp noted, while :func:`held_tails` collects in this thread."""
    if getattr(model, "_moments_tails", None) is not None:
        return
    local = threading.local()
    original = type(model)._retrieve_segment

    def retrieve_segment(**kwargs: Any) -> Any:
        segments, offset = original(**kwargs)
        held: list[tuple[int, float]] | None = getattr(local, "held", None)
        row = kwargs["prev_idx"]
        whole = kwargs["seek_num_frames"][row]
        if held is None or int(offset) >= int(whole):
            return segments, offset
        # Mel frames from where this pass started, in seconds: what the window would be decoded from again.
        frames_s = float(kwargs["time_precision"]) / float(kwargs["input_stride"])
        held.append((int(row), float(kwargs["time_offset"][row]) + float(offset) * frames_s))
        return segments, whole

    model._retrieve_segment = retrieve_segment
    model._moments_tails = local


@contextmanager
def held_tails(model: Any) -> Iterator[list[tuple[int, float]]]:
    """Within this block, in this thread, a window of ``model.generate`` that transformers would decode
    again from its last timestamp is finished instead; the yielded list gets ``(row, seconds)``: the
    window's row in the batch and where its untranscribed tail starts. Without the patch (another
    transformers version) the list stays empty and transformers decodes the tails itself."""
    local = getattr(model, "_moments_tails", None)
    held: list[tuple[int, float]] = []
    if local is None:
        yield held
        return
    local.held = held
    try:
        yield held
    finally:
        local.held = None


def forget_cross_kv(model: Any) -> None:
    """Drop this thread's kept cross-attention keys and values (the engine calls it after each batch, so
    an idle model holds none)."""
    local = getattr(model, "_moments_cross_kv", None)
    if local is not None:
        local.memo = None
