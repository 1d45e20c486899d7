"""The Discord side of issue 17 (item 6): what strangers' articles and members can do.

Article text is drawn inert and within every embed limit (a hypothesis test on
`bot.embeds.render`); admin commands are refused to a member without Manage Server;
questions are rate-limited per user and per channel, capped in length, and a burst of
200 is answered or told to wait while the gateway heartbeat is still acknowledged.
All through the fake Discord server with the real discord.py client.
"""

from __future__ import annotations

import re
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.embeds import (
    DESCRIPTION_LIMIT,
    EMBEDS_PER_MESSAGE,
    FOOTER_LIMIT,
    MESSAGE_TOTAL_LIMIT,
    TITLE_LIMIT,
    inert,
    render,
)
from bot.replies import Line, Reply, Section, Source
from retrieval import Corpus
from tests.fake_discord import ALL_PERMS, FakeDiscord
from tests.test_bot import answered, scenario

# Everything but Manage Server (0x20) and Administrator (0x8, which implies it).
NO_MANAGE_SERVER = str(int(ALL_PERMS) & ~0x20 & ~0x8)
HOSTILE = [
    "@everyone",
    "@here",
    "<@123456789012345678>",
    "<@!123456789012345678>",
    "<@&123456789012345678>",
    "<#123456789012345678>",
    "</ask:123456789012345678>",
    "[click here](https://evil.example/x)",
    "[a](<https://evil.example>)",
    "https://discord.gg/abcdef",
    "discord.com/invite/abcdef",
    "@\u200beveryone",
    "@ever\u200byone",
    "\u202eevil\u202c",
    "\ufeff[x]\u200b(http://y)",
    "**bold** __u__ ~~s~~ ||spoiler|| `code` ```block```",
    "# heading",
    "> quote",
    "- item",
    "1. item",
    "\\",
    "\\[x](http://y)",
    ")",
    "\n",
]
text = st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40)), max_size=12).map(
    " ".join
) | st.tuples(st.sampled_from(HOSTILE) | st.text(max_size=30), st.integers(100, 600)).map(
    lambda t: (t[0] + " word ") * t[1]  # long, cheap to draw: past every embed limit
)
urls = st.one_of(
    st.none(),
    st.sampled_from(
        ["https://example.com/a)b [c]", "javascript:alert(1)", "https://x/" + "a" * 600]
    ),
    st.text(max_size=60).map(lambda t: "https://example.com/" + t),
)
sources = st.builds(
    Source,
    number=st.integers(1, 99),
    title=text,
    url=urls,
    outlet=st.one_of(st.none(), text),
    published=st.one_of(st.none(), st.just("2025-04-18T00:00:00+00:00")),
    countries=st.lists(st.sampled_from(["JP", "US", "X", "??", "jp"]), max_size=3),
)


@st.composite
def replies(draw) -> Reply:
    kind = draw(st.sampled_from(["answer", "abstain", "headlines", "digest", "error"]))
    srcs = draw(st.lists(sources, min_size=1, max_size=30))
    for n, s in enumerate(srcs, 1):
        s.number = n
    cite = st.lists(st.integers(1, len(srcs)), min_size=1, max_size=3)
    lines = draw(st.lists(st.builds(Line, text=text, cites=cite), max_size=25))
    sections = draw(
        st.lists(
            st.builds(
                Section,
                heading=text,
                lines=st.lists(st.builds(Line, text=text), max_size=4),
                countries=st.just(["JP"]),
                cites=cite,
            ),
            max_size=12,
        )
    )
    return Reply(
        kind=kind,
        title=draw(text),
        lines=lines,
        sections=sections if kind == "digest" else [],
        sources=srcs,
        notes=draw(st.lists(st.sampled_from(["Closest headlines:", "3 stories"]), max_size=2)),
        footer=draw(st.one_of(st.none(), text)),
    )


def live(text: str, pattern: str) -> list[re.Match]:
    """Matches of `pattern` not escaped by a backslash (an even run of them escapes nothing)."""
    out = []
    for m in re.finditer(pattern, text):
        run = len(text[: m.start()]) - len(text[: m.start()].rstrip("\\"))
        if run % 2 == 0:
            out.append(m)
    return out


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(replies())
def test_render_keeps_every_limit_and_leaves_article_text_inert(reply: Reply):
    messages = render(reply)
    for embeds in messages:
        assert 1 <= len(embeds) <= EMBEDS_PER_MESSAGE
        total = 0
        for e in embeds:
            d = e.to_dict()
            title, desc = d.get("title", ""), d.get("description", "")
            footer = d.get("footer", {}).get("text", "")
            assert len(title) <= TITLE_LIMIT and len(desc) <= DESCRIPTION_LIMIT
            assert len(footer) <= FOOTER_LIMIT
            fields = d.get("fields", [])
            assert len(fields) <= 25 and all(
                len(f["name"]) <= 256 and len(f["value"]) <= 1024 for f in fields
            )
            total += len(title) + len(desc) + len(footer)
            for part in (title, desc, footer):
                assert "@everyone" not in part and "@here" not in part
                for ch in part:  # only the zero-width space that breaks a mention
                    assert unicodedata.category(ch) != "Cf" or ch == "\u200b", hex(ord(ch))
            for part in (title, footer):  # plain text: no mention markup left whole
                assert not re.search(r"<(@[!&]?|#|/|a?:|t:)\w", part), part
            # Markdown: no user, role, channel or command mention, no invite, unescaped.
            assert not live(desc, r"<[@#/:]") and not live(desc, r"discord(app)?\.(gg|com)")
            # The only live links are the sources' own: a clean http(s) target, closed.
            for m in live(desc, r"\]\("):
                assert re.match(r"\]\(https?://[^\s()\[\]<>\"'`\\]*\)", desc[m.start() :])
        assert total <= MESSAGE_TOTAL_LIMIT


def test_inert_examples():
    assert inert("[click](https://evil.example)") == "\\[click\\]\\(https://evil.example\\)"
    assert inert("@everyone and @here") == "@\u200beveryone and @\u200bhere"
    assert inert("<@&123456789012345678>") == "\\<@\u200b&123456789012345678\\>"
    assert inert("join discord.gg/abc") == "join discord\\.gg/abc"
    assert inert("@\u200beveryone") == "@\u200beveryone"  # the trick is undone, then broken
    assert inert("ev\u202eil") == "evil"


def test_admin_commands_are_refused_without_manage_server(seed_corpus: Corpus):
    async def body(server: FakeDiscord, bot) -> None:
        calls = [
            ("subscribe", {"time": "08:30", "timezone": "UTC"}),
            ("subscriptions", None),
            ("unsubscribe", {"subscription": 1}),
            ("sources add", {"url": "https://example.com/feed.xml"}),
            ("sources remove", {"source": "1"}),
            ("sources list", None),
        ]
        member = server.world.make_user("member")
        # The seed data dir is shared by the session: other tests may have left records.
        before = (bot.subscriptions.list(), bot.feeds.list())
        for name, options in calls:
            inter = server.send_interaction(
                name, options, user=member, permissions=NO_MANAGE_SERVER
            )
            await server.wait_for(lambda inter=inter: inter.callbacks)
            assert inter.ephemeral, name
            assert "Manage Server" in inter.contents[0], (name, inter.contents)
        assert (bot.subscriptions.list(), bot.feeds.list()) == before  # nothing added or removed
        allowed = server.send_interaction("sources list", None, user=member)  # with it: fine
        await server.wait_for(lambda: allowed.callbacks)
        assert "Manage Server" not in allowed.contents[0]
        # No reply pings anyone, also those sent without naming allowed_mentions.
        assert allowed.callbacks[0]["data"]["allowed_mentions"] == {"parse": []}

    scenario(seed_corpus, body)


def test_questions_are_limited_per_user_and_per_channel(seed_corpus: Corpus):
    async def body(server: FakeDiscord, bot) -> None:
        users = [server.world.make_user(f"u{i}") for i in range(3)]
        first = server.send_interaction("ask", {"question": "tariffs"}, user=users[0])
        await answered(server, first)
        again = server.send_interaction("ask", {"question": "tariffs?"}, user=users[0])
        await server.wait_for(lambda: again.callbacks)
        assert again.ephemeral and "You're asking too fast" in again.contents[0]
        second = server.send_interaction("ask", {"question": "steel"}, user=users[1])
        await answered(server, second)
        third = server.send_interaction("ask", {"question": "cars"}, user=users[2])
        await server.wait_for(lambda: third.callbacks)  # the channel's 2 a minute are used
        assert third.ephemeral and "This channel is asking a lot" in third.contents[0]
        elsewhere = server.send_interaction(
            "ask", {"question": "cars"}, user=users[2], channel_id="999000000000000001"
        )
        await answered(server, elsewhere)
        # A mention shares the same limits.
        msg = server.send_message(f"{server.bot_mention} tariffs on cars", author=users[0])
        (reply,) = await server.wait_for(lambda: server.replies_to(msg["id"]), timeout=20)
        assert "too fast" in reply.body["embeds"][0]["title"]

    scenario(seed_corpus, body, cooldown=60.0, ask_channel_per_minute=2)


def test_a_huge_or_regex_heavy_question_is_refused_or_answered(seed_corpus: Corpus):
    async def body(server: FakeDiscord, bot) -> None:
        huge = "why " * 1500  # 6,000 characters
        inter = server.send_interaction("ask", {"question": huge})
        await server.wait_for(lambda: inter.callbacks)
        assert inter.ephemeral and "6,000 characters long" in inter.contents[0]
        msg = server.send_message(f"{server.bot_mention} {huge}")
        (reply,) = await server.wait_for(lambda: server.replies_to(msg["id"]), timeout=20)
        assert "please keep it under 500" in reply.body["embeds"][0]["title"]
        nasty = "(" * 120 + "a" * 120 + "!" * 60 + " ((((a+)+)+)+$ .*.*.*=.*" + " \\" * 40
        inter = server.send_interaction("ask", {"question": nasty[:499]})
        embeds = await answered(server, inter)
        assert embeds and inter.callback_type == 5

    scenario(seed_corpus, body)


def test_two_hundred_concurrent_asks_are_answered_or_told_to_wait(seed_corpus: Corpus):
    async def body(server: FakeDiscord, bot) -> None:
        beats, acks = len(server.heartbeats), len(server.heartbeat_acks)
        inters = [
            server.send_interaction(
                "ask",
                {"question": f"tariffs on Japan {i}"},
                user=server.world.make_user(f"user{i}"),
            )
            for i in range(200)
        ]

        def settled(i) -> bool:
            return bool(i.followups) or (bool(i.callbacks) and i.callback_type == 4)

        await server.wait_for(lambda: all(settled(i) for i in inters), timeout=240)
        waited = [i for i in inters if i.callback_type == 4]
        answered_ = [i for i in inters if i.callback_type == 5]
        assert len(waited) + len(answered_) == 200
        assert waited  # the queue is bounded: a burst this size cannot all wait in it
        assert answered_ and all(i.embeds for i in answered_)
        assert all(i.ephemeral and "please ask again" in i.contents[0] for i in waited)
        assert len(answered_) >= 4 + 32  # every slot and the whole (default) queue were used
        assert len(server.heartbeats) > beats  # the bot kept beating, the fake acknowledging
        assert len(server.heartbeat_acks) > acks and bot.latency < float("inf")
        assert server.identify_count == 1 and server.resume_count == 0  # no reconnect
        assert bot.workers.questions == 0

    scenario(
        seed_corpus,
        body,
        heartbeat_ms=200,
        ask_channel_per_minute=0,  # the queue is what is tested here, not the channel's rate
        # Not a timing test: on a loaded machine 200 acknowledgements on one event loop
        # can take longer than Discord's 3 s (bench/bot_latency.py measures them).
        ack_deadline=120.0,
    )


def test_embed_render_example_is_inert_through_the_fake(seed_corpus: Corpus, monkeypatch):
    """A hostile article's text, end to end: what the fake receives is inert."""
    from bot import handlers

    def hostile(*args) -> Reply:
        return Reply(
            kind="answer",
            title="q @everyone",
            lines=[Line("Read [this](https://evil.example) @here <@&1234567890123456789>", [1])],
            sources=[Source(1, "discord.gg/free <#123456789012345678>", "https://a.example/x")],
        )

    monkeypatch.setattr(handlers, "ask", hostile)

    async def body(server: FakeDiscord, bot) -> None:
        inter = server.send_interaction("ask", {"question": "anything"})
        (embed,) = await answered(server, inter)
        desc = embed["description"]
        assert "\\[this\\]\\(https://evil.example\\)" in desc and "@\u200bhere" in desc
        assert "discord\\.gg/free" in desc and "\\<#123456789012345678\\>" in desc
        assert embed["title"] == "q @\u200beveryone"
        assert inter.followups[0]["allowed_mentions"] == {"parse": []}

    scenario(seed_corpus, body)
