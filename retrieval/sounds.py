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
"""

from __future__ import annotations

import re
from collections.abc import Collection
from functools import lru_cache

from retrieval.text import STOPWORDS, tokens_with_offsets

__all__ = ["MIN_LETTERS", "sound_keys", "sound_tokens", "sounds_alike"]

MIN_LETTERS = 3  # shorter words have keys shared by too many others to say anything
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


def sound_tokens(text: str) -> list[str]:
    """The phonetic keys of every word of ``text``, in order (a word's keys one after the other)."""
    return [key for tok, _, _ in tokens_with_offsets(text) for key in sound_keys(tok)]


def sounds_alike(word: str, keys: Collection[str]) -> bool:
    """Whether ``word`` has one of ``keys``."""
    return any(k in keys for k in sound_keys(word))
