"""Feed registry and poller against a real HTTP server on 127.0.0.1 (never the network)."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retrieval.errors import InputError
from retrieval.feeds import FeedPoller, FeedRegistry, normalize_url
from retrieval.fetch import USER_AGENT

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
INTERVAL = 60.0
LAST_MODIFIED = "Sat, 01 Mar 2025 11:00:00 GMT"
SUBJECTS = ["tariffs", "semiconductors", "shipping", "sanctions", "elections", "grain"]


def story(n: int) -> str:
    """A body of about 500 characters, different for each n (longer than page_min_chars)."""
    subject = SUBJECTS[n % len(SUBJECTS)]
    return " ".join(
        f"Report {n} sentence {k}: officials discussed {subject} policy at length"
        f" and traders watched {subject} markets closely."
        for k in range(5)
    )


def rss(items: list[tuple[str, str, str, str]], title: str = "Wire Service") -> bytes:
    """RSS 2.0 from (guid, title, link, description) tuples."""
    body = "".join(
        f"<item><guid>{guid}</guid><title>{head}</title><link>{link}</link>"
        f"<description>{text}</description><pubDate>{LAST_MODIFIED}</pubDate></item>"
        for guid, head, link, text in items
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>http://example.invalid/</link><description>test</description>{body}"
        "</channel></rss>"
    ).encode()


def atom(items: list[tuple[str, str, str]]) -> bytes:
    entries = "".join(
        f'<entry><id>{ident}</id><title>{head}</title><link href="http://example.invalid/{ident}"/>'
        f"<updated>2025-03-01T10:00:00Z</updated><content>{text}</content></entry>"
        for ident, head, text in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>Atom Desk</title><id>urn:desk</id><updated>2025-03-01T10:00:00Z</updated>"
        f"{entries}</feed>"
    ).encode()


def page(title: str, paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title></head><body>"
        f"<nav><a href='/'>Home</a></nav><article><h1>{title}</h1>{body}</article>"
        "<footer>Copyright the newsroom</footer></body></html>"
    ).encode()


# --- a local server -------------------------------------------------------------------------
@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # A hostile server: writes the whole response itself (status line included), given the
    # socket's file and the event that is set at teardown.
    write: Callable[[BinaryIO, threading.Event], None] | None = None


class FeedServer:
    """Routes by path; answers 304 when If-None-Match matches the route's ETag."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.release = threading.Event()  # ends the slow route's sleep at teardown
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                app.requests.append((self.path, dict(self.headers)))
                route = app.routes.get(self.path, Route(b"not found", 404))
                if route.write:
                    route.write(self.wfile, app.release)
                    return
                if route.delay:
                    app.release.wait(route.delay)
                etag = route.headers.get("ETag")
                if etag and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda *args: None  # a client that timed out hung up
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def hits(self, path: str) -> list[dict[str, str]]:
        return [headers for p, headers in self.requests if p == path]


XML = {"Content-Type": "application/rss+xml; charset=utf-8"}
HTML = {"Content-Type": "text/html; charset=utf-8"}


def wire_items(server: FeedServer, count: int) -> list[tuple[str, str, str, str]]:
    return [
        (f"wire-{n}", f"Wire headline number {n}", server.url(f"/wire/{n}"), story(n))
        for n in range(1, count + 1)
    ]


def wire_route(server: FeedServer, count: int, etag: str) -> Route:
    headers = {**XML, "ETag": etag, "Last-Modified": LAST_MODIFIED}
    return Route(rss(wire_items(server, count)), headers=headers)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy from the environment: every fetch goes straight to loopback."""
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    srv = FeedServer()
    srv.routes["/wire.xml"] = wire_route(srv, 2, '"v1"')
    srv.routes["/atom.xml"] = Route(
        atom([("urn:a1", "Atom first", story(10)), ("urn:a2", "Atom second", story(11))]),
        headers={"Content-Type": "application/atom+xml"},
    )
    srv.routes["/teasers.xml"] = Route(
        rss(
            [
                ("t1", "Teaser with a page", "/articles/1.html", "Short teaser one."),
                ("t2", "Teaser whose page is gone", "/articles/2.html", "Short teaser two."),
                ("t3", "Entry with full text", "/articles/3.html", story(3)),
            ],
            title="Teaser Times",
        ),
        headers=XML,
    )
    srv.routes["/articles/1.html"] = Route(
        page(
            "Teaser with a page",
            [
                "The full article explains why the port authority halted container traffic.",
                story(20),
                "Unions said the stoppage would end once the inspection regime was agreed.",
            ],
        ),
        headers=HTML,
    )
    srv.routes["/articles/3.html"] = Route(page("Entry with full text", [story(30)]), headers=HTML)
    srv.routes["/broken.xml"] = Route(b"<html><body>Please log in</body></html>", headers=HTML)
    srv.routes["/garbage.xml"] = Route(b"\x00\xff<<< not xml at all", headers=XML)
    srv.routes["/empty.xml"] = Route(rss([]), headers=XML)
    srv.routes["/slow.xml"] = Route(rss(wire_items(srv, 1)), headers=XML, delay=5.0)
    srv.routes["/error.xml"] = Route(b"boom", 500)
    yield from started(srv)


def started(srv: FeedServer) -> Iterator[FeedServer]:
    """Serve until the fixture using it ends; then release slow routes and stop."""
    srv.thread.start()
    yield srv
    srv.release.set()
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[FeedRegistry]:
    # The feeds here are served on 127.0.0.1: opted in, as an operator with local feeds
    # would ([fetch] allow_private); tests/test_ssrf.py checks the refusal itself.
    reg = FeedRegistry(tmp_path / "briefbot.sqlite3", allow_private=True)
    yield reg
    reg.close()


def make_poller(registry: FeedRegistry, **kwargs: object) -> FeedPoller:
    """A poller allowed to reach the feed server on 127.0.0.1 (see `registry`)."""
    kwargs.setdefault("allow_private", True)
    return FeedPoller(registry, interval=INTERVAL, timeout=0.5, max_backoff=600, **kwargs)


def refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/feed.xml"


# --- registry -------------------------------------------------------------------------------
def test_registry_add_list_get_remove_and_persist(tmp_path: Path):
    path = tmp_path / "briefbot.sqlite3"
    with FeedRegistry(path) as reg:
        wire = reg.add("  https://News.Example.com/rss.xml#top ", name=" Example  Wire ")
        desk = reg.add("http://desk.example.org/atom")
        assert wire.url == "https://news.example.com/rss.xml"
        assert wire.name == "Example Wire" and desk.name is None
        assert wire.status == "new (not polled yet)" and wire.healthy
        assert [f.id for f in reg.list()] == [wire.id, desk.id]
        assert reg.get(str(wire.id)) == reg.get(wire.id) == reg.get("example wire") == wire
        assert reg.get("HTTPS://news.example.com:443/rss.xml") == wire
    with FeedRegistry(path) as reg:  # re-opened: still there
        assert [f.url for f in reg.list()] == [wire.url, desk.url]
        assert reg.remove(wire.url).id == wire.id
        assert [f.url for f in reg.list()] == [desk.url]
        with pytest.raises(InputError, match=r"no feed 'nope'; subscribed: .*desk\.example\.org"):
            reg.remove("nope")
        reg.remove(desk.id)
        with pytest.raises(InputError, match="no feeds are subscribed"):
            reg.get(desk.id)


def test_registry_rejects_duplicates_and_non_http_urls(registry: FeedRegistry):
    feed = registry.add("https://example.com/feed", name="Ex")
    with pytest.raises(InputError, match=rf"already subscribed .* feed {feed.id} \(Ex\)"):
        registry.add("HTTPS://EXAMPLE.COM/feed?utm_source=x")
    for bad in ("ftp://example.com/feed", "example.com/feed", "https://", "", "http://a b/"):
        with pytest.raises(InputError, match="not an http"):
            registry.add(bad)
    assert len(registry.list()) == 1


# --- polling --------------------------------------------------------------------------------
def test_first_poll_returns_entries_then_conditional_get_gets_304(
    server: FeedServer, registry: FeedRegistry
):
    poller = make_poller(registry)
    feed = registry.add(server.url("/wire.xml"))
    first = poller.poll(feed, now=NOW)
    assert first.ok and not first.not_modified
    assert [a.title for a in first.items] == ["Wire headline number 1", "Wire headline number 2"]
    assert first.items[0].external_id == "wire-1" and first.items[0].source == "Wire Service"
    assert first.feed.etag == '"v1"' and first.feed.last_modified == LAST_MODIFIED
    assert first.feed.name == "Wire Service" and first.feed.seen == 2
    assert first.feed.next_poll_after == NOW + timedelta(seconds=INTERVAL)

    second = poller.poll(feed, now=NOW)
    assert second.ok and second.not_modified and second.items == []
    request = server.hits("/wire.xml")[-1]
    assert request["If-None-Match"] == '"v1"'
    assert request["If-Modified-Since"] == LAST_MODIFIED
    assert request["User-Agent"] == USER_AGENT
    assert "If-None-Match" not in server.hits("/wire.xml")[0]
    assert second.feed.status == "ok" and second.feed.seen == 2


def test_new_entry_is_returned_exactly_once_even_after_a_restart(
    server: FeedServer, tmp_path: Path
):
    path = tmp_path / "briefbot.sqlite3"
    with FeedRegistry(path, allow_private=True) as reg:
        feed = reg.add(server.url("/wire.xml"))
        assert len(make_poller(reg).poll(feed).items) == 2

    server.routes["/wire.xml"] = wire_route(server, 3, '"v2"')
    with FeedRegistry(path) as reg:  # a restart: new registry, new poller
        poller = make_poller(reg)
        (new,) = poller.poll(feed.id).items
        assert new.external_id == "wire-3"
        assert poller.poll(feed.id).not_modified

        # No ETag and every entry old, one with a re-issued guid: nothing is new.
        items = wire_items(server, 3)
        items[0] = ("wire-1-reissued", *items[0][1:])
        server.routes["/wire.xml"] = Route(rss(items), headers=XML)
        again = poller.poll(feed.id)
        assert again.ok and not again.not_modified and again.items == []
        assert reg.get(feed.id).seen == 3


def test_teaser_entries_get_their_page_text(server: FeedServer, registry: FeedRegistry):
    poller = make_poller(registry)
    feed = registry.add(server.url("/teasers.xml"))
    result = poller.poll(feed)
    by_title = {a.title: a for a in result.items}
    full = by_title["Teaser with a page"]
    assert full.url == server.url("/articles/1.html")  # the relative link made absolute
    assert "port authority halted container traffic" in full.body
    assert len(full.body) > 400 and full.external_id == "t1"
    assert by_title["Teaser whose page is gone"].body == "Short teaser two."  # 404: teaser kept
    assert by_title["Entry with full text"].body == story(3)
    assert result.pages == 2 and server.hits("/articles/3.html") == []

    poller.poll(feed)  # nothing new, so no page is fetched again
    assert len(server.hits("/articles/1.html")) == 1


def test_pages_are_not_fetched_when_disabled(server: FeedServer, registry: FeedRegistry):
    result = make_poller(registry, fetch_pages=False).poll(registry.add(server.url("/teasers.xml")))
    assert {a.body for a in result.items} >= {"Short teaser one.", "Short teaser two."}
    assert result.pages == 0 and not server.hits("/articles/1.html")


def test_an_empty_feed_is_fine_but_html_and_garbage_are_failures(
    server: FeedServer, registry: FeedRegistry
):
    poller = make_poller(registry)
    empty = poller.poll(registry.add(server.url("/empty.xml")))
    assert empty.ok and empty.items == [] and empty.feed.healthy
    html = poller.poll(registry.add(server.url("/broken.xml")))
    assert html.error == "not an RSS/Atom feed"
    garbage = poller.poll(registry.add(server.url("/garbage.xml")))
    assert garbage.error and garbage.error.startswith("not a readable feed")


def test_failures_are_recorded_with_backoff_and_never_stop_good_feeds(
    server: FeedServer, registry: FeedRegistry
):
    poller = make_poller(registry)
    urls = {
        "wire": server.url("/wire.xml"),
        "broken": server.url("/broken.xml"),
        "slow": server.url("/slow.xml"),
        "error": server.url("/error.xml"),
        "refused": refused_url(),
        "atom": server.url("/atom.xml"),
    }
    for name, url in urls.items():
        registry.add(url, name=name)
    results = {r.feed.name: r for r in poller.poll_due(NOW)}
    assert set(results) == set(urls)
    assert len(results["wire"].items) == 2 and len(results["atom"].items) == 2
    assert results["slow"].error == "timed out after 0.5 s"
    assert results["error"].error == "HTTP 500 Internal Server Error"
    assert results["refused"].error == "connection refused"
    assert results["broken"].error == "not an RSS/Atom feed"
    for name in ("broken", "slow", "error", "refused"):
        feed = results[name].feed
        assert feed.consecutive_failures == 1 and not results[name].alert
        assert feed.status == f"failing (1×): {results[name].error}"
        assert feed.next_poll_after == NOW + timedelta(seconds=2 * INTERVAL)
        assert feed.last_ok is None and feed.last_polled == NOW

    # One interval later only the good feeds are due; the failing ones are backing off.
    later = NOW + timedelta(seconds=INTERVAL)
    assert sorted(r.feed.name for r in poller.poll_due(later)) == ["atom", "wire"]
    assert registry.due(later) == []


def test_backoff_doubles_per_failure_and_is_capped(registry: FeedRegistry):
    poller = make_poller(registry)
    assert [poller.backoff(n) for n in range(1, 6)] == [120, 240, 480, 600, 600]
    assert poller.backoff(10_000) == 600


def test_retry_after_on_429_and_503_defers_the_next_poll(
    server: FeedServer, registry: FeedRegistry
):
    poller = make_poller(registry)  # backs off 120 s after one failure, 600 s at most
    server.routes["/busy.xml"] = Route(b"slow down", 429, {"Retry-After": "3600"})
    server.routes["/down.xml"] = Route(b"", 503, {"Retry-After": str(30 * 86400)})
    server.routes["/blip.xml"] = Route(b"", 503, {"Retry-After": "5"})
    busy = poller.poll(registry.add(server.url("/busy.xml")), now=NOW)
    assert busy.error == "HTTP 429 Too Many Requests"
    assert busy.feed.next_poll_after == NOW + timedelta(hours=1)
    down = poller.poll(registry.add(server.url("/down.xml")), now=NOW)
    assert down.feed.next_poll_after == NOW + timedelta(days=1)  # a month is not honoured
    blip = poller.poll(registry.add(server.url("/blip.xml")), now=NOW)
    assert blip.feed.next_poll_after == NOW + timedelta(seconds=2 * INTERVAL)  # backoff wins
    assert registry.due(NOW + timedelta(minutes=59)) == [registry.get(blip.feed.id)]
    assert poller.backoff(1, retry_after=None) == poller.backoff(1) == 2 * INTERVAL


def test_alert_once_per_streak_after_three_failures(
    server: FeedServer, registry: FeedRegistry, caplog: pytest.LogCaptureFixture
):
    poller = make_poller(registry)
    feed = registry.add(server.url("/error.xml"), name="Flaky")
    with caplog.at_level(logging.INFO, logger="retrieval.feeds"):
        results = [poller.poll(feed) for _ in range(4)]
    assert [r.alert for r in results] == [False, False, True, False]
    assert results[-1].feed.status == "failing (4×): HTTP 500 Internal Server Error"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Flaky failed (3× in a row)" in warnings[0].getMessage()

    server.routes["/error.xml"] = Route(rss(wire_items(server, 1)), headers=XML)
    back = poller.poll(feed)
    assert back.ok and back.recovered and back.feed.healthy and back.feed.last_error is None
    assert not poller.poll(feed).recovered

    server.routes["/error.xml"] = Route(b"down again", 503)
    assert [poller.poll(feed).alert for _ in range(3)] == [False, False, True]


def test_seen_keys_stay_bounded_but_keep_the_current_entries(server: FeedServer, tmp_path: Path):
    with FeedRegistry(tmp_path / "briefbot.sqlite3", max_seen=4, allow_private=True) as reg:
        poller = make_poller(reg)
        feed = reg.add(server.url("/wire.xml"))
        assert len(poller.poll(feed).items) == 2
        assert reg.seen_count(feed.id) == 6  # guid, link and text of each current entry
        server.routes["/wire.xml"] = Route(rss(wire_items(server, 3)[2:]), headers=XML)
        assert len(poller.poll(feed).items) == 1
        assert reg.seen_count(feed.id) == 4


def test_end_to_end_into_a_corpus(server: FeedServer, fake_corpus):
    registry = FeedRegistry(fake_corpus.store.path, allow_private=True)
    try:
        poller = make_poller(registry)
        registry.add(server.url("/wire.xml"))
        registry.add(server.url("/atom.xml"))
        added = 0
        for result in poller.poll_due(NOW):
            report = fake_corpus.ingest_items(result.items, progress=False)
            registry.record_added(result.feed.id, report.added)
            added += report.added
        assert added == 4 and fake_corpus.store.count_articles() == 4
        assert {f.added for f in registry.list()} == {2}
        titles = {a.title for a in fake_corpus.headlines(limit=None)}
        assert "Atom second" in titles and "Wire headline number 1" in titles

        later = NOW + timedelta(seconds=INTERVAL)
        again = poller.poll_due(later)
        assert len(again) == 2 and all(r.ok and r.items == [] for r in again)
        assert fake_corpus.ingest_items([i for r in again for i in r.items]).added == 0
        assert fake_corpus.store.count_articles() == 4
    finally:
        registry.close()


# --- seen-key normalisation -----------------------------------------------------------------
hosts = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z]{2,5}){1,2}", fullmatch=True)
paths = st.from_regex(r"(/[A-Za-z0-9._~%-]{0,8}){0,3}", fullmatch=True)
params = st.lists(st.from_regex(r"[a-z]{1,5}=[A-Za-z0-9]{0,5}", fullmatch=True), max_size=3)


@given(
    scheme=st.sampled_from(["http", "https"]),
    host=hosts,
    port=st.sampled_from([None, 80, 443, 8080]),
    path=paths,
    query=params,
    fragment=st.text(max_size=10),
)
def test_normalize_url_ignores_case_default_ports_fragments_and_tracking(
    scheme: str, host: str, port: int | None, path: str, query: list[str], fragment: str
):
    def url(scheme: str, host: str, port: int | None, query: list[str]) -> str:
        netloc = f"{host}:{port}" if port else host
        return f"{scheme}://{netloc}{path}" + (f"?{'&'.join(query)}" if query else "")

    plain = normalize_url(url(scheme, host, port, query))
    noisy = url(scheme.upper(), host.upper(), port, ["utm_source=feed", *query, "fbclid=x"])
    assert normalize_url(f"{noisy}#{fragment}") == plain
    assert normalize_url(plain) == plain
    if port == {"http": 80, "https": 443}[scheme]:
        assert plain == normalize_url(url(scheme, host, None, query))


@given(st.text(max_size=60) | st.builds(lambda s: "http://" + s, st.text(max_size=40)))
def test_normalize_url_never_raises_and_is_idempotent(text: str):
    once = normalize_url(text)
    assert normalize_url(once) == once
