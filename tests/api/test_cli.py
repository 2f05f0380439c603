"""End to end through the ``moments`` command: real ffmpeg, Whisper weights, MiniLM, Qdrant and SQLite.

Two talks of about three minutes (an MP4 video and an MP3), spoken by Festival from known text, are
ingested by the CLI; searches must find the right file and start within 3 s of the spoken sentence.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from api.schemas import watch_url
from bench.qdrant_server import QdrantProcess
from bench.speech import SpokenMedia
from ingest.models import OfflineModels
from retrieval.index import IndexConfig, open_index
from tests.conftest import ffmpeg

pytestmark = pytest.mark.slow

MOMENTS = [str(Path(sys.executable).parent / "moments")]


@dataclass(frozen=True)
class Library:
    data_dir: Path
    env: dict[str, str]
    talks: dict[str, SpokenMedia]

    def run(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*MOMENTS, *args], env={**self.env, **env}, capture_output=True, text=True, timeout=900, check=False
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"moments {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def search(self, query: str, *args: str) -> dict[str, object]:
        result: dict[str, object] = json.loads(self.run("search", query, "--json", *args).stdout)
        return result

    def points(self, media_id: str | None = None) -> int:
        index = open_index(IndexConfig(path=self.data_dir / "index"))
        try:
            return index.count(media_id)
        finally:
            index.close()

    def media(self) -> list[dict[str, object]]:
        media: list[dict[str, object]] = json.loads(self.run("media", "ls", "--json").stdout)
        return media


def make_env(data_dir: Path, models: OfflineModels, model: str = "whisper-tiny.en") -> dict[str, str]:
    return {
        **os.environ,
        "MOMENTS_DATA_DIR": str(data_dir),
        "MOMENTS_MODELS_DIR": str(models.whisper["whisper-base"].parent),
        "MOMENTS_WHISPER_MODEL": model,
        "MOMENTS_CPU_THREADS": "2",
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "200",
    }


@pytest.fixture(scope="module")
def library(
    tmp_path_factory: pytest.TempPathFactory, offline_models: OfflineModels, sample_talks: list[SpokenMedia]
) -> Library:
    data_dir = tmp_path_factory.mktemp("library")
    lib = Library(data_dir, make_env(data_dir, offline_models), {t.kind: t for t in sample_talks})
    proc = lib.run("ingest", *[str(t.path) for t in sample_talks])
    for t in sample_talks:
        assert t.path.name in proc.stderr  # the per-file progress line
    return lib


def test_both_files_are_in_the_library(library: Library) -> None:
    media = {m["filename"]: m for m in library.media()}
    video, audio = library.talks["video"], library.talks["audio"]
    assert media[video.path.name]["kind"] == "video"
    assert media[audio.path.name]["kind"] == "audio"
    for talk in (video, audio):
        assert talk.duration_s >= 180
        assert media[talk.path.name]["duration_s"] == pytest.approx(talk.duration_s, abs=0.5)


PARAPHRASES = [
    ("how fast are the continents drifting apart", "audio", 9),
    ("how are homes in Iceland heated", "audio", 13),
    ("why leave the dough in the fridge overnight", "audio", 4),
    ("flights cancelled because of volcanic ash", "audio", 11),
    ("what happens to the bees during winter", "video", 16),
    ("what did the print shop make for the fishermen", "video", 22),
]


@pytest.mark.parametrize(("query", "kind", "sentence"), PARAPHRASES, ids=[p[0] for p in PARAPHRASES])
def test_paraphrased_query_jumps_to_the_sentence(library: Library, query: str, kind: str, sentence: int) -> None:
    talk = library.talks[kind]
    top = library.search(query)["results"][0]  # type: ignore[index]
    assert top["filename"] == talk.path.name
    spoken = talk.sentences[sentence]
    assert abs(top["start"] - spoken.start_s) <= 3.0, f"{top['start']} vs {spoken.start_s}: {spoken.text}"
    assert top["url"] == watch_url(top["media_id"], top["start"])


def test_keyword_mode_highlights_the_words(library: Library) -> None:
    talk = library.talks["video"]
    top = library.search("tide tables", "--mode", "keyword")["results"][0]  # type: ignore[index]
    assert top["filename"] == talk.path.name
    assert abs(top["start"] - talk.sentences[22].start_s) <= 3.0
    marked = [top["text"][s:e].lower() for s, e in top["highlights"]]
    assert "tide" in marked and "tables" in marked


def test_a_word_typed_as_it_sounds_finds_the_spoken_one(library: Library) -> None:
    """ "volkano" is nowhere in the library; "volcano" sounds the same, is found, and is marked as such."""
    top = library.search("volkano", "--mode", "keyword")["results"][0]  # type: ignore[index]
    assert top["filename"] == library.talks["audio"].path.name
    assert {top["text"][s:e].lower() for s, e in top["sounds_like"]} <= {"volcano", "volcanoes"}
    assert top["sounds_like"]
    out = library.run("search", "volkano", "--limit", "1").stdout
    assert "volcano~" in out.lower() or "volcanoes~" in out.lower()


def test_quoted_phrase_must_appear_in_every_result(library: Library) -> None:
    talk = library.talks["audio"]
    results = library.search('"nail polish remover"')["results"]
    assert results, "the phrase is spoken in the podcast"
    assert all("nail polish remover" in r["text"].lower() for r in results)  # type: ignore[union-attr]
    assert results[0]["filename"] == talk.path.name  # type: ignore[index]
    assert abs(results[0]["start"] - talk.sentences[3].start_s) <= 3.0  # type: ignore[index]
    assert library.search('"remover polish nail"')["results"] == []


def test_json_output_matches_the_api_contract(library: Library) -> None:
    out = library.search("bees", "--limit", "3", "--kind", "video")
    assert set(out) == {"query", "took_ms", "results"}
    assert out["query"] == "bees" and isinstance(out["took_ms"], float)
    results = out["results"]
    assert isinstance(results, list) and 1 <= len(results) <= 3
    for r in results:
        assert set(r) - {"match"} == {
            "media_id", "title", "filename", "kind", "start", "end", "score", "text", "highlights", "highlight_starts",
            "sounds_like", "chapter", "speaker", "speaker_id", "url",
        }  # fmt: skip
        assert r["sounds_like"] == []  # every word of "bees" is said as typed
        assert r["speaker"] == r["speaker_id"] == "SPEAKER_1"  # one voice reads the talk; nobody named it
        assert set(r["chapter"]) == {"id", "title", "start"} and r["chapter"]["start"] <= r["start"]
        assert r["kind"] == "video"
        assert 0 <= r["start"] < r["end"]
        assert all(0 <= s < e <= len(r["text"]) for s, e in r["highlights"])
        # word times: where each highlight is spoken, inside the moment
        assert len(r["highlight_starts"]) == len(r["highlights"])
        assert all(r["start"] - 0.01 <= t <= r["end"] for t in r["highlight_starts"])


def test_the_lecture_is_cut_into_its_three_stories(library: Library) -> None:
    talk = library.talks["video"]  # bridges, then bees (sentence 9), then the printing shop (sentence 18)
    media_id = next(m["id"] for m in library.media() if m["kind"] == "video")
    chapters = json.loads(library.run("chapters", str(media_id), "--format", "json").stdout)["chapters"]
    starts = [c["start"] for c in chapters]
    assert starts[0] == 0.0
    stories = [talk.sentences[i].start_s for i in (9, 18)]
    # every boundary found is where a story begins (the bees one is found on the source text's
    # embeddings, not yet on this Whisper's transcript: recall is the harder half, bench/quality/README.md)
    assert len(starts) >= 2
    assert all(any(abs(s - t) <= 2.0 for t in stories) for s in starts[1:]), (starts, stories)
    assert all(c["title"] for c in chapters)
    story_title = next(c["title"] for c in chapters if abs(c["start"] - talk.sentences[18].start_s) <= 2.0)
    assert "printing shop" in story_title.lower()  # its own first sentence, trimmed
    vtt = library.run("chapters", str(media_id), "--format", "vtt").stdout
    assert vtt.startswith("WEBVTT") and vtt.count(" --> ") == len(chapters)
    # a moment in the printing shop story says so
    top = library.search("what did the print shop make for the fishermen")["results"][0]  # type: ignore[index]
    assert top["chapter"]["title"] == story_title


def test_plain_output_is_readable(library: Library) -> None:
    out = library.run("search", "volcano", "--limit", "1").stdout
    assert library.talks["audio"].path.name in out and "/watch/" in out


def test_transcript_formats(library: Library) -> None:
    media_id = next(m["id"] for m in library.media() if m["kind"] == "audio")
    data = json.loads(library.run("transcript", str(media_id), "--format", "json").stdout)
    assert "sourdough" in " ".join(s["text"] for s in data["segments"]).lower()
    assert all(set(s) == {"start", "end", "text", "words", "speaker"} for s in data["segments"])
    assert [s["id"] for s in data["speakers"]] == ["SPEAKER_1"]
    assert all(set(w) == {"start", "end", "word", "probability"} for s in data["segments"] for w in s["words"])
    srt = library.run("transcript", str(media_id), "--format", "srt").stdout
    assert srt.startswith("1\n00:00:") and " --> " in srt
    vtt = library.run("transcript", str(media_id), "--format", "vtt").stdout
    assert vtt.startswith("WEBVTT") and "<00:" not in vtt
    timed = library.run("transcript", str(media_id), "--format", "vtt", "--words").stdout
    assert timed.startswith("WEBVTT") and timed.count("<00:") > 100  # a time before most words
    bad = library.run("transcript", "nope", check=False)
    assert bad.returncode == 1 and "no media with id" in bad.stderr and "Traceback" not in bad.stderr


def test_one_voice_is_one_speaker_who_can_be_named_and_searched_for_and_reindex_keeps_it(library: Library) -> None:
    media = {m["filename"]: str(m["id"]) for m in library.media()}
    audio = media[library.talks["audio"].path.name]
    for media_id in media.values():  # each talk is read by one voice from start to end
        listed = json.loads(library.run("speakers", media_id, "--json").stdout)["speakers"]
        assert [s["id"] for s in listed] == ["SPEAKER_1"] and listed[0]["speaking_s"] > 150
    named = library.run("speakers", audio, "--name", "SPEAKER_1=Nora Quill")
    assert "Nora Quill (SPEAKER_1)" in named.stdout
    assert "Nora Quill: " in library.run("transcript", audio, "--format", "srt").stdout
    refused = library.run("speakers", audio, "--name", "SPEAKER_4=Nobody", check=False)
    assert refused.returncode == 1 and "SPEAKER_4" in refused.stderr
    for _ in range(2):  # before and after a reindex, which rebuilds the points from the catalog
        found = library.search("volcanic ash", "--speaker", "nora quill")
        results = found["results"]
        assert results and {r["media_id"] for r in results} == {audio}  # type: ignore[index]
        assert all(r["speaker"] == "Nora Quill" for r in results)  # type: ignore[index]
        asked = library.search("what did Nora Quill say about volcanic ash")
        assert asked["speakers"] == ["Nora Quill"] and asked["results"][0]["media_id"] == audio  # type: ignore[index]
        library.run("reindex")
    plain = library.run("search", "volcanic ash", "--speaker", "Nora Quill").stdout
    assert "Nora Quill:" in plain
    library.run("speakers", audio, "--name", "SPEAKER_1=")
    assert json.loads(library.run("speakers", audio, "--json").stdout)["speakers"][0]["name"] is None


def test_reingesting_the_same_file_changes_nothing(library: Library) -> None:
    before = library.points()
    proc = library.run("ingest", str(library.talks["audio"].path))
    assert "already indexed" in proc.stderr
    assert library.points() == before
    assert len(library.media()) == 2


def _bad_inputs(folder: Path) -> list[Path]:
    folder.mkdir(exist_ok=True)
    (folder / "empty.mp3").write_bytes(b"")
    (folder / "notes.mp4").write_text("These are my meeting notes, not a video.\n")
    (folder / "corrupt.mp4").write_bytes(bytes(range(256)) * 50)
    tone = folder / "tone.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=8", "-ar", "16000", str(tone))
    (folder / "playlist.mp4").write_text(f"#EXTM3U\n#EXTINF:8.0,\n{tone}\n#EXT-X-ENDLIST\n")
    return [folder / n for n in ("empty.mp3", "notes.mp4", "corrupt.mp4", "playlist.mp4")] + [tone]


def test_bad_input_is_refused_and_nothing_is_added(library: Library, tmp_path: Path) -> None:
    before_points, before_media = library.points(), len(library.media())
    files = _bad_inputs(tmp_path / "bad")
    expected = ["empty", "text file", "cannot be read", "playlist", "cap"]
    for path, message in zip(files, expected, strict=True):
        proc = library.run("ingest", str(path), check=False, MOMENTS_MAX_DURATION_S="5")
        assert proc.returncode == 1, proc.stderr
        assert message in proc.stderr and path.name in proc.stderr
        assert "Traceback" not in proc.stderr
    assert library.points() == before_points
    assert len(library.media()) == before_media


def test_a_missing_model_says_how_to_provide_it(library: Library, tone_wav: Path) -> None:
    before = len(library.media())
    proc = library.run("ingest", str(tone_wav), check=False, MOMENTS_WHISPER_MODEL="distil-whisper/distil-large-v3")
    assert proc.returncode == 1
    assert "not available offline" in proc.stderr and "prepare-offline" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(library.media()) == before


def test_media_rm_removes_points_and_rows(
    tmp_path: Path, offline_models: OfflineModels, speech_clips: tuple[object, list[object]]
) -> None:
    jfk = next(c for c in speech_clips[1] if c.name == "jfk")  # type: ignore[attr-defined]
    lib = Library(tmp_path, make_env(tmp_path, offline_models), {})
    first = lib.run("ingest", str(jfk.path))
    assert "expected about" not in first.stderr  # tiny.en was never measured, and nothing ran here yet
    louder = tmp_path / "jfk-louder.wav"
    ffmpeg("-i", str(jfk.path), "-af", "volume=2", str(louder))
    second = lib.run("ingest", str(louder))  # now this machine's own last ingest says how long it takes
    assert "jfk-louder.wav: expected about" in second.stderr and "the last ingest on this machine" in second.stderr
    lib.run("media", "rm", next(str(m["id"]) for m in lib.media() if m["filename"] == "jfk-louder.wav"))
    [media] = lib.media()
    assert lib.points(str(media["id"])) >= 1
    assert "country" in lib.run("transcript", str(media["id"])).stdout
    lib.run("media", "rm", str(media["id"]))
    assert lib.media() == []
    assert lib.points() == 0
    again = lib.run("media", "rm", str(media["id"]), check=False)
    assert again.returncode == 1 and "no media with id" in again.stderr


def test_reindex_to_a_server_moves_the_library(library: Library, qdrant_server: QdrantProcess) -> None:
    proc = library.run("reindex", "--to", qdrant_server.url, "--collection", "moved")
    assert "reindexed" in proc.stdout and "MOMENTS_QDRANT_URL" in proc.stdout
    for query in ("how are homes in Iceland heated", "what happens to the bees during winter"):
        here = library.search(query)["results"]
        there = json.loads(
            library.run(
                "search", query, "--json", MOMENTS_QDRANT_URL=qdrant_server.url, MOMENTS_COLLECTION="moved"
            ).stdout
        )["results"]
        assert [(r["media_id"], r["start"]) for r in there] == [(r["media_id"], r["start"]) for r in here]  # type: ignore[index]
