"""briefbot's real discord.py client against the fake Discord server on 127.0.0.1.

Each test drives the bot the way Discord would (interaction and message events
over the gateway) and asserts on what the bot sent back over REST.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot import handlers
from bot.app import BriefBot
from bot.settings import BotSettings
from bot.startup import build_client, point_at
from retrieval import Corpus, load_settings
from tests.fake_discord import FakeDiscord

ROOT = Path(__file__).resolve().parent.parent
EPHEMERAL = 64


class QuietBot(BriefBot):
    """briefbot as shipped, minus discord.py's 5 s pause before re-identifying."""

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None


@contextlib.asynccontextmanager
async def running(server: FakeDiscord, corpus: Corpus, **overrides: Any) -> AsyncIterator[BriefBot]:
    client_class = overrides.pop("client_class", QuietBot)
    settings = BotSettings(
        api_base=server.api_base,
        gateway=server.gateway_url,
        guild_ready_timeout=0.05,
        ask_cooldown_seconds=overrides.pop("cooldown", 0.0),
        **overrides,
    )
    old = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    point_at(settings)
    bot = build_client(corpus, settings, force_sync=True, client_class=client_class)
    task = None
    try:
        await bot.login(server.token)
        task = asyncio.create_task(bot.connect())
        await server.wait_for(lambda: bot.is_ready() or task.done(), timeout=10)
        if task.done():
            task.result()
        yield bot
    finally:
        await bot.close()
        if task is not None:
            await asyncio.wait_for(task, timeout=5)
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = old


def scenario(corpus: Corpus, body: Callable[[FakeDiscord, BriefBot], Awaitable[None]], **kw: Any):
    async def main() -> None:
        heartbeat = kw.pop("heartbeat_ms", 500)
        deadline = kw.pop("ack_deadline", 3.0)  # Discord's; a load test may relax it
        async with (
            FakeDiscord(heartbeat_interval_ms=heartbeat, ack_deadline=deadline) as server,
            running(server, corpus, **kw) as bot,
        ):
            await body(server, bot)

    asyncio.run(main())


async def answered(server: FakeDiscord, inter) -> list[dict]:
    """Wait until the interaction has a visible answer; return the embeds sent."""
    await server.wait_for(
        lambda: inter.followups or (inter.callbacks and inter.callback_type == 4), timeout=20
    )
    return inter.embeds


def test_commands_sync_with_descriptions(seed_corpus: Corpus):
    async def body(server: FakeDiscord, bot: BriefBot) -> None:
        (put,) = server.find_requests("PUT", "/applications/*/commands")
        commands = {c["name"]: c for c in put.json}
        assert set(commands) == {
            "ask",
            "headlines",
            "digest",
            "about",
            "show",
            "subscribe",
            "unsubscribe",
            "subscriptions",
            "sources",
            "watch",
        }

        def described(entry: dict) -> None:
            assert entry["description"], entry["name"]
            for option in entry.get("options", []):
                described(option)  # options, and subcommands with their options

        for command in commands.values():
            described(command)
        for admin in ("subscribe", "unsubscribe", "subscriptions", "sources", "watch"):
            assert str(commands[admin]["default_member_permissions"]) == "32"  # Manage Server
        assert commands["ask"]["default_member_permissions"] is None
        country = next(o for o in commands["ask"]["options"] if o["name"] == "country")
        assert country["autocomplete"] is True

    scenario(seed_corpus, body)


def test_ask_defers_then_answers_with_cited_embed(seed_corpus: Corpus):
    async def body(server: FakeDiscord, bot: BriefBot) -> None:
        inter = server.send_interaction(
            "ask", {"question": "Why is Japan objecting to US tariffs?"}
        )
        embeds = await answered(server, inter)
        assert inter.callback_type == 5  # deferred first
        assert inter.acknowledged_at - inter.sent_at < 1.0
        (embed,) = embeds
        assert embed["title"] == "Why is Japan objecting to US tariffs?"
        assert "Japan has called on the United States" in embed["description"]
        assert "`[1]`" in embed["description"] and "**Sources**" in embed["description"]
        assert "\U0001f1ef\U0001f1f5" in embed["description"]  # the Japanese flag
        assert "corpus as of" in embed["footer"]["text"]
        assert inter.followups[0]["allowed_mentions"] == {"parse": []}

    scenario(seed_corpus, body)


def test_ask_with_country_filter_and_unknown_country(seed_corpus: Corpus):
    async def body(server: FakeDiscord, bot: BriefBot) -> None:
        inter = server.send_interaction("ask", {"question": "tariffs", "country": "Japanese"})
        (embed,) = await answered(server, inter)
        assert "Japan" in embed["description"] and "Canada" not in embed["description"]
        bad = server.send_interaction("ask", {"question": "tariffs", "country": "Jpan"})
        await server.wait_for(lambda: bad.callbacks)
        assert bad.callback_type == 4 and bad.ephemeral
        assert "did you mean Japan (JP)" in bad.contents[0]

    scenario(seed_corpus, body)


def test_unrelated_question_abstains(seed_corpus: Corpus):
    async def body(server: FakeDiscord, bot: BriefBot) -> None:
        inter = server.send_interaction("ask", {"question": "A good recipe for banana bread?"})
        (embed,) = await answered(server, inter)
        assert embed["title"] == "Nothing in the corpus answers that"
        assert "Closest headlines" in embed["description"]

    scenario(seed_corpus, body)


def test_headlines_digest_and_about(seed_corpus: Corpus):
    async def body(server: FakeDiscord, bot: BriefBot) -> None:
        heads = server.send_interaction("headlines", {"country": "Canada", "limit": 5})
        (embed,) = await answered(server, heads)
        assert embed["title"] == "Headlines"
        assert embed["description"].count("\n") == 0  # one Canadian item in the seed
        assert "Canada Signals Delay in US Tariff Deal" in embed["description"]
        trade = server.send_interaction("headlines", {"topic": "trade"})
        (embed,) = await answered(server, trade)
        assert "Japan has called" in embed["description"]
        assert "Honduras" not in embed["description"]
        digest = server.send_interaction("digest", {"since": "3650d"})
        await answered(server, digest)
        about = server.send_interaction("about")
        (embed,) = await answered(server, about)
        assert "Articles: 18" in embed["description"]
        assert "all-MiniLM-L6-v2" in embed["description"]

    scenario(seed_corpus, body)


def test_digest_has_one_section_per_story(seed_corpus: Corpus):
    async def body(server: FakeDiscord, bot: BriefBot) -> None:
        digest = server.send_interaction("digest", {"topic": "geopolitics", "since": "3650d"})
        (embed,) = await answered(server, digest)
        desc = embed["description"]
        assert embed["title"] == "Digest" and " stories from " in desc
        assert "**U.S. Initiates $11.1 Billion Arms Sale to Taiwan" in desc
        assert "Japan has called" not in desc  # trade, not geopolitics
        japan = server.send_interaction("digest", {"country": "JP", "since": "3650d"})
        (embed,) = await answered(server, japan)
        assert embed["description"].startswith("1 story from 1 article")
        assert "> " in embed["description"]  # with its summary sentences

    scenario(seed_corpus, body)


def test_autocomplete_for_country_and_topic(seed_corpus: Corpus):
    async def body(server: FakeDiscord, bot: BriefBot) -> None:
        auto = server.send_autocomplete("ask", {"question": "x", "country": "jap"})
        choices = await server.wait_for(lambda: auto.choices)
        assert auto.callback_type == 8
        assert choices[0]["value"] == "JP" and choices[0]["name"] == "Japan (JP) — 1 articles"
        empty = server.send_autocomplete("headlines", {"country": ""})
        choices = await server.wait_for(lambda: empty.choices)
        assert choices[0]["value"] == "US"  # the most covered country first, with its count
        topic = server.send_autocomplete("digest", {"topic": "geo"})
        assert [c["value"] for c in await server.wait_for(lambda: topic.choices)] == ["geopolitics"]

    scenario(seed_corpus, body)


def test_mention_is_answered_as_a_reply_without_pings(seed_corpus: Corpus):
    async def body(server: FakeDiscord, bot: BriefBot) -> None:
        msg = server.send_message(f"{server.bot_mention} what did Canada say about USMCA?")
        (reply,) = await server.wait_for(lambda: server.replies_to(msg["id"]), timeout=20)
        sent = reply.body
        assert str(sent["message_reference"]["message_id"]) == str(msg["id"])
        assert sent["allowed_mentions"]["parse"] == []
        assert "Canada Signals Delay" in sent["embeds"][0]["description"]
        other = server.send_message("no mention here")
        await asyncio.sleep(0.3)
        assert not server.replies_to(other["id"])

    scenario(seed_corpus, body)


def test_cooldown_is_explained(seed_corpus: Corpus):
    async def body(server: FakeDiscord, bot: BriefBot) -> None:
        first = server.send_interaction("ask", {"question": "tariffs"})
        await answered(server, first)
        second = server.send_interaction("ask", {"question": "tariffs again"})
        await server.wait_for(lambda: second.callbacks)
        assert second.ephemeral and "try again in" in second.contents[0]

    scenario(seed_corpus, body, cooldown=60.0)


@pytest.mark.slow  # embeds with auto: on a cold model cache that exports the model first
def test_article_text_is_rendered_inert(tmp_path: Path):
    data = tmp_path / "inert"
    f = tmp_path / "a.json"
    f.write_text(
        json.dumps(
            [
                {
                    "title": "Ping test @everyone",
                    "body": "Officials said @everyone should read **this** and [click](https://evil.example)"
                    " about tariffs on steel imports.",
                }
            ]
        )
    )
    with Corpus(load_settings(data_dir=data)) as corpus:
        corpus.ingest([str(f)])

        async def body(server: FakeDiscord, bot: BriefBot) -> None:
            inter = server.send_interaction("ask", {"question": "tariffs on steel imports"})
            (embed,) = await answered(server, inter)
            desc = embed["description"]
            assert "@everyone" not in desc and "@\u200beveryone" in desc
            assert "\\*\\*this\\*\\*" in desc and "\\[click\\]" in desc
            assert inter.followups[0]["allowed_mentions"] == {"parse": []}

        scenario(corpus, body)


def test_resumes_after_a_dropped_connection(seed_corpus: Corpus):
    async def body(server: FakeDiscord, bot: BriefBot) -> None:
        server.drop_connection()
        await server.wait_for(lambda: server.resume_count >= 1, timeout=15)
        inter = server.send_interaction("about")
        (embed,) = await answered(server, inter)
        assert embed["title"] == "About briefbot"

    scenario(seed_corpus, body)


def test_slow_query_does_not_delay_heartbeats(seed_corpus: Corpus, monkeypatch):
    real_ask = handlers.ask

    def slow_ask(*args: Any) -> Any:
        time.sleep(1.2)  # CPU-bound work stands in a worker thread, not on the event loop
        return real_ask(*args)

    monkeypatch.setattr(handlers, "ask", slow_ask)

    async def body(server: FakeDiscord, bot: BriefBot) -> None:
        inter = server.send_interaction("ask", {"question": "tariffs"})
        await server.wait_for(lambda: inter.callbacks)
        start = len(server.heartbeats)
        await answered(server, inter)
        beats = server.heartbeats[start:]
        assert len(beats) >= 5
        assert max(b - a for a, b in itertools.pairwise(beats)) < 0.6

    scenario(seed_corpus, body, heartbeat_ms=100)


def test_fifty_concurrent_asks_are_all_answered(seed_corpus: Corpus):
    async def body(server: FakeDiscord, bot: BriefBot) -> None:
        inters = [
            server.send_interaction(
                "ask",
                {"question": f"tariffs on Japan {i}"},
                user=server.world.make_user(f"user{i}"),
            )
            for i in range(50)
        ]
        await server.wait_for(lambda: all(i.followups for i in inters), timeout=60)
        assert all(i.callback_type == 5 for i in inters)
        assert all(i.acknowledged_at - i.sent_at < 2.5 for i in inters)
        assert all(i.embeds for i in inters)

    # None told to wait: the queue holds them all, and the channel has no rate limit.
    scenario(seed_corpus, body, heartbeat_ms=200, max_queued_queries=50, ask_channel_per_minute=0)


@pytest.mark.slow  # embeds with auto: on a cold model cache that exports the model first
def test_briefbot_run_subprocess_against_the_fake(seed_dir: Path):
    with FakeDiscord().run_in_thread() as server:
        env = {
            **os.environ,
            "DISCORD_TOKEN": server.token,
            "BRIEFBOT_DISCORD_API_BASE": server.api_base,
            "BRIEFBOT_DISCORD_GATEWAY": server.gateway_url,
            "HF_HUB_OFFLINE": "1",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "--data-dir", str(seed_dir), "run", "--sync"],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 120
            lines = []
            while time.monotonic() < deadline:
                line = proc.stderr.readline()
                lines.append(line)
                if line.startswith("ready: ") or proc.poll() is not None:
                    break
            assert any(line.startswith("ready: ") for line in lines), "".join(lines)
            inter = server.send_interaction(
                "ask", {"question": "Is the US selling arms to Taiwan?"}
            )
            server.wait_until(lambda: inter.followups, timeout=30)
            assert "Arms Sale to Taiwan" in inter.embeds[0]["description"]
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
        assert code == 0


def test_run_without_token_points_to_chat(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--data-dir", str(tmp_path), "run"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "DISCORD_TOKEN" in proc.stderr and "briefbot chat" in proc.stderr


def test_pointing_is_complete():
    settings = BotSettings(api_base="http://127.0.0.1:9/api/v10", gateway="ws://127.0.0.1:9/gw")
    old = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    try:
        point_at(settings)
        assert Route.BASE == "http://127.0.0.1:9/api/v10"
        assert yarl.URL("ws://127.0.0.1:9/gw") == DiscordWebSocket.DEFAULT_GATEWAY
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = old


@pytest.fixture(autouse=True)
def _no_real_discord(monkeypatch):
    """Belt and braces: nothing in these tests may leave loopback."""
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
