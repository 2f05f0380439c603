"""A hostile corpus against a running app: every door answers a 4xx with its reason (never a 5xx), keeps
nothing, reaches no canary, and holds its time cap; HEAD and odd Range headers get what RFC 9110 says.

Real parts throughout: the app factory with Whisper tiny.en, real HTTP servers on loopback addresses that
send slow, stalled and endless bodies, and a canary server that counts what reaches it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ingest.models import OfflineModels
from tests.api.conftest import make_settings, wait_for_job
from tests.conftest import ffmpeg
from tests.hostile_http import Site, serve

pytestmark = pytest.mark.slow

CAP_S = 4.0


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory, jfk_wav: Path) -> Iterator[tuple[Site, Site]]:
    with serve("127.0.0.2", jfk_wav) as site, serve("127.0.0.3") as canary:
        yield site, canary


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, offline_models: OfflineModels) -> Iterator[tuple[TestClient, Path]]:
    tmp = tmp_path_factory.mktemp("hostile")
    settings = make_settings(tmp, offline_models, url_timeout_s=CAP_S, url_max_bytes=4 * 1024 * 1024)
    with TestClient(create_app(settings)) as client:
        yield client, tmp


def _leftovers(tmp: Path) -> list[Path]:
    uploads = tmp / "data" / "uploads"
    return sorted(uploads.rglob("*")) if uploads.exists() else []


def _port(site: Site) -> str:
    return site.base.rsplit(":", 1)[1]


HOSTILE_URLS = [
    # malformed: 400 with the reason, never a 500
    ("http://127.0.0.1:99999/", "malformed"),
    ("http://127.0.0.1:-1/", "malformed"),
    ("http://127.0.0.1:+80/", "malformed"),
    ("http://127.0.0.1:80:80/", "malformed"),
    ("http://[::1/", "malformed"),
    ("http://" + "a" * 70 + ".example.org/", "malformed"),
    ("http://.../", "malformed"),
    # not http(s), credentials
    ("ftp://127.0.0.3/a.mp4", "only http and https"),
    ("file:///etc/passwd", "only http and https"),
    ("http://user:pw@127.0.0.3/a.mp4", "credentials"),
    # non-public, and the transition forms that embed a non-public IPv4 address
    ("http://127.0.0.3:{canary}/a.mp4", "non-public"),
    ("http://169.254.169.254/latest/meta-data/", "non-public"),
    ("http://[::ffff:127.0.0.3]:{canary}/", "non-public"),
    ("http://[2002:7f00:3::]:{canary}/", "non-public"),
    ("http://[64:ff9b::7f00:3]:{canary}/", "non-public"),
    ("http://[::127.0.0.3]:{canary}/", "non-public"),
    ("http://2130706435:{canary}/", "non-public"),  # 127.0.0.3 as one decimal number
]


@pytest.mark.parametrize(("url", "reason"), HOSTILE_URLS)
def test_hostile_urls_are_refused_at_the_door(
    app: tuple[TestClient, Path], sites: tuple[Site, Site], url: str, reason: str
) -> None:
    client, tmp = app
    _, canary = sites
    jobs_before = len(client.get("/api/jobs").json())
    r = client.post("/api/media", json={"url": url.format(canary=_port(canary))})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "url_refused" and reason in r.json()["error"]["message"]
    assert len(client.get("/api/jobs").json()) == jobs_before
    assert canary.seen.requests == [] and _leftovers(tmp) == []


@pytest.mark.parametrize(
    "path",
    [
        "n" * 600 + ".mp4",  # longer than the file system allows a name to be
        "d/" * 3000 + "x.mp4",
        "../../etc/passwd",
        "/proc/self/environ",
        "sub\0.mp4",
    ],
)
def test_hostile_paths_are_refused(app: tuple[TestClient, Path], path: str) -> None:
    client, _ = app
    r = client.post("/api/media", json={"path": path})
    assert r.status_code in (403, 422), r.text
    assert r.json()["error"]["message"]


@pytest.mark.parametrize("name", ["../../escape.wav", "a\\b\\..\\c.wav", "x" * 400 + ".wav", "<script>.wav"])
def test_hostile_upload_names_are_stored_safely(app: tuple[TestClient, Path], tone_wav: Path, name: str) -> None:
    client, tmp = app
    with tone_wav.open("rb") as f:
        r = client.post("/api/media", files={"file": (name, f, "audio/wav")})
    assert r.status_code == 202, r.text
    job = wait_for_job(client, r.json()["job_id"])
    assert job["status"] == "done"
    media = client.get(f"/api/media/{r.json()['media_id']}").json()
    assert "/" not in media["filename"] and "<" not in media["filename"] and len(media["filename"]) <= 120
    assert not (tmp / "escape.wav").exists() and not (tmp / "data" / "escape.wav").exists()
    assert _leftovers(tmp) == []


def test_an_upload_without_a_file_name_is_not_a_file(app: tuple[TestClient, Path], tone_wav: Path) -> None:
    client, tmp = app
    r = client.post("/api/media", files={"file": ("", tone_wav.read_bytes(), "audio/wav")})
    assert r.status_code == 422 and "needs a `file` field" in r.json()["error"]["message"]
    assert r.json()["error"]["code"] == "invalid_request"
    assert _leftovers(tmp) == []


@pytest.mark.parametrize("route", ["/slow", "/stall"])
def test_a_slow_or_stalled_body_is_cut_off_at_the_time_cap_without_holding_the_queue(
    app: tuple[TestClient, Path], sites: tuple[Site, Site], route: str
) -> None:
    client, tmp = app
    site, _ = sites
    started = time.monotonic()
    slow = client.post("/api/media", json={"url": f"{site.base}{route}"}).json()["job_id"]
    # Meanwhile a file that is here is transcribed: the download does not hold the queue.
    tone = tmp / "library" / f"tone{route.strip('/')}.wav"
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency={300 + len(route)}:duration=2", "-ar", "16000", str(tone))
    here = client.post("/api/media", json={"path": tone.name}).json()["job_id"]
    assert wait_for_job(client, here)["status"] == "done"
    assert client.get(f"/api/jobs/{slow}").json()["status"] == "running"
    job = wait_for_job(client, slow)
    took = time.monotonic() - started
    assert job["status"] == "failed" and f"longer than the {CAP_S:.0f} s cap" in str(job["error"])
    assert CAP_S <= took < CAP_S + 2.0
    assert _leftovers(tmp) == []


def test_an_endless_body_stops_at_the_byte_cap(app: tuple[TestClient, Path], sites: tuple[Site, Site]) -> None:
    client, tmp = app
    site, _ = sites
    job = wait_for_job(client, client.post("/api/media", json={"url": f"{site.base}/endless"}).json()["job_id"])
    assert job["status"] == "failed" and "byte cap" in str(job["error"])
    assert _leftovers(tmp) == []


def test_a_redirect_to_the_canary_is_refused(app: tuple[TestClient, Path], sites: tuple[Site, Site]) -> None:
    client, _ = app
    site, canary = sites
    r = client.post("/api/media", json={"url": f"{site.base}/redirect?to={canary.base}/secret"})
    job = wait_for_job(client, r.json()["job_id"])
    assert job["status"] == "failed" and "non-public" in str(job["error"])
    assert canary.seen.requests == []


@pytest.fixture(scope="module")
def jfk_id(app: tuple[TestClient, Path], jfk_wav: Path) -> str:
    client, _ = app
    with jfk_wav.open("rb") as f:
        r = client.post("/api/media", files={"file": ("jfk.wav", f, "audio/wav")})
    assert wait_for_job(client, r.json()["job_id"])["status"] == "done"
    media_id: str = r.json()["media_id"]
    return media_id


def test_head_answers_on_every_get_route(app: tuple[TestClient, Path], jfk_id: str, jfk_wav: Path) -> None:
    client, _ = app
    size = jfk_wav.stat().st_size
    stream = client.head(f"/api/media/{jfk_id}/stream")
    assert stream.status_code == 200 and stream.content == b""
    assert int(stream.headers["content-length"]) == size and stream.headers["accept-ranges"] == "bytes"
    for path in (
        "/api/health",
        "/api/ready",
        "/api/search?q=country",
        "/api/media",
        f"/api/media/{jfk_id}",
        f"/api/media/{jfk_id}/transcript?format=vtt",
        "/api/jobs",
        "/",
        "/library",
        f"/watch/{jfk_id}",
        "/static/search.js",
        "/openapi.json",
    ):
        head, get = client.head(path), client.get(path)
        assert head.status_code == get.status_code == 200, path
        assert head.content == b"" and head.headers.get("content-type") == get.headers.get("content-type"), path
    assert client.head("/api/media/nope/stream").status_code == 404
    assert client.head("/api/jobs/x/cancel").status_code == 405  # a POST-only route stays POST-only


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("bytes=5-3", 200),  # unreadable: ignored, the whole body (RFC 9110 section 14.2)
        ("items=0-1", 200),
        ("bytes=abc", 200),
        ("bytes=-", 200),
        ("bytes=0-9", 206),
        ("bytes=-10", 206),
        ("bytes=99999999-", 416),  # readable but unsatisfiable
    ],
)
def test_range_forms(app: tuple[TestClient, Path], jfk_id: str, jfk_wav: Path, value: str, status: int) -> None:
    client, _ = app
    data = jfk_wav.read_bytes()
    r = client.get(f"/api/media/{jfk_id}/stream", headers={"Range": value})
    assert r.status_code == status, (value, r.status_code)
    if status == 200:
        assert r.content == data
    if status == 206:
        assert len(r.content) == 10


def test_transcript_downloads_are_not_sniffed(app: tuple[TestClient, Path], jfk_id: str) -> None:
    client, _ = app
    for fmt in ("srt", "vtt", "txt", "json"):
        r = client.get(f"/api/media/{jfk_id}/transcript", params={"format": fmt})
        assert r.status_code == 200 and r.headers["x-content-type-options"] == "nosniff", fmt
