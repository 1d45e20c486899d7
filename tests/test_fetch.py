"""The one HTTP fetcher against hostile servers on 127.0.0.1 (never the network)."""

from __future__ import annotations

import gzip
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import BinaryIO

import pytest

from retrieval.fetch import USER_AGENT, FetchError, FetchLimits, fetch, retry_after
from retrieval.loaders import Skipped, load_url

from .test_feeds import FeedServer, Route
from .test_feeds import _no_proxy as _no_proxy  # autouse here too

# The hostile servers listen on loopback, so every fetch of them opts in with
# allow_private=True, as an operator with local feeds would (tests/test_ssrf.py: the refusal).
LIMITS = FetchLimits(
    connect_timeout=2.0,
    read_timeout=2.0,
    deadline=0.6,
    max_bytes=256 * 2**10,
    max_decoded=2**20,
    max_redirects=3,
)
STORY = b"<html><body><p>Customs officials inspected every container.</p></body></html>"
OK_HEAD = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n"


def trickle_body(out: BinaryIO, release: threading.Event) -> None:
    """Headers at once, then a byte every 50 ms, for ever: no single read ever times out."""
    out.write(OK_HEAD)
    out.flush()
    while not release.wait(0.05):
        out.write(b"x")
        out.flush()


def trickle_headers(out: BinaryIO, release: threading.Event) -> None:
    out.write(b"HTTP/1.0 200 OK\r\n")
    while not release.wait(0.05):
        out.write(b"X-Padding: y\r\n"[:1])
        out.flush()


def stall_body(out: BinaryIO, release: threading.Event) -> None:
    """A byte, then silence: only a read timeout shrunk to the deadline ends the wait early."""
    out.write(OK_HEAD + b"x")
    out.flush()
    release.wait()


def endless_body(out: BinaryIO, release: threading.Event) -> None:
    out.write(OK_HEAD)
    while not release.is_set():
        out.write(b"x" * 2**16)


def bomb(compress: Callable[[bytes], bytes]) -> bytes:
    return compress(b"\0" * 16 * 2**20)  # 16 MB of zeros in a few KB


@pytest.fixture
def hostile() -> Iterator[FeedServer]:
    srv = FeedServer()
    routes = srv.routes
    routes["/story"] = Route(STORY, headers={"Content-Type": "text/html"})
    routes["/trickle-body"] = Route(write=trickle_body)
    routes["/trickle-headers"] = Route(write=trickle_headers)
    routes["/stall-body"] = Route(write=stall_body)
    routes["/endless"] = Route(write=endless_body)
    routes["/too-long"] = Route(b"x" * 300 * 2**10)
    routes["/gzip"] = Route(gzip.compress(STORY), headers={"Content-Encoding": "gzip"})
    routes["/deflate"] = Route(zlib.compress(STORY), headers={"Content-Encoding": "deflate"})
    routes["/gzip-bomb"] = Route(bomb(gzip.compress), headers={"Content-Encoding": "gzip"})
    routes["/deflate-bomb"] = Route(bomb(zlib.compress), headers={"Content-Encoding": "deflate"})
    routes["/brotli"] = Route(b"\x1b\x03", headers={"Content-Encoding": "br"})
    routes["/not-gzip"] = Route(b"plain text", headers={"Content-Encoding": "gzip"})
    routes["/hop/0"] = Route(b"landed")
    for n in range(1, 8):
        routes[f"/hop/{n}"] = Route(status=302, headers={"Location": f"/hop/{n - 1}"})
    routes["/loop"] = Route(status=301, headers={"Location": "/loop"})
    routes["/to-file"] = Route(status=302, headers={"Location": "file:///etc/passwd"})
    routes["/busy"] = Route(b"slow down", 429, {"Retry-After": "120"})
    routes["/down"] = Route(b"", 503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    srv.thread.start()
    yield srv
    srv.release.set()
    srv.httpd.shutdown()
    srv.httpd.server_close()


def test_a_plain_get_sends_our_headers_and_returns_the_body(hostile: FeedServer):
    response = fetch(
        hostile.url("/story"), headers={"If-None-Match": '"v1"'}, limits=LIMITS, allow_private=True
    )
    assert (response.status, response.body, response.url) == (200, STORY, hostile.url("/story"))
    assert response.headers.get_content_type() == "text/html" and response.retry_after is None
    (sent,) = hostile.hits("/story")
    assert sent["User-Agent"] == USER_AGENT and sent["If-None-Match"] == '"v1"'
    assert sent["Accept-Encoding"] == "gzip, deflate"


@pytest.mark.parametrize("path", ["/trickle-body", "/trickle-headers", "/stall-body"])
def test_a_trickling_server_is_cut_off_at_the_deadline(hostile: FeedServer, path: str):
    start = time.monotonic()
    with pytest.raises(FetchError, match=r"^timed out \(no whole response within 0.6 s\)$"):
        fetch(hostile.url(path), limits=LIMITS, allow_private=True)
    assert time.monotonic() - start < LIMITS.read_timeout  # the deadline, not a read timeout


def test_an_endless_body_stops_at_the_size_cap(hostile: FeedServer):
    with pytest.raises(FetchError, match=r"^response larger than 256 KB$"):
        fetch(hostile.url("/endless"), limits=replace(LIMITS, deadline=30), allow_private=True)


def test_a_declared_length_over_the_cap_is_refused_unread(hostile: FeedServer):
    with pytest.raises(FetchError, match=r"^response larger than 256 KB \(300 KB\)$"):
        fetch(hostile.url("/too-long"), limits=LIMITS, allow_private=True)


@pytest.mark.parametrize("path", ["/gzip", "/deflate"])
def test_compressed_bodies_are_inflated(hostile: FeedServer, path: str):
    assert fetch(hostile.url(path), limits=LIMITS, allow_private=True).body == STORY


@pytest.mark.parametrize("path", ["/gzip-bomb", "/deflate-bomb"])
def test_a_compression_bomb_stops_at_the_inflated_cap(hostile: FeedServer, path: str):
    tracemalloc.start()
    try:
        with pytest.raises(FetchError, match=r"^response inflates past 1 MB$"):
            fetch(hostile.url(path), limits=LIMITS, allow_private=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * LIMITS.max_decoded  # never inflated whole (16 MB)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/brotli", "unsupported Content-Encoding: br"),
        ("/not-gzip", "response is not valid gzip data"),
    ],
)
def test_unreadable_encodings_are_refused(hostile: FeedServer, path: str, reason: str):
    with pytest.raises(FetchError, match=f"^{reason}"):
        fetch(hostile.url(path), limits=LIMITS, allow_private=True)


def test_redirects_are_followed_up_to_the_limit_with_every_hop_checked(hostile: FeedServer):
    seen: list[str] = []
    response = fetch(
        hostile.url("/hop/3"), limits=LIMITS, check_url=seen.append, allow_private=True
    )
    assert response.body == b"landed" and response.url == hostile.url("/hop/0")
    assert seen == [hostile.url(f"/hop/{n}") for n in (3, 2, 1, 0)]

    with pytest.raises(FetchError, match=r"^too many redirects \(more than 3\)$"):
        fetch(hostile.url("/hop/4"), limits=LIMITS, allow_private=True)
    assert len(hostile.hits("/hop/0")) == 1  # the fourth hop was never taken
    with pytest.raises(FetchError, match="too many redirects"):
        fetch(hostile.url("/loop"), limits=LIMITS, allow_private=True)
    assert len(hostile.hits("/loop")) == LIMITS.max_redirects + 1


def test_a_hop_refused_by_the_hook_is_never_requested(hostile: FeedServer):
    def refuse_hop_1(url: str) -> None:
        if url.endswith("/hop/1"):
            raise FetchError("refused: a private address")

    with pytest.raises(FetchError, match=r"^refused: a private address$"):
        fetch(hostile.url("/hop/3"), limits=LIMITS, check_url=refuse_hop_1, allow_private=True)
    assert hostile.hits("/hop/2") and not hostile.hits("/hop/1")


def test_a_redirect_out_of_http_is_refused(hostile: FeedServer):
    with pytest.raises(FetchError, match=r"^not an http\(s\) URL: file:///etc/passwd$"):
        fetch(hostile.url("/to-file"), limits=LIMITS, allow_private=True)


def test_error_statuses_carry_status_and_retry_after(hostile: FeedServer):
    with pytest.raises(FetchError, match=r"^HTTP 429 Too Many Requests$") as busy:
        fetch(hostile.url("/busy"), limits=LIMITS, allow_private=True)
    assert (busy.value.status, busy.value.retry_after) == (429, 120.0)
    with pytest.raises(FetchError, match=r"^HTTP 503 Service Unavailable$") as down:
        fetch(hostile.url("/down"), limits=LIMITS, allow_private=True)
    assert (down.value.status, down.value.retry_after) == (503, 0.0)  # a date long past
    with pytest.raises(FetchError, match=r"^HTTP 404 Not Found$") as missing:
        fetch(hostile.url("/nothing-here"), limits=LIMITS, allow_private=True)
    assert (missing.value.status, missing.value.retry_after) == (404, None)


NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        (format_datetime(NOW.replace(hour=13), usegmt=True), 3600.0),
        ("Sat, 01 Mar 2025 13:00:00", 3600.0),  # no zone: GMT, as HTTP dates are
        (format_datetime(NOW.replace(hour=11), usegmt=True), 0.0),
        ("-5", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(header: str | None, seconds: float | None):
    assert retry_after(header, now=NOW) == seconds


def test_non_ascii_links_are_escaped_not_refused(hostile: FeedServer):
    hostile.routes["/caf%C3%A9%20cr%C3%A8me"] = Route(b"escaped")
    assert fetch(hostile.url("/café crème"), limits=LIMITS, allow_private=True).body == b"escaped"


def test_the_environment_proxy_is_used(hostile: FeedServer, monkeypatch: pytest.MonkeyPatch):
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", hostile.url(""))
    hostile.routes["http://news.example.invalid/story"] = Route(b"via the proxy")
    # No allow_private: the operator's proxy may listen on loopback; the name is its to resolve.
    assert fetch("http://news.example.invalid/story", limits=LIMITS).body == b"via the proxy"
    (sent,) = hostile.hits("http://news.example.invalid/story")
    assert sent["Host"] == "news.example.invalid"


@pytest.mark.parametrize("url", ["ftp://example.com/feed", "example.com/feed", "http://:80/x"])
def test_only_http_urls_are_fetched(url: str):
    with pytest.raises(FetchError, match=r"^not an http\(s\) URL"):
        fetch(url, limits=LIMITS)


def test_urls_given_to_ingest_are_fetched_within_the_default_bounds(hostile: FeedServer):
    for path, reason in [
        ("/nothing-here", "HTTP 404 Not Found"),
        ("/endless", "response larger than 10 MB"),
    ]:
        url = hostile.url(path)
        assert list(load_url(url, allow_private=True)) == [Skipped(url, f"cannot fetch: {reason}")]


def test_a_redirect_to_a_malformed_url_is_a_fetch_error(hostile: FeedServer):
    # Found by bench/fuzz.py's hostile HTTP server: urljoin raised ValueError past fetch.
    hostile.routes["/bad-redirect"] = Route(status=302, headers={"Location": "http://[::1/x"})
    with pytest.raises(FetchError, match="redirect to an unreadable URL"):
        fetch(hostile.url("/bad-redirect"), limits=LIMITS, allow_private=True)
