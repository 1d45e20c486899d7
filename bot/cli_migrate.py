"""`briefbot migrate --to postgresql://…`: the embedded store and the bot's tables into
an empty PostgreSQL database, without re-embedding.

The corpus goes by `retrieval.postgres.migrate.copy_corpus` (articles, vectors, tags,
stories, meta; checked counts). Then, in one transaction, the bot's own tables as they
are (ids kept, so digest history and feed state stay valid): subscriptions and the
digest record, watches and their alert record, story threads, feeds and their seen keys. Each
table's count in PostgreSQL is compared with the source's; a mismatch rolls the bot
tables back and fails the command. Watch ids continue past every id SQLite ever handed
out (its AUTOINCREMENT mark), as they would have there: an alert names its watch.
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

from .cli_corpus import open_corpus
from .cli_json import emit
from .subscriptions import SUBSCRIPTIONS_FILE, SubscriptionStore

# table -> columns copied, in the order both schemas declare them; each PG twin's own.
BOT_TABLES = {
    "subscriptions": (
        "subscriptions",
        "id, guild_id, channel_id, time, timezone, countries, topics, created, delivery",
    ),
    "posted_digests": (
        "subscriptions",
        "subscription_id, period, last_article_id, status, at",
    ),
    "watches": (
        "subscriptions",
        "id, guild_id, channel_id, role_id, description, countries, topics, vector, terms,"
        " after_article_id, created",
    ),
    "watch_alerts": (
        "subscriptions",
        "watch_id, article_id, story_id, status, score, sentence, at",
    ),
    "watch_messages": ("subscriptions", "watch_id, at, articles"),
    "watch_state": ("subscriptions", "key, value"),
    "story_threads": (
        "subscriptions",
        "subscription_id, channel_id, story_id, thread_id, last_article_id, created, updated",
    ),
    "feeds": (
        "corpus",
        "id, url, name, created, etag, last_modified, last_polled, last_ok,"
        " consecutive_failures, last_error, alerted, next_poll_after, seen, added",
    ),
    "feed_seen": ("corpus", "feed_id, key"),
}
SEQUENCES = {"subscriptions": "id", "watches": "id", "feeds": "id"}


def cmd_migrate(args: argparse.Namespace) -> int:
    from retrieval import InputError, wording
    from retrieval.postgres.connections import redacted
    from retrieval.postgres.migrate import copy_corpus

    if not args.to.startswith(("postgresql://", "postgres://")):
        raise InputError(wording.text("cli.migrate.not_postgres", url=args.to.split("://")[0]))
    with open_corpus(args, bundled=False) as corpus:
        if corpus.settings.store.url:
            raise InputError(wording.text("cli.migrate.not_embedded"))
        counts = copy_corpus(corpus.store, args.to)
        files = {
            "corpus": Path(corpus.store.path),
            "subscriptions": Path(corpus.data_dir) / SUBSCRIPTIONS_FILE,
        }  # the watches are in the subscriptions' file (WATCHES_FILE is that file)
        if files["subscriptions"].exists():
            # Opening the store brings an older file's columns up to date before the copy.
            SubscriptionStore(files["subscriptions"]).close()
        counts |= copy_bot_tables(files, args.to)
    if args.json:
        emit({"to": redacted(args.to), "tables": counts})
        return 0
    print(wording.text("cli.migrate.done", url=redacted(args.to)))
    for table, count in counts.items():
        print(wording.text("cli.migrate.table", table=table, count=count))
    return 0


def copy_bot_tables(files: dict[str, Path], dest_url: str) -> dict[str, int]:
    """The bot's tables from their SQLite files into `dest_url`; rows per table, checked."""
    import psycopg

    from retrieval import StoreError
    from retrieval.feeds.registry_pg import PgFeedRegistry
    from retrieval.postgres.connections import redacted

    from .story_threads_pg import PgStoryThreadStore
    from .subscriptions_pg import PgSubscriptionStore
    from .watches_pg import PgWatchStore

    # Each twin creates its tables; the copy then fills them.
    PgSubscriptionStore(dest_url).close()
    PgWatchStore(dest_url).close()
    PgStoryThreadStore(dest_url).close()
    PgFeedRegistry(dest_url).close()
    counts: dict[str, int] = {}
    try:
        with psycopg.connect(dest_url) as db, db.transaction():
            for table, (source, columns) in BOT_TABLES.items():
                rows = _source_rows(files[source], table, columns)
                if db.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()[0]:
                    raise StoreError(f"{table} in the PostgreSQL store is not empty")
                with db.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                got = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                if got != len(rows):
                    raise StoreError(f"{table}: copied {got} rows of {len(rows)}")
                counts[table] = got
            for table, column in SEQUENCES.items():
                source = files[BOT_TABLES[table][0]]
                db.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                    f" greatest(coalesce((SELECT max({column}) FROM {table}), 0), %s) + 1,"
                    " false)",
                    (_autoincrement_mark(source, table),),
                )
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(f"copying into {redacted(dest_url)} failed: {reason}") from None
    return counts


def _autoincrement_mark(path: Path, table: str) -> int:
    """The highest id SQLite's AUTOINCREMENT ever gave `table` (0 without one)."""
    if not path.exists():
        return 0
    src = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)
    try:
        row = src.execute("SELECT seq FROM sqlite_sequence WHERE name=?", (table,)).fetchone()
    except sqlite3.OperationalError:  # no AUTOINCREMENT table in this file
        row = None
    finally:
        src.close()
    return int(row[0]) if row else 0


def _source_rows(path: Path, table: str, columns: str) -> list[tuple]:
    """Every row of `table` in the SQLite file (none when the file or table is absent)."""
    if not path.exists():
        return []
    src = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)
    try:
        return src.execute(f"SELECT {columns} FROM {table} ORDER BY rowid").fetchall()
    except sqlite3.OperationalError:  # a data dir that never had subscriptions or feeds
        return []
    finally:
        src.close()
