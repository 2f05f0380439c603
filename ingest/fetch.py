"""Fetching media from a URL, by our own code (never by ffmpeg or transformers), safely.

Only http(s); the host is resolved and every address must be public (no loopback, private, link-local,
metadata, multicast or reserved ranges) unless configuration allows a network; redirects are followed
by hand, re-checking each hop; the body streams to disk under a byte cap and a time cap.

:func:`download` is a generator of progress: the caller drives the loop, reports progress and stops it
(closing the generator) when the job is canceled; the partial file is removed whatever happens.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from ingest.errors import FetchError, UrlRefusedError

__all__ = ["FetchPolicy", "check_url", "download"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]


@dataclass(frozen=True)
class FetchPolicy:
    max_bytes: int = 2 * 1024**3
    timeout_s: float = 600.0
    max_redirects: int = 5
    allow_networks: tuple[str, ...] = ()  # CIDRs allowed even though private (an intranet media server)


def _system_resolver(host: str, port: int) -> list[str]:
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})


def _is_public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def check_url(url: str, policy: FetchPolicy, resolve: Resolver = _system_resolver) -> None:
    """Raise UrlRefusedError unless ``url`` is http(s) and its host resolves only to allowed addresses."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UrlRefusedError(f"only http and https URLs can be ingested, not {parts.scheme or 'no scheme'!r}")
    if not parts.hostname:
        raise UrlRefusedError("the URL has no host")
    if parts.username or parts.password:
        raise UrlRefusedError("URLs with credentials are refused")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolve(parts.hostname, port)
    except OSError as exc:
        raise FetchError(f"cannot resolve {parts.hostname}: {exc}") from exc
    allowed = [ipaddress.ip_network(n, strict=False) for n in policy.allow_networks]
    for raw in addresses:
        ip = ipaddress.ip_address(raw.split("%")[0])
        if not _is_public(ip) and not any(ip in net for net in allowed):
            raise UrlRefusedError(f"{parts.hostname} resolves to {ip}, a non-public address; refused")
    if not addresses:
        raise FetchError(f"{parts.hostname} has no addresses")


def download(
    url: str, dest: Path, policy: FetchPolicy, *, resolve: Resolver = _system_resolver
) -> Generator[tuple[int, int | None], None, None]:
    """Download ``url`` to ``dest``, yielding (bytes received, total bytes if known) as it goes.

    The body is written to a ``.partial`` file that becomes ``dest`` only when complete; if the loop
    ends early (an error, or the caller closing the generator) nothing is left behind.
    """
    import httpx

    deadline = time.monotonic() + policy.timeout_s
    current = url
    tmp = dest.with_name(dest.name + ".partial")
    try:
        with httpx.Client(follow_redirects=False, timeout=min(30.0, policy.timeout_s), trust_env=False) as client:
            for _ in range(policy.max_redirects + 1):
                check_url(current, policy, resolve)
                with client.stream("GET", current) as response:
                    if response.is_redirect:
                        location = response.headers.get("location")
                        if not location:
                            raise FetchError("a redirect without a Location header")
                        current = urljoin(current, location)
                        continue
                    if response.status_code >= 400:
                        raise FetchError(f"{current} answered HTTP {response.status_code}")
                    length = response.headers.get("content-length")
                    total = int(length) if length and length.isdigit() else None
                    if total is not None and total > policy.max_bytes:
                        raise FetchError(f"{current} is {total} bytes, over the {policy.max_bytes}-byte cap")
                    received = 0
                    with tmp.open("wb") as f:
                        for chunk in response.iter_bytes(1 << 16):
                            received += len(chunk)
                            if received > policy.max_bytes:
                                raise FetchError(f"{current} is larger than the {policy.max_bytes}-byte cap")
                            if time.monotonic() > deadline:
                                raise FetchError(f"{current} took longer than {policy.timeout_s:.0f} s")
                            f.write(chunk)
                            yield received, total
                    tmp.rename(dest)
                    return
            raise FetchError(f"more than {policy.max_redirects} redirects")
    except httpx.HTTPError as exc:
        raise FetchError(f"cannot fetch {current}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
