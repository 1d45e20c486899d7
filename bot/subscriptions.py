"""Digest subscriptions (which channel, when, for what) and the record of digests posted.

Kept in SQLite in the data directory. The record of posted digests is what makes
digests exactly-once and gap-free: a period is claimed before posting (so a
restart never posts it twice), and each digest starts after the last article
the previous one covered.

The country filter is stored as people type it, in the one `countries` column (so
old rows still read, and the UNIQUE constraint covers pairs too): "JP,KR" any of
them, "JP+US" a pair, and a trailing "*" when groupings include their members.

`delivery` says where a digest goes: `channel` (one message of sections, as always), `threads`
(each story a message in the channel with a thread started from it) or `forum` (the channel
is a forum: each story a post). Databases from before it gain the column on open.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from retrieval import Filters, InputError, wording
from retrieval.sqlite import ThreadConnections

SCHEMA = """
CREATE TABLE IF NOT EXISTS subscriptions (
    id INTEGER PRIMARY KEY,
    guild_id INTEGER,
    channel_id INTEGER NOT NULL,
    time TEXT NOT NULL,
    timezone TEXT NOT NULL,
    countries TEXT NOT NULL DEFAULT '',
    topics TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    delivery TEXT NOT NULL DEFAULT 'channel',
    UNIQUE (channel_id, time, timezone, countries, topics)
);
CREATE TABLE IF NOT EXISTS posted_digests (
    subscription_id INTEGER NOT NULL,
    period TEXT NOT NULL,
    last_article_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (subscription_id, period)
);
"""
# Added after the first release: older databases get it on open (`_migrate`).
ADD_DELIVERY = "ALTER TABLE subscriptions ADD COLUMN delivery TEXT NOT NULL DEFAULT 'channel'"
CHANNEL, THREADS, FORUM = "channel", "threads", "forum"
DELIVERIES = (CHANNEL, THREADS, FORUM)
SUBSCRIPTIONS_FILE = "subscriptions.sqlite3"  # in the data directory, beside the corpus
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Subscription:
    id: int
    guild_id: int | None
    channel_id: int
    time: str
    timezone: str
    countries: tuple[str, ...]
    topics: tuple[str, ...]
    with_countries: tuple[str, ...] = ()  # required as well: a pair
    members: bool = False  # a grouping includes its members
    delivery: str = CHANNEL  # one of DELIVERIES

    def filters(self, **window: Any) -> Filters:
        """The stored filter; `window` adds the digest period (since, after_id)."""
        return Filters(
            countries=self.countries,
            with_countries=self.with_countries,
            members=self.members,
            topics=self.topics,
            **window,
        )

    @property
    def hour_minute(self) -> tuple[int, int]:
        h, m = self.time.split(":")
        return int(h), int(m)

    def period(self, now: datetime) -> str:
        """The scheduled slot this run serves: the latest HH:MM (local) not after `now`."""
        tz = ZoneInfo(self.timezone)
        local = now.astimezone(tz)
        hour, minute = self.hour_minute
        slot = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if slot > local:
            slot -= timedelta(days=1)
        return slot.isoformat()

    def describe(self) -> str:
        where = encode_countries(self.countries, self.with_countries)
        if where and self.members:
            where = wording.text("discord.subscription.members", countries=where)
        scope = ", ".join([where, *self.topics] if where else self.topics)
        text = wording.text(
            "discord.subscription.describe",
            id=self.id,
            channel=self.channel_id,
            time=self.time,
            timezone=self.timezone,
            scope=scope or wording.text("discord.subscription.all_topics"),
        )
        if self.delivery == THREADS:
            return text + wording.text("discord.subscription.threads")
        if self.delivery == FORUM:
            return text + wording.text("discord.subscription.forum")
        return text


MEMBERS = "*"


def encode_countries(
    countries: tuple[str, ...], with_countries: tuple[str, ...] = (), members: bool = False
) -> str:
    """A stored country filter: "JP,KR" (any of), "JP+US" (a pair), "EU*" (with members)."""
    text = "+".join([",".join(countries), *with_countries]) if countries else ""
    return text + MEMBERS if text and members else text


def decode_countries(text: str) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """`encode_countries` read back: (countries, with_countries, members)."""
    members = text.endswith(MEMBERS)
    first, *rest = text.removesuffix(MEMBERS).split("+")
    countries = tuple(c for c in first.split(",") if c)
    return countries, tuple(c for c in rest if c), members


def parse_time(text: str) -> str:
    match = _TIME.match(text.strip())
    if not match:
        raise InputError(wording.text("errors.time.unreadable", time=text))
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def parse_delivery(text: str | None) -> str:
    name = (text or CHANNEL).strip().lower()
    if name not in DELIVERIES:
        raise InputError(
            wording.text("errors.subscription.delivery", delivery=text, known=", ".join(DELIVERIES))
        )
    return name


def parse_timezone(text: str) -> str:
    name = text.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        close = search_timezones(name.split("/")[-1], 3)
        if close:
            hint = wording.text("errors.timezone.did_you_mean", names=", ".join(close))
        else:
            hint = wording.text("errors.timezone.example")
        message = wording.text("errors.timezone.unknown", timezone=text, hint=hint)
        raise InputError(message) from None
    return name


def search_timezones(text: str, limit: int = 25) -> list[str]:
    """IANA names containing `text` (case-insensitive), shortest first: for autocomplete."""
    needle = text.strip().lower().replace(" ", "_")
    names = sorted(available_timezones())
    hits = [n for n in names if needle in n.lower()] if needle else names
    return sorted(hits, key=lambda n: (not n.lower().startswith(needle), len(n), n))[:limit]


class BotRecords:
    """One of the bot's record stores (subscriptions, watches, story threads): a SQLite
    connection per thread, and its tables made on open (`SCHEMA`, then `_migrate`)."""

    SCHEMA = ""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connections = ThreadConnections(path)
        self._db.executescript(self.SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Bring a database from an older release up to `SCHEMA` (nothing by default)."""

    @property
    def _db(self) -> sqlite3.Connection:
        return self._connections.get()

    def close(self) -> None:
        self._connections.close()


def check_guild(owner: int | None, guild_id: int | None, message: str) -> None:
    """A server may change only its own records (`guild_id` None: the CLI, any)."""
    if guild_id is not None and owner not in (None, guild_id):
        raise InputError(message)


class SubscriptionQueries:
    """Subscriptions and the digest record, in SQL both engines speak.

    An engine supplies `_run` (one statement on this thread's connection, its cursor),
    its parameter mark `MARK` and the exception its UNIQUE constraint raises. The claim
    is `INSERT … ON CONFLICT DO NOTHING` on (subscription, period): of all the runs (or
    processes) that fire for one period exactly one gets the row and posts.
    """

    MARK = "?"
    DUPLICATE: type[Exception] = sqlite3.IntegrityError

    def _run(self, sql: str, args: tuple = ()) -> Any:
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql.replace("?", self.MARK)

    def add(
        self,
        channel_id: int,
        time: str,
        timezone: str,
        countries: tuple[str, ...] = (),
        topics: tuple[str, ...] = (),
        guild_id: int | None = None,
        *,
        with_countries: tuple[str, ...] = (),
        members: bool = False,
        delivery: str | None = None,
    ) -> Subscription:
        values = (
            guild_id,
            channel_id,
            parse_time(time),
            parse_timezone(timezone),
            encode_countries(countries, with_countries, members),
            ",".join(topics),
            datetime.now(UTC).isoformat(),
            parse_delivery(delivery),
        )
        try:
            row = self._run(
                self._sql(
                    "INSERT INTO subscriptions (guild_id, channel_id, time, timezone, countries,"
                    f" topics, created, delivery) VALUES (?,?,?,?,?,?,?,?) RETURNING {_COLUMNS}"
                ),
                values,
            ).fetchone()
        except self.DUPLICATE:
            raise InputError(wording.text("errors.subscription.duplicate")) from None
        return _row(row)

    def get(self, sub_id: int) -> Subscription:
        row = self._run(
            self._sql(f"SELECT {_COLUMNS} FROM subscriptions WHERE id=?"), (sub_id,)
        ).fetchone()
        if row is None:
            raise InputError(wording.text("errors.subscription.unknown", id=sub_id))
        return _row(row)

    def remove(self, sub_id: int, guild_id: int | None = None) -> Subscription:
        sub = self.get(sub_id)
        check_guild(
            sub.guild_id, guild_id, wording.text("errors.subscription.other_server", id=sub_id)
        )
        self._run(self._sql("DELETE FROM subscriptions WHERE id=?"), (sub_id,))
        return sub

    def list(self, guild_id: int | None = None) -> list[Subscription]:
        sql = f"SELECT {_COLUMNS} FROM subscriptions"
        args: tuple = ()
        if guild_id is not None:
            sql += " WHERE guild_id=?"
            args = (guild_id,)
        return [_row(r) for r in self._run(self._sql(sql + " ORDER BY id"), args).fetchall()]

    # --- the record of posted digests -----------------------------------------------------
    def last_article_id(self, sub_id: int) -> int | None:
        row = self._run(
            self._sql("SELECT max(last_article_id) FROM posted_digests WHERE subscription_id=?"),
            (sub_id,),
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def claim(self, sub_id: int, period: str, last_article_id: int) -> bool:
        """Reserve a period before posting; False when it was already posted (or is being)."""
        cur = self._run(
            self._sql(
                "INSERT INTO posted_digests VALUES (?,?,?,?,?)"
                " ON CONFLICT (subscription_id, period) DO NOTHING"
            ),
            (sub_id, period, last_article_id, "posting", datetime.now(UTC).isoformat()),
        )
        return cur.rowcount == 1

    def release(self, sub_id: int, period: str) -> None:
        """Give a claimed period back after a failed post, so a later run may retry it."""
        self._run(
            self._sql(
                "DELETE FROM posted_digests WHERE subscription_id=? AND period=?"
                " AND status='posting'"
            ),
            (sub_id, period),
        )

    def mark_posted(self, sub_id: int, period: str) -> None:
        self._run(
            self._sql(
                "UPDATE posted_digests SET status='posted', at=?"
                " WHERE subscription_id=? AND period=?"
            ),
            (datetime.now(UTC).isoformat(), sub_id, period),
        )

    def posted(self, sub_id: int) -> list[tuple[str, int, str]]:
        rows = self._run(
            self._sql(
                "SELECT period, last_article_id, status FROM posted_digests"
                " WHERE subscription_id=? ORDER BY period"
            ),
            (sub_id,),
        ).fetchall()
        return [(p, int(a), st) for p, a, st in rows]


class SubscriptionStore(SubscriptionQueries, BotRecords):
    """Subscriptions in `subscriptions.sqlite3` in the data directory."""

    SCHEMA = SCHEMA

    def _migrate(self) -> None:
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(subscriptions)")}
        if "delivery" not in columns:
            self._db.execute(ADD_DELIVERY)

    def _run(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        return self._db.execute(sql, args)


_COLUMNS = "id, guild_id, channel_id, time, timezone, countries, topics, delivery"


def _row(row: tuple) -> Subscription:
    countries, with_countries, members = decode_countries(row[5])
    return Subscription(
        id=row[0],
        guild_id=row[1],
        channel_id=row[2],
        time=row[3],
        timezone=row[4],
        countries=countries,
        topics=tuple(t for t in row[6].split(",") if t),
        with_countries=with_countries,
        members=members,
        delivery=row[7],
    )
