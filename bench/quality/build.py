"""Build the retrieval-quality set: speak every media item of set.json and resolve each query's answer.

    python -m bench.quality.build OUT_DIR      # OUT_DIR/media/*.mp4|mp3 and OUT_DIR/manifest.json

The manifest holds, per media item, each spoken sentence with its entry and its exact start and end
(Festival speaks sentence by sentence; the pauses are known). A media file is spoken again only when its
words, pauses or voice change.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.quality.corpus import entry_sentences, require_dictionaries
from bench.speech import SAMPLE_RATE_HZ, VOICE, build_spoken_media

__all__ = ["Answer", "GoldQuery", "build_set", "resolve_queries", "speak_items", "story_starts"]

HERE = Path(__file__).resolve().parent
SET_FILE = HERE / "set.json"
QUERIES_FILE = HERE / "queries.json"
SENTENCE_PAUSE_S = 0.6
ENTRY_PAUSE_S = 1.6


@dataclass(frozen=True)
class Answer:
    media: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class GoldQuery:
    query: str
    kind: str  # paraphrase | keyword | name | number
    answers: tuple[Answer, ...]  # the answer, then any other place that answers it as well
    level: str = "detail"  # detail: said in a sentence or a few; story: about a whole entry (the answer)

    @property
    def media(self) -> str:
        return self.answers[0].media


def _media_fingerprint(item: dict[str, Any], sentences: list[str], pauses: list[float]) -> str:
    """What the spoken file depends on: the words, the pauses, the voice and the container."""
    payload = json.dumps([item["kind"], VOICE, sentences, pauses, SAMPLE_RATE_HZ])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def build_set(out_dir: Path) -> dict[str, Any]:
    """Build the media under ``out_dir`` (reusing each file whose words have not changed) and return the
    manifest, with every query of queries.json resolved to its answer's time range."""
    spec = json.loads(SET_FILE.read_text())
    manifest = speak_items(spec["media"], out_dir, out_dir / "manifest.json")
    manifest["queries"] = resolve_queries(manifest)
    return manifest


def speak_items(items: list[dict[str, Any]], out_dir: Path, manifest_path: Path) -> dict[str, Any]:
    """Speak each media item (its dictionary entries in order) into ``out_dir/media`` unless the file
    for the same words is there already; write and return the manifest of ``items``."""
    require_dictionaries()
    previous = {m["name"]: m for m in json.loads(manifest_path.read_text())["media"]} if manifest_path.is_file() else {}
    media = []
    for item in items:
        sentences: list[str] = []
        entries: list[str] = []
        pauses: list[float] = []
        for entry in item["entries"]:
            said = entry_sentences(item["dictionary"], entry)
            sentences += said
            entries += [entry] * len(said)
            pauses += [SENTENCE_PAUSE_S] * (len(said) - 1) + [ENTRY_PAUSE_S]
        fingerprint = _media_fingerprint(item, sentences, pauses)
        old = previous.get(item["name"])
        if old is not None and old.get("fingerprint") == fingerprint and Path(old["path"]).is_file():
            media.append({**old, "title": item["title"]})
            continue
        suffix = ".mp4" if item["kind"] == "video" else ".mp3"
        path = out_dir / "media" / f"{item['name']}{suffix}"
        print(f"speaking {item['name']} ({len(sentences)} sentences)", file=sys.stderr)
        spoken = build_spoken_media(sentences, path, kind=item["kind"], pauses_s=pauses)
        media.append(
            {
                "name": item["name"],
                "title": item["title"],
                "kind": item["kind"],
                "path": str(path),
                "fingerprint": fingerprint,
                "duration_s": spoken.duration_s,
                "sentences": [
                    {"entry": e, "text": s.text, "start_s": s.start_s, "end_s": s.end_s}
                    for e, s in zip(entries, spoken.sentences, strict=True)
                ],
            }
        )
        # Saved after each file, so an interrupted build keeps what it has spoken.
        pending = [m for name, m in previous.items() if name not in {x["name"] for x in media}]
        manifest_path.parent.mkdir(parents=True, exist_ok=True)
        manifest_path.write_text(json.dumps({"media": media + pending}, indent=1))
    manifest: dict[str, Any] = {"media": media}
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest


def resolve_queries(manifest: dict[str, Any]) -> list[GoldQuery]:
    """Each query names its media, entry and the words of its answer; find where those words are said.

    An answer is one or more phrases, each inside one sentence of that entry; the answer's time range
    spans those sentences. ``also`` lists other places that answer the question too. A phrase found
    nowhere, or in two sentences, is an error in queries.json."""
    media = {m["name"]: m for m in manifest["media"]}
    gold = []
    for q in json.loads(QUERIES_FILE.read_text())["queries"]:
        sentences = [s for s in media[q["media"]]["sentences"] if s["entry"] == q["entry"]]
        if not sentences:
            raise ValueError(f"{q['query']!r}: no entry {q['entry']!r} in {q['media']}")
        level = q.get("level", "detail")
        if level == "story":  # the whole entry, from where it starts
            story = Answer(q["media"], sentences[0]["start_s"], sentences[-1]["end_s"])
            gold.append(GoldQuery(q["query"], q["kind"], (story,), level))
            continue
        answers = []
        for phrases in [q["answer"], *q.get("also", [])]:
            spans = []
            for phrase in phrases if isinstance(phrases, list) else [phrases]:
                found = [s for s in sentences if phrase.lower() in s["text"].lower()]
                if len(found) != 1:
                    raise ValueError(f"{q['query']!r}: {phrase!r} is said {len(found)} times in {q['entry']!r}")
                spans.append(found[0])
            answers.append(Answer(q["media"], min(s["start_s"] for s in spans), max(s["end_s"] for s in spans)))
        gold.append(GoldQuery(q["query"], q["kind"], tuple(answers), level))
    return gold


def story_starts(item: dict[str, Any]) -> list[float]:
    """Where each entry (each story) of a built media item starts, in seconds, the first at its start."""
    starts, last = [], None
    for s in item["sentences"]:
        if s["entry"] != last:
            starts.append(s["start_s"])
            last = s["entry"]
    return starts


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m bench.quality.build OUT_DIR")
    built = build_set(Path(sys.argv[1]))
    total = sum(m["duration_s"] for m in built["media"])
    print(f"{len(built['media'])} media, {total / 60:.1f} min of speech, {len(built['queries'])} queries")
