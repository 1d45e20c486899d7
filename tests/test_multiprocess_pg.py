"""Two bot "processes" on one PostgreSQL database (issue 18, item 4).

Two corpora with their own data dirs and one store URL, two real discord.py clients
(`build_client`) connected to one fake Discord server. Each digest period is posted
exactly once whichever of them runs it, a period one of them failed to post is posted
by the other's later run, and an article ingested through one is answered by the other
without a restart. The PostgreSQL server is `conftest.pg_server`'s (skipped, with the
reason, where it cannot run); the encoder is the fake one: no model.

Both clients share this Python process (and discord.py's module-level endpoints), so
"process" here means everything the bot builds for itself: corpus, stores, poster,
scheduler, worker threads and gateway session — nothing shared but the database and
the fake Discord server.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.subscriptions import Subscription
from bot.subscriptions_pg import PgSubscriptionStore
from retrieval import Corpus, load_settings, wording
from tests.conftest import FakeEncoder
from tests.fake_discord import FakeDiscord
from tests.test_bot import answered, running

NEW_TITLE = "Zanzibar clove harvest fails after cyclone"
NEW_ARTICLE = {
    "title": NEW_TITLE,
    "body": "The Zanzibar clove harvest failed this season after a cyclone flattened"
    " plantations on Pemba island, growers said, and clove exports will fall sharply.",
}


def pg_corpus(tmp_path: Path, name: str, url: str) -> Corpus:
    settings = load_settings(data_dir=tmp_path / name)
    return Corpus(replace(settings, store=replace(settings.store, url=url)), encoder=FakeEncoder())


def test_two_bots_on_one_database_post_each_period_once_and_share_ingests(pg_url, tmp_path):
    corpus_a = pg_corpus(tmp_path, "a", pg_url)
    corpus_b = pg_corpus(tmp_path, "b", pg_url)
    record = PgSubscriptionStore(pg_url)  # the test's own view of the shared record
    title = wording.text("digest.scheduled_title")
    summary: dict[str, object] = {}

    async def main() -> None:
        async with FakeDiscord() as server:
            channel = server.channel_id
            # Due in 12 hours: the schedulers hold the job but do not fire it in the test.
            due = (datetime.now(UTC) + timedelta(hours=12)).strftime("%H:%M")
            sub = record.add(int(channel), due, "UTC", guild_id=int(server.guild_id))

            def digests() -> list:
                return [
                    p
                    for p in server.in_channel(channel)
                    if any(e.get("title", "").startswith(title) for e in p.body.get("embeds") or [])
                ]

            async with running(server, corpus_a) as bot_a, running(server, corpus_b) as bot_b:
                assert bot_a.poster is not bot_b.poster
                assert bot_a.subscriptions is not bot_b.subscriptions

                # 1. Both fire for the same period at once: one claim wins, one message.
                day1 = datetime.now(UTC)
                won = await asyncio.gather(bot_a.poster(sub.id, day1), bot_b.poster(sub.id, day1))
                assert sorted(won) == [False, True]
                assert len(digests()) == 1
                summary["concurrent"] = ("A" if won[0] else "B", len(digests()))

                # 2. A's post of the next period is refused once; B's later run posts it.
                day2 = day1 + timedelta(days=1)
                server.deny("POST", "/channels/*/messages")
                assert await bot_a.poster(sub.id, day2) is False
                server.allow_all()
                assert len(digests()) == 1  # nothing went out, and the period was released
                assert await bot_b.poster(sub.id, day2) is True
                assert await bot_a.poster(sub.id, day2) is False  # and never twice
                assert len(digests()) == 2
                periods = record.posted(sub.id)
                assert [(p, s) for p, _, s in periods] == [
                    (sub.period(day1), "posted"),
                    (sub.period(day2), "posted"),
                ]
                summary["periods"] = [p for p, _, _ in periods]

                # 3. Ingested through A, asked through B (the session the gateway talks to).
                assert server.gateway.current.id == bot_b.ws.session_id
                path = tmp_path / "new.json"
                path.write_text(json.dumps([NEW_ARTICLE]))
                report = await asyncio.to_thread(corpus_a.ingest, [str(path)])
                assert report.added == 1
                inter = server.send_interaction(
                    "ask", {"question": "Why did the Zanzibar clove harvest fail?"}
                )
                (embed,) = await answered(server, inter)
                assert NEW_TITLE in embed["description"]
                summary["cited"] = NEW_TITLE

    try:
        corpus_a.ensure_bundled()  # the seed corpus, once, into the shared database
        asyncio.run(main())
    finally:
        record.close()
        corpus_a.close()
        corpus_b.close()
    winner, posted = summary["concurrent"]
    print(
        f"\ntwo bots, one PostgreSQL: concurrent run of one period -> {posted} digest"
        f" (posted by {winner}); A refused on the next period, B posted it;"
        f" periods posted once each: {summary['periods']};"
        f" ingested via A, /ask via B cited {summary['cited']!r}"
    )


def test_bots_starting_together_on_a_fresh_database_create_their_tables_once(pg_url):
    """Each thread stands for a process opening the bot's stores at the same moment."""
    from bot.watches_pg import PgWatchStore
    from retrieval.feeds.registry_pg import PgFeedRegistry

    start = threading.Barrier(4)

    def open_all(_: int) -> int:
        start.wait()
        stores = [PgSubscriptionStore(pg_url), PgWatchStore(pg_url), PgFeedRegistry(pg_url)]
        for store in stores:
            store.close()
        return len(stores)

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(open_all, range(4))) == [3, 3, 3, 3]  # none raised


# --- real OS processes ---------------------------------------------------------------------
# Two `briefbot start` processes (tests/fake_model_cli.py: the real entry point with the
# fake encoder), each shard i of 2, one database, the fake Discord server in a thread of
# this process. Digest periods cannot wait for the clock here, so the test writes each
# shard's job row beforehand (what a scheduler that was down leaves behind): the first
# subscription's run is overdue, so both processes run it as they start; the second's
# run is due SURVIVOR_AT seconds after the start, by when one process has been killed.
SURVIVOR_AT = 45.0  # seconds: time for both to start on a busy 2-core machine
ROOT = Path(__file__).resolve().parent.parent


def seed_jobs(url: str, runs: dict[Subscription, datetime]) -> None:
    """Each shard's job table holding a job per subscription, next run as given."""
    from bot.scheduler import DigestScheduler, run_digest_job, trigger_for
    from bot.stores import sqlalchemy_url

    async def noop(_: int) -> None:
        return None

    async def write() -> None:
        for shard in (0, 1):
            jobs = DigestScheduler(
                ROOT,
                noop,
                jobs_url=sqlalchemy_url(url),
                jobs_table=f"apscheduler_jobs_shard{shard}",
            )
            jobs.scheduler.start(paused=True)
            for sub, at in runs.items():
                jobs.scheduler.add_job(
                    run_digest_job, trigger_for(sub), id=f"digest-{sub.id}", args=[sub.id],
                    name=sub.describe(), next_run_time=at,
                )  # fmt: skip
            jobs.shutdown()

    asyncio.run(write())


class BotProcess:
    """One `briefbot start` child: its data dir, its log (the data dir's briefbot.log)."""

    def __init__(self, tmp_path: Path, shard: int, env: dict[str, str]) -> None:
        self.shard = shard
        self.data_dir = tmp_path / f"shard{shard}"
        self.data_dir.mkdir()
        config = tmp_path / f"shard{shard}.toml"
        config.write_text(f"[discord]\nshard_count = 2\nshard_ids = [{shard}]\n")
        self.stderr_path = tmp_path / f"shard{shard}.stderr"
        with self.stderr_path.open("w") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.fake_model_cli", "--data-dir", str(self.data_dir),
                 "--config", str(config), "start"],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    @property
    def log(self) -> str:
        path = self.data_dir / "briefbot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"shard {self.shard} exited {self.proc.returncode}: {self.stderr}")
        return "ready: " in self.stderr

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@pytest.mark.slow
def test_two_bot_processes_post_each_period_once_survive_a_kill_and_share_ingests(pg_url, tmp_path):
    seed = pg_corpus(tmp_path, "seed", pg_url)
    seed.ensure_bundled()  # the seed corpus, once, into the shared database
    seed.close()
    record = PgSubscriptionStore(pg_url)
    title = wording.text("digest.scheduled_title")
    procs: list[BotProcess] = []
    with FakeDiscord().run_in_thread() as server:
        try:
            start = datetime.now(UTC)
            channel, guild = int(server.channel_id), int(server.guild_id)
            early = start - timedelta(minutes=1)
            both = record.add(channel, early.strftime("%H:%M"), "UTC", guild_id=guild)
            later = record.add(channel, early.strftime("%H:%M"), "UTC", ("JP",), guild_id=guild)
            seed_jobs(pg_url, {both: start - timedelta(seconds=30),
                               later: start + timedelta(seconds=SURVIVOR_AT)})  # fmt: skip
            env = {**os.environ, "DISCORD_TOKEN": server.token, "BRIEFBOT_STORE_URL": pg_url,
                   "BRIEFBOT_DISCORD_API_BASE": server.api_base, "HF_HUB_OFFLINE": "1",
                   "BRIEFBOT_DISCORD_GATEWAY": server.gateway_url}  # fmt: skip
            procs = [BotProcess(tmp_path, shard, env) for shard in (0, 1)]

            def digests() -> list:
                return [
                    p
                    for p in server.in_channel(str(channel))
                    if any(e.get("title", "").startswith(title) for e in p.body.get("embeds") or [])
                ]

            # 1. Both up, both run the overdue period: one posts it, the other finds it claimed.
            server.wait_until(lambda: all(p.ready() for p in procs), timeout=SURVIVOR_AT - 8)
            ran = [f"posted digest #{both.id} ", f"digest #{both.id} for "]
            server.wait_until(lambda: all(any(r in p.log for r in ran) for p in procs), 15)
            posted_by = [p.shard for p in procs if ran[0] in p.log]
            assert len(posted_by) == 1 and len(digests()) == 1
            assert all(f"{ran[1]}{both.period(start)} was already posted" in p.log
                       for p in procs if p.shard not in posted_by)  # fmt: skip

            # 2. Kill the shard that does not hold the guild; the survivor goes on.
            owner = server.gateway.guild_shard(2)
            survivor, killed = procs[owner], procs[1 - owner]
            assert (datetime.now(UTC) - start).total_seconds() < SURVIVOR_AT - 2, (
                "both processes came up too late to be killed before the next period"
            )
            killed.proc.send_signal(signal.SIGKILL)
            assert killed.proc.wait(timeout=10) == -signal.SIGKILL

            # 3. Ingested by a third process, answered by the survivor without a restart.
            article = tmp_path / "new.json"
            article.write_text(json.dumps([NEW_ARTICLE]))
            ingest = subprocess.run(
                [sys.executable, "-m", "tests.fake_model_cli", "--data-dir",
                 str(tmp_path / "ingest"), "ingest", str(article)],
                cwd=ROOT, env={**env, "DISCORD_TOKEN": ""}, capture_output=True, text=True,
                timeout=60,
            )  # fmt: skip
            assert ingest.returncode == 0 and "added 1" in ingest.stdout, ingest.stderr
            inter = server.send_interaction(
                "ask", {"question": "Why did the Zanzibar clove harvest fail?"}
            )
            server.wait_until(lambda: inter.followups, timeout=20)
            assert NEW_TITLE in inter.embeds[0]["description"]

            # 4. The next period comes due with one process left: it is posted, once.
            server.wait_until(lambda: len(digests()) == 2, timeout=SURVIVOR_AT + 15)
            server.wait_until(lambda: f"posted digest #{later.id} " in survivor.log, 10)
            assert [s for sub in (both, later) for _, _, s in record.posted(sub.id)] == [
                "posted",
                "posted",
            ]
            assert survivor.stop() == 0
        finally:
            for p in procs:
                if p.proc.poll() is None:
                    p.proc.kill()
                    p.proc.wait(timeout=10)
            record.close()
    print(
        f"\ntwo bot processes (shards 0 and 1 of 2), one PostgreSQL: the overdue period run by"
        f" both -> 1 digest (posted by shard {posted_by[0]}); shard {killed.shard} SIGKILLed;"
        f" ingest by a third process cited by shard {survivor.shard}'s /ask; the next period"
        f" posted once by shard {survivor.shard}"
    )


def test_several_shards_in_one_process_answer_and_post(pg_url, tmp_path):
    """`shard_ids = [0, 1]`: one AutoShardedClient connects both shards of the gateway."""
    from bot.app import ShardedBriefBot

    class QuietShardedBot(ShardedBriefBot):
        async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False):
            return None

    corpus = pg_corpus(tmp_path, "both", pg_url)
    record = PgSubscriptionStore(pg_url)

    async def main() -> None:
        async with FakeDiscord() as server:
            sub = record.add(int(server.channel_id), "06:00", "UTC", guild_id=int(server.guild_id))
            async with running(
                server, corpus, shard_count=2, shard_ids=(0, 1), client_class=QuietShardedBot
            ) as bot:
                assert sorted(bot.shards) == [0, 1] and server.gateway.identify_count == 2
                shards = sorted(s for s in (ss.shard for ss in server.gateway.sessions.values()))
                assert shards == [(0, 2), (1, 2)]
                inter = server.send_interaction("ask", {"question": "Why is Japan objecting?"})
                (embed,) = await answered(server, inter)
                assert "Japan" in embed["description"]
                assert await bot.poster(sub.id, datetime.now(UTC)) is True

    try:
        corpus.ensure_bundled()
        asyncio.run(main())
    finally:
        record.close()
        corpus.close()
