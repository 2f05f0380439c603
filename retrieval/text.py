"""Pure text handling shared by sparse vectors, phrase matching and highlighting.

Tokens are lower-cased word characters; a light suffix-stripping stemmer makes "bridges" find "bridge"
and "collapsed" find "collapse" without an NLP library.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

__all__ = ["STOPWORDS", "ends_sentence", "normalize", "sentences", "stem", "terms", "tokens_with_offsets"]

_WORD = re.compile(r"[\w]+(?:['’][\w]+)*", re.UNICODE)

STOPWORDS = frozenset(
    [
        "a",
        "about",
        "after",
        "again",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "done",
        "during",
        "each",
        "few",
        "for",
        "from",
        "get",
        "got",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "just",
        "me",
        "more",
        "most",
        "my",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
    ]
)


def normalize(text: str) -> str:
    """Lower-case, strip accents' combining marks, unify apostrophes, collapse non-word runs to one space."""
    text = text.lower().replace("’", "'")
    if not text.isascii():  # ASCII has nothing to decompose: the character loop was most of a phrase search
        text = unicodedata.normalize("NFKD", text).replace("’", "'")
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(_WORD.findall(text))


@lru_cache(maxsize=1 << 17)
def stem(word: str) -> str:
    """A conservative English suffix stripper (enough for plural and tense variants). Cached: a search
    stems every word of the moments it highlights, and a library's vocabulary is small."""
    w = word.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    for suffix, repl, min_len in (
        ("ies", "y", 5),
        ("sses", "ss", 5),
        ("ing", "", 6),
        ("ed", "", 5),
        ("es", "", 5),
        ("s", "", 4),
    ):
        if w.endswith(suffix) and len(w) >= min_len and not w.endswith("ss"):
            w = w[: -len(suffix)] + repl
            break
    if len(w) > 4 and w.endswith("e"):
        w = w[:-1]
    return w


def tokens_with_offsets(text: str) -> Iterator[tuple[str, int, int]]:
    """(lower-case token, start, end) for every word in ``text``, offsets into the original string."""
    for m in _WORD.finditer(text):
        yield m.group(0).lower(), m.start(), m.end()


def terms(text: str, *, keep_stopwords: bool = False) -> list[str]:
    """Stemmed index terms of ``text`` in order, stopwords dropped unless asked for."""
    out = []
    for tok, _, _ in tokens_with_offsets(text):
        if not keep_stopwords and tok in STOPWORDS:
            continue
        out.append(stem(tok))
    return out


_SENTENCE_END = re.compile(r"[.!?][\"')\]]*$")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])[\"')\]]*\s+")


def ends_sentence(text: str) -> bool:
    """Whether ``text`` ends with sentence-final punctuation (as Whisper writes it)."""
    return bool(_SENTENCE_END.search(text.strip()))


def sentences(text: str) -> list[str]:
    """``text`` split after each sentence-final punctuation mark (at least one part, maybe empty)."""
    return _SENTENCE_BREAK.split(text.strip())
