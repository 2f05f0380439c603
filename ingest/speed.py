"""How long an ingest will take, said before it starts: from this machine's own recent ingests with the same
model where there are any, else from the figures the benchmarks measured (README, "Models, devices and
speed"), else nothing (a guess is not a measurement).

Pure: the caller gives the model name, the device, the threads and the rates of the last ingests.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Expectation", "expect", "faster_choice", "model_family"]

# Audio seconds per wall second on a CPU with 2 threads, whole ingest with word times, as measured:
# Whisper base by bench/asr_speed (10.4x) and the whole ingest by bench/ingest_speed (0.84 of the engine);
# distil-large-v3 from its shape (bench/default_shape: 5.5 s of encoder per 30 s window and 24-27 ms per
# token give 3-4x for the engine; 3.5 x 0.84).
MEASURED_CPU: dict[str, tuple[float, str]] = {
    "whisper-base": (10.4 * 0.84, "bench/asr_speed and bench/ingest_speed, 2 CPU threads"),
    "distil-large-v3": (3.5 * 0.84, "bench/default_shape (its shape with random weights), 2 CPU threads"),
}
# Finding the speakers adds 23% to transcription (bench/diarization).
SPEAKER_COST = 0.23
# One thread runs the encoder at 0.51 of two (bench/default_shape: 10.8 s against 5.5 s a window).
ONE_THREAD = 0.51
SLOW_RATE = 6.0  # below this many times real time, the faster model is named


@dataclass(frozen=True)
class Expectation:
    """``seconds`` of wall time for the file, at ``rate`` times real time, and where that figure comes from."""

    seconds: float
    rate: float
    basis: str


def model_family(name: str) -> str | None:
    """Which measured model a name (hub id or folder) is: ``whisper-base``, ``distil-large-v3`` or None."""
    low = name.lower().rstrip("/")
    if "distil-large-v3" in low or "distil_large_v3" in low:
        return "distil-large-v3"
    tail = low.rsplit("/", 1)[-1]
    if tail in ("whisper-base", "whisper-base.en", "base", "base.en"):
        return "whisper-base"
    return None


def expect(
    duration_s: float,
    model: str,
    *,
    device: str,
    threads: int,
    speakers: bool = False,
    recent_rates: Sequence[float] = (),
) -> Expectation | None:
    """The expected wall time of ingesting ``duration_s`` of audio with ``model``.

    ``recent_rates`` (audio s per wall s of this machine's last ingests with this model) win when there are
    any: their median. Otherwise the measured CPU figure for the model family, scaled for one thread (more
    than two threads are not assumed to be faster than two) and for finding the speakers; no figure for a
    GPU or an unmeasured model.
    """
    rates = [r for r in recent_rates if r > 0]
    if rates:
        rate = statistics.median(rates)
        which = "the last ingest" if len(rates) == 1 else f"the last {len(rates)} ingests"
        return Expectation(duration_s / rate, rate, f"{which} on this machine")
    family = model_family(model)
    if device == "cuda" or family is None or family not in MEASURED_CPU:
        return None
    rate, basis = MEASURED_CPU[family]
    if threads < 2:
        rate *= ONE_THREAD
        basis = basis.replace("2 CPU threads", "scaled to 1 thread")
    if speakers:
        rate /= 1 + SPEAKER_COST
        basis += ", with speakers"
    return Expectation(duration_s / rate, rate, basis)


def faster_choice(model: str, expectation: Expectation | None, *, device: str) -> tuple[str, float] | None:
    """The model to name for a slow CPU ingest, and how many times faster it is: Whisper base where the
    configured model runs under ``SLOW_RATE`` times real time on a CPU (the ratio of the two measured
    figures where both are measured, else of Whisper base's figure to the expected rate)."""
    family = model_family(model)
    if expectation is None or device == "cuda" or expectation.rate >= SLOW_RATE or family == "whisper-base":
        return None
    base = MEASURED_CPU["whisper-base"][0]
    return "whisper-base", base / (MEASURED_CPU[family][0] if family in MEASURED_CPU else expectation.rate)
