"""Pure phonetic keys: how a word sounds, so a name Whisper wrote as it heard it still matches the spelling.

Whisper writes a name it does not know the way it sounds: "COBOL" as "Kobawl", "Mauchly" as "Mochley",
"Kernighan" as "Kerenighan", "Neumann" as "Newman". The spelling differs, the sound does not. Each content
word gets two phonetic keys from jellyfish (a maintained library): Metaphone ("KBL" for both "COBOL" and
"Kobawl") and NYSIIS ("ATANASAF" for both "Atanasoff" and "Ahtunisoff"). The two disagree in different
places, so a name matched by either is found.

The keys go into the passage's existing sparse vector, in a term-id space of their own (ids of
``"\\x01m:KBL"`` and ``"\\x01n:CABAL"``), so an ordinary query, which only carries word ids, never touches
them; a query term that the library never says (one batched lookup) is looked up by its keys as well
(retrieval.search).

A name Whisper split or bent a little further ("Stroustrup" as "Tristrup": Metaphone STRSTRP against
TRSTRP) has no key in common with the spelling. For a long Metaphone key (:data:`NEAR_MIN_KEY` letters or
more) the query also asks for every key one edit away (:func:`near_keys`: a letter dropped, changed or
added), weighted below an exact key; short keys stay exact, as one edit away from them lies half the
language.

Whisper also splits a word it does not know into words it does: "fencepost" as "fence-supposed",
"Datamation" as "day to mention". Each run of two or three words that follow each other with nothing but
spaces or hyphens between them gets one more key, the Metaphone of the words written together
(``"\x01j:FNSSPST"``, :func:`sound_spans`), when it has :data:`NEAR_MIN_KEY` letters or more; a typed
name asks for it as it asks for a word's own key, and one edit away (FNSPST, TTMXN).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from functools import lru_cache

from retrieval.text import STOPWORDS, tokens_with_offsets

__all__ = [
    "JOIN_MAX_WORDS",
    "MIN_LETTERS",
    "NEAR_MIN_KEY",
    "near_keys",
    "query_sound_keys",
    "sound_keys",
    "sound_spans",
    "sound_tokens",
    "sounds_alike",
]

MIN_LETTERS = 3  # shorter words have keys shared by too many others to say anything
NEAR_MIN_KEY = 5  # Metaphone keys this long or longer also match one edit away (near_keys)
# The letters jellyfish's Metaphone writes ("0" is "th"; vowels only as a key's first letter).
_METAPHONE_LETTERS = "0BFHJKLMNPRSTWXY"
JOIN_MAX_WORDS = 3  # words written together for a joined key ("day to mention")
_JOIN_MAX_LETTERS = 24  # no joined key for runs longer than a long name
_LETTERS = re.compile(r"[a-z]+")
_JOINABLE_GAP = re.compile(r"[\s-]+")


@lru_cache(maxsize=1 << 16)
def sound_keys(word: str) -> tuple[str, ...]:
    """The phonetic keys of one word ("\\x01m:KBL", "\\x01n:CABAL"); none for stopwords, short words and
    words that are not all letters (numbers, "Z3")."""
    import jellyfish

    w = word.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    if w in STOPWORDS or len(w) < MIN_LETTERS or not _LETTERS.fullmatch(w):
        return ()
    keys = []
    metaphone = jellyfish.metaphone(w)
    if len(metaphone) >= 2:
        keys.append(f"\x01m:{metaphone}")
    nysiis = jellyfish.nysiis(w)
    if len(nysiis) >= 3:
        keys.append(f"\x01n:{nysiis}")
    return tuple(keys)


def _metaphone_of(word: str) -> str | None:
    return next((k[3:] for k in sound_keys(word) if k.startswith("\x01m:")), None)


def _one_edit_away(key: str) -> set[str]:
    found: set[str] = set()
    for i in range(len(key) + 1):
        if i < len(key):
            found.add(key[:i] + key[i + 1 :])
            found.update(key[:i] + c + key[i + 1 :] for c in _METAPHONE_LETTERS)
        found.update(key[:i] + c + key[i:] for c in _METAPHONE_LETTERS)
    found.discard(key)
    return {k for k in found if len(k) >= 2}


def query_sound_keys(word: str) -> tuple[str, ...]:
    """The keys a typed ``word`` asks for: its own (:func:`sound_keys`) and, for a long one, the joined key
    of the same sound (words Whisper wrote apart)."""
    own = sound_keys(word)
    key = _metaphone_of(word)
    return (*own, f"\x01j:{key}") if key is not None and len(key) >= NEAR_MIN_KEY else own


@lru_cache(maxsize=1 << 12)
def near_keys(word: str) -> tuple[str, ...]:
    """The Metaphone keys one edit away from ``word``'s (a letter dropped, changed or added), as a word's
    key and as a joined one, when its key has at least :data:`NEAR_MIN_KEY` letters; its own is not among
    them."""
    key = _metaphone_of(word)
    if key is None or len(key) < NEAR_MIN_KEY:
        return ()
    near = sorted(_one_edit_away(key))
    return (*(f"\x01m:{k}" for k in near), *(f"\x01j:{k}" for k in near))


def sound_spans(text: str) -> list[tuple[str, int, int]]:
    """Every phonetic key of ``text`` with the character span it stands for: each word's own keys, then
    (after them) the joined keys of runs of two or three words."""
    import jellyfish

    tokens = list(tokens_with_offsets(text))
    spans = [(key, s, e) for tok, s, e in tokens for key in sound_keys(tok)]
    for i in range(len(tokens)):
        letters = tokens[i][0]
        for j in range(i + 1, min(i + JOIN_MAX_WORDS, len(tokens))):
            tok, start, end = tokens[j]
            if not _JOINABLE_GAP.fullmatch(text[tokens[j - 1][2] : start]):
                break
            letters += tok
            if len(letters) > _JOIN_MAX_LETTERS or not _LETTERS.fullmatch(letters):
                break
            key = jellyfish.metaphone(letters)
            if len(key) >= NEAR_MIN_KEY:
                spans.append((f"\x01j:{key}", tokens[i][1], end))
    return spans


def sound_tokens(text: str) -> list[str]:
    """The phonetic keys of ``text`` (:func:`sound_spans`), in order."""
    return [key for key, _, _ in sound_spans(text)]


def sounds_alike(word: str, keys: Collection[str]) -> bool:
    """Whether ``word`` has one of ``keys``."""
    return any(k in keys for k in sound_keys(word))
