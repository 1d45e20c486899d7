"""Subscriptions, the persistent scheduler, and exactly-once digests — time driven explicitly."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.scheduler import JOB_PREFIX, DigestScheduler
from bot.subscriptions import SubscriptionStore, parse_time, parse_timezone, search_timezones
from retrieval import Corpus, InputError, load_settings
from tests.fake_discord import FakeDiscord
from tests.test_bot import answered, running

TOKYO_8AM = datetime(2026, 3, 3, 8, 0, tzinfo=UTC).astimezone()  # any aware time works


@pytest.mark.parametrize(("text", "expected"), [("8:30", "08:30"), ("23:59", "23:59")])
def test_parse_time(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize("bad", ["24:00", "8.30", "noon", ""])
def test_bad_time_is_explained(bad):
    with pytest.raises(InputError, match="HH:MM"):
        parse_time(bad)


def test_timezones():
    assert parse_timezone("Asia/Tokyo") == "Asia/Tokyo"
    with pytest.raises(InputError, match="Asia/Tokyo"):
        parse_timezone("Asia/Tokio")
    assert search_timezones("tokyo")[0] == "Asia/Tokyo"


def test_store_add_list_remove_and_period(tmp_path: Path):
    store = SubscriptionStore(tmp_path / "s.sqlite3")
    sub = store.add(42, "08:00", "Asia/Tokyo", ("JP",), ("trade",), guild_id=7)
    with pytest.raises(InputError, match="already has"):
        store.add(42, "8:00", "Asia/Tokyo", ("JP",), ("trade",), guild_id=7)
    assert [s.id for s in SubscriptionStore(tmp_path / "s.sqlite3").list(7)] == [sub.id]
    # 08:00 in Tokyo is 23:00 UTC the day before.
    before = datetime(2026, 3, 2, 22, 59, tzinfo=UTC)
    after = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    assert sub.period(before) == "2026-03-02T08:00:00+09:00"
    assert sub.period(after) == "2026-03-03T08:00:00+09:00"
    with pytest.raises(InputError):
        store.remove(sub.id, guild_id=8)
    store.remove(sub.id, guild_id=7)
    assert store.list() == []


def test_claims_make_a_period_post_once(tmp_path: Path):
    store = SubscriptionStore(tmp_path / "s.sqlite3")
    sub = store.add(1, "08:00", "UTC")
    assert store.claim(sub.id, "p1", 10)
    assert not store.claim(sub.id, "p1", 12)
    store.release(sub.id, "p1")  # a failed post gives the period back
    assert store.claim(sub.id, "p1", 12)
    store.mark_posted(sub.id, "p1")
    store.release(sub.id, "p1")  # releasing a posted period does nothing
    assert store.posted(sub.id) == [("p1", 12, "posted")]
    assert store.last_article_id(sub.id) == 12


def run_scheduler(
    data_dir: Path, subs, seconds: float, grace: int = 6 * 3600, setup=None
) -> list[int]:
    """Start a scheduler over the job store for `seconds`, return the digests it ran."""
    calls: list[int] = []

    async def poster(sub_id: int) -> None:
        calls.append(sub_id)

    async def main() -> None:
        scheduler = DigestScheduler(data_dir, poster, grace_seconds=grace)
        scheduler.start(subs)
        if setup:
            setup(scheduler)
        await asyncio.sleep(seconds)
        scheduler.shutdown()

    asyncio.run(main())
    return calls


def move_next_run(data_dir: Path, sub_id: int, when: datetime) -> None:
    """Pretend the bot went down before `when`: set the stored job's next run time."""

    async def main() -> None:
        scheduler = DigestScheduler(data_dir, lambda _: asyncio.sleep(0))
        scheduler.scheduler.start(paused=True)
        scheduler.scheduler.modify_job(f"{JOB_PREFIX}{sub_id}", next_run_time=when)
        scheduler.shutdown()

    asyncio.run(main())


def test_jobs_persist_across_restarts(tmp_path: Path):
    store = SubscriptionStore(tmp_path / "s.sqlite3")
    sub = store.add(1, "08:00", "Asia/Tokyo")
    seen = {}
    run_scheduler(
        tmp_path, store.list(), 0.05, setup=lambda s: seen.setdefault("first", s.next_run(sub.id))
    )
    run_scheduler(
        tmp_path, store.list(), 0.05, setup=lambda s: seen.setdefault("second", s.next_run(sub.id))
    )
    assert seen["first"] is not None and seen["first"] == seen["second"]
    assert seen["first"].astimezone(UTC).hour == 23  # 08:00 Tokyo


def far_from_now() -> str:
    """A daily time 12 h from now, so no regular run falls inside a test's missed window.

    A fixed "08:00" made the beyond-grace test fail whenever it ran within grace after 08:00.
    """
    return (datetime.now(UTC) + timedelta(hours=12)).strftime("%H:%M")


def test_missed_run_within_grace_fires_once_after_downtime(tmp_path: Path):
    store = SubscriptionStore(tmp_path / "s.sqlite3")
    sub = store.add(1, far_from_now(), "UTC")
    run_scheduler(tmp_path, store.list(), 0.05)
    move_next_run(tmp_path, sub.id, datetime.now(UTC) - timedelta(hours=2))
    assert run_scheduler(tmp_path, store.list(), 0.5) == [sub.id]
    assert run_scheduler(tmp_path, store.list(), 0.3) == []  # not again after another restart


def test_missed_run_beyond_grace_is_skipped(tmp_path: Path):
    store = SubscriptionStore(tmp_path / "s.sqlite3")
    sub = store.add(1, far_from_now(), "UTC")
    run_scheduler(tmp_path, store.list(), 0.05)
    move_next_run(tmp_path, sub.id, datetime.now(UTC) - timedelta(hours=10))
    assert run_scheduler(tmp_path, store.list(), 0.5, grace=6 * 3600) == []


def test_removed_subscription_loses_its_job(tmp_path: Path):
    store = SubscriptionStore(tmp_path / "s.sqlite3")
    sub = store.add(1, "08:00", "UTC")
    run_scheduler(tmp_path, store.list(), 0.05)
    store.remove(sub.id)
    seen = {}
    run_scheduler(
        tmp_path, store.list(), 0.05, setup=lambda s: seen.setdefault("n", s.next_run(sub.id))
    )
    assert seen["n"] is None


@pytest.mark.slow  # embeds with auto: on a cold model cache that exports the model first
def test_digest_posts_to_the_channel_once_per_period_without_gaps(tmp_path: Path):
    data = tmp_path / "data"
    with Corpus(load_settings(data_dir=data)) as corpus:
        corpus.ensure_bundled()

        async def body(server: FakeDiscord, bot) -> None:
            sub = bot.subscriptions.add(
                int(server.channel_id), "08:00", "UTC", topics=("trade", "geopolitics")
            )
            now = datetime.now(UTC)
            assert await bot.poster(sub.id, now) is True
            (post,) = server.posted
            embed = post.body["embeds"][0]
            assert embed["title"] == "Daily digest"
            assert "Japan has called" in embed["description"]
            assert "Arms Sale to Taiwan" in embed["description"]
            assert "Kennedy Center" not in embed["description"]
            assert post.body["allowed_mentions"]["parse"] == []
            assert await bot.poster(sub.id, now) is False  # same period: never twice
            assert len(server.posted) == 1
            # Next day: only what arrived since the last digest.
            f = tmp_path / "new.json"
            f.write_text(
                json.dumps(
                    [
                        {
                            "title": "EU imposes tariffs on Chinese electric cars",
                            "body": "The European Union imposed tariffs on electric"
                            " cars imported from China. Beijing vowed to retaliate.",
                        }
                    ]
                )
            )
            await asyncio.to_thread(corpus.ingest, [str(f)])
            assert await bot.poster(sub.id, now + timedelta(days=1)) is True
            desc = server.posted[-1].body["embeds"][0]["description"]
            assert "electric cars" in desc and "Japan has called" not in desc
            # A day with nothing new still posts a short line (config when_empty = "post").
            assert await bot.poster(sub.id, now + timedelta(days=2)) is True
            assert "No new stories" in server.posted[-1].body["embeds"][0]["description"]

        async def main() -> None:
            async with FakeDiscord() as server, running(server, corpus) as bot:
                await body(server, bot)

        asyncio.run(main())


def test_subscribe_commands_need_manage_server(seed_corpus: Corpus):
    async def main() -> None:
        async with FakeDiscord() as server, running(server, seed_corpus) as bot:
            inter = server.send_interaction(
                "subscribe", {"time": "08:30", "timezone": "Asia/Tokyo", "country": "Japan"}
            )
            await server.wait_for(lambda: inter.callbacks)
            assert inter.ephemeral and "Subscribed" in inter.contents[0]
            assert "JP" in inter.contents[0] and "Asia/Tokyo" in inter.contents[0]
            (sub,) = bot.subscriptions.list()
            assert bot.digests.next_run(sub.id) is not None
            listing = server.send_interaction("subscriptions")
            await server.wait_for(lambda: listing.callbacks)
            assert f"#{sub.id}" in listing.contents[0] and "next" in listing.contents[0]
            tz = server.send_autocomplete("subscribe", {"time": "08:00", "timezone": "toky"})
            assert (await server.wait_for(lambda: tz.choices))[0]["value"] == "Asia/Tokyo"
            bad = server.send_interaction("subscribe", {"time": "8pm", "timezone": "UTC"})
            await server.wait_for(lambda: bad.callbacks)
            assert bad.ephemeral and "HH:MM" in bad.contents[0]
            denied = server.send_interaction(
                "unsubscribe", {"subscription": sub.id}, permissions="0"
            )
            await server.wait_for(lambda: denied.callbacks)
            assert denied.ephemeral and "Manage Server" in denied.contents[0]
            gone = server.send_interaction("unsubscribe", {"subscription": sub.id})
            await server.wait_for(lambda: gone.callbacks)
            assert "Stopped" in gone.contents[0] and bot.subscriptions.list() == []
            # /about lists this server's next digests
            again = bot.subscriptions.add(
                int(server.channel_id), "09:15", "Europe/Berlin", guild_id=int(server.guild_id)
            )
            bot.digests.sync(bot.subscriptions.list())
            about = server.send_interaction("about")
            (embed,) = await answered(server, about)
            assert f"#{again.id}:" in embed["description"]
            assert "09:15 Europe/Berlin" in embed["description"]

    asyncio.run(main())
