"""Voice activity detection: where in the audio someone is speaking.

The adapter uses the Silero VAD model that the faster-whisper wheel bundles (ONNX, run by onnxruntime),
so it works offline with no download.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["VadOptions", "detect_speech"]

SAMPLE_RATE_HZ = 16_000


@dataclass(frozen=True)
class VadOptions:
    threshold: float = 0.5
    min_speech_ms: int = 250
    min_silence_ms: int = 500
    speech_pad_ms: int = 300
    max_speech_s: float = 29.0


def detect_speech(audio: np.ndarray, options: VadOptions = VadOptions()) -> list[tuple[float, float]]:
    """Speech regions as (start, end) seconds, in order."""
    if audio.size == 0:
        return []
    from faster_whisper.vad import VadOptions as FWVadOptions
    from faster_whisper.vad import get_speech_timestamps

    fw = FWVadOptions(
        threshold=options.threshold,
        min_speech_duration_ms=options.min_speech_ms,
        min_silence_duration_ms=options.min_silence_ms,
        speech_pad_ms=options.speech_pad_ms,
        max_speech_duration_s=options.max_speech_s,
    )
    stamps = get_speech_timestamps(audio, vad_options=fw, sampling_rate=SAMPLE_RATE_HZ)
    return [(s["start"] / SAMPLE_RATE_HZ, s["end"] / SAMPLE_RATE_HZ) for s in stamps]
