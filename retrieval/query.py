"""Pure query parsing: free words plus "quoted phrases" that must appear verbatim."""

from __future__ import annotations

import re
from dataclasses import dataclass

from retrieval.text import normalize, terms

__all__ = ["ParsedQuery", "contains_phrases", "parse_query"]

_QUOTED = re.compile(r"[\"“”]([^\"“”]+)[\"“”]")


@dataclass(frozen=True)
class ParsedQuery:
    raw: str
    text: str  # the query with quote marks removed: what gets embedded
    phrases: tuple[str, ...]  # normalised quoted phrases, each must appear in a result
    terms: tuple[str, ...]  # stemmed content terms, for lexical scoring and highlights


def parse_query(raw: str) -> ParsedQuery:
    phrases = tuple(p for p in (normalize(m.group(1)) for m in _QUOTED.finditer(raw)) if p)
    text = " ".join(_QUOTED.sub(lambda m: m.group(1), raw).replace('"', " ").split())
    found = terms(text) or terms(text, keep_stopwords=True)
    return ParsedQuery(raw=raw, text=text, phrases=phrases, terms=tuple(dict.fromkeys(found)))


def contains_phrases(text: str, phrases: tuple[str, ...]) -> bool:
    """Whether every phrase occurs in ``text`` as whole words, ignoring case and punctuation."""
    haystack = f" {normalize(text)} "
    return all(f" {p} " in haystack for p in phrases)
