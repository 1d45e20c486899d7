"""Watches (a description in words, posted to a channel) and the record of their alerts.

Kept in SQLite beside the subscriptions (`subscriptions.sqlite3` in the data
directory), or in PostgreSQL with `[store] url` (`bot.watches_pg`, the same methods on
the same SQL: statements here are written in what both engines speak, `ON CONFLICT`
and `RETURNING`, with `?` placeholders). The record is what makes alerts
exactly-once: an (watch, article) row is claimed before posting, so neither a restart
nor a second bot process on the same database posts it twice, and held matches are
taken for a roll-up by one statement (`take_held`), so one process posts them.
`watch_state` keeps the newest article already checked, so articles that arrive while
the bot is down are checked when it is back.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from retrieval import Corpus, Filters, InputError, wording
from retrieval.watches import WatchQuery

from .subscriptions import SUBSCRIPTIONS_FILE, BotRecords, check_guild

WATCHES_FILE = SUBSCRIPTIONS_FILE  # one database of the bot's own records per data dir
SCHEMA = """
CREATE TABLE IF NOT EXISTS watches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: alerts name their watch
    guild_id INTEGER,
    channel_id INTEGER NOT NULL,
    role_id INTEGER,
    description TEXT NOT NULL,
    countries TEXT NOT NULL DEFAULT '',
    topics TEXT NOT NULL DEFAULT '',
    vector BLOB NOT NULL,
    terms TEXT NOT NULL,
    after_article_id INTEGER NOT NULL,
    created TEXT NOT NULL,
    UNIQUE (channel_id, description, countries, topics)
);
CREATE TABLE IF NOT EXISTS watch_alerts (
    watch_id INTEGER NOT NULL,
    article_id INTEGER NOT NULL,
    story_id INTEGER,
    status TEXT NOT NULL,
    score REAL NOT NULL,
    sentence TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (watch_id, article_id)
);
CREATE INDEX IF NOT EXISTS watch_alerts_story ON watch_alerts(watch_id, story_id);
CREATE TABLE IF NOT EXISTS watch_messages (
    watch_id INTEGER NOT NULL,
    at TEXT NOT NULL,
    articles INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS watch_messages_by_watch ON watch_messages(watch_id, at);
CREATE TABLE IF NOT EXISTS watch_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
CURSOR = "checked_through"
# Alert statuses: claimed before sending, then posted; over the rate limit held until a
# roll-up posts them (folded); another article of a story already alerted (same_story);
# refused by Discord (failed, logged, not retried).
POSTING, POSTED, HELD, FOLDED, SAME_STORY, FAILED = (
    "posting",
    "posted",
    "held",
    "folded",
    "same_story",
    "failed",
)


@dataclass(frozen=True)
class Watch:
    id: int
    guild_id: int | None
    channel_id: int
    role_id: int | None
    description: str
    countries: tuple[str, ...]
    topics: tuple[str, ...]
    after_article_id: int

    def describe(self) -> str:
        scope = ", ".join([*self.countries, *self.topics])
        return wording.text(
            "watches.describe",
            id=self.id,
            description=self.description,
            channel=self.channel_id,
            scope=f" ({scope})" if scope else "",
            role=wording.text("watches.role", role=self.role_id) if self.role_id else "",
        )


@dataclass(frozen=True, order=True)
class Held:
    """An article a watch matched while over its rate limit, waiting for the roll-up."""

    article_id: int
    score: float
    sentence: str


class WatchStore(BotRecords):
    """The watches and their record in the data directory's SQLite file."""

    SCHEMA = SCHEMA
    DUPLICATE: type[Exception] = sqlite3.IntegrityError  # what a UNIQUE violation raises

    def _run(self, sql: str, args: Sequence[object] = ()) -> Any:
        """Run one statement (written with `?` placeholders); its cursor."""
        return self._db.execute(sql, tuple(args))

    def _run_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        self._db.executemany(sql, rows)

    def _transaction(self) -> contextlib.AbstractContextManager:
        return self._connections.transaction()

    # --- the watches ----------------------------------------------------------------------
    def add(
        self,
        description: str,
        vector: np.ndarray,
        terms: dict[str, float],
        channel_id: int,
        *,
        after_article_id: int,
        countries: tuple[str, ...] = (),
        topics: tuple[str, ...] = (),
        guild_id: int | None = None,
        role_id: int | None = None,
    ) -> Watch:
        try:
            row = self._run(
                "INSERT INTO watches (guild_id, channel_id, role_id, description, countries,"
                " topics, vector, terms, after_article_id, created) VALUES (?,?,?,?,?,?,?,?,?,?)"
                f" RETURNING {_COLUMNS}",
                (
                    guild_id,
                    channel_id,
                    role_id,
                    description,
                    ",".join(countries),
                    ",".join(topics),
                    np.asarray(vector, np.float32).tobytes(),
                    json.dumps(terms, sort_keys=True),
                    after_article_id,
                    _now(),
                ),
            ).fetchall()[0]  # all rows: SQLite finishes the statement only then
        except self.DUPLICATE:
            raise InputError(wording.text("watches.errors.duplicate")) from None
        return _watch(row)

    def get(self, watch_id: int) -> Watch:
        row = self._run(f"SELECT {_COLUMNS} FROM watches WHERE id=?", (watch_id,)).fetchone()
        if row is None:
            raise InputError(wording.text("watches.errors.unknown", id=watch_id))
        return _watch(row)

    def remove(self, watch_id: int, guild_id: int | None = None) -> Watch:
        """Remove a watch and its record (a server can remove only its own)."""
        watch = self.get(watch_id)
        check_guild(
            watch.guild_id, guild_id, wording.text("watches.errors.other_server", id=watch_id)
        )
        with self._transaction():
            self._run("DELETE FROM watches WHERE id=?", (watch_id,))
            self._run("DELETE FROM watch_alerts WHERE watch_id=?", (watch_id,))
            self._run("DELETE FROM watch_messages WHERE watch_id=?", (watch_id,))
        return watch

    def list(self, guild_id: int | None = None) -> list[Watch]:
        sql, args = f"SELECT {_COLUMNS} FROM watches", ()
        if guild_id is not None:
            sql, args = sql + " WHERE guild_id=?", (guild_id,)
        return [_watch(r) for r in self._run(sql + " ORDER BY id", args).fetchall()]

    def queries(self) -> list[WatchQuery]:
        """Every watch as the matcher needs it: vector, weighted words, filters."""
        rows = self._run(
            "SELECT id, vector, terms, countries, topics, after_article_id FROM watches ORDER BY id"
        ).fetchall()
        return [
            WatchQuery(
                id=r[0],
                vector=np.frombuffer(r[1], np.float32),
                terms=json.loads(r[2]),
                filters=Filters(countries=_split(r[3]), topics=_split(r[4]), after_id=int(r[5])),
            )
            for r in rows
        ]

    # --- which articles were checked ------------------------------------------------------
    def cursor(self) -> int | None:
        row = self._run("SELECT value FROM watch_state WHERE key=?", (CURSOR,)).fetchone()
        return int(row[0]) if row else None

    def set_cursor(self, article_id: int) -> None:
        self._run(
            "INSERT INTO watch_state VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (CURSOR, str(article_id)),
        )

    # --- the record of alerts -------------------------------------------------------------
    def claim(
        self,
        watch_id: int,
        article_id: int,
        status: str,
        score: float,
        sentence: str,
        story_id: int | None = None,
    ) -> bool:
        """Record a match before acting on it; False when it was recorded already (by this
        process or any other on the same database)."""
        cur = self._run(
            "INSERT INTO watch_alerts VALUES (?,?,?,?,?,?,?)"
            " ON CONFLICT (watch_id, article_id) DO NOTHING",
            (watch_id, article_id, story_id, status, float(score), sentence, _now()),
        )
        return cur.rowcount == 1

    def set_status(self, watch_id: int, article_ids: Sequence[int], status: str) -> None:
        self._run_many(
            "UPDATE watch_alerts SET status=?, at=? WHERE watch_id=? AND article_id=?",
            [(status, _now(), watch_id, a) for a in article_ids],
        )

    def story_alerted(self, watch_id: int, story_id: int) -> bool:
        """Whether this watch already has an alert (sent or held) for another article of
        the story: one update per story, once stories exist."""
        row = self._run(
            "SELECT 1 FROM watch_alerts WHERE watch_id=? AND story_id=? AND status IN (?,?,?,?)",
            (watch_id, story_id, POSTING, POSTED, HELD, FOLDED),
        ).fetchone()
        return row is not None

    def alerts(self, watch_id: int) -> list[tuple[int, str]]:
        """(article id, status) of every recorded match of a watch, by article."""
        rows = self._run(
            "SELECT article_id, status FROM watch_alerts WHERE watch_id=? ORDER BY article_id",
            (watch_id,),
        ).fetchall()
        return [(int(a), s) for a, s in rows]

    def held(self, watch_id: int) -> list[Held]:
        rows = self._run(
            "SELECT article_id, score, sentence FROM watch_alerts WHERE watch_id=? AND status=?"
            " ORDER BY article_id",
            (watch_id, HELD),
        ).fetchall()
        return [Held(*r) for r in rows]

    def take_held(self, watch_id: int) -> list[Held]:
        """The held matches of a watch, marked as being posted in the same statement: of
        several processes rolling them up at once, one gets them, the others nothing."""
        rows = self._run(
            "UPDATE watch_alerts SET status=?, at=? WHERE watch_id=? AND status=?"
            " RETURNING article_id, score, sentence",
            (POSTING, _now(), watch_id, HELD),
        ).fetchall()
        return sorted(Held(*r) for r in rows)

    def watches_holding(self) -> list[int]:
        rows = self._run(
            "SELECT DISTINCT watch_id FROM watch_alerts WHERE status=? ORDER BY watch_id", (HELD,)
        ).fetchall()
        return [r[0] for r in rows]

    # --- the rate limit: messages posted per watch ----------------------------------------
    def record_message(self, watch_id: int, articles: int, at: datetime) -> None:
        self._run("INSERT INTO watch_messages VALUES (?,?,?)", (watch_id, at.isoformat(), articles))

    def messages_since(self, watch_id: int, since: datetime) -> int:
        row = self._run(
            "SELECT count(*) FROM watch_messages WHERE watch_id=? AND at>=?",
            (watch_id, since.isoformat()),
        ).fetchone()
        return int(row[0])


_COLUMNS = "id, guild_id, channel_id, role_id, description, countries, topics, after_article_id"


def _watch(row: tuple) -> Watch:
    return Watch(
        id=row[0],
        guild_id=row[1],
        channel_id=row[2],
        role_id=row[3],
        description=row[4],
        countries=_split(row[5]),
        topics=_split(row[6]),
        after_article_id=row[7],
    )


def _split(value: str) -> tuple[str, ...]:
    return tuple(v for v in value.split(",") if v)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def new_watch(
    corpus: Corpus,
    store: WatchStore,
    description: str,
    channel_id: int,
    *,
    countries: tuple[str, ...] = (),
    topics: tuple[str, ...] = (),
    guild_id: int | None = None,
    role_id: int | None = None,
) -> Watch:
    """Embed and weigh the description once, and store the watch (slash command, CLI and
    console alike). It fires only on articles that arrive after this."""
    from retrieval.watches import check_description, prepare

    text = check_description(description)
    vector, terms = prepare(text, corpus.encoder, corpus.store)
    return store.add(
        text,
        vector,
        terms,
        channel_id,
        after_article_id=corpus.store.max_article_id(),
        countries=countries,
        topics=topics,
        guild_id=guild_id,
        role_id=role_id,
    )
