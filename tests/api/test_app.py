"""Every endpoint of the REST contract, through the app factory, with real models and stores."""

from __future__ import annotations

import http.server
import itertools
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.schemas import watch_url
from ingest.models import OfflineModels
from tests.api.conftest import make_settings, wait_for_job
from tests.conftest import ffmpeg

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, offline_models: OfflineModels) -> Iterator[tuple[TestClient, Path]]:
    tmp = tmp_path_factory.mktemp("app")
    settings = make_settings(tmp, offline_models)
    with TestClient(create_app(settings)) as client:
        yield client, tmp


@pytest.fixture(scope="module")
def client(env: tuple[TestClient, Path]) -> TestClient:
    return env[0]


@pytest.fixture(scope="module")
def jfk(client: TestClient, jfk_wav: Path) -> dict[str, object]:
    with jfk_wav.open("rb") as f:
        r = client.post("/api/media", files={"file": ("jfk speech.wav", f, "audio/wav")}, data={"title": "JFK"})
    assert r.status_code == 202, r.text
    accepted = r.json()
    job = wait_for_job(client, accepted["job_id"])
    assert job["status"] == "done", job
    assert job["media_id"] == accepted["media_id"] and job["progress"] == 1.0
    return accepted


def _uploads(tmp: Path) -> list[Path]:
    """What is left in the uploads folder: files and folders alike."""
    folder = tmp / "data" / "uploads"
    return sorted(folder.rglob("*")) if folder.exists() else []


def test_health_ready_and_docs(client: TestClient) -> None:
    assert client.get("/api/health").json() == {"status": "ok"}
    ready = client.get("/api/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    spec = client.get("/openapi.json").json()
    for path in (
        "/api/search",
        "/api/media",
        "/api/media/{media_id}",
        "/api/media/{media_id}/transcript",
        "/api/media/{media_id}/stream",
        "/api/jobs",
        "/api/jobs/{job_id}",
        "/api/jobs/{job_id}/cancel",
    ):
        assert path in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_upload_becomes_searchable(client: TestClient, jfk: dict[str, object]) -> None:
    r = client.get("/api/search", params={"q": "what you can do for your nation"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"query", "took_ms", "results"}
    top = body["results"][0]
    assert top["media_id"] == jfk["media_id"] and top["title"] == "JFK" and top["filename"] == "jfk speech.wav"
    assert top["kind"] == "audio" and top["url"] == watch_url(jfk["media_id"], top["start"])
    assert "country" in top["text"].lower()
    keyword = client.get("/api/search", params={"q": "country", "mode": "keyword"}).json()["results"][0]
    assert next(keyword["text"][s:e].lower() for s, e in keyword["highlights"]) == "country"


def test_search_validation(client: TestClient) -> None:
    for params in ({"q": ""}, {"q": "x", "limit": 0}, {"q": "x", "mode": "fuzzy"}, {"q": "x", "kind": "text"}):
        r = client.get("/api/search", params=params)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    r = client.get("/api/search", params={"q": "   "})
    assert r.status_code == 400 and "empty" in r.json()["error"]["message"]


def test_media_list_and_detail(client: TestClient, jfk: dict[str, object]) -> None:
    listed = client.get("/api/media").json()
    assert [m["id"] for m in listed] == [jfk["media_id"]]
    detail = client.get(f"/api/media/{jfk['media_id']}").json()
    assert detail["title"] == "JFK" and detail["kind"] == "audio" and 10.5 < detail["duration_s"] < 11.5
    assert detail["stream_url"] == f"/api/media/{jfk['media_id']}/stream"
    missing = client.get("/api/media/0000")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_transcript_formats(client: TestClient, jfk: dict[str, object]) -> None:
    base = f"/api/media/{jfk['media_id']}/transcript"
    segments = client.get(base).json()["segments"]
    assert "ask not what your country" in " ".join(s["text"] for s in segments).lower().replace(",", "")
    srt = client.get(base, params={"format": "srt"})
    assert srt.headers["content-type"].startswith("application/x-subrip") and srt.text.startswith("1\n00:00:0")
    # every segment carries its words, each inside it, in order, with a probability
    for seg in segments:
        words = seg["words"]
        assert set(words[0]) == {"start", "end", "word", "probability"}
        assert " ".join(w["word"] for w in words) == seg["text"]
        assert seg["start"] <= words[0]["start"] and words[-1]["end"] <= seg["end"]
        assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(words))
    # a word inside its cue (the first word of a cue starts with the cue and needs no timestamp)
    country = next(w for seg in segments for w in seg["words"][1:] if w["word"].lower().startswith("country"))
    vtt = client.get(base, params={"format": "vtt"})
    assert vtt.headers["content-type"].startswith("text/vtt") and vtt.text.startswith("WEBVTT")
    assert "<00:" not in vtt.text  # cues are segments, plain, unless word times are asked for
    timed = client.get(base, params={"format": "vtt", "words": "true"}).text
    stamp = f"{int(country['start'] // 60):02d}:{country['start'] % 60:06.3f}"
    assert f"<00:{stamp}>{country['word']}" in timed
    txt = client.get(base, params={"format": "txt"})
    assert "country" in txt.text and "-->" not in txt.text
    assert client.get(base, params={"format": "docx"}).status_code == 422


def test_speakers_are_named_and_the_names_are_found_in_transcripts_and_search(
    client: TestClient, jfk: dict[str, object]
) -> None:
    media = jfk["media_id"]
    base = f"/api/media/{media}"
    (only,) = client.get(f"{base}/speakers").json()["speakers"]  # one voice: one speaker
    assert only["id"] == "SPEAKER_1" and only["name"] is None and only["speaking_s"] > 6 and only["first_s"] < 1.5
    transcript = client.get(f"{base}/transcript").json()
    assert {s["speaker"] for s in transcript["segments"]} == {"SPEAKER_1"}
    assert [s["id"] for s in transcript["speakers"]] == ["SPEAKER_1"]

    for body in ({}, {"SPEAKER_7": "Nobody"}, {"speaker one": "x"}, {"SPEAKER_1": "x" * 81}, {"SPEAKER_1": "a\nb"}):
        r = client.patch(f"{base}/speakers", json=body)
        assert r.status_code == 422, (body, r.text)
    assert "SPEAKER_7" in client.patch(f"{base}/speakers", json={"SPEAKER_7": "Nobody"}).json()["error"]["message"]
    assert client.patch("/api/media/0123456789abcdef/speakers", json={"SPEAKER_1": "x"}).status_code == 404
    try:
        r = client.patch(f"{base}/speakers", json={"SPEAKER_1": "  John   Kennedy "})
        assert r.status_code == 200 and r.json()["speakers"][0]["name"] == "John Kennedy"
        assert "<v John Kennedy>" in client.get(f"{base}/transcript", params={"format": "vtt"}).text
        assert "\nJohn Kennedy: " in client.get(f"{base}/transcript", params={"format": "srt"}).text
        # the name in the query: what that speaker said
        asked = client.get("/api/search", params={"q": "what did John Kennedy say about the country"}).json()
        assert asked["speakers"] == ["John Kennedy"]
        top = asked["results"][0]
        assert (
            top["speaker"] == "John Kennedy" and top["speaker_id"] == "SPEAKER_1" and "country" in top["text"].lower()
        )
        # and as a filter, by name in any case or by label; a name nobody has finds nothing
        for who in ("john kennedy", "SPEAKER_1", f"{media}/SPEAKER_1"):
            found = client.get("/api/search", params={"q": "country", "speaker": who}).json()["results"]
            assert found and found[0]["speaker"] == "John Kennedy", who
        nobody = client.get("/api/search", params={"q": "country", "speaker": "Nobody"})
        assert nobody.status_code == 200 and nobody.json()["results"] == []
    finally:
        client.patch(f"{base}/speakers", json={"SPEAKER_1": None})
    assert client.get(f"{base}/speakers").json()["speakers"][0]["name"] is None


def test_chapters_as_json_and_as_a_webvtt_track(client: TestClient, jfk: dict[str, object]) -> None:
    base = f"/api/media/{jfk['media_id']}/chapters"
    data = client.get(base).json()
    assert data["media_id"] == jfk["media_id"]
    (only,) = data["chapters"]  # eleven seconds of one speech: one chapter, titled with its own words
    assert set(only) == {"id", "start", "end", "title"} and (only["id"], only["start"]) == (0, 0.0)
    assert "fellow americans" in only["title"].lower().replace(",", "")
    vtt = client.get(base, params={"format": "vtt"})
    assert vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.text.startswith("WEBVTT\n\nchapter-1\n00:00:00.000 --> ") and only["title"] in vtt.text
    assert client.get("/api/media/0123456789abcdef/chapters").status_code == 404
    assert client.get(base, params={"format": "srt"}).status_code == 422
    top = client.get("/api/search", params={"q": "ask not what your country can do"}).json()["results"][0]
    assert top["chapter"] == {"id": 0, "title": only["title"], "start": 0.0}


def test_stream_serves_bytes_with_ranges(client: TestClient, jfk: dict[str, object], jfk_wav: Path) -> None:
    data = jfk_wav.read_bytes()
    url = f"/api/media/{jfk['media_id']}/stream"
    full = client.get(url)
    assert full.status_code == 200 and full.content == data
    assert full.headers["content-type"] == "audio/wav"
    assert full.headers["x-content-type-options"] == "nosniff"
    assert full.headers["accept-ranges"] == "bytes"
    part = client.get(url, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == data[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
    tail = client.get(url, headers={"Range": "bytes=-500"})
    assert tail.status_code == 206 and tail.content == data[-500:]
    assert client.get(url, headers={"Range": f"bytes={len(data) + 10}-"}).status_code == 416


def test_jobs_list_detail_and_cancel_rules(client: TestClient, jfk: dict[str, object]) -> None:
    jobs = client.get("/api/jobs").json()
    assert (
        jobs[0]["id"] == jfk["job_id"] and jobs[0]["status"] == "done" and jobs[0]["source"] == "upload:jfk speech.wav"
    )
    assert client.get("/api/jobs/nope").status_code == 404
    r = client.post(f"/api/jobs/{jfk['job_id']}/cancel")
    assert r.status_code == 409 and "already done" in r.json()["error"]["message"]


def test_same_upload_twice_is_one_media_item(client: TestClient, jfk: dict[str, object], jfk_wav: Path) -> None:
    with jfk_wav.open("rb") as f:
        r = client.post("/api/media", files={"file": ("again.wav", f, "audio/wav")})
    assert r.status_code == 202 and r.json()["media_id"] == jfk["media_id"]
    assert wait_for_job(client, r.json()["job_id"])["status"] == "done"
    assert len(client.get("/api/media").json()) == 1


@pytest.mark.parametrize(
    ("name", "content", "status", "code"),
    [
        ("empty.mp4", b"", 422, "empty_media"),
        ("notes.mp4", b"Minutes of the meeting\n", 415, "unsupported_media"),
        ("corrupt.mp4", bytes(range(256)) * 40, 422, "corrupt_media"),
        ("list.mp4", b"#EXTM3U\n#EXTINF:3,\n/etc/passwd\n", 415, "unsupported_media"),
    ],
)
def test_bad_uploads_are_refused_and_nothing_is_kept(
    env: tuple[TestClient, Path], name: str, content: bytes, status: int, code: str
) -> None:
    client, tmp = env
    jobs_before = len(client.get("/api/jobs").json())
    r = client.post("/api/media", files={"file": (name, content, "video/mp4")})
    assert r.status_code == status and r.json()["error"]["code"] == code, r.text
    assert name in r.json()["error"]["message"]
    assert len(client.get("/api/jobs").json()) == jobs_before
    assert _uploads(tmp) == []


def test_oversize_body_is_refused_before_it_is_stored(env: tuple[TestClient, Path]) -> None:
    client, tmp = env
    big = os.urandom(9 * 1024 * 1024)
    r = client.post("/api/media", files={"file": ("big.mp4", big, "video/mp4")})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        for _ in range(10):
            yield os.urandom(1024 * 1024)

    r = client.post("/api/media", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert r.status_code == 413
    assert _uploads(tmp) == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/talk.mp4",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/a.mp4",
        "http://10.0.0.7/a.mp4",
        "ftp://example.org/a.mp4",
        "file:///etc/passwd",
        "http://user:pw@example.org/a.mp4",
    ],
)
def test_url_ingest_refuses_non_public_and_non_http(client: TestClient, url: str) -> None:
    r = client.post("/api/media", json={"url": url})
    assert r.status_code == 400 and r.json()["error"]["code"] == "url_refused", r.text


class _MediaServer(http.server.SimpleHTTPRequestHandler):
    redirect_to = ""

    def do_GET(self) -> None:
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", self.redirect_to)
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def media_server(jfk_wav: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real HTTP server on 127.0.0.2, the one private address the test settings allow."""
    root = tmp_path_factory.mktemp("www")
    (root / "jfk.wav").write_bytes(jfk_wav.read_bytes())

    def handler(*args: object) -> _MediaServer:
        return _MediaServer(*args, directory=str(root))  # type: ignore[arg-type]

    server = http.server.ThreadingHTTPServer(("127.0.0.2", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.2:{server.server_address[1]}"
    yield base
    server.shutdown()


def test_url_ingest_fetches_with_our_code(client: TestClient, media_server: str) -> None:
    r = client.post("/api/media", json={"url": f"{media_server}/jfk.wav", "title": "From the web"})
    assert r.status_code == 202 and r.json()["media_id"] is None
    job = wait_for_job(client, r.json()["job_id"])
    assert job["status"] == "done", job  # same bytes as the upload: the same media item


def test_url_redirect_to_a_private_address_is_refused(client: TestClient, media_server: str) -> None:
    with socket.socket() as s:  # a port that was free a moment ago, not one assumed to be closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _MediaServer.redirect_to = f"http://127.0.0.1:{port}/secret.mp4"
    r = client.post("/api/media", json={"url": f"{media_server}/redirect"})
    assert r.status_code == 202
    job = wait_for_job(client, r.json()["job_id"])
    assert job["status"] == "failed" and "non-public" in str(job["error"])
    _MediaServer.redirect_to = "http://169.254.169.254/latest/meta-data/"
    job = wait_for_job(client, client.post("/api/media", json={"url": f"{media_server}/redirect"}).json()["job_id"])
    assert job["status"] == "failed" and "169.254.169.254" in str(job["error"])


def test_path_ingest_only_inside_the_library(env: tuple[TestClient, Path], tone_wav: Path) -> None:
    client, tmp = env
    library = tmp / "library"
    outside = tmp / "outside.wav"
    outside.write_bytes(tone_wav.read_bytes())
    (library / "sub").mkdir(exist_ok=True)
    (library / "sub" / "link.wav").unlink(missing_ok=True)
    (library / "sub" / "link.wav").symlink_to(outside)
    for path in [
        "../outside.wav",
        str(outside),
        "sub/../../outside.wav",
        "sub/link.wav",
        str(library / "sub/link.wav"),
        "/etc/passwd",
    ]:
        r = client.post("/api/media", json={"path": path})
        assert r.status_code == 403 and r.json()["error"]["code"] == "path_refused", (path, r.text)
    inside = library / "tone.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:duration=2", "-ar", "16000", str(inside))
    r = client.post("/api/media", json={"path": "tone.wav"})
    assert r.status_code == 202 and r.json()["media_id"]
    assert wait_for_job(client, r.json()["job_id"])["status"] == "done"
    assert inside.exists()  # a library file is referenced, never moved


def test_json_body_must_name_exactly_one_source(client: TestClient) -> None:
    assert client.post("/api/media", json={}).status_code == 422
    assert client.post("/api/media", json={"url": "http://example.org/a.mp4", "path": "a.mp4"}).status_code == 422
    assert client.post("/api/media", content=b"x", headers={"Content-Type": "text/plain"}).status_code == 415


def test_cancel_a_running_job(client: TestClient, sample_talks: list[object]) -> None:
    talk = sample_talks[1]
    with open(talk.path, "rb") as f:  # type: ignore[attr-defined]
        r = client.post("/api/media", files={"file": ("podcast.mp3", f, "audio/mpeg")})
    job_id = r.json()["job_id"]
    wait_for_job(client, job_id, until=lambda j: j["stage"] == "transcribe")
    assert client.post(f"/api/jobs/{job_id}/cancel").json()["status"] == "canceled"
    job = wait_for_job(client, job_id)
    assert job["status"] == "canceled"
    assert client.get(f"/api/media/{r.json()['media_id']}").status_code == 404
    results = client.get("/api/search", params={"q": "sourdough starter", "mode": "keyword"}).json()["results"]
    assert all(m["media_id"] != r.json()["media_id"] for m in results)


def test_delete_media_removes_it_everywhere(env: tuple[TestClient, Path], tone_wav: Path) -> None:
    client, tmp = env
    with tone_wav.open("rb") as f:
        r = client.post("/api/media", files={"file": ("beep.wav", f, "audio/wav")})
    media_id = r.json()["media_id"]
    assert wait_for_job(client, r.json()["job_id"])["status"] == "done"
    kept = tmp / "data" / "media" / f"{media_id}.wav"
    assert kept.is_file() and _uploads(tmp) == []  # the upload moved in with the media; no folder left behind
    assert client.delete(f"/api/media/{media_id}").status_code == 204
    assert not kept.exists()
    assert client.get(f"/api/media/{media_id}").status_code == 404
    assert client.get(f"/api/media/{media_id}/stream").status_code == 404
    assert client.delete(f"/api/media/{media_id}").status_code == 404


def test_web_pages_are_served(client: TestClient) -> None:
    for path in ("/", "/watch/abc", "/library"):
        r = client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in r.headers["content-security-policy"]
    assert client.get("/static/search.js").status_code == 200


def test_auth_on_writes(tmp_path: Path, offline_models: OfflineModels, tone_wav: Path) -> None:
    settings = make_settings(tmp_path, offline_models, api_key="s3cret")
    with TestClient(create_app(settings, load_models=False)) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            with tone_wav.open("rb") as f:
                r = client.post("/api/media", files={"file": ("t.wav", f, "audio/wav")}, headers=headers)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
            assert client.delete("/api/media/x", headers=headers).status_code == 401
            assert client.post("/api/jobs/x/cancel", headers=headers).status_code == 401
            renamed = client.patch("/api/media/x/speakers", json={"SPEAKER_1": "Eve"}, headers=headers)
            assert renamed.status_code == 401
        assert _uploads(tmp_path) == []
        assert client.get("/api/media").status_code == 200  # reads stay open
        good = {"Authorization": "Bearer s3cret"}
        with tone_wav.open("rb") as f:
            r = client.post("/api/media", files={"file": ("t.wav", f, "audio/wav")}, headers=good)
        assert r.status_code == 202
        assert client.delete("/api/media/x", headers=good).status_code == 404
        assert client.patch("/api/media/x/speakers", json={"SPEAKER_1": "Eve"}, headers=good).status_code == 404


def test_unreachable_qdrant_server_serves_and_says_so(tmp_path: Path, offline_models: OfflineModels) -> None:
    """A Qdrant server that is down at start does not stop the app: health is up, readiness and search
    answer 503 with the reason, and nothing else breaks."""
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = make_settings(tmp_path, offline_models, qdrant_url=f"http://127.0.0.1:{port}")
    with TestClient(create_app(settings, load_models=False)) as client:
        assert client.get("/api/health").status_code == 200
        ready = client.get("/api/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["index"].startswith("unavailable")
        search = client.get("/api/search", params={"q": "anything"})
        assert search.status_code == 503
        assert search.json()["error"]["code"] == "index_unavailable"
        assert client.get("/").status_code == 200
