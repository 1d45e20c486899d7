"""One bounded HTTP GET for everything briefbot downloads: URLs given to `ingest`, feeds,
and the article pages behind feed teasers.

The bounds live here, so no caller can forget one (`FetchLimits`):

- a connect timeout, and a read timeout on every wait for bytes;
- a total deadline over the whole fetch, redirects included, enforced on every receive
  (a read may wait only for what is left of it), so a server that trickles a byte at a
  time cannot hold a fetch open;
- a cap on the bytes read, and another on what gzip/deflate inflate to;
- a limit on redirects, each hop's URL shown to the caller's `check_url` hook first.

The addresses are checked here too (`retrieval.addresses` judges them), since the URLs
come from people (`sources add`, `ingest URL`, a Discord admin) and from feeds (every
entry's link): unless the operator sets `[fetch] allow_private = true`, every hop's host
is resolved once, every address it resolves to must be public unicast, and the
connection goes to one of those checked addresses (the name stays in the Host header and
TLS SNI). A second lookup at connect time would let DNS rebinding swap in an internal
address after the check.

http.client is used directly rather than urllib: urllib's redirect handler reads every
redirect body whole, and neither offers a deadline over a whole response.
"""

from __future__ import annotations

import email.utils
import functools
import http.client
import io
import socket
import ssl
import string
import time
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import SplitResult, quote, urljoin, urlsplit, urlunsplit

from .addresses import SockAddr, address_of, numeric_addresses, refusal
from .errors import BriefbotError

USER_AGENT = "briefbot/0.1 (+https://github.com/briefbot)"
REDIRECTS = frozenset({301, 302, 303, 307, 308})
DEFAULT_PORTS = {"http": 80, "https": 443}
CHUNK = 64 * 1024
# A request target is sent as it is but for spaces, control characters and the non-ASCII
# letters some feeds put in their links, which are percent-escaped (as browsers do).
TARGET_SAFE = string.punctuation
ALLOW_HINT = "set [fetch] allow_private = true for local feeds"


@dataclass(frozen=True)
class FetchLimits:
    """How long and how much one fetch may take; times in seconds, sizes in bytes."""

    connect_timeout: float = 20.0
    read_timeout: float = 20.0  # the longest wait for any one read
    deadline: float = 60.0  # the whole fetch, every redirect hop included
    max_bytes: int = 10 * 2**20  # read from the network (compressed, if it is)
    max_decoded: int = 50 * 2**20  # after gzip/deflate
    max_redirects: int = 5

    @classmethod
    def from_timeout(cls, timeout: float) -> FetchLimits:
        """Connect and read within `timeout` each, the whole fetch within three times it."""
        return cls(connect_timeout=timeout, read_timeout=timeout, deadline=3 * timeout)


@dataclass(frozen=True)
class Response:
    url: str  # after redirects
    status: int  # 2xx, or 304 when a conditional GET found nothing new
    headers: http.client.HTTPMessage
    body: bytes  # gzip/deflate already undone
    retry_after: float | None = None  # seconds, when the server sent Retry-After


class FetchError(BriefbotError):
    """A fetch failed, or what it fetched is unusable; the message is one line for the user
    ("HTTP 503 Service Unavailable", "timed out after 10 s"), shown as a feed's status."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status, when the server answered
        self.retry_after = retry_after  # seconds the server asked us to wait (429, 503)


class RefusedURL(FetchError):
    """A URL briefbot will not fetch: not http(s), or a host that is (or resolves to) a
    loopback, private, link-local or other non-public address while `[fetch]
    allow_private` is false. The message names the URL, the address and the setting."""


def fetch(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    limits: FetchLimits | None = None,
    check_url: Callable[[str], None] | None = None,
    allow_private: bool = False,
) -> Response:
    """GET `url` within `limits`, following redirects.

    Returns 2xx responses, and a 304 (empty body) for a conditional GET; raises
    `FetchError` for anything else, with the status and Retry-After when the server
    answered. `check_url` sees every hop's URL, the first included, before it is
    requested, and raises `FetchError` to refuse it. Every hop whose host is not public
    raises `RefusedURL` before anything is sent, unless `allow_private` (see the module
    docstring).
    """
    limits = limits or FetchLimits()
    deadline = time.monotonic() + limits.deadline
    sent = {
        "User-Agent": USER_AGENT,
        "Accept-Encoding": "gzip, deflate",
        "Connection": "close",  # one request per connection: nothing is pooled
        **(headers or {}),
    }
    for hop in range(limits.max_redirects + 1):
        parts = _http_url(url)
        if check_url is not None:
            check_url(url)
        shown = f"redirect to {url[:200]}" if hop else url[:200]
        try:
            result = _exchange(parts, sent, limits, deadline, allow_private, shown)
        except _DeadlinePassed:
            raise FetchError(
                f"timed out (no whole response within {limits.deadline:g} s)"
            ) from None
        except TimeoutError:
            raise FetchError(f"timed out after {limits.read_timeout:g} s") from None
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError(_reason(exc)) from None
        if isinstance(result, Response):
            return replace(result, url=url)
        try:
            url = urljoin(url, result)
        except ValueError:  # Location: http://[::1/x (found by bench/fuzz.py --kinds http)
            raise FetchError(f"a redirect to an unreadable URL: {result[:200]}") from None
    raise FetchError(f"too many redirects (more than {limits.max_redirects})")


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date); None when
    absent or unreadable, 0 for a date already past."""
    text = (value or "").strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def guard_url(url: str, *, allow_private: bool = False, lookup: bool = True) -> None:
    """Raise `RefusedURL` unless `url` is an http(s) URL `fetch` would request.

    For an early, clear answer where a URL is typed (`fetch` checks again at every hop,
    so this is never the only guard). `lookup=False` checks only what needs no DNS: IP
    literals in any spelling the resolver accepts (`127.1`, `0x7f000001`, `2130706433`,
    `[::ffff:127.0.0.1]`) and localhost names; a name is checked when it is fetched.
    """
    parts = _http_url(url)
    if allow_private:
        return
    host = parts.hostname or ""
    _check_literal(host, url[:200])
    if lookup:
        try:
            found = resolve(host, parts.port or DEFAULT_PORTS[parts.scheme.lower()])
        except (OSError, UnicodeError):
            return  # an unknown or malformed host is the fetch's to report, as for any URL
        _check_resolved(host, found, url[:200])


def resolve(host: str, port: int) -> list[tuple[int, SockAddr]]:
    """Every (family, sockaddr) `host` resolves to for TCP: the one lookup per hop, whose
    answers are checked and then connected to (tests replace it with a fake resolver)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys((family, sockaddr) for family, _, _, _, sockaddr in infos))


def _refused(shown: str, why: str) -> RefusedURL:
    return RefusedURL(f"refused {shown}: {why} ({ALLOW_HINT})")


def _check_literal(host: str, shown: str) -> None:
    """Refuse localhost names and non-public IP literals, without DNS."""
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):  # RFC 6761: always loopback
        raise _refused(shown, f"{host} is a loopback name")
    for ip in numeric_addresses(name):
        if why := refusal(ip):
            raise _refused(shown, f"{host} is {why}")


def _check_resolved(host: str, found: list[tuple[int, SockAddr]], shown: str) -> None:
    """Refuse unless every address `host` resolved to is public: one internal answer
    among public ones is a misconfiguration or an attack either way."""
    for _, sockaddr in found:
        ip = address_of(sockaddr)
        if why := refusal(ip):
            said = f"{host} is {why}" if str(ip) == host else f"{host} resolves to {ip}, {why}"
            raise _refused(shown, said)


def _http_url(url: str) -> SplitResult:
    try:
        parts = urlsplit(url.strip())
        _ = parts.port  # raises ValueError for a malformed port
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in DEFAULT_PORTS or not parts.hostname:
        raise RefusedURL(f"not an http(s) URL: {url[:200]}")
    return parts


def _exchange(
    parts: SplitResult,
    headers: dict[str, str],
    limits: FetchLimits,
    deadline: float,
    allow_private: bool,
    shown: str,
) -> Response | str:
    """One request and its response: the `Response`, or where a redirect points.

    Through a proxy (the operator's choice, so its own address is trusted) the proxy
    resolves the name: only what needs no DNS is checked here, and the proxy must refuse
    internal addresses itself. Otherwise the host is resolved once and connected to as
    checked.
    """
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    proxy = _proxy(scheme, host)
    if not allow_private:
        _check_literal(host, shown)
    found: list[tuple[int, SockAddr]] = []
    if proxy is None:
        try:
            found = resolve(host, parts.port or DEFAULT_PORTS[scheme])
        except UnicodeError:  # a label IDNA cannot encode (empty, over 63 characters)
            raise FetchError(f"invalid host name: {host[:100]}") from None
        if not allow_private:
            _check_resolved(host, found, shown)
    conn, sock = _connect(parts, proxy, found, limits, deadline)
    response = None
    try:
        target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        if proxy and scheme == "http":  # an http proxy is asked for the absolute URL
            target = urlunsplit((scheme, parts.netloc, target, "", ""))
        conn.request("GET", quote(target, safe=TARGET_SAFE), headers=headers)
        response = conn.getresponse()
        location = response.getheader("Location")
        if response.status in REDIRECTS and location:
            return location.strip()
        wait = retry_after(response.getheader("Retry-After"))
        if response.status == 304:
            return Response("", 304, response.headers, b"", wait)
        if not 200 <= response.status < 300:
            status = f"HTTP {response.status} {response.reason}".strip()
            raise FetchError(status, status=response.status, retry_after=wait)
        return Response("", response.status, response.headers, _body(response, limits), wait)
    finally:
        if response is not None:
            response.close()
        conn.close()
        sock.close()


def _connect(
    parts: SplitResult,
    proxy: tuple[str, int] | None,
    found: list[tuple[int, SockAddr]],
    limits: FetchLimits,
    deadline: float,
) -> tuple[http.client.HTTPConnection, socket.socket]:
    """A connection to one of the `found` addresses, or through `proxy`, with every read
    timed. The TCP connect and a TLS handshake are bounded by the connect timeout per wait.

    Without a proxy the socket is opened here, to an address already checked, and handed
    to http.client, which would otherwise resolve the host name again.
    """
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    port = parts.port or DEFAULT_PORTS[scheme]
    timeout = max(0.001, min(limits.connect_timeout, deadline - time.monotonic()))
    conn: http.client.HTTPConnection
    if scheme == "https":
        conn = http.client.HTTPSConnection(
            *(proxy or (host, port)), timeout=timeout, context=_tls()
        )
    else:
        conn = http.client.HTTPConnection(*(proxy or (host, port)), timeout=timeout)
    if proxy and scheme == "https":
        conn.set_tunnel(host, port)
    try:
        if proxy:
            conn.connect()
        else:
            conn.sock = _open(found, timeout)
            if scheme == "https":  # SNI and the certificate check use the name, not the IP
                conn.sock = _tls().wrap_socket(conn.sock, server_hostname=host)
    except TimeoutError:
        conn.close()
        raise FetchError(f"timed out after {limits.connect_timeout:g} s (connecting)") from None
    except BaseException:
        conn.close()
        raise
    sock = conn.sock
    conn.sock = _TimedSocket(sock, limits.read_timeout, deadline)
    return conn, sock


def _open(found: list[tuple[int, SockAddr]], timeout: float) -> socket.socket:
    """A TCP connection to the first of `found` that answers (as socket.create_connection
    tries each address, but never looking the name up again)."""
    error: OSError = OSError("no address to connect to")
    for family, sockaddr in found:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:  # a timeout included: the next address may answer
            sock.close()
            error = exc
    raise error


@functools.cache
def _tls() -> ssl.SSLContext:
    """The default verifying context, as http.client builds it (HTTP/1.1 by ALPN)."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


def _proxy(scheme: str, host: str) -> tuple[str, int] | None:
    """The proxy the environment names for `scheme` (http_proxy, https_proxy, no_proxy),
    read as urllib reads it."""
    url = urllib.request.getproxies().get(scheme)
    if not url or urllib.request.proxy_bypass(host):
        return None
    parts = urlsplit(url if "://" in url else f"http://{url}")
    return (parts.hostname, parts.port or 80) if parts.hostname else None


class _DeadlinePassed(TimeoutError):
    pass


class _TimedSocket:
    """A connected socket whose every receive waits at most the read timeout and never past
    the deadline. http.client reads status line, headers and body through `makefile`."""

    def __init__(self, sock: socket.socket, read_timeout: float, deadline: float) -> None:
        self._sock, self._read_timeout, self._deadline = sock, read_timeout, deadline

    def _arm(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise _DeadlinePassed
        self._sock.settimeout(min(self._read_timeout, left))

    def recv_into(self, buffer: memoryview) -> int:
        self._arm()
        try:
            return self._sock.recv_into(buffer)
        except TimeoutError:
            if time.monotonic() >= self._deadline:
                raise _DeadlinePassed from None
            raise

    def sendall(self, data: bytes) -> None:
        self._arm()
        self._sock.sendall(data)

    def makefile(self, mode: str = "rb", *args: object, **kwargs: object) -> io.BufferedReader:
        return io.BufferedReader(_TimedReader(self))

    def close(self) -> None:
        """A no-op: http.client closes the connection before its response is read, so the
        socket is closed by `_exchange` once the response is done with."""

    def __getattr__(self, name: str) -> object:
        return getattr(self._sock, name)


class _TimedReader(io.RawIOBase):
    def __init__(self, sock: _TimedSocket) -> None:
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        return self._sock.recv_into(buffer)


def _body(response: http.client.HTTPResponse, limits: FetchLimits) -> bytes:
    """The body within `max_bytes` read and `max_decoded` after gzip/deflate."""
    length = response.getheader("Content-Length", "")
    if length.isdigit() and int(length) > limits.max_bytes:
        raise FetchError(f"response larger than {_size(limits.max_bytes)} ({_size(int(length))})")
    coding = (response.getheader("Content-Encoding") or "identity").strip().lower()
    if coding not in ("identity", "gzip", "x-gzip", "deflate"):
        raise FetchError(f"unsupported Content-Encoding: {coding[:40]}")
    # 32 + MAX_WBITS: a gzip or a zlib header, whichever comes (RFC 9110's "deflate" is zlib).
    inflate = zlib.decompressobj(32 + zlib.MAX_WBITS) if coding != "identity" else None
    out, read = bytearray(), 0
    try:
        while chunk := response.read(CHUNK):
            read += len(chunk)
            if read > limits.max_bytes:
                raise FetchError(f"response larger than {_size(limits.max_bytes)}")
            if inflate is None:
                out += chunk
                continue
            while chunk:  # inflate no more than one byte past the cap, however dense
                out += inflate.decompress(chunk, limits.max_decoded + 1 - len(out))
                if len(out) > limits.max_decoded:
                    raise FetchError(f"response inflates past {_size(limits.max_decoded)}")
                chunk = inflate.unconsumed_tail
        if inflate is not None:
            out += inflate.flush()
    except zlib.error as exc:
        raise FetchError(f"response is not valid {coding} data ({exc})") from None
    if len(out) > limits.max_decoded:
        raise FetchError(f"response inflates past {_size(limits.max_decoded)}")
    return bytes(out)


def _size(n: int) -> str:
    return f"{n / 2**20:g} MB" if n >= 2**20 else f"{n / 2**10:g} KB"


def _reason(exc: BaseException) -> str:
    """One line for a network failure."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, http.client.HTTPException):
        return f"bad HTTP response ({type(exc).__name__})"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
