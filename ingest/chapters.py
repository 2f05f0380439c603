"""Pure chapter finding: a transcript cut into its topics, each with a start, an end and a short title.

The units are sentences (cut at the words' sentence ends when the transcript has word times, so a topic
change inside a Whisper segment is found; the segments themselves otherwise), each with its embedding. At
every gap between two sentences two signals are read, and each is standardised against the file's own
gaps (z-scores, so a slow speaker or one long lecture does not shift the scale):

- the pause before the next sentence (capped at ``max_pause_s``): speakers pause between stories more than
  between sentences;
- TextTiling's depth over the embeddings: the sentences of the ``w`` seconds before the gap are compared
  with those of the ``w`` after it (the cosine of their mean vectors); where the talk moves to another
  topic the similarity dips, and the depth (how far the dip falls below the nearest peaks on either side)
  says how clearly. It is read at several scales (``windows_s``: 10 to 80 s) and their z-scores averaged:
  one window suits one length of story, and a talk holds short entries and long ones.

A gap whose weighted sum reaches ``threshold`` is a boundary, deepest first, as long as no chapter gets
shorter than ``min_chapter_s`` and neither signal speaks against it (``min_z``: a pause clearly shorter
than the file's usual one, or talk that runs on with no dip at all, is no boundary however strong the other
signal is). The weights and the threshold come from the development set's story
boundaries (``python -m bench.quality``; bench/quality/README.md has the figures with and without pauses).

A chapter's title is its first sentence that says something (a filler like "Okay." is skipped), trimmed
to a few words at a word boundary. Its ``lead`` is its first sentence's vector: a story's opening names
what the story is about (a headword, a news lead), and search compares how well it answers a query with
how well the best sentence does, to decide whether the query asks about the story or about a detail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ingest.types import Segment, Word
from retrieval.text import ends_sentence, normalize, sentences

__all__ = ["ChapterDraft", "ChapterOptions", "boundary_scores", "find_chapters", "sentence_units", "title_of"]

_FILLERS = frozenset(
    "okay ok so um uh er erm well right yeah yes hi hello alright all and now then thanks thank you".split()  # noqa: SIM905
)


@dataclass(frozen=True)
class ChapterOptions:
    windows_s: tuple[float, ...] = (10.0, 20.0, 40.0, 80.0)  # seconds of talk each side of a gap compared
    pause_weight: float = 1.0  # weight of the pause's z-score
    depth_weight: float = 0.75  # weight of the embedding depth's z-score
    threshold: float = 1.5  # a gap whose weighted z-scores sum to this is a boundary
    min_z: float = -0.5  # ... unless the pause's or the depth's z-score is below this
    max_pause_s: float = 3.0  # longer pauses (music, silence) count as this long
    # The pauses' spread is taken as at least this: a gap is two word ends, each a median 0.05 s and a p90
    # 0.12 s from the voice (bench/word_times), so a steady reader's pauses that differ by less than a
    # quarter second differ by noise, and one 0.3 s longer must not read as two standard deviations.
    min_pause_spread_s: float = 0.25
    min_chapter_s: float = 8.0  # no chapter shorter than this
    min_sentences: int = 6  # a transcript of fewer sentences is one chapter
    title_chars: int = 60


@dataclass(frozen=True)
class ChapterDraft:
    index: int
    start_s: float
    end_s: float
    title: str
    lead: np.ndarray  # the unit vector of its first sentence


def sentence_units(segments: Sequence[Segment]) -> list[Segment]:
    """The transcript as sentences: each segment with word times is cut after every word that ends a
    sentence (a sentence may run on into the next segment); a segment without word times stays whole."""
    out: list[Segment] = []
    words: list[Word] = []  # the sentence being gathered
    for seg in segments:
        if not seg.words:
            if words:
                out.append(_unit_of(words))
                words = []
            out.append(Segment(seg.start_s, seg.end_s, seg.text.strip()))
            continue
        for w in seg.words:
            words.append(w)
            if ends_sentence(w.text):
                out.append(_unit_of(words))
                words = []
    if words:
        out.append(_unit_of(words))
    return [u for u in out if u.text]


def _unit_of(words: list[Word]) -> Segment:
    return Segment(words[0].start_s, words[-1].end_s, " ".join(w.text for w in words), tuple(words))


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def _block_similarity(starts: np.ndarray, vectors: np.ndarray, window_s: float) -> np.ndarray:
    """For each gap g (between units g and g+1): cosine of the mean vector of the units starting in the
    ``window_s`` before unit g+1 with that of the ones starting in the ``window_s`` from it on."""
    n = len(starts)
    sims = np.zeros(max(0, n - 1), dtype=np.float64)
    prefix = np.vstack([np.zeros((1, vectors.shape[1])), np.cumsum(vectors, axis=0)])
    for g in range(n - 1):
        at = starts[g + 1]
        lo = min(int(np.searchsorted(starts, at - window_s, side="left")), g)  # at least the unit before
        hi = max(int(np.searchsorted(starts, at + window_s, side="left")), g + 2)  # and the one after
        sims[g] = float(_unit(prefix[g + 1] - prefix[lo]) @ _unit(prefix[hi] - prefix[g + 1]))
    return sims


def _depths(sims: np.ndarray) -> np.ndarray:
    """TextTiling's depth score: from each gap, climb while the similarity rises, on both sides; the depth
    is the sum of the two rises."""
    n = len(sims)
    out = np.zeros(n, dtype=np.float64)
    for g in range(n):
        left = g
        while left > 0 and sims[left - 1] >= sims[left]:
            left -= 1
        right = g
        while right < n - 1 and sims[right + 1] >= sims[right]:
            right += 1
        out[g] = (sims[left] - sims[g]) + (sims[right] - sims[g])
    return out


def _z(x: np.ndarray, min_std: float) -> np.ndarray:
    """Standard scores, with the spread taken as at least ``min_std``: pauses that hardly vary (a
    steady reader) carry no signal, and their rounding noise must not become one."""
    out: np.ndarray = (x - x.mean()) / max(float(x.std()), min_std)
    return out


def boundary_scores(
    units: Sequence[Segment], vectors: np.ndarray, options: ChapterOptions = ChapterOptions()
) -> np.ndarray:
    """How strongly the topic changes at each gap between neighbouring units: the weighted z-scores of the
    pause and of the embedding depth there (the mean of its z-scores at each window). A gap inside a
    sentence (a unit without a sentence end, from a transcript without word times), or one where either
    signal's z-score is below ``min_z``, never is a boundary."""
    if len(units) < 2:
        return np.zeros(0)
    starts = np.array([u.start_s for u in units], dtype=np.float64)
    ends = np.array([u.end_s for u in units], dtype=np.float64)
    vecs = np.asarray(vectors, dtype=np.float64)
    depth = np.mean([_z(_depths(_block_similarity(starts, vecs, w)), 0.05) for w in options.windows_s], axis=0)
    pause = _z(np.clip(starts[1:] - ends[:-1], 0.0, options.max_pause_s), options.min_pause_spread_s)
    score = options.pause_weight * pause + options.depth_weight * depth
    sentence_end = np.array([ends_sentence(u.text.strip()) for u in units[:-1]], dtype=bool)
    allowed = sentence_end & (depth >= options.min_z)
    if options.pause_weight > 0:  # pauses left out (pause_weight 0) say nothing either way
        allowed &= pause >= options.min_z
    return np.where(allowed, score, -np.inf)


def title_of(units: Sequence[Segment], max_chars: int = 60) -> str:
    """The first sentence that says something, trimmed to ``max_chars`` at a word boundary (with "…")."""
    said = [s for u in units[:8] for s in (sentences(u.text.strip()) or [u.text.strip()])]
    first = next((s for s in said if set(normalize(s).split()) - _FILLERS), said[0] if said else "")
    first = first.strip().rstrip(".!?;:,").strip()
    if len(first) <= max_chars:
        return first
    cut = first[: max_chars + 1].rsplit(" ", 1)[0].rstrip(",;:-")
    return f"{cut}…"


def find_chapters(
    units: Sequence[Segment], vectors: np.ndarray, options: ChapterOptions = ChapterOptions()
) -> list[ChapterDraft]:
    """The chapters of one transcript, in order: ``units`` are its sentences (:func:`sentence_units`) and
    ``vectors[i]`` the unit embedding of ``units[i]``.

    No units, no chapters; a short transcript, or one without a clear topic change, is one chapter. The
    first chapter starts at 0 s, each next one where its first sentence starts.
    """
    n = len(units)
    if n == 0:
        return []
    vectors = np.asarray(vectors, dtype=np.float32)
    chosen: list[int] = []  # gap g: a chapter starts at unit g+1
    if n >= options.min_sentences:
        score = boundary_scores(units, vectors, options)
        bounds = [0.0, units[-1].end_s]
        for g in np.argsort(-score, kind="stable"):
            if score[g] < options.threshold:
                break
            at = units[g + 1].start_s
            if all(abs(at - b) >= options.min_chapter_s for b in bounds):
                chosen.append(int(g))
                bounds.append(at)
    firsts = [0, *sorted(g + 1 for g in chosen)]
    out = []
    for i, first in enumerate(firsts):
        last = firsts[i + 1] if i + 1 < len(firsts) else n
        part = units[first:last]
        out.append(
            ChapterDraft(
                index=i,
                start_s=0.0 if i == 0 else part[0].start_s,
                end_s=part[-1].end_s if last == n else units[last].start_s,
                title=title_of(part, options.title_chars),
                lead=vectors[first],
            )
        )
    return out
