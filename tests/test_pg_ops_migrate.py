"""`briefbot migrate --to postgresql://…` through the CLI: the corpus and the bot's tables
copied with their ids, counts that match the source, exit codes of the contract."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from bot.cli import main
from bot.story_threads import STORY_THREADS_FILE, StoryThreadStore
from bot.subscriptions import SUBSCRIPTIONS_FILE, SubscriptionStore
from bot.watches import HELD, POSTED, WATCHES_FILE, WatchStore
from retrieval.corpus import DB_NAME
from retrieval.feeds import FeedRegistry

pytest.importorskip("psycopg")


@pytest.fixture
def data_dir(tmp_path, seed_dir, seed_settings):
    """A copy of the seed corpus with two subscriptions (one removed: ids have a gap), a
    digest posted, a feed with seen keys, and a watch with its record (the newest watch
    removed: SQLite never hands its id out again)."""
    d = tmp_path / "d"
    shutil.copytree(seed_dir, d)
    # The session's seed dir may hold other tests' subscriptions and feeds: start clean.
    (d / SUBSCRIPTIONS_FILE).unlink(missing_ok=True)
    with sqlite3.connect(d / DB_NAME) as db:
        db.execute("DROP TABLE IF EXISTS feed_seen")
        db.execute("DROP TABLE IF EXISTS feeds")
    subs = SubscriptionStore(d / SUBSCRIPTIONS_FILE)
    first = subs.add(100, "08:00", "UTC", countries=("JP",), guild_id=5)
    subs.remove(subs.add(101, "09:00", "UTC").id)
    third = subs.add(102, "10:00", "Europe/Paris", topics=("trade",))
    subs.claim(first.id, "2026-12-01T08:00:00+00:00", 12)
    subs.mark_posted(first.id, "2026-12-01T08:00:00+00:00")
    subs.claim(third.id, "2026-12-01T10:00:00+01:00", 14)
    watches = WatchStore(d / WATCHES_FILE)
    vector = np.linspace(-1, 1, 8, dtype=np.float32)
    watch = watches.add("auto tariffs", vector, {"auto": 1.5}, 100, after_article_id=3, role_id=9)
    watches.remove(watches.add("steel", vector, {"steel": 1.0}, 100, after_article_id=3).id)
    watches.claim(watch.id, 4, POSTED, 0.8125, "Tariffs rise.", story_id=2)
    watches.claim(watch.id, 5, HELD, 0.75, "Tariffs again.")
    watches.record_message(watch.id, 1, datetime(2026, 12, 1, 9, tzinfo=UTC))
    watches.set_cursor(18)
    watches.close()
    threads = StoryThreadStore(d / STORY_THREADS_FILE)  # a digest's thread following story 2
    assert threads.claim(first.id, 100, 2, 12)
    threads.record(first.id, 100, 2, 555, 12)
    threads.close()
    feeds = FeedRegistry(d / DB_NAME)
    feed = feeds.add("https://example.com/rss.xml", name="Example")
    now = datetime(2026, 12, 2, tzinfo=UTC)
    feeds.record_success(
        feed.id,
        now=now,
        next_after=now + timedelta(minutes=15),
        etag='"v1"',
        last_modified=None,
        keys=["a", "b", "c"],
        new=3,
    )
    feeds.close()
    config = tmp_path / "engine.toml"
    config.write_text(f'[embedding]\nbackend = "{seed_settings.embedding.backend}"\n')
    return ["--data-dir", str(d), "--config", str(config)]


def test_migrate_copies_corpus_and_bot_tables_with_matching_counts(
    capsys, data_dir, pg_url, monkeypatch
):
    monkeypatch.delenv("BRIEFBOT_STORE_URL", raising=False)
    assert main([*data_dir, "migrate", "--to", pg_url, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    tables = out["tables"]
    assert tables["articles"] == 18 and tables["sentences"] > 18
    assert tables["subscriptions"] == 2 and tables["posted_digests"] == 2
    assert tables["feeds"] == 1 and tables["feed_seen"] == 3
    assert tables["watches"] == 1 and tables["watch_alerts"] == 2
    assert tables["watch_messages"] == 1 and tables["watch_state"] == 1
    assert tables["story_threads"] == 1
    assert "@" in out["to"] and ":" not in out["to"].split("//")[1].split("@")[0]

    from bot.subscriptions_pg import PgSubscriptionStore
    from retrieval.feeds.registry_pg import PgFeedRegistry

    subs = PgSubscriptionStore(pg_url)
    lite = SubscriptionStore(_path(data_dir) / SUBSCRIPTIONS_FILE)
    assert subs.list() == lite.list()
    ids = [s.id for s in lite.list()]
    assert all(subs.posted(i) == lite.posted(i) != [] for i in ids)
    assert subs.add(103, "11:00", "UTC").id == max(ids) + 1  # ids continue past the source's
    feeds = PgFeedRegistry(pg_url)
    (feed,) = feeds.list()
    assert feed.etag == '"v1"' and feed.seen == 3
    assert feeds.known_keys(feed.id, ["a", "b", "c", "d"]) == {"a", "b", "c"}
    subs.close()
    feeds.close()
    _check_watches(pg_url, WatchStore(_path(data_dir) / WATCHES_FILE))
    from bot.story_threads_pg import PgStoryThreadStore

    pg_threads = PgStoryThreadStore(pg_url)
    lite_threads = StoryThreadStore(_path(data_dir) / STORY_THREADS_FILE)
    assert pg_threads.find(100, 2) == lite_threads.find(100, 2) != []
    assert pg_threads.find(100, 2)[0].thread_id == 555
    pg_threads.close()
    lite_threads.close()

    # A second run finds the database full: one line, exit 1, nothing changed.
    assert main([*data_dir, "migrate", "--to", pg_url]) == 1
    assert "not empty" in capsys.readouterr().err


def test_migrate_refuses_what_is_not_postgres(capsys, data_dir):
    assert main([*data_dir, "migrate", "--to", "mysql://x/y"]) == 1
    err = capsys.readouterr().err
    assert "postgresql://" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exc:
        main([*data_dir, "migrate"])
    assert exc.value.code == 2


def _check_watches(pg_url: str, lite: WatchStore) -> None:
    from bot.watches_pg import PgWatchStore

    pg = PgWatchStore(pg_url)
    try:
        assert pg.list() == lite.list() != []
        (got,), (want,) = pg.queries(), lite.queries()
        np.testing.assert_array_equal(got.vector, want.vector)  # the bytes, unchanged
        assert (got.terms, got.filters) == (want.terms, want.filters)
        watch_id = want.id
        assert pg.alerts(watch_id) == lite.alerts(watch_id) == [(4, POSTED), (5, HELD)]
        assert pg.held(watch_id) == lite.held(watch_id)
        assert pg.cursor() == lite.cursor() == 18
        since = datetime(2026, 12, 1, tzinfo=UTC)
        assert pg.messages_since(watch_id, since) == lite.messages_since(watch_id, since) == 1
        assert pg.story_alerted(watch_id, 2)
        # Past the removed watch's id too, as SQLite's AUTOINCREMENT would have gone.
        new = pg.add("chips", np.ones(8, np.float32), {}, 100, after_article_id=18)
        assert new.id == watch_id + 2
    finally:
        pg.close()
        lite.close()


def _path(args: list[str]):
    from pathlib import Path

    return Path(args[args.index("--data-dir") + 1])
