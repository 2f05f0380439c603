"""The web pages in a real browser (Debian's Chromium driven by Playwright) against ``moments serve``."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.speech import SpokenMedia
from ingest.models import OfflineModels
from tests.live_server import MOMENTS, Server, server_env

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
XSS = '<img src=x onerror="window.__xss=1">'


@dataclass(frozen=True)
class Site:
    server: Server
    podcast_id: str
    jfk_id: str
    dialogue_id: str


# Two voices (bench/dialogues.py) taking turns: the speakers' page parts need a file with two speakers.
DIALOGUE = [
    ("slt", "Welcome back to the garden hour, where today we talk about growing tomatoes on a small balcony."),
    ("kal", "Thank you for having me. The secret is a deep pot and plenty of sun in the afternoon."),
    ("slt", "How often should our listeners water them during the hottest weeks of the summer?"),
    ("kal", "Every morning, slowly, until the water runs out of the bottom of the pot."),
]


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory,
    offline_models: OfflineModels,
    sample_talks: list[SpokenMedia],
    speech_clips: tuple[object, list[Any]],
) -> Iterator[Site]:
    data_dir = tmp_path_factory.mktemp("site")
    env = server_env(data_dir, offline_models)
    podcast = next(t for t in sample_talks if t.kind == "audio")
    jfk = next(c for c in speech_clips[1] if c.name == "jfk")
    from bench.dialogues import DialoguePlan, build_dialogue, save_dialogue

    talk = build_dialogue(DIALOGUE, DialoguePlan(overlap_p=0.0, backchannel_p=0.0), seed=5)
    dialogue = save_dialogue(talk, data_dir / "media-in", "garden_hour")
    subprocess.run(
        [MOMENTS, "ingest", str(podcast.path), str(jfk.path), str(dialogue)], env=env, check=True, capture_output=True
    )
    media = json.loads(
        subprocess.run([MOMENTS, "media", "ls", "--json"], env=env, check=True, capture_output=True, text=True).stdout
    )
    ids = {m["filename"]: m["id"] for m in media}
    # A hostile transcript line and title: they must show as text, never run.
    with sqlite3.connect(data_dir / "catalog.sqlite3") as db:
        db.execute("UPDATE segments SET text = text || ? WHERE media_id = ? AND idx = 0", (f" {XSS}", ids["jfk.wav"]))
        db.execute("UPDATE media SET title = ? WHERE id = ?", ("<b>JFK</b> " + XSS, ids["jfk.wav"]))
    subprocess.run([MOMENTS, "reindex"], env=env, check=True, capture_output=True)
    server = Server(data_dir, offline_models)
    server.start()
    yield Site(server, ids[podcast.path.name], ids["jfk.wav"], ids["garden_hour.wav"])
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert not errors, errors


def _player_time(page: Any) -> float:
    return float(page.evaluate("document.getElementById('player').currentTime"))


def _wait_player_near(page: Any, seconds: float) -> None:
    page.wait_for_function(
        "(t) => { const p = document.getElementById('player');"
        " return p && p.readyState >= 1 && Math.abs(p.currentTime - t) < 1; }",
        arg=seconds,
        timeout=20_000,
    )


def test_search_click_plays_from_the_moment(site: Site, page: Any) -> None:
    page.goto(f"{site.server.url}/")
    page.fill("#q", "how are homes in Iceland heated")
    page.press("#q", "Enter")
    first = page.locator(".moment").first
    first.wait_for(timeout=20_000)
    assert "q=how+are+homes" in page.url  # the query lives in the address
    group = page.locator(".group").first
    assert group.get_attribute("data-media-id") == site.podcast_id
    assert group.locator(".meta").inner_text().startswith("audio")
    assert page.locator(".moment mark").count() >= 1  # matched words highlighted
    start = float(first.get_attribute("data-start"))
    first.click()
    _wait_player_near(page, start)
    assert abs(_player_time(page) - start) < 1.0


def test_a_click_on_a_matched_word_plays_from_where_it_is_spoken(site: Site, page: Any) -> None:
    page.goto(f"{site.server.url}/?q=%22wild+yeast%22&mode=keyword")
    first = page.locator(".moment").first
    first.wait_for(timeout=20_000)
    mark = first.locator("mark").first
    assert mark.inner_text().lower() == "wild yeast"
    spoken_at = float(mark.get_attribute("data-start"))
    # a quoted phrase: the moment itself opens on the phrase
    assert abs(float(first.get_attribute("data-start")) - spoken_at) < 0.05
    mark.click()
    _wait_player_near(page, spoken_at)
    assert abs(_player_time(page) - spoken_at) < 1.0


def test_a_word_found_by_how_it_sounds_is_marked_as_such(site: Site, page: Any) -> None:
    """Typed as it sounds, not as the transcript spells it: the moment is found and the page says the
    marked word only sounds like the search."""
    page.goto(f"{site.server.url}/?q=amerikans&mode=keyword")
    first = page.locator(".moment").first
    first.wait_for(timeout=20_000)
    assert page.locator("article.group").first.get_attribute("data-media-id") == site.jfk_id
    mark = first.locator("mark.sounds-like").first
    assert mark.inner_text().lower().startswith("american")
    assert "sounds like" in (mark.get_attribute("title") or "")


def test_shared_search_link_runs_the_search(site: Site, page: Any) -> None:
    page.goto(f"{site.server.url}/?q=sourdough+starter&mode=keyword")
    page.locator(".moment").first.wait_for(timeout=20_000)
    assert page.input_value("#q") == "sourdough starter" and page.input_value("#mode") == "keyword"


def test_watch_link_starts_at_t_and_follows_the_transcript(site: Site, page: Any) -> None:
    page.goto(f"{site.server.url}/watch/{site.podcast_id}?t=60")
    _wait_player_near(page, 60)
    page.locator(".line").first.wait_for()
    assert page.locator(".line").count() > 10
    page.wait_for_selector(".line.current")
    current_start = float(page.locator(".line.current").get_attribute("data-start"))
    assert current_start <= 60.5
    target = page.locator(".line").nth(5)
    target_start = float(target.get_attribute("data-start"))
    target.locator(".time").click()  # the line's time: its start (a click on a word plays from the word)
    _wait_player_near(page, target_start)
    assert page.get_attribute("#dl-srt", "href").endswith("format=srt")
    page.click("#copy-link")
    assert f"/watch/{site.podcast_id}?t=" in page.url


def test_the_watch_page_marks_the_word_being_spoken_and_a_click_on_a_word_seeks_to_it(site: Site, page: Any) -> None:
    page.goto(f"{site.server.url}/watch/{site.podcast_id}?t=30")
    _wait_player_near(page, 30)
    page.locator(".line .word").first.wait_for()
    assert page.locator(".line .word").count() > 200  # every word of the talk, each its own element
    # while it plays, the marked word is the one whose time has come: started, and not long ended
    page.wait_for_function("() => { const p = document.getElementById('player'); return !p.paused; }", timeout=20_000)
    for _ in range(3):
        spoken = page.wait_for_function(
            "() => { const w = document.querySelector('.word.spoken'), p = document.getElementById('player');"
            " return w && [parseFloat(w.dataset.start), p.currentTime, w.textContent]; }",
            timeout=10_000,
        )
        start, now, word = spoken.json_value()
        assert start - 0.1 <= now <= start + 3.0, (start, now, word)
        page.wait_for_timeout(400)
    assert page.locator(".word.spoken").count() == 1
    # a click on a word far from here plays from that word
    target = page.locator(".line .word").nth(150)
    target_start = float(target.get_attribute("data-start"))
    assert abs(target_start - 30) > 5
    target.click()
    page.wait_for_function(
        "(t) => Math.abs(document.getElementById('player').currentTime - t) < 0.6", arg=target_start, timeout=20_000
    )
    assert page.get_attribute("#dl-vtt-words", "href").endswith("format=vtt&words=true")


def test_the_watch_page_lists_the_chapters_marks_them_on_the_timeline_and_seeks_to_them(site: Site, page: Any) -> None:
    import urllib.request

    with urllib.request.urlopen(f"{site.server.url}/api/media/{site.podcast_id}/chapters") as resp:
        chapters = json.loads(resp.read())["chapters"]
    assert chapters and chapters[0]["start"] == 0.0
    page.goto(f"{site.server.url}/watch/{site.podcast_id}?t=150")
    page.locator(".chapter").first.wait_for()
    assert page.locator(".chapter .title").all_inner_texts() == [c["title"] for c in chapters]
    assert page.locator(".timeline .chapter-mark").count() == len(chapters)
    assert page.locator("#player track[kind=chapters]").get_attribute("src").endswith("/chapters?format=vtt")
    _wait_player_near(page, 150)
    current = page.locator(".chapter.current .title").inner_text()  # the chapter being played
    assert current == [c["title"] for c in chapters if c["start"] <= 150][-1]
    page.locator(".chapter").first.click()
    _wait_player_near(page, 0.0)
    assert _player_time(page) < 1.0


def test_a_search_moment_shows_the_chapter_it_is_in(site: Site, page: Any) -> None:
    page.goto(f"{site.server.url}/?q=sourdough+starter&mode=keyword")
    page.locator(".moment").first.wait_for(timeout=20_000)
    shown = page.locator(".moment-row").first.locator(".in-chapter").inner_text()
    import urllib.request

    with urllib.request.urlopen(f"{site.server.url}/api/search?q=sourdough+starter&mode=keyword&limit=20") as resp:
        top = json.loads(resp.read())["results"][0]
    assert shown == f"in: {top['chapter']['title']}"
    page.locator(".moment-row").first.locator(".in-chapter").click()  # plays the story from its start
    _wait_player_near(page, top["chapter"]["start"])
    assert abs(_player_time(page) - top["chapter"]["start"]) < 1.0


def test_the_watch_page_shows_who_speaks_and_a_speaker_can_be_renamed(site: Site, page: Any) -> None:
    page.goto(f"{site.server.url}/watch/{site.dialogue_id}")
    page.locator(".speakers .speaker").first.wait_for()
    assert page.locator(".speakers .speaker .name").all_inner_texts() == ["SPEAKER_1", "SPEAKER_2"]
    # transcript lines take their speaker's colour; the name opens each change of speaker
    spoken = page.locator(".line").evaluate_all("(ls) => ls.map((l) => l.dataset.speaker)")
    assert spoken[0] == "SPEAKER_1" and "SPEAKER_2" in spoken
    changes = sum(1 for a, b in zip([None, *spoken], spoken, strict=False) if a != b)
    assert page.locator(".line .who").count() == changes >= 4
    assert page.locator(".line.speaker-0").count() and page.locator(".line.speaker-1").count()
    # the timeline has a block per turn; a click plays from it
    turns = page.locator(".speaker-timeline .turn")
    assert turns.count() >= 4
    second = float(turns.nth(1).get_attribute("data-start"))
    turns.nth(1).click()
    _wait_player_near(page, second)
    # rename the first speaker: the list and the transcript show the name, and the API has it
    page.locator(".speakers .speaker .rename").first.click()
    page.locator(".rename-input").fill("Greta")
    page.locator(".rename-form button").click()
    page.wait_for_function("() => document.querySelector('.speakers .speaker .name')?.textContent === 'Greta'")
    assert page.locator(".line .who").first.inner_text().strip() == "Greta:"
    import urllib.request

    with urllib.request.urlopen(f"{site.server.url}/api/media/{site.dialogue_id}/speakers") as resp:
        assert json.loads(resp.read())["speakers"][0]["name"] == "Greta"


def test_a_search_moment_says_who_spoke_and_filters_by_them(site: Site, page: Any) -> None:
    page.goto(f"{site.server.url}/?q=how%20often%20should%20tomatoes%20be%20watered")
    row = page.locator(".moment-row").first
    row.wait_for()
    who = row.locator(".by-speaker").inner_text()
    assert who in ("SPEAKER_1", "SPEAKER_2", "Greta")
    row.locator(".by-speaker").click()
    page.locator(".speaker-chip").wait_for()
    assert f"Only what {who} said" in page.locator(".speaker-chip").inner_text()
    assert "speaker=" in page.url
    page.locator(".moment-row").first.wait_for()
    shown = page.locator(".moment-row .by-speaker").all_inner_texts()
    assert shown and set(shown) == {who}  # only that speaker's moments
    page.locator(".speaker-chip button").click()
    page.wait_for_function("() => !document.querySelector('.speaker-chip')")


def test_hostile_transcript_and_title_show_as_text(site: Site, page: Any) -> None:
    page.goto(f"{site.server.url}/watch/{site.jfk_id}?t=0")
    page.locator(".line").first.wait_for()
    assert XSS in page.locator(".line .text").first.inner_text()
    assert XSS in page.inner_text("#title")
    page.goto(f"{site.server.url}/?q=onerror&mode=keyword")
    page.locator(".moment").first.wait_for(timeout=20_000)
    assert "<img" in page.locator(".moment .snippet").first.inner_text()
    assert "<b>JFK</b>" in page.locator(".group h2").first.inner_text()
    assert page.locator("main img").count() == 0 and page.locator("main b").count() == 0
    assert page.evaluate("window.__xss") is None


def test_upload_shows_progress_then_the_file_is_searchable(
    site: Site, page: Any, tmp_path: Path, tone_wav: Path
) -> None:
    from tests.conftest import ffmpeg

    clip = tmp_path / "announcement.wav"
    # A fresh file (new bytes, new media id): the JFK speech with a tone in front.
    ffmpeg(
        "-i",
        str(tone_wav),
        "-i",
        str(_jfk_path(site)),
        "-filter_complex",
        "[0:a][1:a]concat=n=2:v=0:a=1",
        "-ar",
        "16000",
        str(clip),
    )
    page.goto(f"{site.server.url}/library")
    page.set_input_files("#file", str(clip))
    page.click("#upload-form button[type=submit]")
    page.wait_for_function("() => document.getElementById('upload-status').textContent.includes('%')", timeout=30_000)
    page.wait_for_function(
        "() => document.getElementById('upload-status').textContent.startsWith('Done')", timeout=120_000
    )
    assert page.locator("#media tr", has_text="announcement").count() == 1
    page.goto(f"{site.server.url}/?q=ask+not+what+your+country+can+do")
    page.locator(".group", has_text="announcement").first.wait_for(timeout=20_000)


def test_empty_library_and_errors_are_explained(tmp_path: Path, offline_models: OfflineModels, page: Any) -> None:
    server = Server(tmp_path, offline_models)
    server.start()
    try:
        page.goto(f"{server.url}/library")
        page.wait_for_selector("#media .empty")
        assert "library is empty" in page.inner_text("#media")
        page.goto(f"{server.url}/watch/doesnotexist")
        page.wait_for_selector("#status.error")
        assert "no media" in page.inner_text("#status")
        page.goto(f"{server.url}/?q=anything")
        page.wait_for_selector("#results .empty")
    finally:
        server.stop()


def _jfk_path(site: Site) -> Path:
    with sqlite3.connect(Path(site.server.env["MOMENTS_DATA_DIR"]) / "catalog.sqlite3") as db:
        return Path(db.execute("SELECT path FROM media WHERE id = ?", (site.jfk_id,)).fetchone()[0])
