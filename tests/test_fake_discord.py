"""The fake Discord server works with the real discord.py client (no discord.py mocking)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import discord
import pytest
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from tests.fake_discord import FakeDiscord

TOPICS = ["tariffs", "trade war", "sanctions", "export controls"]
ALLOWED = discord.AllowedMentions(everyone=False, roles=False, users=True, replied_user=True)


class TinyBot(discord.Client):
    """A minimal slash-command + mention bot, standing in for briefbot."""

    def __init__(self) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(intents=intents, guild_ready_timeout=0.05)
        self.tree = app_commands.CommandTree(self)
        self.ready_count = 0
        self.resumed = 0
        self.errors: list[BaseException] = []
        self.caught: list[discord.HTTPException] = []
        self.tree.error(self._on_app_error)
        self._add_commands()

    def _add_commands(self) -> None:
        tree = self.tree

        @tree.command(description="Check the bot is alive")
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            await interaction.followup.send("pong", allowed_mentions=discord.AllowedMentions.none())

        @tree.command(description="Defer, work in a thread, then answer")
        async def slow(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            await asyncio.to_thread(time.sleep, 0.6)
            await interaction.followup.send("done")

        @tree.command(description="Search the corpus")
        async def search(interaction: discord.Interaction, query: str) -> None:
            await interaction.response.send_message(f"searching {query}", ephemeral=True)

        @search.autocomplete("query")
        async def complete(interaction: discord.Interaction, current: str) -> list[Any]:
            return [app_commands.Choice(name=t, value=t) for t in TOPICS if current in t]

        digest = app_commands.Group(name="digest", description="Digests")

        @digest.command(description="Run a digest now")
        async def run(interaction: discord.Interaction, topic: str, days: int = 7) -> None:
            embed = discord.Embed(title=f"Digest: {topic}", description=f"last {days} days")
            await interaction.response.send_message(embed=embed)

        tree.add_command(digest)

        @tree.command(description="Exercise edits, fetches, deletes and attachments")
        async def report(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("working")
            await interaction.edit_original_response(content="report ready")
            original = await interaction.original_response()
            followup = await interaction.followup.send(
                f"original said: {original.content}", wait=True,
                file=discord.File(io.BytesIO(b"a,b\n1,2\n"), "report.csv"))
            await followup.delete()
            channel = await self.fetch_channel(interaction.channel_id or 0)
            assert isinstance(channel, discord.TextChannel)
            posted = await channel.send("full report", file=discord.File(io.BytesIO(b"x"), "r.txt"))
            fetched = await channel.fetch_message(posted.id)
            await fetched.edit(content=f"{fetched.content} (edited)")

        @tree.command(description="Answer too late")
        async def late(interaction: discord.Interaction) -> None:
            await asyncio.sleep(0.4)
            try:
                await interaction.response.send_message("too late")
            except discord.HTTPException as exc:
                self.caught.append(exc)

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Skip discord.py's 5 s sleep before re-identifying."""

    async def on_ready(self) -> None:
        self.ready_count += 1

    async def on_resumed(self) -> None:
        self.resumed += 1

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.user not in message.mentions:
            return
        await message.reply(f"answer to: {message.content.split(maxsplit=1)[-1]}",
                            allowed_mentions=ALLOWED)

    async def on_error(self, event: str, *args: Any, **kwargs: Any) -> None:
        self.errors.append(sys.exc_info()[1] or RuntimeError(event))

    async def _on_app_error(self, interaction: discord.Interaction, error: Exception) -> None:
        self.errors.append(error)


@contextlib.contextmanager
def pointed_at(server: FakeDiscord) -> Iterator[None]:
    """Point discord.py's REST base and default gateway at the fake; restore afterwards."""
    old_base, old_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    Route.BASE = server.api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(server.gateway_url)
    try:
        yield
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = old_base, old_gateway


@contextlib.asynccontextmanager
async def connected(server: FakeDiscord, token: str | None = None) -> AsyncIterator[TinyBot]:
    """Log a TinyBot into ``server``, wait for on_ready, and close it, surfacing its errors."""
    bot = TinyBot()
    task: asyncio.Task[None] | None = None
    try:
        with pointed_at(server):
            await bot.login(token or server.token)
            task = asyncio.create_task(bot.connect())
            await server.wait_for(lambda: bot.ready_count or task.done(), timeout=5)
            if task.done():
                task.result()  # raises why the client died
            yield bot
            assert not bot.errors, bot.errors
    finally:
        await bot.close()
        if task is not None:
            await asyncio.wait_for(task, timeout=5)  # re-raises a connect() failure


def run(scenario: Callable[[FakeDiscord, TinyBot], Awaitable[None]], **server_kwargs: Any) -> None:
    async def main() -> None:
        async with FakeDiscord(**server_kwargs) as server, connected(server) as bot:
            await scenario(server, bot)

    asyncio.run(main())


def test_login_ready_and_command_sync() -> None:
    async def scenario(server: FakeDiscord, bot: TinyBot) -> None:
        assert bot.user is not None and str(bot.user.id) == server.bot_user["id"]
        guild = bot.get_guild(int(server.guild_id))
        assert guild is not None and guild.get_channel(int(server.channel_id))
        assert guild.me is not None  # without the members intent only the bot is cached
        (put,) = server.find_requests("PUT", "/applications/*/commands")
        names = {"ping", "slow", "search", "digest", "report", "late"}
        assert {c["name"] for c in put.json} == names
        assert {c["name"] for c in server.commands[None]} == {c["name"] for c in put.json}
        assert all(r.status == 200 for r in server.requests)
        async with aiohttp.ClientSession() as http, http.get(f"{server.api_base}/gateway") as r:
            assert r.headers["Content-Type"] == "application/json"
            assert (await r.json())["url"] == server.gateway_url

    run(scenario)


def test_wrong_token_is_a_login_failure() -> None:
    async def main() -> None:
        async with FakeDiscord() as server:
            bot = TinyBot()
            with pointed_at(server), pytest.raises(discord.LoginFailure):
                await bot.login("not-the-token")
            await bot.close()
            assert server.find_requests("GET", "/users/@me")[0].status == 401

    asyncio.run(main())


def test_deferred_command_gets_its_followup() -> None:
    async def scenario(server: FakeDiscord, bot: TinyBot) -> None:
        inter = server.send_interaction("ping")
        await server.wait_for(lambda: inter.followups)
        assert inter.callback_type == 5 and not inter.ephemeral
        assert inter.contents == ["pong"]
        assert inter.followups[0]["allowed_mentions"] == {"parse": []}
        assert inter.original is not None and inter.original["content"] == "pong"
        (hook,) = server.find_requests("POST", f"/webhooks/*/{inter.token}")
        assert hook.query.get("wait") in ("1", "true")
        assert inter.acknowledged_at is not None and inter.sent_at is not None
        assert inter.acknowledged_at - inter.sent_at < 1.0

    run(scenario)


def test_autocomplete_subcommands_embeds_and_ephemeral() -> None:
    async def scenario(server: FakeDiscord, bot: TinyBot) -> None:
        auto = server.send_autocomplete("search", {"query": "ar"})
        choices = await server.wait_for(lambda: auto.choices)
        assert auto.callback_type == 8
        assert [c["value"] for c in choices] == ["tariffs", "trade war"]

        search = server.send_interaction("search", {"query": "tariffs"})
        await server.wait_for(lambda: search.callbacks)
        assert search.callback_type == 4 and search.ephemeral
        assert search.contents == ["searching tariffs"]

        digest = server.send_interaction("digest run", {"topic": "sanctions", "days": 3})
        await server.wait_for(lambda: digest.callbacks)
        assert digest.embeds[0]["title"] == "Digest: sanctions"
        assert digest.embeds[0]["description"] == "last 3 days"

    run(scenario)


def test_edits_fetches_deletes_and_multipart_uploads() -> None:
    async def scenario(server: FakeDiscord, bot: TinyBot) -> None:
        inter = server.send_interaction("report")
        await server.wait_for(lambda: server.find_requests("PATCH", "/channels/*"))
        assert [kind for kind, _ in inter.events] == ["callback", "edit", "followup", "delete"]
        assert inter.contents == ["working", "report ready", "original said: report ready"]
        assert inter.original is not None and inter.original["content"] == "report ready"
        upload = server.find_requests("POST", f"/webhooks/*/{inter.token}")[0]
        assert upload.files[0]["filename"] == "report.csv" and upload.files[0]["size"] == 8
        (posted,) = server.posted
        assert posted.body["content"] == "full report"
        assert posted.message["attachments"][0]["filename"] == "r.txt"
        assert server.rest.messages[posted.message["id"]]["content"] == "full report (edited)"
        assert all(r.status < 300 for r in server.requests), [
            (r.method, r.path, r.status) for r in server.requests]

    run(scenario)


def test_server_enforces_single_ack_and_deadline() -> None:
    async def scenario(server: FakeDiscord, bot: TinyBot) -> None:
        once = server.send_interaction("search", {"query": "tariffs"})
        await server.wait_for(lambda: once.callbacks)
        server.dispatch("INTERACTION_CREATE", once.payload)  # delivered twice: answered twice
        (error,) = await server.wait_for(lambda: bot.errors)
        assert isinstance(error, app_commands.CommandInvokeError)
        assert isinstance(error.original, discord.HTTPException) and error.original.code == 40060
        assert once.rejected == [(400, 40060)] and len(once.callbacks) == 1
        bot.errors.clear()

        server.rest.ack_deadline = 0.2  # /late answers after 0.4 s
        late = server.send_interaction("late")
        await server.wait_for(lambda: bot.caught)
        assert isinstance(bot.caught[0], discord.NotFound) and bot.caught[0].code == 10062
        assert late.rejected == [(404, 10062)] and not late.callbacks

    run(scenario)


def test_mention_gets_a_reply_with_reference_and_allowed_mentions() -> None:
    async def scenario(server: FakeDiscord, bot: TinyBot) -> None:
        msg = server.send_message(f"{server.bot_mention} what about tariffs?")
        (reply,) = await server.wait_for(lambda: server.replies_to(msg["id"]))
        assert reply.body["content"] == "answer to: what about tariffs?"
        assert str(reply.body["message_reference"]["message_id"]) == msg["id"]
        assert reply.message["message_reference"]["channel_id"] == server.channel_id
        assert reply.body["allowed_mentions"] == {"parse": ["users"], "replied_user": True}
        server.send_message("no mention here")
        await asyncio.sleep(0.1)
        assert len(server.posted) == 1

    run(scenario)


def test_resumes_after_dropped_connection_and_replays_missed_events() -> None:
    async def scenario(server: FakeDiscord, bot: TinyBot) -> None:
        server.drop_connection()
        msg = server.send_message(f"{server.bot_mention} missed while offline?")  # buffered
        await server.wait_for(lambda: bot.resumed)
        assert server.resume_count == 1 and server.identify_count == 1
        await server.wait_for(lambda: server.replies_to(msg["id"]))
        inter = server.send_interaction("ping")
        await server.wait_for(lambda: inter.followups)
        assert inter.contents == ["pong"]

    run(scenario)


@pytest.mark.parametrize("how", ["reconnect", "invalidate", "close_4000"])
def test_recovers_from_server_forced_reconnects(how: str) -> None:
    async def scenario(server: FakeDiscord, bot: TinyBot) -> None:
        if how == "reconnect":
            server.send_reconnect()
            await server.wait_for(lambda: server.resume_count)
        elif how == "close_4000":
            server.drop_connection(code=4000)
            await server.wait_for(lambda: server.resume_count)
        else:
            server.invalidate_session()
            await server.wait_for(lambda: bot.ready_count == 2)
            assert server.identify_count == 2 and server.resume_count == 0
        inter = server.send_interaction("ping")
        await server.wait_for(lambda: inter.followups)
        assert inter.contents == ["pong"]

    run(scenario)


def test_heartbeats_continue_while_a_command_is_busy() -> None:
    async def scenario(server: FakeDiscord, bot: TinyBot) -> None:
        inter = server.send_interaction("slow")
        await server.wait_for(lambda: inter.followups)
        start, end = inter.acknowledged_at, server.find_requests("POST", "/webhooks/*")[-1].time
        assert start is not None
        during = [t for t in server.heartbeats if start <= t <= end]
        assert len(during) >= 3, (len(during), end - start)
        assert inter.contents == ["done"]

    run(scenario, heartbeat_interval_ms=100)


def test_threaded_server_with_bot_on_another_loop() -> None:
    """The pattern for a bot in a subprocess: server in a thread, the test thread stays sync."""
    bot_failure: list[BaseException] = []
    ready, stop = threading.Event(), threading.Event()

    with FakeDiscord().run_in_thread() as server:

        async def bot_main() -> None:
            async with connected(server):
                ready.set()
                while not stop.is_set():
                    await asyncio.sleep(0.02)

        def bot_thread() -> None:
            try:
                asyncio.run(bot_main())
            except BaseException as exc:
                bot_failure.append(exc)

        thread = threading.Thread(target=bot_thread, daemon=True)
        thread.start()
        try:
            server.wait_until(lambda: ready.is_set() or bot_failure, timeout=5)
            assert server.identify_count == 1 and server.commands[None]
            inter = server.send_interaction("ping")
            server.wait_until(lambda: inter.followups)
            assert inter.contents == ["pong"]
        finally:
            stop.set()
            thread.join(5)
    assert not bot_failure, bot_failure



def test_threads_forum_posts_tags_and_permissions() -> None:
    """The thread and forum endpoints as discord.py's own models use them."""

    async def scenario(server: FakeDiscord, bot: TinyBot) -> None:
        channel = bot.get_channel(int(server.channel_id))
        forum = bot.get_channel(int(server.forum_id))
        assert isinstance(channel, discord.TextChannel) and isinstance(forum, discord.ForumChannel)
        assert [t.name for t in forum.available_tags] == ["trade"]
        tags = [*forum.available_tags, discord.ForumTag(name="JP")]
        edited = await forum.edit(available_tags=tags)
        assert edited is not None and [t.name for t in edited.available_tags] == ["trade", "JP"]
        # CHANNEL_UPDATE reaches the client's cache, as from Discord.
        await server.wait_for(lambda: len(forum.available_tags) == 2)
        made = await forum.create_thread(
            name="Japan tariffs", content="first", applied_tags=edited.available_tags
        )
        assert [t.name for t in made.thread.applied_tags] == ["trade", "JP"]
        assert made.message.id == made.thread.id and made.message.content == "first"

        message = await channel.send("a story")
        thread = await message.create_thread(name="A story", auto_archive_duration=10080)
        assert thread.id == message.id and thread.parent_id == channel.id
        await server.wait_for(lambda: bot.get_channel(thread.id))  # THREAD_CREATE
        archived = await thread.edit(archived=True)
        assert archived.archived
        fetched = await bot.fetch_channel(thread.id)
        assert isinstance(fetched, discord.Thread) and fetched.archived
        await fetched.send("reopens it")  # as on Discord: an unlocked thread reopens
        assert not server.threads[str(thread.id)]["thread_metadata"]["archived"]
        server.set_thread(str(thread.id), archived=True, locked=True)
        with pytest.raises(discord.HTTPException) as archived_for_good:
            await fetched.send("no")
        assert archived_for_good.value.code == 50083

        server.deny("POST", "/channels/*/messages/*/threads")
        again = await channel.send("another")
        with pytest.raises(discord.Forbidden) as refused:
            await again.create_thread(name="denied")
        assert refused.value.code == 50013
        server.allow_all()
        with pytest.raises(discord.HTTPException) as twice:  # one thread per message
            await message.create_thread(name="twice")
        assert twice.value.code == 160004

    run(scenario)
