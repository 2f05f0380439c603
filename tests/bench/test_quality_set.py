"""The retrieval-quality set stays sound: every answer is said exactly once, and the metrics count right."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from bench.quality import build
from bench.quality.corpus import entry_sentences, require_dictionaries
from bench.quality.metrics import opens_within, score_boundaries, score_queries


def _unspoken_manifest() -> dict[str, Any]:
    """The manifest's shape with each sentence's index as its time: enough to resolve the answers."""
    spec = json.loads(build.SET_FILE.read_text())
    media = []
    for item in spec["media"]:
        sentences = [{"entry": e, "text": s} for e in item["entries"] for s in entry_sentences(item["dictionary"], e)]
        for i, s in enumerate(sentences):
            s.update(start_s=float(i), end_s=i + 0.5)
        media.append({"name": item["name"], "sentences": sentences})
    return {"media": media}


def test_every_query_resolves_to_one_place_in_the_spoken_text() -> None:
    try:
        require_dictionaries()
    except RuntimeError as exc:
        pytest.fail(str(exc))  # make test installs them; a silent skip would hide a broken set
    every = build.resolve_queries(_unspoken_manifest())
    gold = [g for g in every if g.level == "detail"]
    spec = json.loads(build.SET_FILE.read_text())
    kinds = Counter(g.kind for g in gold)
    assert len(gold) >= 40
    assert kinds["paraphrase"] > len(gold) / 2, kinds
    assert {"keyword", "name", "number"} <= set(kinds)
    assert {m["kind"] for m in spec["media"]} == {"audio", "video"}
    assert len({g.media for g in gold}) == len(spec["media"]) >= 6
    words = sum(len(s["text"].split()) for m in _unspoken_manifest()["media"] for s in m["sentences"])
    assert words > 30 * 140, "the set must hold at least 30 minutes of speech"


def test_every_entry_has_one_story_query_answered_by_the_whole_entry() -> None:
    manifest = _unspoken_manifest()
    stories = [g for g in build.resolve_queries(manifest) if g.level == "story"]
    spec = json.loads(build.SET_FILE.read_text())
    assert len(stories) == sum(len(m["entries"]) for m in spec["media"])
    for item in manifest["media"]:
        starts = build.story_starts(item)
        assert len(starts) == len({s["entry"] for s in item["sentences"]})
        for g in (g for g in stories if g.media == item["name"]):
            (answer,) = g.answers
            assert answer.start_s in starts  # opens where its entry starts ...
            entry = next(s["entry"] for s in item["sentences"] if s["start_s"] == answer.start_s)
            assert answer.end_s == max(s["end_s"] for s in item["sentences"] if s["entry"] == entry)  # ... to its end


def test_spoken_text_drops_what_a_speaker_would_not_say() -> None:
    said = entry_sentences("foldoc", "User Datagram Protocol")
    assert said[0] == "User Datagram Protocol."
    assert any("neither guarantees delivery" in s for s in said)
    assert not any("{" in s or "Postel" in s or "manual page" in s for s in said)


def test_metrics_count_overlap_rank_and_jump() -> None:
    def moment(media: str, start: float, end: float) -> dict[str, object]:
        return {"media_id": media, "start": start, "end": end}

    ranked = [
        [moment("a", 10, 20)],  # hit at 1, starts 2 s before the answer
        [moment("b", 0, 5), moment("a", 40, 60)],  # wrong media first, hit at 2
        [moment("a", 0, 9)],  # right media, no overlap: a miss
    ]
    answers = [[("a", 12.0, 15.0)], [("b", 30.0, 35.0), ("a", 50.0, 55.0)], [("a", 9.5, 12.0)]]
    score = score_queries(ranked, answers)
    assert score.recall_at_1 == pytest.approx(1 / 3)
    assert score.recall_at_5 == pytest.approx(2 / 3)
    assert score.mrr_at_10 == pytest.approx((1 + 1 / 2) / 3)
    assert score.median_jump_error_s == pytest.approx(6.0)  # median of 2 and 10


def test_boundaries_match_once_within_the_tolerance() -> None:
    score = score_boundaries([[10.0, 11.0, 50.0], [30.0]], [[10.5, 40.0], [27.0]])
    # 10.0 matches 10.5; 11.0 finds it taken; 50.0 and 30.0 are more than 2 s from any free one
    assert (score.found, score.true, score.matched) == (4, 3, 1)
    assert score.precision == 0.25
    assert score.recall == 1 / 3


def test_opening_within_two_seconds_of_the_answers_start() -> None:
    story = [("a", 100.0, 160.0)]
    assert opens_within([{"media_id": "a", "start": 101.5, "end": 110.0}], story)
    assert not opens_within([{"media_id": "a", "start": 120.0, "end": 130.0}], story)  # mid-story
    assert not opens_within([{"media_id": "b", "start": 100.0, "end": 130.0}], story)  # other media
    assert not opens_within([], story)
