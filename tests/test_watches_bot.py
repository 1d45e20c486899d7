"""Watches through the real discord.py client and the fake Discord server: /watch add with
a role, an alert posted exactly once across a restart with only that role allowed to be
mentioned and the article's text inert, another outlet's article of the same story
held for that story's thread (tests/test_watch_threads.py follows it there), a
non-matching article silent, /watch list and /watch remove, and Manage Server enforced."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import BriefBot
from bot.watches import WATCHES_FILE, WatchStore
from retrieval import Corpus, Settings
from retrieval.records import RawArticle
from tests.fake_discord import FakeDiscord
from tests.test_bot import running

MATCHING = RawArticle(
    title="Japan raises tariffs on US auto imports @everyone",
    body=(
        "Japan will raise tariffs on American cars and auto parts next month, officials said,"
        " as **@everyone** in the auto industry [braces](https://evil.example) for a trade war."
        "\n\nTokyo said the tariffs answer US duties on Japanese steel."
    ),
    origin="test",
    url="https://news.example/japan-auto-tariffs",
    source="Example Wire",
    published=datetime.now(UTC),
)
# Another outlet's report of the same event: the same stored story, so no second alert.
SAME_STORY = RawArticle(
    title="Tokyo to raise tariffs on American cars and auto parts",
    body=(
        "Japan will raise tariffs on American cars and auto parts next month, officials"
        " said, answering US duties on Japanese steel; carmakers braced for a trade war."
    ),
    origin="test",
    url="https://other.example/tokyo-car-tariffs",
    source="Other Times",
    published=datetime.now(UTC),
)
UNRELATED = RawArticle(
    title="Japan's ruling party picks a new leader before the general election",
    body="The party chose a former foreign minister, who promised a snap election in spring.",
    origin="test",
    published=datetime.now(UTC),
)


@pytest.fixture
def corpus(seed_settings: Settings, tmp_path: Path):
    corpus = Corpus(replace(seed_settings, data_dir=tmp_path / "data"))
    yield corpus
    corpus.close()


def alerts(server: FakeDiscord) -> list:
    return [p for p in server.posted if p.channel_id == server.channel_id]


def test_watch_fires_once_across_a_restart(corpus: Corpus):
    async def main() -> None:
        async with FakeDiscord() as server:
            role = next(r for r in server.world.guild()["roles"] if r["name"] == "Analyst")
            async with running(server, corpus) as bot:
                await add_watch(server, role)
                items = [MATCHING, SAME_STORY, UNRELATED]
                await asyncio.to_thread(corpus.ingest_items, items, False)
                await bot.check_watches()
                await server.wait_for(lambda: alerts(server), timeout=10)
                await bot.check_watches()
            (alert,) = alerts(server)  # the unrelated Japan story fired nothing
            check_alert(alert.body, role["id"])
            # Both reports matched; the second, of the story just alerted, is held for the
            # story's thread (one update per story per half hour), not posted on its own.
            store = WatchStore(Path(corpus.data_dir) / WATCHES_FILE)
            assert sorted(status for _, status in store.alerts(1)) == ["held", "posted"]
            # As after a crash before the checked-through mark was saved: the record of
            # alerts alone must keep the restarted bot from posting the article again.
            store.set_cursor(0)
            async with running(server, corpus) as bot:  # same data dir, a new client
                await bot.check_watches()
                await listed_and_removed(server, bot)
            assert len(alerts(server)) == 1

    asyncio.run(main())


async def add_watch(server: FakeDiscord, role: dict) -> None:
    options = [
        {"name": "description", "type": 3, "value": "Japanese auto tariffs"},
        {"name": "role", "type": 8, "value": role["id"]},
    ]
    add = server.send_interaction("watch add", options, resolved={"roles": {role["id"]: role}})
    await server.wait_for(lambda: add.followups, timeout=20)
    assert add.ephemeral
    (reply,) = add.contents
    assert reply.startswith("Watching #1: “Japanese auto tariffs”") and f"<@&{role['id']}>" in reply
    assert add.followups[0]["allowed_mentions"] == {"parse": []}  # the reply pings nobody


def check_alert(body: dict, role_id: str) -> None:
    assert body["allowed_mentions"] == {"parse": [], "roles": [int(role_id)]}
    assert body["content"].startswith(f"<@&{role_id}> Watch #1")
    (embed,) = body["embeds"]
    assert embed["url"] == MATCHING.url
    assert "Japan raises tariffs" in embed["title"] and "@everyone" not in embed["title"]
    desc = embed["description"]
    assert desc.startswith("> ") and "tariffs" in desc  # the matching sentence, quoted
    assert "Example Wire" in desc and MATCHING.published.date().isoformat() in desc
    assert "@everyone" not in desc and "\\*\\*" in desc and "\\[braces\\]" in desc
    assert "watch #1" in embed["footer"]["text"]


async def listed_and_removed(server: FakeDiscord, bot: BriefBot) -> None:
    listing = server.send_interaction("watch list")
    await server.wait_for(lambda: listing.callbacks)
    assert listing.ephemeral and "Japanese auto tariffs" in listing.contents[0]
    denied = server.send_interaction("watch remove", {"id": 1}, permissions="0")
    await server.wait_for(lambda: denied.callbacks)
    assert "Manage Server" in denied.contents[0]
    removed = server.send_interaction("watch remove", {"id": 1})
    await server.wait_for(lambda: removed.callbacks)
    assert removed.contents[0].startswith("Stopped watch #1")
    assert bot.watches.list() == []


def test_watch_command_is_admin_only_and_described(corpus: Corpus):
    async def main() -> None:
        async with FakeDiscord() as server, running(server, corpus):
            (put,) = server.find_requests("PUT", "/applications/*/commands")
            watch = next(c for c in put.json if c["name"] == "watch")
            assert str(watch["default_member_permissions"]) == "32"
            assert {o["name"] for o in watch["options"]} == {"add", "list", "remove"}
            add = next(o for o in watch["options"] if o["name"] == "add")
            assert [o["name"] for o in add["options"]] == [
                "description",
                "country",
                "topic",
                "role",
            ]
            assert all(o["description"] for o in add["options"])
            bad = server.send_interaction("watch add", {"description": "the of and"})
            await server.wait_for(lambda: bad.followups or bad.contents)
            assert "needs a description in words" in bad.contents[-1]

    asyncio.run(main())
