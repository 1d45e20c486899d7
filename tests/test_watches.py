"""Watches without Discord: the matching rules, the store, and the alerter's decisions
(exactly once, the hourly limit and its roll-up, one alert per story, old articles).

The fake encoder (hashed bag of words) stands in for the model: a description
sharing most of an article's headline words scores high, an unrelated one near 0.
The store and alerter tests run on both engines (the SQLite file in the data dir, and
PostgreSQL: `conftest.pg_server`, skipped with the reason where it cannot run); two
stores on one database stand for two bot processes.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from bot.watch_alerts import Alert, WatchAlerter, mentions_for, render_alert
from bot.watches import (
    FOLDED,
    HELD,
    POSTED,
    POSTING,
    SAME_STORY,
    WATCHES_FILE,
    WatchStore,
    new_watch,
)
from bot.workers import WorkerThreads
from retrieval import Article, Filters, InputError
from retrieval.records import RawArticle
from retrieval.watches import (
    COUNTRY,
    WatchMatcher,
    WatchQuery,
    check_description,
    description_terms,
)

NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
TARIFFS = "Japan raises auto tariffs on American cars"


def raw(title: str, body: str = "", published: datetime | None = NOW) -> RawArticle:
    body = body or f"{title}. Officials in Tokyo said the measure takes effect next month."
    return RawArticle(title=title, body=body, origin="test", published=published)


class FakeChannel:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[dict] = []
        self.fail = fail

    async def send(self, **kwargs) -> None:
        if self.fail:
            import discord

            raise discord.HTTPException(_Response(), "Missing Access")
        self.sent.append(kwargs)


class _Response:
    status = 403
    reason = "Forbidden"


class FakeChannels:
    def __init__(self, channel: FakeChannel) -> None:
        self.channel = channel

    def get_channel(self, id: int, /) -> FakeChannel:
        return self.channel

    async def fetch_channel(self, channel_id: int, /) -> FakeChannel:
        return self.channel


ENGINES = ["sqlite", "postgres"]


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


@pytest.fixture
def open_watches(engine: str, tmp_path: Path, request) -> Iterator[Callable[[], WatchStore]]:
    """Opens the engine's watch store (again: a restart, or another process)."""
    url = request.getfixturevalue("pg_url") if engine == "postgres" else ""
    opened: list[WatchStore] = []

    def open_one() -> WatchStore:
        if url:
            from bot.watches_pg import PgWatchStore

            opened.append(PgWatchStore(url))
        else:
            opened.append(WatchStore(tmp_path / WATCHES_FILE))
        return opened[-1]

    yield open_one
    for one in opened:
        one.close()


@pytest.fixture
def store(open_watches) -> WatchStore:
    return open_watches()


def alerter_for(corpus, store: WatchStore, channel: FakeChannel, **kw) -> WatchAlerter:
    alerter = WatchAlerter(corpus, store, WorkerThreads(2), **kw)
    alerter.start(FakeChannels(channel))
    return alerter


def check(alerter: WatchAlerter, now: datetime = NOW) -> int:
    return asyncio.run(alerter.check(now))


# --- the matching rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "stems", "codes"),
    [
        ("Japanese auto tariffs", ["auto", "tariff"], ["JP"]),
        ("US arms sales to Taiwan", ["arm", "sale"], ["US", "TW"]),
        ("South Korean chips", ["chip"], ["KR"]),
        ("crude oil prices", ["crude", "oil", "price"], []),
    ],
)
def test_description_terms_set_countries_apart(description, stems, codes):
    assert description_terms(description) == (stems, codes)


def test_a_country_alone_never_makes_a_match():
    vec = np.ones(4, np.float32) / 2
    matcher = WatchMatcher(
        [
            WatchQuery(1, vec, {"auto": 3.0, "tariff": 2.0, COUNTRY + "JP": 2.0}),
            WatchQuery(2, vec, {COUNTRY + "JP": 1.0}),  # only a country was asked for
            WatchQuery(3, vec, {"steel": 1.0}),
        ]
    )
    japan_story = {"japan", "elect", "prime", "minist"}
    cover, shared = matcher.lexical(japan_story, ["JP"])
    assert shared.tolist() == [False, True, False]
    assert cover == pytest.approx([2 / 7, 1.0, 0.0])
    cover, shared = matcher.lexical(japan_story | {"tariff"}, ["JP"])
    assert shared.tolist() == [True, True, False] and cover[0] == pytest.approx(4 / 7)
    cover, _ = matcher.lexical({"auto", "tariff"}, ["JP", "US"])
    assert cover[0] == 1.0


@pytest.mark.parametrize("text", ["", "   ", "the of and", "x" * 201])
def test_unusable_descriptions_are_refused(text):
    with pytest.raises(InputError):
        check_description(text)


def _article(aid: int, title: str, countries=(), topics=()) -> Article:
    return Article(aid, title, "", None, None, None, None, list(countries), list(topics))


def test_one_matrix_product_scores_every_watch():
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(3, 8)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    queries = [WatchQuery(i, vecs[i], {f"w{i}": 1.0}) for i in range(3)]
    matcher = WatchMatcher(queries, threshold=0.9, lexical_weight=0.0)
    positions = np.array([-1, 0, 5])
    sentences = vecs.copy()  # the title is watch 0, the lead watch 1, a late sentence watch 2
    dense = matcher.dense(positions, sentences)
    assert dense[:2] == pytest.approx([1.0, 1.0])
    assert dense[2] < 0.99  # position 5 is past the lead: it does not count
    art = _article(7, "w1 w2")  # watch 0's word is not in the article
    found = matcher.match_article(art, positions, sentences, ["w1 w2", "lead", "w2 late"])
    assert [(m.watch_id, m.sentence) for m in found] == [(1, "lead")]


def test_watch_filters_and_floor_apply():
    vec = np.ones(4, np.float32) / 2
    filters = Filters(countries=("JP",), topics=("trade",), after_id=5)
    matcher = WatchMatcher([WatchQuery(1, vec, {"tariff": 1.0}, filters)], threshold=0.5)
    rows = np.array([-1]), vec[None, :], ["tariff"]
    assert matcher.match_article(_article(6, "tariff", ["JP"], ["trade"]), *rows)
    assert not matcher.match_article(_article(5, "tariff", ["JP"], ["trade"]), *rows)
    assert not matcher.match_article(_article(6, "tariff", ["KR"], ["trade"]), *rows)
    assert not matcher.match_article(_article(6, "tariff", ["JP"], []), *rows)


def test_matching_in_a_corpus(fake_corpus, store):
    fake_corpus.ingest_items([raw("Old news about auto tariffs in Japan")], progress=False)
    watch = new_watch(fake_corpus, store, "Japanese auto tariffs", 1, countries=("JP",))
    assert watch.after_article_id == 1
    fake_corpus.ingest_items(
        [raw(TARIFFS), raw("Japan election: prime minister resigns")], progress=False
    )
    matcher = WatchMatcher(store.queries())
    found = matcher.match(fake_corpus.store, [1, 2, 3])
    assert [m.article_id for m in found] == [2]  # not the old one, not the election
    assert found[0].sentence.startswith(TARIFFS)


# --- the store ------------------------------------------------------------------------------


def test_store_adds_lists_and_removes(store):
    vec = np.ones(4, np.float32)
    a = store.add("auto tariffs", vec, {"auto": 1.0}, 10, after_article_id=0, guild_id=7)
    b = store.add("steel", vec, {"steel": 1.0}, 10, after_article_id=0, guild_id=8, role_id=99)
    assert [w.id for w in store.list()] == [a.id, b.id]
    assert [w.id for w in store.list(guild_id=8)] == [b.id]
    assert "<@&99>" in b.describe() and "<#10>" in a.describe()
    with pytest.raises(InputError, match="already has this watch"):
        store.add("auto tariffs", vec, {}, 10, after_article_id=0)
    with pytest.raises(InputError, match="in this server"):
        store.remove(b.id, guild_id=7)
    store.claim(b.id, 1, POSTED, 0.9, "s")
    store.remove(b.id, guild_id=8)
    c = store.add("chips", vec, {"chip": 1.0}, 10, after_article_id=0)
    assert c.id > b.id  # ids are never reused: a new watch cannot inherit old alerts
    assert store.alerts(b.id) == []
    with pytest.raises(InputError, match="no watch"):
        store.get(b.id)
    np.testing.assert_allclose(store.queries()[0].vector, vec)


# --- the alerter ----------------------------------------------------------------------------


def test_alert_fires_once_across_restarts(fake_corpus, open_watches):
    store = open_watches()
    channel = FakeChannel()
    alerter = alerter_for(fake_corpus, store, channel)
    watch = new_watch(fake_corpus, store, "Japan raises auto tariffs", 5, role_id=42)
    fake_corpus.ingest_items([raw(TARIFFS), raw("Banana bread recipes")], progress=False)
    assert check(alerter) == 1
    assert check(alerter) == 0
    # A restart: new store and alerter on the same file, cursor rewound as after a crash.
    again = open_watches()
    again.set_cursor(0)
    assert check(alerter_for(fake_corpus, again, channel)) == 0
    (sent,) = channel.sent
    assert sent["content"].startswith("<@&42> ")
    assert sent["embed"].title == TARIFFS
    assert again.alerts(watch.id) == [(1, POSTED)]


def test_two_processes_on_one_database_post_each_alert_once(fake_corpus, open_watches):
    one, two = open_watches(), open_watches()  # each process opens its own store
    channels = FakeChannel(), FakeChannel()
    alerters = [alerter_for(fake_corpus, s, c) for s, c in zip((one, two), channels, strict=True)]
    watch = new_watch(fake_corpus, one, "Japan raises auto tariffs", 5)
    assert [w.id for w in two.list()] == [watch.id]  # made by one, seen by the other
    fake_corpus.ingest_items([raw(TARIFFS), raw("Banana bread recipes")], progress=False)

    async def both() -> list[int]:
        return list(await asyncio.gather(*(a.check(NOW) for a in alerters)))

    assert sum(asyncio.run(both())) == 1  # whichever checked first posted it
    assert two.cursor() == one.cursor() == fake_corpus.store.max_article_id()
    two.set_cursor(0)  # the second process checks the same articles again
    assert check(alerters[1]) == 0
    assert len(channels[0].sent) + len(channels[1].sent) == 1
    assert one.alerts(watch.id) == [(1, POSTED)]


def test_held_matches_are_taken_by_one_process(open_watches):
    stores = [open_watches() for _ in range(4)]
    vec = np.ones(4, np.float32)
    watch = stores[0].add("auto tariffs", vec, {"auto": 1.0}, 10, after_article_id=0)
    for article_id in (3, 1, 2):
        stores[0].claim(watch.id, article_id, HELD, 0.5, "s")
    stores[0].claim(watch.id, 4, POSTED, 0.9, "s")
    start = threading.Barrier(len(stores))

    def take(store: WatchStore) -> list[int]:
        start.wait()
        return [h.article_id for h in store.take_held(watch.id)]

    with ThreadPoolExecutor(len(stores)) as pool:
        taken = list(pool.map(take, stores))
    assert sorted(taken, key=len) == [[], [], [], [1, 2, 3]]
    assert stores[1].watches_holding() == []
    assert stores[1].alerts(watch.id) == [(1, POSTING), (2, POSTING), (3, POSTING), (4, POSTED)]


def test_the_backlog_alerts_nobody(fake_corpus, store):
    new_watch(fake_corpus, store, "Japan raises auto tariffs", 5)
    fake_corpus.ingest_items([raw(TARIFFS)], progress=False)
    channel = FakeChannel()
    assert check(alerter_for(fake_corpus, store, channel)) == 0  # first start: cursor at newest
    assert channel.sent == []


def test_hourly_limit_holds_then_rolls_up(fake_corpus, store):
    channel = FakeChannel()
    alerter = alerter_for(fake_corpus, store, channel, per_hour=2)
    watch = new_watch(fake_corpus, store, "Japan raises auto tariffs", 5)
    items = [raw(f"{TARIFFS} {word}") for word in ("again", "today", "now", "still", "more")]
    fake_corpus.ingest_items(items, progress=False)
    assert check(alerter) == 2
    statuses = [s for _, s in store.alerts(watch.id)]
    assert statuses == [POSTED, POSTED, HELD, HELD, HELD]
    assert check(alerter, NOW + timedelta(minutes=30)) == 0  # still the same hour
    assert check(alerter, NOW + timedelta(minutes=61)) == 1  # one roll-up of the three
    assert [s for _, s in store.alerts(watch.id)] == [POSTED, POSTED, FOLDED, FOLDED, FOLDED]
    rollup = channel.sent[-1]["embed"]
    assert rollup.title.startswith("3 more articles matched")
    assert rollup.description.count("\n") == 2
    assert check(alerter, NOW + timedelta(minutes=62)) == 0


def test_one_alert_per_story_when_stories_exist(fake_corpus, store):
    channel = FakeChannel()
    alerter = alerter_for(fake_corpus, store, channel, story_of=lambda ids: dict.fromkeys(ids, 9))
    watch = new_watch(fake_corpus, store, "Japan raises auto tariffs", 5)
    fake_corpus.ingest_items([raw(TARIFFS), raw(f"{TARIFFS} again")], progress=False)
    assert check(alerter) == 1
    assert [s for _, s in store.alerts(watch.id)] == [POSTED, SAME_STORY]


def test_old_articles_and_refused_posts(fake_corpus, store):
    channel = FakeChannel(fail=True)
    told: list[str] = []

    async def notify(text: str) -> None:
        told.append(text)

    alerter = WatchAlerter(fake_corpus, store, WorkerThreads(2))
    alerter.start(FakeChannels(channel), notify=notify)
    watch = new_watch(fake_corpus, store, "Japan raises auto tariffs", 5)
    old = raw(f"{TARIFFS} in 1987", published=NOW - timedelta(days=30))
    fake_corpus.ingest_items([old, raw(TARIFFS)], progress=False)
    assert check(alerter) == 0  # Discord refused: logged, recorded, not retried
    assert store.alerts(watch.id) == [(2, "failed")]  # the old article alerted nobody
    (text,) = told
    assert text.startswith(f"Watch #{watch.id} could not post its alert in <#5>: Missing Access")
    assert check(alerter) == 0 and len(told) == 1


def test_rendering_mentions_exactly_the_role_and_nothing_else():
    from bot.watches import Watch

    watch = Watch(3, 1, 5, 42, "tariffs @everyone", (), (), 0)
    art = Article(
        1, "**Tariffs** @everyone <@123>", "", None, "https://x.example/a", "Wire", None, [], []
    )
    content, embed, mentions = render_alert(
        Alert(watch, [(art, 0.8, "See [this](http://e) @here")])
    )
    assert mentions.to_dict() == {"parse": [], "roles": [42]}
    assert content.startswith("<@&42> ") and "@everyone" not in content
    assert "@everyone" not in embed.title and "\\*\\*Tariffs" in embed.title
    assert "@here" not in embed.description and "\\[this\\]" in embed.description
    nobody = Watch(4, 1, 5, None, "tariffs", (), (), 0)
    assert mentions_for(nobody).to_dict() == {"parse": []}


def test_a_long_rollup_ends_with_how_many_more():
    from bot.watches import Watch

    watch = Watch(3, 1, 5, None, "tariffs", (), (), 0)
    items = [
        (Article(i, f"Tariff story number {i} " + "word " * 30, "", None, None, "Wire",
                 None, [], []), 0.9, "s")
        for i in range(1, 101)
    ]  # fmt: skip
    _, embed, _ = render_alert(Alert(watch, items, rollup=True))
    assert embed.title.startswith("100 more articles matched")
    assert len(embed.description) <= 4096
    shown = embed.description.count("Tariff story number")
    assert embed.description.endswith(f"… and {100 - shown} more") and 0 < shown < 100
