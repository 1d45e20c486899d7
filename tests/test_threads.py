"""A thread (or forum post) per story, through the real discord.py client and the fake
Discord server: threads started from each story's message, forum posts tagged with the
story's topics and countries, a later article's update landing in the story's existing
thread after a restart (unarchiving it), a locked thread replaced by a linked new one,
and a missing permission told to the admins without stopping anything."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.story_threads import StoryThreadStore
from bot.subscriptions import SUBSCRIPTIONS_FILE, SubscriptionStore
from retrieval import Corpus, Filters, InputError, Settings
from retrieval.records import RawArticle
from tests.fake_discord import FakeDiscord
from tests.test_bot import running
from tests.test_cli import run

NOW = datetime.now(UTC)


def article(title: str, body: str, source: str, hours_ago: float = 1.0) -> RawArticle:
    return RawArticle(
        title=title,
        body=body,
        origin="test",
        url=f"https://news.example/{abs(hash(title))}",
        source=source,
        published=NOW - timedelta(hours=hours_ago),
    )


AUTO = [
    article(
        "Japan raises tariffs on US auto imports",
        "Japan will raise tariffs on American cars and auto parts to 25% next month, Tokyo"
        " said, answering US duties on Japanese steel. Toyota and Honda shares fell.",
        "Example Wire",
    ),
    article(
        "Tokyo hits US cars with 25% tariffs",
        "Japan said it will raise tariffs on US cars and auto parts to 25% next month in"
        " answer to American duties on Japanese steel; Toyota and Honda shares fell.",
        "Other Times",
    ),
]
EV = article(
    "EU imposes anti-dumping duties on Chinese electric vehicles",
    "The European Union imposed anti-dumping duties of up to 38% on electric vehicles"
    " made in China. Beijing's commerce ministry vowed to retaliate against Brussels.",
    "Example Wire",
)
FOLLOW_UP = article(
    "Japan delays its 25% tariffs on US cars after Toyota talks",
    "Japan will delay the 25% tariffs on US cars and auto parts by a month, Tokyo said,"
    " after talks on American duties on Japanese steel; Toyota and Honda shares rose.",
    "Third Herald",
    hours_ago=0.5,
)


@pytest.fixture
def corpus(seed_settings: Settings, tmp_path: Path):
    corpus = Corpus(replace(seed_settings, data_dir=tmp_path / "data"))
    yield corpus
    corpus.close()


def story_of(corpus: Corpus, raw: RawArticle) -> int:
    (aid,) = [
        a.id
        for a in corpus.store.articles(corpus.store.article_ids(Filters())).values()
        if a.title == raw.title
    ]
    return corpus.store.story_of([aid])[aid]


async def ingest(corpus: Corpus, items: list[RawArticle]) -> None:
    await asyncio.to_thread(corpus.ingest_items, items, False)


def titles(posts: list) -> list[str]:
    return [e.get("title", "") for p in posts for e in p.body.get("embeds") or []]


def test_a_thread_per_story_and_the_update_in_it_after_a_restart(corpus: Corpus):
    async def main() -> None:
        async with FakeDiscord() as server:
            await ingest(corpus, [*AUTO, EV])
            auto = story_of(corpus, AUTO[0])
            assert story_of(corpus, AUTO[1]) == auto != story_of(corpus, EV)
            async with running(server, corpus) as bot:
                sub = bot.subscriptions.add(
                    int(server.channel_id), "08:00", "UTC", delivery="threads"
                )
                assert await bot.poster(sub.id, NOW) is True
                assert await bot.poster(sub.id, NOW) is False  # same period: never twice
            starters = server.in_channel(server.channel_id)
            assert len(starters) == 2  # one message per story, not one per article
            assert len(server.find_requests("POST", "/channels/*/messages/*/threads")) == 2
            assert set(server.threads) == {p.message["id"] for p in starters}
            (auto_starter,) = [
                p for p in starters if "Japan" in titles([p])[0] or "Tokyo" in titles([p])[0]
            ]
            desc = auto_starter.body["embeds"][0]["description"]
            assert "Example Wire" in desc and "Other Times" in desc  # every source, cited
            thread_id = auto_starter.message["id"]
            assert server.in_channel(thread_id) == []

            # A day later the thread was archived while the bot was away; a new article
            # of the story arrives; the restarted bot (same data dir) posts an update there.
            server.set_thread(thread_id, archived=True)
            await ingest(corpus, [FOLLOW_UP])
            assert story_of(corpus, FOLLOW_UP) == auto
            async with running(server, corpus) as bot:
                assert await bot.poster(sub.id, NOW + timedelta(days=1)) is True
            assert len(server.in_channel(server.channel_id)) == 2  # no new section
            (unarchive,) = server.find_requests("PATCH", f"/channels/{thread_id}")
            assert unarchive.json["archived"] is False
            (update,) = server.in_channel(thread_id)
            (embed,) = update.body["embeds"]
            assert embed["title"] == "New since yesterday"
            assert "Third Herald" in embed["description"]
            assert FOLLOW_UP.published.date().isoformat() in embed["description"]
            assert "Example Wire" not in embed["description"]  # only what is new
            assert update.body["allowed_mentions"]["parse"] == []
            store = StoryThreadStore(Path(corpus.data_dir) / SUBSCRIPTIONS_FILE)
            (record,) = [t for t in store.list(sub.id) if t.story_id == auto]
            assert record.thread_id == int(thread_id)
            assert record.last_article_id == max(corpus.store.article_ids(Filters()))

    asyncio.run(main())


def test_forum_posts_tagged_and_a_locked_thread_replaced(corpus: Corpus):
    async def main() -> None:
        async with FakeDiscord() as server:
            await ingest(corpus, AUTO)
            async with running(server, corpus) as bot:
                sub = bot.subscriptions.add(int(server.forum_id), "08:00", "UTC", delivery="forum")
                assert await bot.poster(sub.id, NOW) is True
                (post,) = server.find_requests("POST", f"/channels/{server.forum_id}/threads")
                (edit,) = server.find_requests("PATCH", f"/channels/{server.forum_id}")
                tags = {t["id"]: t["name"] for t in server.world.forum_tags}
                applied = [tags[str(t)] for t in post.json["applied_tags"]]
                assert applied[0] == "trade"  # the tag the forum had, matched
                assert "Japan" in applied and len(applied) <= 5
                assert edit.json["available_tags"][0]["name"] == "trade"  # kept, first
                assert post.json["name"].startswith(("Japan", "Tokyo"))
                assert post.json["message"]["allowed_mentions"]["parse"] == []
                (thread_id,) = server.threads
                assert server.in_channel(thread_id)  # the starter message is the post

                # A moderator locked the post: the follow-up starts a new one that links it.
                server.set_thread(thread_id, archived=True, locked=True)
                await ingest(corpus, [FOLLOW_UP])
                assert await bot.poster(sub.id, NOW + timedelta(days=1)) is True
                assert len(server.find_requests("PATCH", f"/channels/{server.forum_id}")) == 1
            (old, new) = server.threads
            desc = server.in_channel(new)[0].body["embeds"][0]["description"]
            assert f"<#{old}>" in desc
            store = StoryThreadStore(Path(corpus.data_dir) / SUBSCRIPTIONS_FILE)
            assert [t.thread_id for t in store.list(sub.id)] == [int(new)]

    asyncio.run(main())


def test_missing_permission_tells_the_admins_once_and_nothing_stops(corpus: Corpus):
    async def main() -> None:
        async with FakeDiscord() as server:
            await ingest(corpus, [EV])
            server.deny("POST", "/channels/*/messages/*/threads")
            async with running(server, corpus, admin_channel_id=int(server.channel_id)) as bot:
                sub = bot.subscriptions.add(
                    int(server.channel_id), "08:00", "UTC", delivery="threads"
                )
                assert await bot.poster(sub.id, NOW) is False  # no exception: the job goes on
                notes = [p.body.get("content") or "" for p in server.in_channel(server.channel_id)]
                told = [n for n in notes if "Create Public Threads" in n]
                assert len(told) == 2  # the admin channel, and the channel itself
                assert "Missing Permissions" in told[0] and "\n" not in told[0]
                (section,) = [
                    p for p in server.in_channel(server.channel_id) if p.body.get("embeds")
                ]
                assert section.message["id"] not in server.rest.messages  # no orphan left
                assert bot.subscriptions.posted(sub.id) == []  # released: the next one covers it
                server.allow_all()
                assert await bot.poster(sub.id, NOW) is True
                assert len(server.threads) == 1

    asyncio.run(main())


def test_subscribe_delivery_option_checks_the_channel(corpus: Corpus):
    async def main() -> None:
        async with FakeDiscord() as server, running(server, corpus) as bot:
            (put,) = server.find_requests("PUT", "/applications/*/commands")
            subscribe = next(c for c in put.json if c["name"] == "subscribe")
            options = {o["name"]: o for o in subscribe["options"]}
            assert [c["value"] for c in options["delivery"]["choices"]] == [
                "channel",
                "threads",
                "forum",
            ]
            # text, news (threads start from their messages), forum and media (posts)
            assert set(options["channel"]["channel_types"]) == {0, 5, 15, 16}
            threads = server.send_interaction(
                "subscribe", {"time": "08:00", "timezone": "UTC", "delivery": "threads"}
            )
            await server.wait_for(lambda: threads.callbacks)
            assert "a thread per story" in threads.contents[0]
            forum = server.world.forum()
            resolved = {"channels": {forum["id"]: {**forum, "permissions": "0"}}}
            options = [
                {"name": "time", "type": 3, "value": "09:00"},
                {"name": "timezone", "type": 3, "value": "UTC"},
                {"name": "channel", "type": 7, "value": forum["id"]},
            ]
            posts = server.send_interaction("subscribe", options, resolved=resolved)
            await server.wait_for(lambda: posts.callbacks)
            assert "a forum post per story" in posts.contents[0]  # a forum: forum delivery
            wrong = server.send_interaction(
                "subscribe", {"time": "10:00", "timezone": "UTC", "delivery": "forum"}
            )
            await server.wait_for(lambda: wrong.callbacks)
            assert "needs a forum channel" in wrong.contents[0]
            assert [s.delivery for s in bot.subscriptions.list()] == ["threads", "forum"]

    asyncio.run(main())


def test_an_old_database_gains_the_delivery_column(tmp_path: Path):
    path = tmp_path / SUBSCRIPTIONS_FILE
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE subscriptions (id INTEGER PRIMARY KEY, guild_id INTEGER, channel_id"
        " INTEGER NOT NULL, time TEXT NOT NULL, timezone TEXT NOT NULL, countries TEXT NOT NULL"
        " DEFAULT '', topics TEXT NOT NULL DEFAULT '', created TEXT NOT NULL,"
        " UNIQUE (channel_id, time, timezone, countries, topics))"
    )
    db.execute("INSERT INTO subscriptions VALUES (1, 5, 7, '08:00', 'UTC', 'JP', 'trade', 'x')")
    db.commit()
    db.close()
    store = SubscriptionStore(path)
    (old,) = store.list()
    assert (old.channel_id, old.countries, old.delivery) == (7, ("JP",), "channel")
    new = store.add(7, "09:00", "UTC", delivery="Forum")
    assert store.get(new.id).delivery == "forum"
    assert SubscriptionStore(path).get(new.id).delivery == "forum"  # opening again is fine
    with pytest.raises(InputError, match="unknown delivery 'posts'"):
        store.add(7, "10:00", "UTC", delivery="posts")


def test_cli_subscriptions_add_takes_a_delivery(capsys, tmp_path: Path):
    data = str(tmp_path / "d")
    add = ["--data-dir", data, "subscriptions", "add", "--channel", "5", "--time", "7:05"]
    code, out, _ = run(capsys, *add, "--timezone", "UTC", "--delivery", "forum", "--json")
    (sub,) = json.loads(out)["subscriptions"]
    assert code == 0 and sub["delivery"] == "forum"
    code, out, _ = run(capsys, "--data-dir", data, "subscriptions", "list")
    assert code == 0 and "a forum post per story" in out
    with pytest.raises(SystemExit) as exit:
        run(capsys, *add, "--timezone", "UTC", "--delivery", "posts")
    assert exit.value.code == 2 and "invalid choice" in capsys.readouterr().err
