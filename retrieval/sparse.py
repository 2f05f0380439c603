"""Pure BM25-style sparse vectors, computed in-process.

Documents get BM25's saturated term frequency with length normalisation; Qdrant's IDF modifier supplies
the inverse document frequency at query time (in both local and server mode), so the collection stays
correct as it grows and no sparse model has to be downloaded.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from retrieval.sounds import sound_tokens
from retrieval.text import terms

__all__ = [
    "NEAR_WEIGHT",
    "SOUND_WEIGHT",
    "SparseVector",
    "document_vector",
    "query_vector",
    "sounds_vector",
    "term_id",
    "with_sounds",
]

SOUND_WEIGHT = 0.5  # each of a word's two phonetic keys, against 1.0 for a word said as typed
NEAR_WEIGHT = 0.25  # a Metaphone key one edit away from a long name's (retrieval.sounds.near_keys)

K1 = 1.2
B = 0.75
AVG_DOC_TERMS = 45.0  # a 30 s passage of speech has about 75 words, ~45 after stopwords


@dataclass(frozen=True)
class SparseVector:
    indices: list[int]
    values: list[float]

    def __bool__(self) -> bool:
        return bool(self.indices)


def term_id(term: str) -> int:
    """A stable 31-bit id for a term (CRC32; collisions are rare and only blur two rare words)."""
    return zlib.crc32(term.encode("utf-8")) & 0x7FFFFFFF


def _merge(weights: dict[int, float]) -> SparseVector:
    items = sorted(weights.items())
    return SparseVector([i for i, _ in items], [w for _, w in items])


def document_vector(text: str) -> SparseVector:
    """The passage's BM25 term weights, and in the same vector the weights of its words' phonetic keys
    (retrieval.sounds; their own ids, so word queries never meet them), both normalised by the passage's
    length in words."""
    counts = Counter(terms(text))
    length = sum(counts.values())
    norm = K1 * (1 - B + B * length / AVG_DOC_TERMS)
    weights: dict[int, float] = {}
    for term, tf in [*counts.items(), *Counter(sound_tokens(text)).items()]:
        tid = term_id(term)
        weights[tid] = weights.get(tid, 0.0) + tf * (K1 + 1) / (tf + norm)
    return _merge(weights)


def query_vector(text: str) -> SparseVector:
    """One unit weight per distinct query term; stopwords count only when nothing else is left."""
    found = terms(text) or terms(text, keep_stopwords=True)
    return _merge({term_id(t): 1.0 for t in set(found)})


def sounds_vector(keys: Iterable[str]) -> SparseVector:
    """A query for passages with words that have one of the phonetic ``keys`` (retrieval.sounds): one unit
    weight per key."""
    return _merge({term_id(k): 1.0 for k in keys})


def with_sounds(query: SparseVector, sounds: SparseVector, weight: float = SOUND_WEIGHT) -> SparseVector:
    """``query`` with ``sounds`` added at ``weight`` each: one keyword query in which the words typed still
    count most and a passage with a word that sounds like a missing one gains on those without."""
    merged = dict(zip(query.indices, query.values, strict=True))
    for i, v in zip(sounds.indices, sounds.values, strict=True):
        merged[i] = merged.get(i, 0.0) + weight * v
    return _merge(merged)
