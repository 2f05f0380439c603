"""The development set at library size: near-topic distractor media around the set's answers.

    python -m bench.quality.haystack choose      # pick the entries again (writes haystack.json)
    python -m bench.quality.haystack OUT_DIR     # speak them (OUT_DIR/media, OUT_DIR/haystack-manifest.json)

The set's 8 media hold 37 dictionary entries; alone, a search only has to tell 8 topics apart. The
haystack adds, for every topic, other entries of the same dictionary that are closest to that topic's own
entries (TF-IDF cosine over their spoken sentences), about ten times the set's speech in all, spoken by
the same voice with the same pauses into media titled like the set's. So the set's answers compete with
their close neighbours: the other protocols, the other languages, the other bugs.

The choice is written to ``haystack.json`` (committed), so the set stays the same when this code or the
dictionaries change; ``choose`` makes it again. An entry is never chosen when it is one of the set's own
or says one of the queries' answer phrases (those answers stay said once in the whole library).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from bench.quality.build import ENTRY_PAUSE_S, QUERIES_FILE, SENTENCE_PAUSE_S, SET_FILE, speak_items
from bench.quality.corpus import entry_sentences, headwords, require_dictionaries

__all__ = ["HAYSTACK_FILE", "build_haystack", "choose"]

HERE = Path(__file__).resolve().parent
HAYSTACK_FILE = HERE / "haystack.json"
SCALE = 10.0  # the haystack's speech against the set's
MEDIA_S = 540.0  # about 9 minutes a distractor file
WORDS_PER_S = 2.25  # the set's voice: 2.0-2.5 written words a second
MIN_SENTENCES, MAX_SENTENCES = 4, 40
THEMES = {
    "networking-basics": "Networking",
    "programming-languages": "Programming languages",
    "memory-management": "Memory management",
    "operating-systems": "Operating systems",
    "hacker-folklore": "Hacker folklore",
    "debugging-stories": "Bugs and debugging",
    "computer-security": "Computer security",
    "early-computing": "Early computing",
}


def _spoken_s(sentences: list[str]) -> float:
    words = sum(len(s.split()) for s in sentences)
    return words / WORDS_PER_S + SENTENCE_PAUSE_S * (len(sentences) - 1) + ENTRY_PAUSE_S


def _answer_phrases() -> list[str]:
    phrases: list[str] = []
    for q in json.loads(QUERIES_FILE.read_text())["queries"]:
        for group in [q.get("answer", []), *q.get("also", [])]:
            phrases += [group] if isinstance(group, str) else list(group)
    return [p.lower() for p in phrases if len(p.split()) >= 2]


def choose() -> dict[str, Any]:
    """Pick the distractor entries for every topic of set.json and group them into media items."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    require_dictionaries()
    spec = json.loads(SET_FILE.read_text())
    taken = {e.lower() for item in spec["media"] for e in item["entries"]}
    phrases = _answer_phrases()
    media: list[dict[str, Any]] = []
    for dictionary in ("foldoc", "jargon"):
        topics = [item for item in spec["media"] if item["dictionary"] == dictionary]
        if not topics:
            continue
        heads, texts = [], []
        for head in headwords(dictionary):
            if head.lower() in taken or not re.search(r"[A-Za-z]", head):
                continue
            try:
                said = entry_sentences(dictionary, head)
            except (StopIteration, ValueError):  # an entry with no body
                continue
            text = " ".join(said[1:]).lower()
            if not MIN_SENTENCES <= len(said) <= MAX_SENTENCES or any(p in text for p in phrases):
                continue
            heads.append(said[0].rstrip("."))
            texts.append(" ".join(said))
        topic_texts = [" ".join(s for e in item["entries"] for s in entry_sentences(dictionary, e)) for item in topics]
        tfidf = TfidfVectorizer(stop_words="english", sublinear_tf=True, min_df=2).fit(texts + topic_texts)
        sims = (tfidf.transform(texts) @ tfidf.transform(topic_texts).T).toarray()
        best = sims.argmax(axis=1)
        for t, item in enumerate(topics):
            own_s = sum(_spoken_s(entry_sentences(dictionary, e)) for e in item["entries"])
            ranked = sorted((i for i in range(len(heads)) if best[i] == t), key=lambda i: -sims[i, t])
            chosen, total = [], 0.0
            for i in ranked:
                if total >= SCALE * own_s:
                    break
                chosen.append(heads[i])
                total += _spoken_s(entry_sentences(dictionary, heads[i]))
            files = max(1, round(total / MEDIA_S))
            for k in range(files):
                entries = chosen[k::files]  # each file a mix of nearer and farther neighbours
                named = ", ".join(entries[:2]) + f" and {entries[2]}" if len(entries) >= 3 else " and ".join(entries)
                media.append(
                    {
                        "name": f"{item['name']}-more-{k + 1:02d}",
                        "kind": "video" if (len(media) % 2 == 0) else "audio",
                        "title": f"{THEMES.get(item['name'], item['title'])}: {named}",
                        "dictionary": dictionary,
                        "topic": item["name"],
                        "entries": entries,
                    }
                )
    return {
        "about": (
            "Distractor media for the retrieval-quality set, about ten times its speech: for each topic, the "
            "entries of the same dictionary closest to the topic's own (TF-IDF cosine), none of them one of the "
            "set's entries or saying one of the queries' answer phrases. Written by "
            "`python -m bench.quality.haystack choose`."
        ),
        "media": media,
    }


def build_haystack(out_dir: Path) -> dict[str, Any]:
    """Speak the distractor media of haystack.json under ``out_dir`` (each file once) and return their
    manifest (the same shape as the set's)."""
    spec = json.loads(HAYSTACK_FILE.read_text())
    return speak_items(spec["media"], out_dir, out_dir / "haystack-manifest.json")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m bench.quality.haystack choose | OUT_DIR")
    if sys.argv[1] == "choose":
        chosen = choose()
        HAYSTACK_FILE.write_text(json.dumps(chosen, indent=1) + "\n")
        entries = sum(len(m["entries"]) for m in chosen["media"])
        print(f"{len(chosen['media'])} media, {entries} entries -> {HAYSTACK_FILE}")
    else:
        built = build_haystack(Path(sys.argv[1]))
        total = sum(m["duration_s"] for m in built["media"])
        print(f"{len(built['media'])} media, {total / 3600:.1f} h of speech")
