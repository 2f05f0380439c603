"""The default model's shape on CPU: distil-large-v3's architecture with random weights, ours against
CTranslate2 int8 on the very same weights (speed only: random weights say nothing of accuracy).

No distil-large-v3 weights exist on these machines, but its shape does (shared/OFFLINE.md): a
``WhisperConfig`` with a 1280-wide, 32-layer encoder, 2 decoder layers, 128 mel bins and large-v3's
vocabulary of 51866 tokens. :func:`build_shape_model` writes such a checkpoint once (seeded random
weights, float16) with a processor in large-v3's token layout, made from the Whisper base pack's
tokenizer: large-v3 adds ``<|yue|>`` after the 99 languages, so every special token from
``<|translate|>`` on sits one id higher. The product loads the folder through the same code as the real
model. :func:`ct2_folder` converts it with CTranslate2's own converter, int8.

    python -m bench.default_shape                 # 1 and 2 threads: encoder s per 30 s window, decoder ms per token
    python -m bench.default_shape --threads 2 --json shape.json

Each engine runs in its own process (peak memory is its own). The encoder figure is the best of three
passes over one 30 s window of real speech; the decoder figure is the mean time of 32 greedy steps with
the key/value cache, the vocabulary projection included (ours with the product's speed patches).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("MOMENTS_TEST_CACHE", REPO / ".cache"))
SHAPE = {
    "d_model": 1280,
    "encoder_layers": 32,
    "decoder_layers": 2,
    "encoder_attention_heads": 20,
    "decoder_attention_heads": 20,
    "encoder_ffn_dim": 5120,
    "decoder_ffn_dim": 5120,
    "num_mel_bins": 128,
    "vocab_size": 51866,
}
FIRST_SHIFTED = 50358  # <|translate|> in the 99-language layout; large-v3 puts <|yue|> here
DECODE_STEPS = 32
PROMPT = [50258, 50259, 50360, 50364]  # <|startoftranscript|><|en|><|transcribe|><|notimestamps|> (v3 layout)
ENGINES = ("ours", "ours-int8-decoder", "ct2-int8")  # ours-int8-decoder: MOMENTS_WHISPER_INT8_DECODER=true


def _shift(token_id: int) -> int:
    return token_id + 1 if token_id >= FIRST_SHIFTED else token_id


def write_v3_processor(base: Path, out: Path) -> None:
    """The processor and generation config of a large-v3-layout model, from a 99-language Whisper folder
    (the converted base pack): 128 mel bins, ``<|yue|>`` added as language 100, later specials shifted."""
    tok = json.loads((base / "tokenizer.json").read_text())
    added = [{**t, "id": _shift(t["id"])} for t in tok["added_tokens"]]
    added.append({**tok["added_tokens"][0], "id": FIRST_SHIFTED, "content": "<|yue|>"})
    tok["added_tokens"] = sorted(added, key=lambda t: t["id"])
    (out / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False))
    cfg = json.loads((base / "tokenizer_config.json").read_text())
    specials = list(cfg.get("extra_special_tokens", []))
    if "<|su|>" in specials and "<|yue|>" not in specials:
        specials.insert(specials.index("<|su|>") + 1, "<|yue|>")
    cfg["extra_special_tokens"] = specials
    (out / "tokenizer_config.json").write_text(json.dumps(cfg, ensure_ascii=False))
    proc = json.loads((base / "processor_config.json").read_text())
    proc["feature_extractor"]["feature_size"] = SHAPE["num_mel_bins"]
    (out / "processor_config.json").write_text(json.dumps(proc))
    gen = json.loads((base / "generation_config.json").read_text())
    gen.pop("alignment_heads", None)  # distil-large-v3's are not known here: the aligner falls back
    gen["lang_to_id"] = {**gen["lang_to_id"], "<|yue|>": FIRST_SHIFTED}
    gen["task_to_id"] = {k: _shift(v) for k, v in gen["task_to_id"].items()}
    for key in ("no_speech_token_id", "no_timestamps_token_id", "prev_sot_token_id"):
        gen[key] = _shift(gen[key])
    gen["suppress_tokens"] = [_shift(t) for t in gen["suppress_tokens"]]
    (out / "generation_config.json").write_text(json.dumps(gen, indent=1))


def build_shape_model(out: Path | None = None) -> Path:
    """The random-weight distil-large-v3-shaped checkpoint (built once, about 1.5 GB in float16)."""
    out = out or CACHE / "shape" / "distil-large-v3-shape"
    if (out / "model.safetensors").is_file():
        return out
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    from ingest.models import prepare_offline

    base = prepare_offline(CACHE / "models", ["whisper-base"]).whisper["whisper-base"]
    partial = out.with_name(out.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    config = WhisperConfig(
        **SHAPE, decoder_start_token_id=50258, bos_token_id=50257, eos_token_id=50257, pad_token_id=50257
    )
    model = WhisperForConditionalGeneration(config).to(torch.float16)
    model.save_pretrained(partial)
    write_v3_processor(base, partial)
    partial.rename(out)
    return out


def ct2_folder(model: Path) -> Path:
    """The same weights converted by CTranslate2's converter, int8 (built once)."""
    out = model.with_name(model.name + "-ct2-int8")
    if not (out / "model.bin").is_file():
        from ctranslate2.converters import TransformersConverter

        TransformersConverter(str(model), copy_files=["tokenizer.json", "processor_config.json"]).convert(
            str(out), quantization="int8", force=True
        )
    return out


def speech_window() -> Any:
    """30 s of real speech (the sample lecture), 16 kHz float32."""
    from bench.speech import build_samples
    from ingest.media import decode_audio

    samples = CACHE / "samples"
    if not (samples / "manifest.json").is_file():
        build_samples(samples)
    path = Path(json.loads((samples / "manifest.json").read_text())[0]["path"])
    return decode_audio(path, max_duration_s=3 * 3600)[: 30 * 16_000]


def torch_timings(
    model: Any, features: Any, *, repeats: int = 3, steps: int = DECODE_STEPS, sync: Any = lambda: None
) -> tuple[float, float]:
    """(seconds of the fastest of ``repeats`` encoder passes over ``features``, seconds per greedy decoder
    step with the key/value cache, vocabulary projection included) of a loaded transformers Whisper.

    Each pass gets features of its own (one value changed): the shared-encoder-pass patch returns its last
    output for the very same tensor, and for a tensor whose rows equal its rows. ``sync`` waits for the
    device (CUDA runs asynchronously)."""
    import torch

    encoder_s = []
    with torch.inference_mode():
        for n in range(repeats):
            fresh = features.clone()
            fresh[..., 0, 0] += n + 1  # not the rows of the pass before: a pass of its own, not the memo
            sync()
            t = time.perf_counter()
            encoded = model.model.encoder(fresh).last_hidden_state
            sync()
            encoder_s.append(time.perf_counter() - t)
        ids = torch.tensor([PROMPT] * features.shape[0], device=features.device)
        out = model(encoder_outputs=(encoded,), decoder_input_ids=ids, use_cache=True)
        past, nxt = out.past_key_values, out.logits[:, -1:].argmax(-1)
        sync()
        t = time.perf_counter()
        for _ in range(steps):
            out = model(encoder_outputs=(encoded,), decoder_input_ids=nxt, past_key_values=past, use_cache=True)
            past, nxt = out.past_key_values, out.logits[:, -1:].argmax(-1)
        sync()
    return min(encoder_s), (time.perf_counter() - t) / steps


def _worker(engine: str, threads: int) -> None:
    import numpy as np

    model_dir = build_shape_model()
    audio = speech_window()
    from transformers import WhisperFeatureExtractor

    features = WhisperFeatureExtractor.from_pretrained(model_dir)(
        audio, sampling_rate=16_000, return_tensors="np"
    ).input_features.astype(np.float32)
    prompt = PROMPT
    encoder_s: list[float] = []
    picked = ""
    if engine.startswith("ours"):
        import torch

        from ingest.whisper import TranscribeOptions, WhisperTranscriber

        engine_obj = WhisperTranscriber(
            TranscribeOptions(
                model=str(model_dir),
                cpu_threads=threads,
                language="en",
                word_timestamps=False,
                int8_decoder="true" if engine == "ours-int8-decoder" else "false",
            )
        )
        engine_obj.load()
        model, dtype = engine_obj._model, engine_obj._dtype
        picked = f"torch {str(dtype).removeprefix('torch.')}, patches: {', '.join(engine_obj.applied_patches)}"
        torch.set_num_threads(threads)
        encoder, decode_s = torch_timings(model, torch.from_numpy(features).to(dtype))
        encoder_s.append(encoder)
    else:
        import ctranslate2

        model = ctranslate2.models.Whisper(
            str(ct2_folder(model_dir)), device="cpu", compute_type="int8", intra_threads=threads
        )
        picked = "CTranslate2 int8"
        view = ctranslate2.StorageView.from_array(features)
        for _ in range(3):
            t = time.perf_counter()
            encoded = model.encode(view, to_cpu=True)
            encoder_s.append(time.perf_counter() - t)
        model.generate(encoded, [prompt], max_length=len(prompt) + 2, suppress_tokens=[-1, 50257])  # warm-up
        t = time.perf_counter()
        result = model.generate(
            encoded, [prompt], max_length=len(prompt) + DECODE_STEPS, suppress_tokens=[-1, 50257], sampling_topk=1
        )
        steps = max(1, len(result[0].sequences_ids[0]))
        decode_s = (time.perf_counter() - t) / steps
    from bench.report import peak_rss_mb

    peak_mb = peak_rss_mb()
    print(
        json.dumps(
            {
                "engine": engine,
                "threads": threads,
                "picked": picked,
                "encoder_s": min(encoder_s),
                "decode_ms_per_token": decode_s * 1000,
                "peak_rss_mb": peak_mb,
            }
        )
    )


def _run(engine: str, threads: int) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.default_shape", "--worker", engine, "--threads", str(threads)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{engine} with {threads} threads failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, int(args.threads))
        return
    from bench.report import cpu_facts

    ct2_folder(build_shape_model())  # both built before any timing
    runs = [_run(engine, int(t)) for t in args.threads.split(",") for engine in ENGINES]
    print(f"# distil-large-v3 shape, random weights, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    print(f"# cpu: {cpu_facts()}")
    print(
        "| engine | threads | what ran | encoder s / 30 s window | vs ct2 | decoder ms / token | vs ct2 | peak RSS MB |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in runs:
        peer = next(p for p in runs if p["engine"] == "ct2-int8" and p["threads"] == r["threads"])
        print(
            f"| {r['engine']} | {r['threads']} | {r['picked']} | {r['encoder_s']:.2f} | "
            f"{r['encoder_s'] / peer['encoder_s']:.2f}x | {r['decode_ms_per_token']:.1f} | "
            f"{r['decode_ms_per_token'] / peer['decode_ms_per_token']:.2f}x | {r['peak_rss_mb']:.0f} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu_facts(), "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
