"""The bot's tables on PostgreSQL for several processes: subscriptions and the digest claim,
the feed registry's claim of due feeds, the job store, the shard settings and the factory.

Two store objects on one database stand for two processes: each has its own connections.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest

from bot.app import check_shards, shard_options
from bot.scheduler import DigestScheduler
from bot.settings import BotSettings
from bot.stores import sqlalchemy_url
from bot.subscriptions import SubscriptionStore
from retrieval import InputError

pytest.importorskip("psycopg")

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def pg_subs(pg_url):
    from bot.subscriptions_pg import PgSubscriptionStore

    one, two = PgSubscriptionStore(pg_url), PgSubscriptionStore(pg_url)
    yield one, two
    one.close()
    two.close()


@pytest.fixture
def pg_feeds(pg_url):
    from retrieval.feeds.registry_pg import PgFeedRegistry

    one, two = PgFeedRegistry(pg_url), PgFeedRegistry(pg_url)
    yield one, two
    one.close()
    two.close()


# --- subscriptions ------------------------------------------------------------------------
def test_pg_subscriptions_read_back_as_the_sqlite_ones(pg_subs, tmp_path):
    pg, _ = pg_subs
    lite = SubscriptionStore(tmp_path / "subs.sqlite3")
    args = dict(countries=("JP",), topics=("trade",), guild_id=7, with_countries=("US",))
    for store in (pg, lite):
        store.add(100, "8:05", "Europe/Paris", **args)
        store.add(101, "23:59", "UTC", members=True, countries=("EU",))
    assert pg.list() == lite.list()
    assert pg.list(guild_id=7) == lite.list(guild_id=7)
    assert pg.get(1) == lite.get(1)
    with pytest.raises(InputError):
        pg.add(100, "08:05", "Europe/Paris", **args)
    with pytest.raises(InputError):
        pg.remove(1, guild_id=8)
    assert pg.remove(1) == lite.remove(1)
    assert [s.id for s in pg.list()] == [2]
    with pytest.raises(InputError):
        pg.get(1)


def test_a_period_is_claimed_by_one_process_and_released_on_failure(pg_subs):
    one, two = pg_subs
    sub = one.add(100, "08:00", "UTC")
    period = sub.period(NOW)
    assert one.last_article_id(sub.id) is None
    assert one.claim(sub.id, period, 40) is True
    assert two.claim(sub.id, period, 41) is False  # the other process sees the claim
    one.release(sub.id, period)  # its post failed: the period is free again
    assert two.claim(sub.id, period, 41) is True
    two.mark_posted(sub.id, period)
    one.release(sub.id, period)  # a posted period is never released
    assert one.posted(sub.id) == [(period, 41, "posted")]
    assert two.last_article_id(sub.id) == 41


def test_many_concurrent_claims_of_one_period_win_once(pg_url):
    from bot.subscriptions_pg import PgSubscriptionStore

    stores = [PgSubscriptionStore(pg_url) for _ in range(6)]
    sub = stores[0].add(100, "08:00", "UTC")
    start = threading.Barrier(len(stores))
    wins: list[bool] = []

    def claim(store):
        start.wait()
        wins.append(store.claim(sub.id, "2026-12-02T08:00:00+00:00", 1))

    threads = [threading.Thread(target=claim, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 5 + [True]
    for store in stores:
        store.close()


# --- feeds --------------------------------------------------------------------------------
def test_a_due_feed_is_claimed_by_one_worker_until_its_lease_ends(pg_feeds):
    one, two = pg_feeds
    feed = one.add("https://example.com/rss.xml", name="Example")
    assert [f.id for f in two.due(NOW)] == [feed.id]
    assert [f.id for f in one.claim_due(NOW)] == [feed.id]
    assert two.claim_due(NOW) == []  # leased to the first worker
    assert two.claim_due(NOW + one.lease + timedelta(seconds=1)) != []  # it died: due again


def test_a_claim_skips_rows_another_worker_is_claiming(pg_feeds, pg_url):
    import psycopg

    one, two = pg_feeds
    a = one.add("https://example.com/a.xml")
    b = one.add("https://example.com/b.xml")
    with psycopg.connect(pg_url) as held:  # a worker in the middle of its claim of `a`
        held.execute("SELECT 1 FROM feeds WHERE id=%s FOR UPDATE", (a.id,))
        assert [f.id for f in two.claim_due(NOW)] == [b.id]  # not waited on, skipped
    assert [f.id for f in one.claim_due(NOW)] == [a.id]


def test_pg_feed_state_and_seen_keys(pg_feeds):
    one, two = pg_feeds
    feed = one.add("https://example.com/rss.xml")
    with pytest.raises(InputError):
        two.add("https://EXAMPLE.com/rss.xml")
    two.max_seen = 2
    saved = two.record_success(
        feed.id,
        now=NOW,
        next_after=NOW + timedelta(minutes=15),
        etag='"e1"',
        last_modified=None,
        name="Named",
        keys=["k1", "k2", "k3"],
        new=3,
    )
    assert saved is not None and saved.name == "Named" and saved.seen == 3 and saved.healthy
    assert one.known_keys(feed.id, ["k1", "k2", "k3", "k4"]) == {"k1", "k2", "k3"}
    two.record_success(
        feed.id, now=NOW, next_after=NOW, etag=None, last_modified=None, keys=["k4", "k5"]
    )
    assert one.known_keys(feed.id, ["k1", "k2", "k3", "k4", "k5"]) == {"k4", "k5"}
    failed = one.record_failure(
        feed.id, now=NOW, error="timed out", next_after=NOW + timedelta(hours=1), alerted=True
    )
    assert failed is not None and failed.consecutive_failures == 1 and failed.alerted
    assert two.claim_due(NOW) == []  # backing off
    one.record_added(feed.id, 2)
    assert two.get("Named").added == 2
    assert one.remove(feed.id).id == feed.id and two.list() == []
    assert two.seen_count(feed.id) == 0


# --- job store, shards, factory -------------------------------------------------------------
def test_digest_jobs_persist_in_postgres_per_shard(pg_url, tmp_path):
    from bot.subscriptions_pg import PgSubscriptionStore

    subs = PgSubscriptionStore(pg_url)
    sub = subs.add(100, "08:00", "UTC")

    async def scheduled(table: str) -> datetime | None:
        async def post(_: int) -> None:
            return None

        digests = DigestScheduler(tmp_path, post, jobs_url=sqlalchemy_url(pg_url), jobs_table=table)
        digests.start(subs.list())
        try:
            return digests.next_run(sub.id)
        finally:
            digests.shutdown()

    first = asyncio.run(scheduled("jobs_shard0"))
    assert first is not None and (first.hour, first.minute) == (8, 0)
    assert asyncio.run(scheduled("jobs_shard1")) == first  # the other shard has its own
    import psycopg

    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT id FROM jobs_shard0 UNION ALL SELECT id FROM jobs_shard1")
        assert [r[0] for r in rows] == [f"digest-{sub.id}"] * 2
    subs.close()


@pytest.mark.parametrize(
    ("count", "ids", "options"),
    [
        (0, (), {}),
        (2, (1,), {"shard_id": 1, "shard_count": 2}),
        (2, (2,), None),
        (2, (), {"shard_ids": None, "shard_count": 2}),  # every shard, in this process
        (3, (2, 0), {"shard_ids": [2, 0], "shard_count": 3}),
        (2, (1, 1), None),
        (2, (0, 2), None),
        (0, (0,), None),
    ],
)
def test_shard_settings(count, ids, options):
    settings = BotSettings(shard_count=count, shard_ids=ids)
    if options is None:
        with pytest.raises(InputError, match="shard_ids"):
            check_shards(settings)
    else:
        check_shards(settings)
        assert shard_options(settings) == options


def test_sqlalchemy_url():
    assert sqlalchemy_url("postgresql://u:p@h:5/db") == "postgresql+psycopg://u:p@h:5/db"
    assert sqlalchemy_url("postgres://h/db") == "postgresql+psycopg://h/db"
