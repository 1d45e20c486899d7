"""The feed registry: the subscribed RSS/Atom sources and their polling state, in SQLite.

`FeedRegistry` keeps the subscriptions in the store's SQLite file (tables `feeds` and
`feed_seen`), so they and the entries already seen survive restarts. `add` refuses a
feed URL that is plainly an internal address unless built with `allow_private=True`
(the operator's `[fetch] allow_private`). `claim_due` is what a poller asks for: here
it is `due`, since one data directory has one writer; the PostgreSQL twin
(`registry_pg.PgFeedRegistry`) claims rows so several workers never poll one feed at once.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import wording
from ..errors import InputError, StoreError
from ..fetch import guard_url
from ..identity import http_parts as _http_parts
from ..identity import normalize_url
from ..sqlite import ThreadConnections

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
    def from_row(cls, row: Any) -> Feed:
        """From a row of either engine (a mapping of the `feeds` columns; times as text)."""
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


class DuplicateFeed(Exception):
    """An engine's insert hit the UNIQUE url: `add` turns it into a clear InputError."""


class RegistryLookups:
    """What both engines' registries share: subscribing, finding and listing feeds.

    An engine supplies `_rows` (run one statement, rows as mappings) with its parameter
    mark `MARK`, and `_insert` (the new row, or DuplicateFeed); the rest is the same SQL.
    """

    MARK = "?"
    allow_private: bool

    def _rows(self, sql: str, args: Iterable[object] = ()) -> list[Any]:
        raise NotImplementedError

    def _insert(self, url: str, name: str | None, created: str) -> Feed:
        raise NotImplementedError

    def add(self, url: str, name: str | None = None) -> Feed:
        """Subscribe to a feed; it is due at once. InputError for a bad or duplicate URL,
        `RefusedURL` for a localhost name or a non-public IP literal in any spelling
        (unless `allow_private`). A name is not looked up here, which would block the
        caller on DNS: every poll resolves and checks it before connecting."""
        canonical = feed_url(url)
        guard_url(canonical, allow_private=self.allow_private, lookup=False)
        name = " ".join((name or "").split()) or None
        try:
            feed = self._insert(canonical, name, _iso(_now()) or "")
        except DuplicateFeed:
            existing = self._find(canonical)
            where = f" as feed {existing.id} ({existing.label})" if existing else ""
            raise InputError(
                wording.text("errors.feed.already", url=canonical, where=where)
            ) from None
        log.info("subscribed to %s", canonical)
        return feed

    def remove(self, url_or_id: str | int) -> Feed:
        """Unsubscribe (its seen keys go too); InputError naming the feeds that exist."""
        feed = self.get(url_or_id)
        self._rows(f"DELETE FROM feeds WHERE id={self.MARK}", (feed.id,))
        log.info("unsubscribed from %s", feed.url)
        return feed

    def get(self, url_or_id: str | int) -> Feed:
        """A feed by id, URL or (unique, case-insensitive) name."""
        feed = self._find(url_or_id)
        if feed is None:
            raise InputError(self._unknown(url_or_id))
        return feed

    def list(self) -> list[Feed]:
        return [Feed.from_row(r) for r in self._rows("SELECT * FROM feeds ORDER BY id")]

    def due(self, now: datetime | None = None) -> list[Feed]:
        """Feeds whose next poll time has come, the longest-waiting first."""
        now = now or _now()
        due = [f for f in self.list() if f.next_poll_after is None or f.next_poll_after <= now]
        return sorted(due, key=lambda f: f.next_poll_after or f.created)

    def record_added(self, feed_id: int, count: int) -> None:
        """Credit the feed with the articles the corpus actually added from its entries."""
        m = self.MARK
        self._rows(f"UPDATE feeds SET added=added+{m} WHERE id={m}", (count, feed_id))

    def seen_count(self, feed_id: int) -> int:
        """How many seen keys are stored for the feed (for tests and diagnostics)."""
        rows = self._rows(
            f"SELECT count(*) AS n FROM feed_seen WHERE feed_id={self.MARK}", (feed_id,)
        )
        return int(rows[0]["n"])

    def _find(self, ref: str | int) -> Feed | None:
        text, m = str(ref).strip(), self.MARK
        if isinstance(ref, int) or text.isdigit():
            rows = self._rows(f"SELECT * FROM feeds WHERE id={m}", (int(text),))
        else:
            rows = self._rows(f"SELECT * FROM feeds WHERE url={m}", (normalize_url(text),))
            if not rows:
                rows = self._rows(f"SELECT * FROM feeds WHERE lower(name)=lower({m})", (text,))
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


class FeedRegistry(RegistryLookups):
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

    def _rows(self, sql: str, args: Iterable[object] = ()) -> list[Any]:
        return self._db.execute(sql, tuple(args)).fetchall()

    def _insert(self, url: str, name: str | None, created: str) -> Feed:
        try:
            cur = self._db.execute(
                "INSERT INTO feeds (url, name, created) VALUES (?, ?, ?)", (url, name, created)
            )
        except sqlite3.IntegrityError:
            raise DuplicateFeed(url) from None
        return self.get(int(cur.lastrowid or 0))

    def close(self) -> None:
        self._connections.close()

    def __enter__(self) -> FeedRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def claim_due(self, now: datetime | None = None) -> list[Feed]:
        """The feeds this worker should poll now: all due ones (one writer per data dir)."""
        return self.due(now)

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
