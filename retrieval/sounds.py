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
"""

from __future__ import annotations

import re
from collections.abc import Collection
from functools import lru_cache

from retrieval.text import STOPWORDS, tokens_with_offsets

__all__ = ["MIN_LETTERS", "NEAR_MIN_KEY", "near_keys", "sound_keys", "sound_tokens", "sounds_alike"]

MIN_LETTERS = 3  # shorter words have keys shared by too many others to say anything
NEAR_MIN_KEY = 5  # Metaphone keys this long or longer also match one edit away (near_keys)
# The letters jellyfish's Metaphone writes ("0" is "th"; vowels only as a key's first letter).
_METAPHONE_LETTERS = "0BFHJKLMNPRSTWXY"
_LETTERS = re.compile(r"[a-z]+")


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


@lru_cache(maxsize=1 << 12)
def near_keys(word: str) -> tuple[str, ...]:
    """The Metaphone keys one edit away from ``word``'s (a letter dropped, changed or added), when its key
    has at least :data:`NEAR_MIN_KEY` letters; its own key is not among them."""
    own = next((k for k in sound_keys(word) if k.startswith("\x01m:")), None)
    if own is None or len(own) - 3 < NEAR_MIN_KEY:
        return ()
    key = own[3:]
    found: set[str] = set()
    for i in range(len(key) + 1):
        if i < len(key):
            found.add(key[:i] + key[i + 1 :])
            found.update(key[:i] + c + key[i + 1 :] for c in _METAPHONE_LETTERS)
        found.update(key[:i] + c + key[i:] for c in _METAPHONE_LETTERS)
    found.discard(key)
    return tuple(f"\x01m:{k}" for k in sorted(found) if len(k) >= 2)


def sound_tokens(text: str) -> list[str]:
    """The phonetic keys of every word of ``text``, in order (a word's keys one after the other)."""
    return [key for tok, _, _ in tokens_with_offsets(text) for key in sound_keys(tok)]


def sounds_alike(word: str, keys: Collection[str]) -> bool:
    """Whether ``word`` has one of ``keys``."""
    return any(k in keys for k in sound_keys(word))
