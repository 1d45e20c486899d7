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
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
