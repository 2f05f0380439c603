"""The URL door on real local HTTP servers: malformed and non-public URLs refused, the connection pinned
to the address that was checked, and the byte and wall-clock caps holding against hostile bodies."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.errors import FetchError, UrlRefusedError
from ingest.fetch import FetchPolicy, check_url, download, is_public_address
from tests.hostile_http import Site, serve

ALLOWED = FetchPolicy(allow_networks=("127.0.0.2/32",), timeout_s=3.0, max_bytes=4 * 1024 * 1024)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    media = tmp_path_factory.mktemp("www") / "media.wav"
    media.write_bytes(b"RIFF" + bytes(range(256)) * 64)
    with serve("127.0.0.2", media) as s:
        yield s


@pytest.fixture(scope="module")
def canary() -> Iterator[Site]:
    """Any request reaching this server is a door that did not hold."""
    with serve("127.0.0.3") as s:
        yield s


def _fetch(url: str, dest: Path, policy: FetchPolicy = ALLOWED, **kwargs: object) -> int:
    last = 0
    for received, _total in download(url, dest, policy, **kwargs):  # type: ignore[arg-type]
        last = received
    return last


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:99999/",
        "http://127.0.0.1:-1/",
        "http://127.0.0.1:+80/",
        "http://127.0.0.1:80:80/",
        "http://[::1/",
        "http://" + "a" * 70 + ".example.org/",
        "http://.../",
        "http://example.org:0/",
        "ftp://example.org/a.mp4",
        "file:///etc/passwd",
        "http://user:pw@example.org/a.mp4",
        "http:///nohost",
    ],
)
def test_malformed_urls_are_refused_with_a_reason(url: str) -> None:
    with pytest.raises(UrlRefusedError) as refused:
        check_url(url, FetchPolicy())
    assert str(refused.value)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("127.0.0.1", False),
        ("169.254.169.254", False),
        ("2606:4700:4700::1111", True),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped
        ("::ffff:8.8.8.8", True),
        ("::127.0.0.1", False),  # IPv4-compatible
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::", False),  # 6to4 of 169.254.169.254
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::a00:7", False),  # NAT64 of 10.0.0.7
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo, client 127.0.0.1
    ],
)
def test_transition_forms_carry_their_ipv4_address_through_the_door(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


def test_transition_form_literals_are_refused_without_a_request(canary: Site) -> None:
    for host in ("[2002:7f00:3::]", "[64:ff9b::7f00:3]", "[::ffff:127.0.0.3]"):
        with pytest.raises(UrlRefusedError, match="non-public"):
            check_url(f"http://{host}:{canary.base.rsplit(':', 1)[1]}/", FetchPolicy())
    assert canary.seen.requests == []


def test_the_connection_goes_to_the_checked_address(site: Site, canary: Site, tmp_path: Path) -> None:
    """A name answering an allowed address to the check and the canary's to a second lookup (DNS
    rebinding) is fetched from the checked address: it is looked up once per hop, and the Host header and
    TLS name keep the name."""
    port = site.base.rsplit(":", 1)[1]
    answers = iter([["127.0.0.2"], ["127.0.0.3"], ["127.0.0.3"]])

    def rebinding(host: str, _port: int) -> list[str]:
        assert host == "media.test"
        return next(answers)

    received = _fetch(f"http://media.test:{port}/media.wav", tmp_path / "a.wav", resolve=rebinding)
    assert received == (tmp_path / "a.wav").stat().st_size > 0
    assert site.seen.requests[-1] == ("/media.wav", f"media.test:{port}")
    assert canary.seen.requests == []


def test_a_redirect_hop_is_checked_and_pinned_too(site: Site, canary: Site, tmp_path: Path) -> None:
    with pytest.raises(UrlRefusedError, match=r"127\.0\.0\.3"):
        _fetch(f"{site.base}/redirect?to={canary.base}/secret", tmp_path / "b.wav")
    assert canary.seen.requests == []
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("route", ["/slow", "/stall"])
def test_the_time_cap_is_wall_clock_for_the_whole_download(site: Site, tmp_path: Path, route: str) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match="longer than the 3 s cap"):
        _fetch(f"{site.base}{route}", tmp_path / "c.mp4")
    assert 3.0 <= time.monotonic() - started < 5.0
    assert not list(tmp_path.iterdir())  # no partial file


def test_the_byte_cap_holds_for_an_endless_body(site: Site, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="larger than the 4194304-byte cap"):
        _fetch(f"{site.base}/endless", tmp_path / "d.mp4")
    assert not list(tmp_path.iterdir())


def test_closing_the_download_stops_it_and_leaves_nothing(site: Site, tmp_path: Path) -> None:
    progress = download(f"{site.base}/endless", tmp_path / "e.mp4", ALLOWED)
    next(progress)
    progress.close()
    assert not list(tmp_path.iterdir())
