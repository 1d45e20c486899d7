"""Discord-side latency through the fake server (issue 4): how fast interactions are
acknowledged and answered, one at a time and 50 at once.

Runs the real briefbot client in-process against `tests/fake_discord.py` on
127.0.0.1. Ack = the interaction callback arriving at the server after the
INTERACTION_CREATE was sent; answer = the follow-up with the embed arriving.

    python bench/bot_latency.py                       # the bundled seed corpus
    python bench/bot_latency.py --data-dir /tmp/briefbot-large
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from retrieval import Corpus, load_settings  # noqa: E402
from tests.fake_discord import FakeDiscord  # noqa: E402
from tests.test_bot import running  # noqa: E402

QUESTIONS = [
    "Why is Japan objecting to US tariffs?",
    "Is the US selling weapons to Taiwan?",
    "What did Canada say about USMCA?",
    "What did Putin say about the war in Ukraine?",
    "Which countries are affected by the travel ban?",
    "What is happening with Nvidia chip sales to China?",
    "Trade deficit with Japan",
    "Oil prices and OPEC output",
]


def pct(values: list[float]) -> dict[str, float]:
    return {"p50": 1000 * statistics.median(values), "p95": 1000 * float(np.percentile(values, 95))}


async def measure(corpus: Corpus, rounds: int) -> dict:
    # Latency, not the limits: no channel rate, and a queue that holds the 50-ask burst.
    unlimited = {"ask_channel_per_minute": 0, "max_queued_queries": 50}
    async with (
        FakeDiscord(heartbeat_interval_ms=1000) as server,
        running(server, corpus, **unlimited) as bot,
    ):
        acks, answers = [], []
        for i in range(rounds):
            inter = server.send_interaction(
                "ask",
                {"question": QUESTIONS[i % len(QUESTIONS)]},
                user=server.world.make_user(f"u{i}"),
            )
            await server.wait_for(lambda inter=inter: inter.followups, timeout=30)
            hook = server.find_requests("POST", f"/webhooks/*/{inter.token}")[0]
            acks.append(inter.acknowledged_at - inter.sent_at)
            answers.append(hook.time - inter.sent_at)
        burst = [
            server.send_interaction(
                "ask",
                {"question": QUESTIONS[i % len(QUESTIONS)]},
                user=server.world.make_user(f"b{i}"),
            )
            for i in range(50)
        ]
        beats_before = len(server.heartbeats)
        await server.wait_for(lambda: all(i.followups for i in burst), timeout=120)
        burst_acks = [i.acknowledged_at - i.sent_at for i in burst]
        done = [
            server.find_requests("POST", f"/webhooks/*/{i.token}")[0].time - i.sent_at
            for i in burst
        ]
        beats = server.heartbeats[beats_before:]
        gaps = [b - a for a, b in itertools.pairwise(beats)]
        burst_200 = await overload(corpus)
        return {
            "burst_200_default_queue": burst_200,
            "articles": bot.corpus.stats().articles,
            "sequential": {"rounds": rounds, "ack_ms": pct(acks), "answer_ms": pct(answers)},
            "burst_50": {
                "all_answered": all(i.followups for i in burst),
                "ack_ms": pct(burst_acks),
                "answer_ms": pct(done),
                "max_heartbeat_gap_s": max(gaps) if gaps else None,
            },
        }


async def overload(corpus: Corpus) -> dict:
    """200 asks at once, with the shipped queue bound: each answered or told to wait."""
    async with (
        FakeDiscord(heartbeat_interval_ms=1000) as server,
        running(server, corpus, ask_channel_per_minute=0) as bot,
    ):
        start, beats = time.monotonic(), len(server.heartbeats)
        burst = [
            server.send_interaction(
                "ask",
                {"question": QUESTIONS[i % len(QUESTIONS)]},
                user=server.world.make_user(f"o{i}"),
            )
            for i in range(200)
        ]

        def settled(i) -> bool:
            return bool(i.followups) or (bool(i.callbacks) and i.callback_type == 4)

        await server.wait_for(lambda: all(settled(i) for i in burst), timeout=600)
        told = [i for i in burst if i.callback_type == 4]
        gaps = [b - a for a, b in itertools.pairwise(server.heartbeats[beats:])]
        return {
            "answered": sum(1 for i in burst if i.followups),
            "told_to_wait": len(told),
            "told_to_wait_ms": pct([i.acknowledged_at - i.sent_at for i in told]) if told else None,
            "all_settled_s": time.monotonic() - start,
            "max_heartbeat_gap_s": max(gaps) if gaps else None,
            "reconnects": server.identify_count - 1 + server.resume_count,
            "queue_bound": bot.settings.max_concurrent_queries + bot.settings.max_queued_queries,
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, help="default: a fresh dir with the seed corpus")
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--out", type=Path, default=Path("bench/out/bot_latency.json"))
    args = ap.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp()) / "seed"
    with Corpus(load_settings(data_dir=data_dir)) as corpus:
        corpus.ensure_bundled()
        corpus.encoder.encode(["warm up"])
        result = asyncio.run(measure(corpus, args.rounds))
    print(json.dumps(result, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
