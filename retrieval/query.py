"""Pure query parsing: free words plus "quoted phrases" that must appear verbatim."""

from __future__ import annotations

import re
from dataclasses import dataclass

from retrieval.text import STOPWORDS, normalize, terms, tokens_with_offsets

__all__ = ["ParsedQuery", "contains_phrases", "parse_query"]

_QUOTED = re.compile(r"[\"“”]([^\"“”]+)[\"“”]")


@dataclass(frozen=True)
class ParsedQuery:
    raw: str
    text: str  # the query with quote marks removed: what gets embedded
    phrases: tuple[str, ...]  # normalised quoted phrases, each must appear in a result
    terms: tuple[str, ...]  # stemmed content terms, for lexical scoring and highlights
    # terms (as stemmed) that the library never says, each with the phonetic keys of the word typed: a
    # passage word with one of those keys counts as the term (retrieval.sounds); set by the searcher
    sounds: tuple[tuple[str, tuple[str, ...]], ...] = ()
    words: tuple[str, ...] = ()  # the content words as typed (lower case), outside quoted phrases
    # the same terms with the Metaphone keys one edit away from the word typed (retrieval.sounds.near_keys):
    # a passage word with one of those counts for a little less again
    near: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def sound_keys(self) -> frozenset[str]:
        return frozenset(k for _, keys in self.sounds for k in keys)

    def near_keys(self) -> frozenset[str]:
        return frozenset(k for _, keys in self.near for k in keys)


def parse_query(raw: str) -> ParsedQuery:
    phrases = tuple(p for p in (normalize(m.group(1)) for m in _QUOTED.finditer(raw)) if p)
    text = " ".join(_QUOTED.sub(lambda m: m.group(1), raw).replace('"', " ").split())
    found = terms(text) or terms(text, keep_stopwords=True)
    free = _QUOTED.sub(" ", raw)
    words = tuple(dict.fromkeys(tok for tok, _, _ in tokens_with_offsets(free) if tok not in STOPWORDS))
    return ParsedQuery(raw=raw, text=text, phrases=phrases, terms=tuple(dict.fromkeys(found)), words=words)


def contains_phrases(text: str, phrases: tuple[str, ...]) -> bool:
    """Whether every phrase occurs in ``text`` as whole words, ignoring case and punctuation."""
    haystack = f" {normalize(text)} "
    return all(f" {p} " in haystack for p in phrases)
