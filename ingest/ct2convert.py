"""Convert a CTranslate2 Whisper checkpoint into a transformers Whisper folder.

Registry packages ship real Whisper weights only in CTranslate2 (faster-whisper) format; transformers
cannot load those. This adapter reads CTranslate2's ``model.bin`` and writes a
``WhisperForConditionalGeneration`` + ``WhisperProcessor`` folder that the product then loads through
exactly the same code path as ``distil-whisper/distil-large-v3``.

The format is CTranslate2's own serialisation (``src/models/model.cc``): a version, the spec name, then
for each variable its name, shape, dtype and raw bytes, then aliases. All tensors in the shipped packs are
float16, so the conversion is lossless.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ingest.errors import ModelError

__all__ = ["CT2Checkpoint", "convert_ct2_whisper", "read_ct2_model"]

# CTranslate2 DataType ids (include/ctranslate2/types.h).
_CT2_DTYPES: dict[int, Any] = {
    0: np.float32,
    1: np.int8,
    2: np.int16,
    3: np.int32,
    4: np.float16,
}


@dataclass(frozen=True)
class CT2Checkpoint:
    """The variables of one CTranslate2 model file, by name."""

    spec: str
    variables: dict[str, np.ndarray]


def _read(f: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    return struct.unpack(fmt, f.read(size))[0]


def _read_string(f: BinaryIO) -> str:
    length = _read(f, "<H")
    return f.read(length).rstrip(b"\0").decode("utf-8")


def read_ct2_model(paths: Iterable[Path]) -> CT2Checkpoint:
    """Read a (possibly split) CTranslate2 ``model.bin``; parts are concatenated in the given order."""
    blob = b"".join(Path(p).read_bytes() for p in paths)
    f = io.BytesIO(blob)
    version = _read(f, "<I")
    if version < 5:
        raise ModelError(f"CTranslate2 model format version {version} is too old to convert")
    spec = _read_string(f)
    _read(f, "<I")  # spec revision
    variables: dict[str, np.ndarray] = {}
    for _ in range(_read(f, "<I")):
        name = _read_string(f)
        rank = _read(f, "<B")
        shape = [_read(f, "<I") for _ in range(rank)]
        dtype_id = _read(f, "<B")
        num_bytes = _read(f, "<I")
        if dtype_id not in _CT2_DTYPES:
            raise ModelError(f"unsupported CTranslate2 dtype id {dtype_id} for {name}")
        data = np.frombuffer(f.read(num_bytes), dtype=_CT2_DTYPES[dtype_id])
        variables[name] = data.reshape(shape) if shape else data
    for _ in range(_read(f, "<I")):
        alias, target = _read_string(f), _read_string(f)
        variables[alias] = variables[target]
    if spec != "WhisperSpec":
        raise ModelError(f"expected a Whisper checkpoint, found {spec!r}")
    return CT2Checkpoint(spec=spec, variables=variables)


def _count_layers(variables: dict[str, np.ndarray], prefix: str) -> int:
    pattern = re.compile(rf"^{prefix}/layer_(\d+)/")
    return len({m.group(1) for name in variables if (m := pattern.match(name))})


def _map_attention(out: dict[str, np.ndarray], v: dict[str, np.ndarray], src: str, dst: str, *, cross: bool) -> None:
    """Split CT2's fused projections into transformers' q/k/v/out (k has no bias in Whisper)."""
    if cross:
        q_w, q_b = v[f"{src}/linear_0/weight"], v[f"{src}/linear_0/bias"]
        k_w, v_w = np.split(v[f"{src}/linear_1/weight"], 2, axis=0)
        _, v_b = np.split(v[f"{src}/linear_1/bias"], 2, axis=0)
        o = "linear_2"
    else:
        q_w, k_w, v_w = np.split(v[f"{src}/linear_0/weight"], 3, axis=0)
        q_b, _, v_b = np.split(v[f"{src}/linear_0/bias"], 3, axis=0)
        o = "linear_1"
    out[f"{dst}.q_proj.weight"], out[f"{dst}.q_proj.bias"] = q_w, q_b
    out[f"{dst}.k_proj.weight"] = k_w
    out[f"{dst}.v_proj.weight"], out[f"{dst}.v_proj.bias"] = v_w, v_b
    out[f"{dst}.out_proj.weight"] = v[f"{src}/{o}/weight"]
    out[f"{dst}.out_proj.bias"] = v[f"{src}/{o}/bias"]


def _map_norm(out: dict[str, np.ndarray], v: dict[str, np.ndarray], src: str, dst: str) -> None:
    out[f"{dst}.weight"] = v[f"{src}/gamma"]
    out[f"{dst}.bias"] = v[f"{src}/beta"]


def _map_ffn(out: dict[str, np.ndarray], v: dict[str, np.ndarray], src: str, dst: str) -> None:
    for i, name in enumerate(("fc1", "fc2")):
        out[f"{dst}.{name}.weight"] = v[f"{src}/linear_{i}/weight"]
        out[f"{dst}.{name}.bias"] = v[f"{src}/linear_{i}/bias"]
    _map_norm(out, v, f"{src}/layer_norm", f"{dst}.final_layer_norm")


def to_transformers_state_dict(ckpt: CT2Checkpoint) -> dict[str, np.ndarray]:
    """Rename and split CT2 variables into a ``WhisperForConditionalGeneration`` state dict."""
    v = ckpt.variables
    out: dict[str, np.ndarray] = {}
    for conv in ("conv1", "conv2"):
        out[f"model.encoder.{conv}.weight"] = v[f"encoder/{conv}/weight"]
        out[f"model.encoder.{conv}.bias"] = v[f"encoder/{conv}/bias"]
    out["model.encoder.embed_positions.weight"] = v["encoder/position_encodings/encodings"]
    for i in range(_count_layers(v, "encoder")):
        src, dst = f"encoder/layer_{i}", f"model.encoder.layers.{i}"
        _map_attention(out, v, f"{src}/self_attention", f"{dst}.self_attn", cross=False)
        _map_norm(out, v, f"{src}/self_attention/layer_norm", f"{dst}.self_attn_layer_norm")
        _map_ffn(out, v, f"{src}/ffn", dst)
    _map_norm(out, v, "encoder/layer_norm", "model.encoder.layer_norm")
    out["model.decoder.embed_tokens.weight"] = v["decoder/embeddings/weight"]
    out["model.decoder.embed_positions.weight"] = v["decoder/position_encodings/encodings"]
    for i in range(_count_layers(v, "decoder")):
        src, dst = f"decoder/layer_{i}", f"model.decoder.layers.{i}"
        _map_attention(out, v, f"{src}/self_attention", f"{dst}.self_attn", cross=False)
        _map_norm(out, v, f"{src}/self_attention/layer_norm", f"{dst}.self_attn_layer_norm")
        _map_attention(out, v, f"{src}/attention", f"{dst}.encoder_attn", cross=True)
        _map_norm(out, v, f"{src}/attention/layer_norm", f"{dst}.encoder_attn_layer_norm")
        _map_ffn(out, v, f"{src}/ffn", dst)
    _map_norm(out, v, "decoder/layer_norm", "model.decoder.layer_norm")
    return out


def _special_token_ids(tokenizer_json: dict[str, Any]) -> dict[str, int]:
    return {t["content"]: int(t["id"]) for t in tokenizer_json["added_tokens"]}


def convert_ct2_whisper(ct2_dir: Path, out_dir: Path, *, model_parts: list[Path] | None = None) -> Path:
    """Write a transformers Whisper folder (model, generation config, processor) from a CT2 pack.

    ``ct2_dir`` holds ``config.json`` and ``tokenizer.json``; ``model_parts`` lists the pieces of a split
    ``model.bin`` (default: ``ct2_dir / "model.bin"``). The folder is written atomically: a half-written
    conversion never looks like a model.
    """
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizerFast,
    )

    parts = model_parts or [ct2_dir / "model.bin"]
    ckpt = read_ct2_model(parts)
    pack_config = json.loads((ct2_dir / "config.json").read_text())
    tok_json = json.loads((ct2_dir / "tokenizer.json").read_text())
    specials = _special_token_ids(tok_json)
    v = ckpt.variables

    vocab_size, d_model = v["decoder/embeddings/weight"].shape
    is_multilingual = vocab_size >= 51865
    eot = specials["<|endoftext|>"]
    sot = specials["<|startoftranscript|>"]
    no_ts = specials["<|notimestamps|>"]
    no_speech = specials.get("<|nospeech|>", specials.get("<|nocaptions|>"))
    config = WhisperConfig(
        vocab_size=int(vocab_size),
        num_mel_bins=int(v["encoder/conv1/weight"].shape[1]),
        d_model=int(d_model),
        encoder_layers=_count_layers(v, "encoder"),
        decoder_layers=_count_layers(v, "decoder"),
        encoder_attention_heads=int(v["encoder/num_heads"].item()),
        decoder_attention_heads=int(v["decoder/num_heads"].item()),
        encoder_ffn_dim=int(v["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        decoder_ffn_dim=int(v["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
        max_source_positions=int(v["encoder/position_encodings/encodings"].shape[0]),
        max_target_positions=int(v["decoder/position_encodings/encodings"].shape[0]),
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        decoder_start_token_id=sot,
        tie_word_embeddings=True,
        # Suppression lists live in the generation config only; transformers warns when both carry them.
        suppress_tokens=None,
        begin_suppress_tokens=None,
    )
    model = WhisperForConditionalGeneration(config)
    state = {k: torch.from_numpy(np.array(a, dtype=np.float32)) for k, a in to_transformers_state_dict(ckpt).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if m != "proj_out.weight"]  # tied to the token embeddings
    if missing or unexpected:
        raise ModelError(f"conversion mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}")
    model.tie_weights()
    model = model.to(torch.float16)

    id_to_token = {i: t for t, i in specials.items()}
    generation = GenerationConfig(
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        decoder_start_token_id=sot,
        max_length=config.max_target_positions,
        begin_suppress_tokens=pack_config["suppress_ids_begin"],
        suppress_tokens=pack_config["suppress_ids"],
        alignment_heads=pack_config["alignment_heads"],
        no_timestamps_token_id=no_ts,
        prev_sot_token_id=specials["<|startofprev|>"],
        is_multilingual=is_multilingual,
        max_initial_timestamp_index=50,
    )
    if no_speech is not None:
        generation.no_speech_token_id = no_speech  # not a GenerationConfig field; kept for our engine
    if is_multilingual:
        generation.lang_to_id = {id_to_token[i]: i for i in pack_config["lang_ids"] if i in id_to_token}
        generation.task_to_id = {"transcribe": specials["<|transcribe|>"], "translate": specials["<|translate|>"]}

    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.generation_config = generation
    model.save_pretrained(tmp)

    # Every <|...|> token must be a registered special token: the tokenizer places the first timestamp
    # token right after the last special id, and without them every timestamp decodes 2.12 s late.
    special_list = [t for t, _ in sorted(specials.items(), key=lambda kv: kv[1])]
    tokenizer = WhisperTokenizerFast(
        tokenizer_file=str(ct2_dir / "tokenizer.json"),
        unk_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=[t for t in special_list if t != "<|endoftext|>"],
    )
    feature_extractor = WhisperFeatureExtractor(feature_size=config.num_mel_bins)
    WhisperProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer).save_pretrained(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return out_dir
