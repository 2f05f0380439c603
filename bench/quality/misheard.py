"""Misheard names: the development set's own recognition errors, as queries.

    python -m bench.quality.misheard [LIBRARY]   # writes bench/quality/misheard.json from a transcribed set

A user types a name or term as it is spelled ("Ritchie", "COBOL", "Multics"); Whisper wrote it as it heard
it ("Ritty", "Kobawl", "Model Chicks"), so no moment holds the word typed. This script compares every
sentence of the set's source text with what the library's transcript says over the same seconds, keeps
the names and terms (capitalised inside a sentence, or with capitals after the first letter, or a
headword) that the transcript never says at any place where the source says them, and writes one query
per term: the term as typed, with a first name or the word before it when the source writes a pair
("Dennis Ritchie"). Its answers are every sentence that says it. The file is committed, so the queries
stay fixed when a later transcription hears differently; ``python -m bench.quality`` asks them.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

__all__ = ["MISHEARD_FILE", "find_misheard", "load_misheard"]

HERE = Path(__file__).resolve().parent
MISHEARD_FILE = HERE / "misheard.json"
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'+#-]*[A-Za-z0-9+#]|[A-Za-z]")


def _norm(word: str) -> str:
    return re.sub(r"[^a-z0-9]", "", word.lower())


def _heard(segments: list[Any], start_s: float, end_s: float) -> str:
    return " ".join(s.text for s in segments if s.start_s < end_s + 0.5 and s.end_s > start_s - 0.5)


_COMMON = {"the", "this", "that", "you're", "you", "and", "of", "in", "on", "a", "an", "or", "unix", "see"}


def _terms(sentence: str, headword: str) -> list[tuple[str, list[str]]]:
    """(query, its words) for the names and terms of one source sentence: a run of capitalised words
    written next to each other ("Dennis Ritchie", "Bjarne Stroustrup") is one name, a possessive dropped;
    a word with capitals after its first letter ("EPROM", "MULTiplexed") or a word of the headword is a
    term. The sentence's first word counts only when it is a term."""
    head = {_norm(w) for w in _WORD.findall(headword)}
    out: list[tuple[str, list[str]]] = []
    run: list[str] = []

    def close() -> None:
        words = [re.sub(r"'s$", "", w) for w in run]
        if words and not any(w.lower() in _COMMON for w in words) and max(len(w) for w in words) >= 3:
            out.append((" ".join(words[-3:]), words[-3:]))
        run.clear()

    for i, m in enumerate(re.finditer(r"\S+", sentence)):
        raw = m.group()
        found = _WORD.search(raw)
        if found is None:
            close()
            continue
        w = found.group()
        term = any(c.isupper() for c in w[1:]) or _norm(w) in head
        name = w[0].isupper() and (i > 0 or term)
        if name or term:
            run.append(w)
            if raw[-1] in ',;:.!?)"' or raw[0] in '("':
                close()
        else:
            close()
    close()
    return out


def find_misheard(manifest: dict[str, Any], catalog: Any, ids: dict[str, str]) -> list[dict[str, Any]]:
    """Every name or term of the set's source text that the transcript in ``catalog`` never says."""
    places: dict[str, list[tuple[str, dict[str, Any], bool]]] = {}
    queries: dict[str, str] = {}
    for item in manifest["media"]:
        segments = catalog.get_segments(ids[item["name"]])
        for s in item["sentences"]:
            heard = {_norm(w) for w in _WORD.findall(_heard(segments, s["start_s"], s["end_s"]))}
            heard_joined = _norm(_heard(segments, s["start_s"], s["end_s"]))
            if not heard:
                continue  # nothing transcribed over it
            plain = [_norm(w) for w in _WORD.findall(s["text"]) if w.islower() and len(w) > 3]
            if plain and sum(w in heard for w in plain) < 0.6 * len(plain):
                continue  # the transcript is not aligned with this sentence (or skipped it): not a name error
            for query, words in _terms(s["text"], s["entry"]):
                key = _norm(query)
                said_right = all(_norm(w) in heard or len(w) < 3 for w in words) or key in heard_joined
                places.setdefault(key, []).append((item["name"], s, said_right))
                queries.setdefault(key, query)
    out = []
    for key, where in places.items():
        if any(right for _, _, right in where):
            continue  # heard right somewhere: a keyword search finds that place
        out.append(
            {
                "query": queries[key],
                "answers": [
                    {"media": name, "entry": s["entry"], "start_s": s["start_s"], "end_s": s["end_s"]}
                    for name, s, _ in where
                ],
                "said": where[0][1]["text"],
            }
        )
    return out


def load_misheard() -> list[dict[str, Any]]:
    return list(json.loads(MISHEARD_FILE.read_text())["queries"]) if MISHEARD_FILE.is_file() else []


if __name__ == "__main__":
    from api.services import Services
    from bench.quality.__main__ import CACHE, _settings
    from bench.quality.build import build_set

    data = Path(sys.argv[1]) if len(sys.argv) > 1 else CACHE / "quality"
    manifest = build_set(data)
    settings = _settings(data)
    services = Services(settings)
    try:
        by_title = {m.title: m.id for m in services.catalog.list_media()}
        ids = {m["name"]: by_title[m["title"]] for m in manifest["media"]}
        found = find_misheard(manifest, services.catalog, ids)
        for q in found:
            q["heard"] = _heard(
                services.catalog.get_segments(ids[q["answers"][0]["media"]]),
                q["answers"][0]["start_s"],
                q["answers"][0]["end_s"],
            )
    finally:
        services.close()
    about = (
        "Names and terms of the set's source text that Whisper base never transcribed as written, found by "
        "`python -m bench.quality.misheard` (the transcript over each sentence's seconds against the sentence)."
        " query: the name as a user types it; answers: every sentence that says it; said / heard: the first one,"
        " and what the transcript says over it."
    )
    MISHEARD_FILE.write_text(json.dumps({"about": about, "queries": found}, indent=1) + "\n")
    for q in found:
        print(f"{q['query']!r:28} heard: {q['heard'][:150]!r}")
    print(f"{len(found)} terms -> {MISHEARD_FILE}")
