"""Pure speaker diarization: speech regions into embedding windows, voice vectors into speakers (their number
estimated), and speaker turns onto transcript segments and words.

The model side (the voice-embedding network and its features) is in :mod:`ingest.voices`; everything here
is numpy and scipy on plain data, so it is tested without a model.

1. :func:`embedding_windows` covers each speech region with windows of ``window_s`` every ``hop_s``.
2. :func:`cluster_voices` groups the windows' unit vectors: average-linkage agglomerative clustering on
   cosine distance, cut at ``threshold`` (the speaker count follows from the data) or at a fixed or bounded
   count; a group too small to be a speaker of its own joins the nearest one.
3. :func:`voice_turns` gives each 0.1 s frame of speech the speaker of the windows that cover it (their
   vote weighted by how central the frame is to each) and joins frames into turns, dropping flickers
   shorter than ``min_turn_s``; one speaker's turns a short pause apart are one turn.
4. :func:`assign_speakers` puts each transcript segment on the speaker it overlaps most; with word times
   each word gets its own, and a segment is split where the speaker changes between its words.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ingest.passages import word_places
from ingest.types import Segment, SpeakerTurn, Word

__all__ = [
    "SpeakerOptions",
    "assign_speakers",
    "cluster_voices",
    "embedding_windows",
    "speaker_label",
    "voice_turns",
]

FRAME_S = 0.1


@dataclass(frozen=True)
class SpeakerOptions:
    """How voices are windowed and grouped. ``num_speakers`` fixes the count; otherwise it is estimated
    from the data within ``min_speakers``..``max_speakers``."""

    window_s: float = 1.5
    hop_s: float = 1.25  # 1.0 and 1.25 found the same counts and DER (0.013 / 0.015); 1.25 costs less
    min_window_s: float = 0.5  # a speech region shorter than this gets no window of its own
    # Average cosine distance at which two groups of windows are different voices. Synthetic dialogues of
    # 2-4 voices get their count right from 0.6 to 0.7 (bench/diarization); a noisy old recording of one
    # voice (JFK) needs at least 0.55 to stay one speaker.
    threshold: float = 0.65
    min_share: float = 0.04  # a group with less of the speech than this and under min_speaker_s is merged
    min_speaker_s: float = 3.0  # seconds of speech
    min_turn_s: float = 0.4
    # One speaker's turns with a pause of at most this between them are one turn (DER of bench/diarization
    # 0.015 -> 0.005: the pauses inside a turn are the turn's, as annotators mark them).
    join_gap_s: float = 0.5
    num_speakers: int | None = None
    min_speakers: int = 1
    max_speakers: int = 8
    # Average linkage holds every pair of windows in memory: past this many (about an hour of speech), an
    # even sample of them is clustered and the rest join the nearest speaker.
    max_linkage_windows: int = 3000


def speaker_label(index: int) -> str:
    """``SPEAKER_1`` for the first voice heard, ``SPEAKER_2`` for the next ..."""
    return f"SPEAKER_{index + 1}"


def embedding_windows(
    regions: Sequence[tuple[float, float]], options: SpeakerOptions = SpeakerOptions()
) -> list[tuple[float, float]]:
    """Windows of ``window_s`` every ``hop_s`` over each speech region; a region shorter than a window is one
    window of its own length (if at least ``min_window_s``); the last window of a region ends at its end."""
    out: list[tuple[float, float]] = []
    for start, end in regions:
        length = end - start
        if length < options.min_window_s:
            continue
        if length <= options.window_s:
            out.append((start, end))
            continue
        t = start
        while t + options.window_s < end - 1e-6:
            out.append((t, t + options.window_s))
            t += options.hop_s
        out.append((end - options.window_s, end))
    return out


def _average_linkage(vectors: np.ndarray) -> np.ndarray:
    from scipy.cluster.hierarchy import linkage

    tree: np.ndarray = linkage(vectors, method="average", metric="cosine")
    return tree


def cluster_voices(
    vectors: np.ndarray, durations: Sequence[float], options: SpeakerOptions = SpeakerOptions()
) -> np.ndarray:
    """A speaker number (0, 1, ... in order of first window) for each window's unit vector.

    The dendrogram is cut at ``options.threshold`` unless ``num_speakers`` fixes the count; the count is then
    held within ``min_speakers``..``max_speakers``. Groups holding less than ``min_share`` of the speech and
    under ``min_speaker_s`` seconds (a cough, a laugh, a window across a speaker change) join the group whose
    centroid is nearest, unless a fixed or minimum count needs them.
    """
    n = len(vectors)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    if n > options.max_linkage_windows:
        return _cluster_sample(np.asarray(vectors, dtype=np.float64), durations, options)
    from scipy.cluster.hierarchy import fcluster

    tree = _average_linkage(np.asarray(vectors, dtype=np.float64))
    if options.num_speakers is not None:
        labels = fcluster(tree, t=max(1, min(options.num_speakers, n)), criterion="maxclust")
    else:
        labels = fcluster(tree, t=options.threshold, criterion="distance")
        k = int(labels.max())
        low, high = max(1, options.min_speakers), max(1, options.max_speakers)
        if k > high or k < low:
            labels = fcluster(tree, t=min(max(k, low), high, n), criterion="maxclust")
    labels = labels - 1
    weights = np.asarray(durations, dtype=np.float64)
    floor = options.num_speakers or options.min_speakers
    labels = _merge_small(np.asarray(vectors, dtype=np.float64), labels, weights, options, floor)
    return _in_order_of_appearance(labels)


def _cluster_sample(vectors: np.ndarray, durations: Sequence[float], options: SpeakerOptions) -> np.ndarray:
    """Cluster an even sample of the windows, then give every window the speaker whose centroid is nearest."""
    pick = np.linspace(0, len(vectors) - 1, options.max_linkage_windows).round().astype(int)
    sample = cluster_voices(vectors[pick], [durations[i] for i in pick], options)
    centroids = np.stack([_unit(vectors[pick][sample == g].mean(axis=0)) for g in range(int(sample.max()) + 1)])
    return _in_order_of_appearance((vectors @ centroids.T).argmax(axis=1))


def _merge_small(
    vectors: np.ndarray, labels: np.ndarray, weights: np.ndarray, options: SpeakerOptions, floor: int
) -> np.ndarray:
    labels = labels.copy()
    total = float(weights.sum()) or 1.0
    while True:
        groups = np.unique(labels)
        if len(groups) <= max(1, floor):
            return labels
        share = {g: float(weights[labels == g].sum()) for g in groups}
        small = min(groups, key=lambda g: share[g])
        if share[small] / total >= options.min_share or share[small] >= options.min_speaker_s:
            return labels
        centroids = {g: _unit(vectors[labels == g].mean(axis=0)) for g in groups}
        mine = centroids[small]
        target = max((g for g in groups if g != small), key=lambda g: float(centroids[g] @ mine))
        labels[labels == small] = target


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def _in_order_of_appearance(labels: np.ndarray) -> np.ndarray:
    order: dict[int, int] = {}
    for g in labels.tolist():
        order.setdefault(int(g), len(order))
    return np.asarray([order[int(g)] for g in labels.tolist()], dtype=np.int64)


def voice_turns(
    regions: Sequence[tuple[float, float]],
    windows: Sequence[tuple[float, float]],
    speakers: Sequence[int],
    options: SpeakerOptions = SpeakerOptions(),
) -> list[SpeakerTurn]:
    """Speaker turns over the speech ``regions`` from the speaker of each window.

    Each 0.1 s frame takes the speaker with the most weight among the windows covering it, a window's weight
    falling from 1 at its centre to 0 at its edges (so near a change the window centred on the frame
    decides); a frame no window covers takes the nearest window's speaker. Runs shorter than
    ``min_turn_s`` inside a region go to the run before (or after) them.
    """
    if not windows:
        return []
    w = np.asarray(windows, dtype=np.float64)
    centres = w.mean(axis=1)
    halves = np.maximum((w[:, 1] - w[:, 0]) / 2, 1e-3)
    labels = np.asarray(speakers, dtype=np.int64)
    k = int(labels.max()) + 1
    turns: list[SpeakerTurn] = []
    order = np.argsort(w[:, 0], kind="stable")
    starts_sorted = w[order, 0]
    longest = float((w[:, 1] - w[:, 0]).max())
    for start, end in regions:
        count = max(1, round((end - start) / FRAME_S))
        times = start + (np.arange(count) + 0.5) * (end - start) / count
        # only the windows that can reach this region (a long file has thousands elsewhere)
        near = order[np.searchsorted(starts_sorted, start - longest) : np.searchsorted(starts_sorted, end)]
        if near.size == 0:
            near = np.asarray([int(np.abs(centres - (start + end) / 2).argmin())])
        c, h, lab = centres[near], halves[near], labels[near]
        weight = np.clip(1.0 - np.abs(times[:, None] - c[None, :]) / h[None, :], 0.0, None)  # frames x windows
        votes = np.zeros((count, k))
        for s in range(k):
            votes[:, s] = weight[:, lab == s].sum(axis=1)
        frame_speaker = votes.argmax(axis=1)
        uncovered = votes.max(axis=1) <= 0
        if uncovered.any():
            nearest = np.abs(times[uncovered, None] - c[None, :]).argmin(axis=1)
            frame_speaker[uncovered] = lab[nearest]
        runs = _runs(frame_speaker.tolist())
        runs = _absorb_short(runs, lambda lo, hi: hi - lo, max(1, round(options.min_turn_s / ((end - start) / count))))
        step = (end - start) / count
        for speaker, lo, hi in runs:
            turns.append(SpeakerTurn(round(start + lo * step, 3), round(start + hi * step, 3), speaker))
    return _join_touching(turns, gap_s=options.join_gap_s)


def _runs(values: list[int]) -> list[tuple[int, int, int]]:
    """(value, first index, end index) of each run of equal values."""
    out: list[tuple[int, int, int]] = []
    for i, v in enumerate(values):
        if out and out[-1][0] == v:
            out[-1] = (v, out[-1][1], i + 1)
        else:
            out.append((v, i, i + 1))
    return out


def _absorb_short(
    runs: list[tuple[int, int, int]], length: Callable[[int, int], float], minimum: float
) -> list[tuple[int, int, int]]:
    """Runs with the shortest (by ``length(first, end)``) under ``minimum`` folded into the run before it
    (the first run into the one after), one at a time, until every run is long enough or one is left."""
    runs = list(runs)
    while len(runs) > 1:
        lengths = [length(lo, hi) for _, lo, hi in runs]
        shortest = min(range(len(runs)), key=lambda i: lengths[i])
        if lengths[shortest] >= minimum:
            break
        into = shortest - 1 if shortest > 0 else shortest + 1
        lo = min(runs[into][1], runs[shortest][1])
        hi = max(runs[into][2], runs[shortest][2])
        runs[into] = (runs[into][0], lo, hi)
        del runs[shortest]
        runs = _merge_equal(runs)
    return runs


def _merge_equal(runs: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    for r in runs:
        if out and out[-1][0] == r[0]:
            out[-1] = (r[0], out[-1][1], r[2])
        else:
            out.append(r)
    return out


def _join_touching(turns: list[SpeakerTurn], gap_s: float = 0.05) -> list[SpeakerTurn]:
    out: list[SpeakerTurn] = []
    for t in turns:
        if out and out[-1].speaker == t.speaker and t.start_s - out[-1].end_s <= gap_s:
            out[-1] = replace(out[-1], end_s=t.end_s)
        else:
            out.append(t)
    return out


def _speaker_over(turns: Sequence[SpeakerTurn], start_s: float, end_s: float, *, reach_s: float = 1.0) -> int | None:
    """The speaker whose turns overlap [start_s, end_s] most; with no overlap, the nearest turn's speaker
    within ``reach_s``; None if no turn is that near."""
    overlap: dict[int, float] = {}
    for t in turns:
        o = min(end_s, t.end_s) - max(start_s, t.start_s)
        if o > 0:
            overlap[t.speaker] = overlap.get(t.speaker, 0.0) + o
    if overlap:
        return max(overlap, key=lambda s: overlap[s])
    mid = (start_s + end_s) / 2
    near = [(min(abs(mid - t.start_s), abs(mid - t.end_s)), t.speaker) for t in turns]
    if not near:
        return None
    distance, speaker = min(near)
    return speaker if distance <= reach_s else None


def _word_runs(
    words: Sequence[Word], speakers: list[int | None], min_run_s: float
) -> list[tuple[int | None, int, int]]:
    """Runs of words with one speaker; a word with none takes its neighbours', and a run shorter than
    ``min_run_s`` goes to the run before (or after) it: one misheard word is not a change of speaker."""
    known = [s for s in speakers if s is not None]
    if not known:
        return [(None, 0, len(words))]
    filled: list[int] = []
    for s in speakers:
        filled.append(s if s is not None else (filled[-1] if filled else known[0]))
    runs = _absorb_short(_runs(filled), lambda lo, hi: words[hi - 1].end_s - words[lo].start_s, min_run_s)
    return [(s, lo, hi) for s, lo, hi in runs]


def _split_at_speakers(
    segment: Segment, turns: Sequence[SpeakerTurn], min_run_s: float
) -> list[tuple[Segment, int | None]]:
    words = segment.words
    speakers = [_speaker_over(turns, w.start_s, w.end_s, reach_s=0.5) for w in words]
    runs = _word_runs(words, speakers, min_run_s)
    if len(runs) == 1:
        return [(segment, runs[0][0])]
    places = word_places(segment)
    if len(places) != len(words):  # words not all found in the text: keep the segment whole
        return [(segment, _speaker_over(turns, segment.start_s, segment.end_s))]
    pieces = []
    for n, (speaker, lo, hi) in enumerate(runs):
        text_from = 0 if n == 0 else places[lo][0]
        text_to = places[hi][0] if hi < len(words) else len(segment.text)
        piece = Segment(
            start_s=segment.start_s if n == 0 else words[lo].start_s,
            end_s=segment.end_s if hi == len(words) else words[hi - 1].end_s,
            text=segment.text[text_from:text_to].strip(),
            words=tuple(words[lo:hi]),
        )
        pieces.append((piece, speaker))
    return pieces


def assign_speakers(
    segments: Sequence[Segment], turns: Sequence[SpeakerTurn], *, min_run_s: float = 0.6
) -> list[Segment]:
    """The segments with their speakers' labels (turn speaker 0 is ``SPEAKER_1``: the turns number the
    voices in order of first appearance in the file, so batch after batch of one file agree).

    A segment without words takes the speaker it overlaps most. With words each word takes its own, and the
    segment is split into one segment per run of words of one speaker (each with its words and the text
    they span); runs shorter than ``min_run_s`` are not a change. No turns: the segments come back as they
    are (no speaker)."""
    if not turns:
        return list(segments)
    placed: list[tuple[Segment, int | None]] = []
    for seg in segments:
        if seg.words:
            placed.extend(_split_at_speakers(seg, turns, min_run_s))
        else:
            placed.append((seg, _speaker_over(turns, seg.start_s, seg.end_s)))
    return [replace(seg, speaker=None if speaker is None else speaker_label(speaker)) for seg, speaker in placed]
