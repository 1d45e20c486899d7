"""Live feeds: the subscribed RSS/Atom sources, their polling state, and the poller.

`FeedRegistry` keeps the subscriptions in the store's SQLite file (tables `feeds` and
`feed_seen`), so they and the entries already seen survive restarts. `FeedPoller`
fetches the feeds that are due and returns only entries never seen before, as
`RawArticle`s ready for `Corpus.ingest_items`. Polling is polite (conditional GET,
exponential backoff after failures, a server's Retry-After honoured), bounded (every
fetch goes through `retrieval.fetch`) and isolated: a broken feed is recorded on that
feed and never stops the others. Registry and poller refuse internal addresses unless
built with `allow_private=True` (the operator's `[fetch] allow_private`): `add` refuses a
feed URL that is plainly one, every poll refuses a feed or redirect that resolves to one,
and an entry linking to one keeps the feed's own text (see `FeedPoller._with_page_text`).
Polling blocks on the network, so the bot should run it off the event loop (e.g.
`await asyncio.to_thread(poller.poll_due)`).

Usage::

    allow = settings.fetch.allow_private
    registry = FeedRegistry(corpus.store.path, allow_private=allow)
    registry.add("https://example.com/rss.xml", name="Example")
    poller = FeedPoller(registry, interval=15 * 60, allow_private=allow)
    for result in poller.poll_due():  # from a scheduler job, e.g. every minute
        if result.items:
            report = corpus.ingest_items(result.items, progress=False)
            registry.record_added(result.feed.id, report.added)
        if result.alert or result.recovered:
            tell_admins(f"{result.feed.label}: {result.feed.status}")
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from urllib.parse import urljoin

from . import wording
from .errors import InputError, StoreError
from .fetch import FetchError, FetchLimits, RefusedURL, Response, fetch, guard_url
from .identity import entry_keys, normalize_url
from .identity import http_parts as _http_parts
from .loaders import looks_like_feed, parse_feed, parse_html
from .records import RawArticle, Skipped, read_text
from .sqlite import ThreadConnections

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    name TEXT,
    created TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    last_polled TEXT,
    last_ok TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    alerted INTEGER NOT NULL DEFAULT 0,
    next_poll_after TEXT,
    seen INTEGER NOT NULL DEFAULT 0,
    added INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS feed_seen (
    feed_id INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    UNIQUE (feed_id, key)
);
"""
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, "
    "text/html;q=0.5, */*;q=0.1"
)
MAX_ERROR_CHARS = 300
# The longest Retry-After honoured: a server asking for a week off must not silence a feed.
MAX_RETRY_AFTER = 24 * 3600
SQL_VARIABLES = 500


# --- URLs and seen keys ---------------------------------------------------------------------
def feed_url(url: str) -> str:
    """The normalised URL of a feed to subscribe to; InputError unless it is http(s)."""
    text = url.strip()
    if _http_parts(text) is None or any(c.isspace() for c in text):
        raise InputError(wording.text("errors.feed.not_http", url=url))
    return normalize_url(text)


def _digest(key: str) -> str:
    """Keys are stored hashed: a guid can be any length."""
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


# --- times -----------------------------------------------------------------------------------
def _now() -> datetime:
    return datetime.now(UTC)


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _human(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# --- registry --------------------------------------------------------------------------------
@dataclass
class Feed:
    """A subscribed feed and its polling state, as stored."""

    id: int
    url: str
    name: str | None
    created: datetime
    etag: str | None = None
    last_modified: str | None = None
    last_polled: datetime | None = None
    last_ok: datetime | None = None
    consecutive_failures: int = 0
    last_error: str | None = None
    alerted: bool = False
    next_poll_after: datetime | None = None
    seen: int = 0
    added: int = 0

    @property
    def label(self) -> str:
        return self.name or self.url

    @property
    def healthy(self) -> bool:
        return self.consecutive_failures == 0

    @property
    def status(self) -> str:
        """One line for `sources list`: "new", "ok" or "failing (3×): timed out after 10 s"."""
        if self.consecutive_failures:
            return f"failing ({self.consecutive_failures}×): {self.last_error}"
        return "ok" if self.last_polled else "new (not polled yet)"

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Feed:
        return cls(
            id=row["id"],
            url=row["url"],
            name=row["name"],
            created=datetime.fromisoformat(row["created"]),
            etag=row["etag"],
            last_modified=row["last_modified"],
            last_polled=_time(row["last_polled"]),
            last_ok=_time(row["last_ok"]),
            consecutive_failures=row["consecutive_failures"],
            last_error=row["last_error"],
            alerted=bool(row["alerted"]),
            next_poll_after=_time(row["next_poll_after"]),
            seen=row["seen"],
            added=row["added"],
        )


class FeedRegistry:
    """The subscribed feeds, the keys of entries already seen, and each feed's health."""

    def __init__(
        self, db_path: Path, *, max_seen: int = 10_000, allow_private: bool = False
    ) -> None:
        self.path = Path(db_path)
        self.allow_private = allow_private
        # Seen keys kept per feed (about three per entry); a key still in the feed is never
        # dropped, so this only bounds the memory of entries that have left the feed.
        self.max_seen = max_seen
        # One connection per thread: the bot adds feeds from a command while a worker polls.
        self._connections = ThreadConnections(self.path, rows_as_dicts=True)
        try:
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the feed registry at {self.path}: {exc}") from None

    @property
    def _db(self) -> sqlite3.Connection:
        return self._connections.get()

    def close(self) -> None:
        self._connections.close()

    def __enter__(self) -> FeedRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- subscriptions --------------------------------------------------------------------
    def add(self, url: str, name: str | None = None) -> Feed:
        """Subscribe to a feed; it is due at once. InputError for a bad or duplicate URL,
        `RefusedURL` for a localhost name or a non-public IP literal in any spelling
        (unless `allow_private`). A name is not looked up here, which would block the
        caller on DNS: every poll resolves and checks it before connecting."""
        canonical = feed_url(url)
        guard_url(canonical, allow_private=self.allow_private, lookup=False)
        name = " ".join((name or "").split()) or None
        try:
            cur = self._db.execute(
                "INSERT INTO feeds (url, name, created) VALUES (?, ?, ?)",
                (canonical, name, _iso(_now())),
            )
        except sqlite3.IntegrityError:
            existing = self._find(canonical)
            where = f" as feed {existing.id} ({existing.label})" if existing else ""
            raise InputError(
                wording.text("errors.feed.already", url=canonical, where=where)
            ) from None
        log.info("subscribed to %s", canonical)
        return self.get(int(cur.lastrowid or 0))

    def remove(self, url_or_id: str | int) -> Feed:
        """Unsubscribe (its seen keys go too); InputError naming the feeds that exist."""
        feed = self.get(url_or_id)
        self._db.execute("DELETE FROM feeds WHERE id=?", (feed.id,))
        log.info("unsubscribed from %s", feed.url)
        return feed

    def get(self, url_or_id: str | int) -> Feed:
        """A feed by id, URL or (unique, case-insensitive) name."""
        feed = self._find(url_or_id)
        if feed is None:
            raise InputError(self._unknown(url_or_id))
        return feed

    def list(self) -> list[Feed]:
        return [Feed.from_row(r) for r in self._db.execute("SELECT * FROM feeds ORDER BY id")]

    def due(self, now: datetime | None = None) -> list[Feed]:
        """Feeds whose next poll time has come, the longest-waiting first."""
        now = now or _now()
        due = [f for f in self.list() if f.next_poll_after is None or f.next_poll_after <= now]
        return sorted(due, key=lambda f: f.next_poll_after or f.created)

    def _find(self, ref: str | int) -> Feed | None:
        text = str(ref).strip()
        if isinstance(ref, int) or text.isdigit():
            rows = self._db.execute("SELECT * FROM feeds WHERE id=?", (int(text),)).fetchall()
        else:
            rows = self._db.execute(
                "SELECT * FROM feeds WHERE url=?", (normalize_url(text),)
            ).fetchall()
            if not rows:
                rows = self._db.execute(
                    "SELECT * FROM feeds WHERE lower(name)=lower(?)", (text,)
                ).fetchall()
        return Feed.from_row(rows[0]) if len(rows) == 1 else None

    def _unknown(self, ref: str | int) -> str:
        feeds = self.list()
        if not feeds:
            return f"no feed {str(ref)!r}: no feeds are subscribed"
        shown = "; ".join(
            f"{f.id} {f.name} <{f.url}>" if f.name else f"{f.id} <{f.url}>" for f in feeds[:10]
        )
        more = f" and {len(feeds) - 10} more" if len(feeds) > 10 else ""
        return f"no feed {str(ref)!r}; subscribed: {shown}{more}"

    # --- polling state (written by FeedPoller) ---------------------------------------------
    def known_keys(self, feed_id: int, keys: Iterable[str]) -> set[str]:
        """Those of `keys` already seen in this feed."""
        by_digest = {_digest(k): k for k in keys}
        digests = list(by_digest)
        known: set[str] = set()
        for start in range(0, len(digests), SQL_VARIABLES):
            chunk = digests[start : start + SQL_VARIABLES]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key FROM feed_seen WHERE feed_id=? AND key IN ({marks})",
                (feed_id, *chunk),
            )
            known.update(by_digest[r[0]] for r in rows)
        return known

    def record_success(
        self,
        feed_id: int,
        *,
        now: datetime,
        next_after: datetime,
        etag: str | None,
        last_modified: str | None,
        name: str | None = None,
        keys: Iterable[str] = (),
        new: int = 0,
    ) -> Feed | None:
        """Store a good poll and remember `keys`; None if the feed was removed meanwhile."""
        with self._connections.transaction() as db:
            cur = db.execute(
                "UPDATE feeds SET last_polled=?, last_ok=?, consecutive_failures=0,"
                " last_error=NULL, alerted=0, next_poll_after=?, etag=?, last_modified=?,"
                " name=COALESCE(name, ?), seen=seen+? WHERE id=?",
                (_iso(now), _iso(now), _iso(next_after), etag, last_modified, name, new, feed_id),
            )
            if cur.rowcount:
                self._remember(db, feed_id, keys)
        return self._find(feed_id)

    def _remember(self, db: sqlite3.Connection, feed_id: int, keys: Iterable[str]) -> None:
        """Insert or refresh the keys, then keep only the newest: refreshed keys count as new."""
        digests = list(dict.fromkeys(_digest(k) for k in keys))
        if not digests:
            return
        db.executemany(
            "INSERT OR REPLACE INTO feed_seen (feed_id, key) VALUES (?, ?)",
            [(feed_id, d) for d in digests],
        )
        db.execute(
            "DELETE FROM feed_seen WHERE feed_id=? AND rowid NOT IN"
            " (SELECT rowid FROM feed_seen WHERE feed_id=? ORDER BY rowid DESC LIMIT ?)",
            (feed_id, feed_id, max(self.max_seen, len(digests))),
        )

    def record_failure(
        self, feed_id: int, *, now: datetime, error: str, next_after: datetime, alerted: bool
    ) -> Feed | None:
        """Count one more failure in a row; None if the feed was removed meanwhile."""
        self._db.execute(
            "UPDATE feeds SET last_polled=?, consecutive_failures=consecutive_failures+1,"
            " last_error=?, next_poll_after=?, alerted=MAX(alerted, ?) WHERE id=?",
            (_iso(now), error, _iso(next_after), int(alerted), feed_id),
        )
        return self._find(feed_id)

    def record_added(self, feed_id: int, count: int) -> None:
        """Credit the feed with the articles the corpus actually added from its entries."""
        self._db.execute("UPDATE feeds SET added=added+? WHERE id=?", (count, feed_id))

    def seen_count(self, feed_id: int) -> int:
        """How many seen keys are stored for the feed (for tests and diagnostics)."""
        row = self._db.execute("SELECT count(*) FROM feed_seen WHERE feed_id=?", (feed_id,))
        return int(row.fetchone()[0])


# --- poller ----------------------------------------------------------------------------------
@dataclass
class PollResult:
    feed: Feed  # its state after this poll
    items: list[RawArticle] = field(default_factory=list)  # new entries only
    not_modified: bool = False  # the server answered 304
    error: str | None = None
    alert: bool = False  # the feed just reached `alert_after` failures in a row
    recovered: bool = False  # a good poll after an alert
    skipped: list[Skipped] = field(default_factory=list)  # unreadable entries
    pages: int = 0  # article pages fetched for teaser entries

    @property
    def ok(self) -> bool:
        return self.error is None


class FeedPoller:
    """Fetches due feeds and returns their new entries; records health and backoff."""

    def __init__(
        self,
        registry: FeedRegistry,
        *,
        interval: float = 15 * 60,
        timeout: float = 10.0,
        fetch_pages: bool = True,
        page_min_chars: int = 400,
        max_pages: int = 30,
        max_backoff: float = 6 * 3600,
        alert_after: int = 3,
        limits: FetchLimits | None = None,
        allow_private: bool = False,
    ) -> None:
        self.registry = registry
        self.interval = interval
        self.timeout = timeout
        self.fetch_pages = fetch_pages
        self.page_min_chars = page_min_chars
        # Page fetches per feed per poll, so a first poll of a long teaser feed stays short.
        self.max_pages = max_pages
        self.max_backoff = max_backoff
        self.alert_after = alert_after
        # Every fetch (feed or page): `timeout` per connect and per read, 3 × it in all.
        self.limits = limits or FetchLimits.from_timeout(timeout)
        # Feeds, their redirects and the article pages behind entries may reach internal
        # addresses only when the operator says so ([fetch] allow_private).
        self.allow_private = allow_private

    def backoff(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds to wait after `failures` failures in a row: interval × 2^failures, capped;
        longer if the server asked for it (Retry-After, up to `MAX_RETRY_AFTER`)."""
        delay = min(self.interval * 2 ** min(failures, 32), max(self.max_backoff, self.interval))
        return max(delay, min(retry_after or 0.0, MAX_RETRY_AFTER))

    def poll_due(self, now: datetime | None = None) -> list[PollResult]:
        """Poll every feed that is due; never raises, one bad feed never stops the others."""
        now = now or _now()
        results = []
        for feed in self.registry.due(now):
            try:
                results.append(self.poll(feed, now=now))
            except InputError:
                log.info("feed %s was removed while polling", feed.url)
            except Exception:  # the last guard (e.g. the database is locked): keep going
                log.exception("polling %s failed", feed.url)
        return results

    def poll(self, feed: Feed | str | int, now: datetime | None = None) -> PollResult:
        """Poll one feed now, whatever its backoff. InputError only for an unknown feed."""
        feed = self.registry.get(feed.id if isinstance(feed, Feed) else feed)
        now = now or _now()
        try:
            return self._poll(feed, now)
        except FetchError as exc:
            return self._failed(feed, str(exc), now, retry_after=exc.retry_after)
        except Exception as exc:  # a bug or a library surprise must not kill the scheduler
            log.exception("polling %s failed unexpectedly", feed.url)
            return self._failed(feed, f"internal error: {type(exc).__name__}: {exc}", now)

    def _poll(self, feed: Feed, now: datetime) -> PollResult:
        headers = {"Accept": ACCEPT}
        if feed.etag:
            headers["If-None-Match"] = feed.etag
        if feed.last_modified:
            headers["If-Modified-Since"] = feed.last_modified
        response = self._get(feed.url, headers)
        if response.status == 304:
            saved = self._succeeded(feed, now, feed.etag, feed.last_modified)
            return PollResult(saved, not_modified=True, recovered=feed.alerted)
        entries, skipped = self._parse(response.body, feed.url)
        new, keys = self._new_entries(feed, entries)
        items, pages = self._complete(new, feed.url)
        saved = self._succeeded(
            feed,
            now,
            response.headers.get("ETag"),
            response.headers.get("Last-Modified"),
            name=next((e.source for e in entries if e.source), None),
            keys=keys,
            new=len(items),
        )
        if items:
            log.info("feed %s: %d new entries (%d pages fetched)", feed.label, len(items), pages)
        return PollResult(saved, items, skipped=skipped, pages=pages, recovered=feed.alerted)

    def _succeeded(
        self,
        feed: Feed,
        now: datetime,
        etag: str | None,
        last_modified: str | None,
        *,
        name: str | None = None,
        keys: list[str] | None = None,
        new: int = 0,
    ) -> Feed:
        if feed.consecutive_failures:
            level = logging.WARNING if feed.alerted else logging.INFO
            log.log(
                level, "feed %s recovered after %d failures", feed.label, feed.consecutive_failures
            )
        saved = self.registry.record_success(
            feed.id,
            now=now,
            next_after=now + timedelta(seconds=self.interval),
            etag=etag,
            last_modified=last_modified,
            name=name,
            keys=keys or (),
            new=new,
        )
        return saved or feed

    def _failed(
        self, feed: Feed, error: str, now: datetime, *, retry_after: float | None = None
    ) -> PollResult:
        error = " ".join(error.split())[:MAX_ERROR_CHARS]
        failures = feed.consecutive_failures + 1
        alert = failures >= self.alert_after and not feed.alerted
        delay = self.backoff(failures, retry_after)
        saved = self.registry.record_failure(
            feed.id, now=now, error=error, next_after=now + timedelta(seconds=delay), alerted=alert
        )
        log.log(
            logging.WARNING if alert else logging.INFO,
            "feed %s failed (%d× in a row): %s; next try in %s",
            feed.label,
            failures,
            error,
            _human(delay),
        )
        return PollResult(saved or feed, error=error, alert=alert)

    # --- parsing and dedupe ---------------------------------------------------------------
    @staticmethod
    def _parse(raw: bytes, origin: str) -> tuple[list[RawArticle], list[Skipped]]:
        """The feed's entries and unreadable ones; FetchError when it is not a feed at all."""
        items = list(parse_feed(raw, origin))
        whole = next((i for i in items if isinstance(i, Skipped) and i.source == origin), None)
        # parse_feed reports an unreadable document and an empty one alike; only a document
        # that looks like RSS/Atom may be empty (an HTML login wall is a failure).
        if whole is not None and not (
            whole.reason == "feed has no entries" and looks_like_feed(raw)
        ):
            reason = "not an RSS/Atom feed" if whole.reason == "feed has no entries" else None
            raise FetchError(reason or whole.reason)
        articles = [i for i in items if isinstance(i, RawArticle)]
        skipped = [i for i in items if isinstance(i, Skipped) and i is not whole]
        return articles, skipped

    def _new_entries(
        self, feed: Feed, entries: list[RawArticle]
    ) -> tuple[list[RawArticle], list[str]]:
        """Entries never seen in this feed, and every current key (to remember or refresh)."""
        keyed = [(e, entry_keys(e)) for e in entries]
        all_keys = [k for _, keys in keyed for k in keys]
        known = self.registry.known_keys(feed.id, all_keys)
        new = []
        for entry, keys in keyed:
            if known.isdisjoint(keys):
                new.append(entry)
            known.update(keys)  # a repeat within this document is not new either
        return new, all_keys

    # --- fetching -------------------------------------------------------------------------
    def _complete(self, entries: list[RawArticle], base: str) -> tuple[list[RawArticle], int]:
        """Absolute links, and the article page's text for entries that carry only a teaser."""
        out, pages = [], 0
        for entry in entries:
            if entry.url:
                entry = dataclasses.replace(entry, url=urljoin(base, entry.url))
            wants_page = entry.url and len(entry.body) < self.page_min_chars
            if self.fetch_pages and wants_page and pages < self.max_pages:
                pages += 1
                entry = self._with_page_text(entry)
            out.append(entry)
        return out, pages

    def _with_page_text(self, entry: RawArticle) -> RawArticle:
        """The entry with its page's main text as body; the teaser stays if that fails.

        A link the fetch policy refuses (an entry pointing at 127.0.0.1, or the redirect hop
        of a page sending us to an internal address) is never requested: the entry is still
        stored with the feed's own text, the refusal is logged as a warning (a feed pointing
        inward is worth an operator's look), and the feed itself stays healthy.
        """
        link = entry.url or ""
        if _http_parts(link) is None:
            return entry
        try:
            page = self._get(link, {"Accept": "text/html, */*;q=0.5"})
        except RefusedURL as exc:
            log.warning("page %s: %s; keeping the feed's teaser", link, exc)
            return entry
        except FetchError as exc:
            log.info("page %s: %s; keeping the feed's teaser", link, exc)
            return entry
        ctype = page.headers.get_content_type()
        if "html" not in ctype and "xml" not in ctype:
            log.info("page %s is %s, not HTML; keeping the feed's teaser", link, ctype)
            return entry
        parsed = parse_html(_decode(page.body, page.headers, link), entry.origin, url=link)
        page = next((i for i in parsed if isinstance(i, RawArticle)), None)
        if page is None or len(page.body) <= len(entry.body):
            log.info("page %s has no more text than the teaser", link)
            return entry
        return dataclasses.replace(
            entry,
            body=page.body,
            published=entry.published or page.published,
            source=entry.source or page.source,
        )

    def _get(self, url: str, headers: dict[str, str]) -> Response:
        """GET within the poller's limits; a 304 is returned, not raised."""
        return fetch(url, headers=headers, limits=self.limits, allow_private=self.allow_private)


def _decode(raw: bytes, headers: Message, origin: str) -> str:
    """The declared charset first; else UTF-8 or Windows-1252 as for files."""
    charset = headers.get_content_charset()
    if charset:
        with contextlib.suppress(LookupError, UnicodeDecodeError):
            return raw.decode(charset)
    return read_text(raw, origin)[0]
