"""Fetching media from a URL, by our own code (never by ffmpeg or transformers), safely.

- Only http(s), no credentials, a well-formed host and port; anything else is refused (UrlRefusedError).
- The host is resolved and every address must be public: no loopback, private, link-local, metadata,
  multicast or reserved ranges, and no transition form (IPv4-mapped or -compatible, 6to4, Teredo, NAT64)
  that embeds such an IPv4 address, unless configuration allows the network.
- The connection goes to the very address that was checked (the Host header and the TLS server name keep
  the name), so a name that answers a public address to the check and a private one to the connect (DNS
  rebinding) gets nowhere. Redirects are followed by hand, each hop checked and pinned the same way.
- The body streams to a ``.partial`` file under a byte cap and a wall-clock cap for the whole download: a
  server that sends a byte a second, or headers and then nothing, is cut off when the cap runs out.

:func:`download` is a generator of progress: the caller drives the loop, reports progress and stops it
(closing the generator) when the job is canceled; the partial file is removed whatever happens.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

from ingest.errors import FetchError, UrlRefusedError

__all__ = ["FetchPolicy", "check_url", "download", "is_public_address"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


@dataclass(frozen=True)
class FetchPolicy:
    max_bytes: int = 2 * 1024**3
    timeout_s: float = 600.0  # the whole download, wall clock
    max_redirects: int = 5
    allow_networks: tuple[str, ...] = ()  # CIDRs allowed even though private (an intranet media server)


@dataclass(frozen=True)
class _Target:
    """One hop: the URL as given, and the checked address to connect to."""

    url: str
    parts: SplitResult
    host: str
    port: int
    address: str


def _system_resolver(host: str, port: int) -> list[str]:
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 transition form carries, if it is one."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's address (the server's is public by construction)
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # IPv4-compatible ::a.b.c.d (deprecated, still routed by some)
        return ipaddress.IPv4Address(int(ip))
    return None


def is_public_address(ip: IPAddress) -> bool:
    """A globally routable unicast address, and for a transition form, its embedded IPv4 address too."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None and not is_public_address(inner):
            return False
        if ip.ipv4_mapped is not None:
            return True
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def _parse(url: str) -> tuple[SplitResult, str, int]:
    """Scheme, host and port of a URL we may fetch, or UrlRefusedError saying what is wrong with it."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port_text = parts.netloc.rpartition("]")[2].rpartition("@")[2].partition(":")[2]
        port = parts.port
    except ValueError as exc:  # "http://[::1", ":99999", "80:80" ...
        raise UrlRefusedError(f"a malformed URL ({exc})") from exc
    if parts.scheme not in ("http", "https"):
        raise UrlRefusedError(f"only http and https URLs can be ingested, not {parts.scheme or 'no scheme'!r}")
    if not host:
        raise UrlRefusedError("the URL has no host")
    if parts.username or parts.password:
        raise UrlRefusedError("URLs with credentials are refused")
    if port_text and not port_text.isdigit():  # ":+80", ":-1": Python reads some of these as numbers
        raise UrlRefusedError(f"a malformed URL (port {port_text!r})")
    if port == 0:
        raise UrlRefusedError("a malformed URL (port 0)")
    try:
        host.encode("idna")  # labels over 63 characters, empty labels ("..."): not a host name
    except UnicodeError as exc:
        raise UrlRefusedError(f"a malformed URL (host {host[:80]!r}: {exc})") from exc
    return parts, host, port or (443 if parts.scheme == "https" else 80)


def _check(url: str, policy: FetchPolicy, resolve: Resolver) -> _Target:
    parts, host, port = _parse(url)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise FetchError(f"cannot resolve {host}: {exc}") from exc
    if not addresses:
        raise FetchError(f"{host} has no addresses")
    allowed = [ipaddress.ip_network(n, strict=False) for n in policy.allow_networks]
    for raw in addresses:
        ip = ipaddress.ip_address(raw.split("%")[0])
        if not is_public_address(ip) and not any(ip in net for net in allowed):
            raise UrlRefusedError(f"{host} resolves to {ip}, a non-public address; refused")
    return _Target(url, parts, host, port, addresses[0].split("%")[0])


def check_url(url: str, policy: FetchPolicy, resolve: Resolver = _system_resolver) -> None:
    """Raise UrlRefusedError unless ``url`` is well-formed http(s) whose host resolves only to allowed
    addresses (FetchError if it does not resolve)."""
    _check(url, policy, resolve)


def _pinned(target: _Target) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The request for one hop: the URL with the checked address in place of the name, the Host header,
    and the TLS server name, so the certificate is still checked against the name."""
    ip = ipaddress.ip_address(target.address)
    netloc = f"[{ip}]" if ip.version == 6 else str(ip)
    default = 443 if target.parts.scheme == "https" else 80
    if target.port != default:
        netloc += f":{target.port}"
    url = target.parts._replace(netloc=netloc).geturl()
    host_header = target.host if target.port == default else f"{target.host}:{target.port}"
    if ":" in target.host:  # an IPv6 literal keeps its brackets in the Host header
        host_header = f"[{target.host}]" + ("" if target.port == default else f":{target.port}")
    # identity: the bytes on disk are the file itself, never a compressed transfer of it
    return url, {"Host": host_header, "Accept-Encoding": "identity"}, {"sni_hostname": target.host}


class _Deadline:
    """Ends a download at a wall-clock deadline, even while a read is blocked: a timer shuts the socket
    down, which wakes the read, and the reader sees ``expired``."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.expired = False
        self._timer: threading.Timer | None = None

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def guard(self, response: Any) -> None:
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is None:
            return

        def cut() -> None:
            self.expired = True
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

        self.cancel()
        self._timer = threading.Timer(self.remaining(), cut)
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def download(
    url: str, dest: Path, policy: FetchPolicy, *, resolve: Resolver = _system_resolver
) -> Generator[tuple[int, int | None], None, None]:
    """Download ``url`` to ``dest``, yielding (bytes received, total bytes if known) as it goes.

    The body is written to a ``.partial`` file that becomes ``dest`` only when complete; if the loop
    ends early (an error, the time cap, or the caller closing the generator) nothing is left behind.
    """
    import httpx

    deadline = _Deadline(policy.timeout_s)
    too_slow = f"took longer than the {policy.timeout_s:.0f} s cap (MOMENTS_URL_TIMEOUT_S)"
    current = url
    tmp = dest.with_name(dest.name + ".partial")
    timeout = httpx.Timeout(min(30.0, policy.timeout_s), connect=min(10.0, policy.timeout_s))
    try:
        with httpx.Client(follow_redirects=False, timeout=timeout, trust_env=False) as client:
            for _ in range(policy.max_redirects + 1):
                target = _check(current, policy, resolve)
                pinned_url, headers, extensions = _pinned(target)
                if deadline.remaining() <= 0:
                    raise FetchError(f"{current} {too_slow}")
                request = client.build_request("GET", pinned_url, headers=headers, extensions=extensions)
                response = client.send(request, stream=True)
                try:
                    deadline.guard(response)
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
                        for chunk in response.iter_raw():  # each read as it arrives: the cap is checked often
                            received += len(chunk)
                            if received > policy.max_bytes:
                                raise FetchError(f"{current} is larger than the {policy.max_bytes}-byte cap")
                            if deadline.expired or deadline.remaining() <= 0:
                                raise FetchError(f"{current} {too_slow}")
                            f.write(chunk)
                            yield received, total
                    if deadline.expired:
                        raise FetchError(f"{current} {too_slow}")
                    tmp.rename(dest)
                    return
                finally:
                    deadline.cancel()
                    response.close()
            raise FetchError(f"more than {policy.max_redirects} redirects")
    except httpx.HTTPError as exc:
        if deadline.expired:
            raise FetchError(f"{current} {too_slow}") from exc
        raise FetchError(f"cannot fetch {current}: {exc}") from exc
    finally:
        deadline.cancel()
        tmp.unlink(missing_ok=True)
