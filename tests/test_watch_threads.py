"""Watch alerts that follow a story, through the real discord.py client and the fake
Discord server: the first matching article of a story is a top-level alert mentioning
only the watch's role; a second one, after a restart, is an update in a thread started
from that alert (no ping), a third lands in the same thread once the story's half hour
has passed; each article fires exactly once; a digest's thread for the story takes the
watch's alert; a refused thread is told to the admins once and the alert goes to the
channel; and two bots sharing story threads on PostgreSQL start one thread, not two."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import BriefBot
from bot.story_threads import WATCHES
from bot.watches import FOLDED, POSTED, new_watch
from retrieval import Corpus, Filters, Settings, load_settings
from retrieval.records import RawArticle
from tests.conftest import FakeEncoder
from tests.fake_discord import FakeDiscord
from tests.test_bot import running
from tests.test_threads import AUTO, FOLLOW_UP, NOW, article, ingest, story_of

LATER = article(
    "Japan and the US agree to talks on the 25% car tariffs and Toyota",
    "Japan and the United States agreed to talks on the 25% tariffs on US cars and auto"
    " parts, Tokyo said, after American duties on Japanese steel; Toyota shares rose.",
    "Fourth Post",
    hours_ago=0.2,
)


@pytest.fixture
def corpus(seed_settings: Settings, tmp_path: Path):
    corpus = Corpus(replace(seed_settings, data_dir=tmp_path / "data"))
    yield corpus
    corpus.close()


def watch_for(
    bot: BriefBot,
    server: FakeDiscord,
    role_id: str | None = None,
    words: str = "Japanese auto tariffs",
) -> int:
    watch = new_watch(
        bot.corpus,
        bot.watches,
        words,
        int(server.channel_id),
        role_id=int(role_id) if role_id else None,
    )
    return watch.id


def analyst(server: FakeDiscord) -> str:
    return next(r["id"] for r in server.world.guild()["roles"] if r["name"] == "Analyst")


def alerts_in(server: FakeDiscord, channel_id: str) -> list:
    return [p for p in server.in_channel(channel_id) if "Watch #" in (p.body.get("content") or "")]


def test_a_later_article_of_a_story_goes_in_its_thread_after_a_restart(corpus: Corpus):
    async def main() -> None:
        async with FakeDiscord() as server:
            role = analyst(server)
            async with running(server, corpus) as bot:
                watch = watch_for(bot, server, role)
                await ingest(corpus, [AUTO[0]])
                await bot.alerter.check(NOW)  # (or the bot's own minute check, as near NOW)
            (first,) = alerts_in(server, server.channel_id)
            assert first.body["allowed_mentions"] == {"parse": [], "roles": [int(role)]}
            assert first.body["content"].startswith(f"<@&{role}> Watch #{watch}")
            assert server.threads == {}  # no thread until the story has more

            # Restarted (same data dir): the follow-up is an update in a thread started
            # from the first alert, which pings nobody.
            await ingest(corpus, [FOLLOW_UP])
            assert story_of(corpus, FOLLOW_UP) == story_of(corpus, AUTO[0])
            async with running(server, corpus) as bot:
                await bot.alerter.check(NOW + timedelta(minutes=40))
                assert await bot.alerter.check(NOW + timedelta(minutes=41)) == 0
            thread_id = first.message["id"]
            assert list(server.threads) == [thread_id]  # started from the alert
            (update,) = server.in_channel(thread_id)
            (embed,) = update.body["embeds"]
            assert embed["title"].startswith("New in this story: Japan delays")
            assert "Third Herald" in embed["description"] and embed["url"] == FOLLOW_UP.url
            assert update.body["allowed_mentions"] == {"parse": []}
            assert "<@&" not in update.body["content"]
            assert len(server.in_channel(server.channel_id)) == 1  # nothing new up top

            # A third report within the story's half hour waits, then joins the thread.
            await ingest(corpus, [LATER])
            async with running(server, corpus) as bot:
                assert await bot.alerter.check(NOW + timedelta(minutes=50)) == 0
                bot.watches.set_cursor(0)  # as if the checked-through mark were lost
                await bot.alerter.check(NOW + timedelta(minutes=75))
                assert await bot.alerter.check(NOW + timedelta(minutes=200)) == 0
                statuses = [s for _, s in bot.watches.alerts(watch)]
            assert statuses == [POSTED] * 3  # each article once, none twice
            assert len(server.find_requests("POST", "/channels/*/messages/*/threads")) == 1
            assert len(server.in_channel(thread_id)) == 2
            assert len(server.in_channel(server.channel_id)) == 1

    asyncio.run(main())


def test_a_digest_thread_takes_the_alert_and_a_refusal_falls_back(corpus: Corpus):
    async def main() -> None:
        async with FakeDiscord() as server:
            role = analyst(server)
            await ingest(corpus, [AUTO[0]])
            admin = int(server.channel_id)
            async with running(server, corpus, admin_channel_id=admin) as bot:
                sub = bot.subscriptions.add(admin, "08:00", "UTC", delivery="threads")
                assert await bot.poster(sub.id, NOW) is True
                (thread_id,) = server.threads
                watch = watch_for(bot, server, role)
                await ingest(corpus, [AUTO[1]])  # the same story: into the digest's thread
                await bot.alerter.check(NOW)
                (alert,) = server.in_channel(thread_id)
                assert alert.body["content"].startswith(f"<@&{role}> Watch #{watch}")
                assert alert.body["allowed_mentions"] == {"parse": [], "roles": [int(role)]}
                assert alert.body["embeds"][0]["title"].startswith("New in this story: ")
                record = bot.poster.story_threads
                assert record.get(WATCHES, admin, story_of(corpus, AUTO[1])).thread_id == int(
                    thread_id
                )

                # Threads refused: the admins are told once, the alerts go to the channel.
                server.deny("POST", f"/channels/{thread_id}/messages")
                before = len(server.in_channel(server.channel_id))
                await ingest(corpus, [FOLLOW_UP])
                await bot.alerter.check(NOW + timedelta(minutes=31))
                await ingest(corpus, [LATER])
                await bot.alerter.check(NOW + timedelta(minutes=62))
            top = server.in_channel(server.channel_id)[before:]
            told = [p for p in top if "Create Public Threads" in (p.body.get("content") or "")]
            assert len(told) == 1 and "Missing Permissions" in told[0].body["content"]
            fallback = [p for p in top if p.body.get("embeds")]
            assert len(fallback) == 2
            assert all(p.body["allowed_mentions"] == {"parse": []} for p in fallback)
            assert len(server.in_channel(thread_id)) == 1

    asyncio.run(main())


def pg_corpus(tmp_path: Path, name: str, url: str) -> Corpus:
    """A bot process's corpus on the shared database; its digests take every topic (the
    fake encoder tags none)."""
    settings = load_settings(data_dir=tmp_path / name)
    settings = replace(settings, digest=replace(settings.digest, topics=()))
    return Corpus(replace(settings, store=replace(settings.store, url=url)), encoder=FakeEncoder())


TARIFFS = "Japan raises auto tariffs on American cars"


def raw(title: str) -> RawArticle:
    body = f"{title}. Officials in Tokyo said the measure takes effect next month."
    return RawArticle(title=title, body=body, origin="test", published=NOW)


def test_two_bots_on_postgresql_start_one_thread_for_a_story(pg_url, tmp_path: Path):
    corpus_a, corpus_b = pg_corpus(tmp_path, "a", pg_url), pg_corpus(tmp_path, "b", pg_url)

    async def main() -> None:
        async with FakeDiscord() as server:
            async with running(server, corpus_a) as a, running(server, corpus_b) as b:
                for bot in (a, b):  # one story for all
                    bot.alerter.story_of = lambda ids: dict.fromkeys(ids, 7)
                    bot.alerter.story_gap = timedelta(0)  # no wait between a story's updates
                # One watch in the shared database; both processes check it at once.
                new_watch(a.corpus, a.watches, "Japan raises auto tariffs", int(server.channel_id))
                assert [w.id for w in b.watches.list()] == [w.id for w in a.watches.list()]
                for item in (raw(TARIFFS), raw(f"{TARIFFS} again")):
                    await ingest(corpus_a, [item])
                    await asyncio.gather(a.alerter.check(NOW), b.alerter.check(NOW))
            (thread_id,) = server.threads  # one thread for the story, not one per process
            top = alerts_in(server, server.channel_id)
            assert top[0].message["id"] == thread_id  # started from the story's first alert
            assert len(top) + len(server.in_channel(thread_id)) == 2  # each match once
            assert len(server.in_channel(thread_id)) == 1  # the second report's update

    try:
        asyncio.run(main())
    finally:
        corpus_a.close()
        corpus_b.close()


def test_what_matches_within_a_storys_half_hour_goes_in_one_update(tmp_path: Path):
    corpus = Corpus(load_settings(data_dir=tmp_path / "d"), encoder=FakeEncoder())

    async def main() -> None:
        async with FakeDiscord() as server, running(server, corpus) as bot:
            bot.alerter.story_of = lambda ids: dict.fromkeys(ids, 7)
            role = analyst(server)
            watch_for(bot, server, role, "Japan raises auto tariffs")
            await ingest(corpus, [raw(TARIFFS)])
            await bot.alerter.check(NOW)
            assert len(alerts_in(server, server.channel_id)) == 1
            await ingest(corpus, [raw(f"{TARIFFS} again"), raw(f"{TARIFFS} still")])
            assert await bot.alerter.check(NOW + timedelta(minutes=10)) == 0  # held
            assert await bot.alerter.check(NOW + timedelta(minutes=31)) == 1
            assert await bot.alerter.check(NOW + timedelta(minutes=90)) == 0
            (thread_id,) = server.threads
            (update,) = server.in_channel(thread_id)
            (embed,) = update.body["embeds"]
            assert embed["title"] == "New in this story: 2 articles"
            assert embed["description"].count(TARIFFS) == 2
            assert update.body["allowed_mentions"] == {"parse": []}
            assert [s for _, s in bot.watches.alerts(1)] == [POSTED, FOLDED, FOLDED]

    try:
        asyncio.run(main())
    finally:
        corpus.close()


def test_a_digest_thread_started_by_one_bot_is_updated_by_the_other(pg_url, tmp_path: Path):
    corpus_a, corpus_b = pg_corpus(tmp_path, "a", pg_url), pg_corpus(tmp_path, "b", pg_url)

    async def main() -> None:
        async with FakeDiscord() as server:
            async with running(server, corpus_a) as a, running(server, corpus_b) as b:
                sub = a.subscriptions.add(
                    int(server.channel_id), "08:00", "UTC", delivery="threads"
                )
                await ingest(corpus_a, [raw(TARIFFS)])
                assert await a.poster(sub.id, NOW) is True
                (thread_id,) = server.threads
                await ingest(corpus_b, [raw(f"{TARIFFS} again")])
                ids = corpus_b.store.article_ids(Filters())
                assert len(set(corpus_b.store.story_of(ids).values())) == 1  # one story
                assert await b.poster(sub.id, NOW + timedelta(days=1)) is True
            assert list(server.threads) == [thread_id]  # B found A's thread in the database
            (update,) = server.in_channel(thread_id)
            assert update.body["embeds"][0]["title"] == "New since yesterday"
            assert len(server.in_channel(server.channel_id)) == 1

    try:
        asyncio.run(main())
    finally:
        corpus_a.close()
        corpus_b.close()
