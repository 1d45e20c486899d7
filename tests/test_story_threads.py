"""The story-threads record on both engines: a claim is won once (also by many racing
processes at once), a pending claim is nobody's thread, a gone thread is replaced by one
claimant only, a dead process's claim is taken over, and the bot opens the record on the
configured engine. PostgreSQL runs on `conftest.pg_server` (skipped where it cannot)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import story_threads
from bot.stores import open_bot_stores
from bot.story_threads import STORY_THREADS_FILE, WATCHES, StoryThreads, StoryThreadStore
from retrieval import Corpus, load_settings
from tests.conftest import FakeEncoder

ENGINES = ["sqlite", "postgresql"]


def opener(engine: str, request: pytest.FixtureRequest, tmp_path: Path):
    """Opens a new handle on one shared record, as another process would."""
    if engine == "sqlite":
        return lambda: StoryThreadStore(tmp_path / STORY_THREADS_FILE)
    from bot.story_threads_pg import PgStoryThreadStore

    url = request.getfixturevalue("pg_url")
    return lambda: PgStoryThreadStore(url)


@pytest.fixture(params=ENGINES)
def handles(request, tmp_path: Path):
    open_one = opener(request.param, request, tmp_path)
    made: list[StoryThreads] = []

    def make() -> StoryThreads:
        made.append(open_one())
        return made[-1]

    yield make
    for store in made:
        store.close()  # type: ignore[attr-defined]


def test_a_claim_is_won_once_and_pending_is_nobodys_thread(handles):
    one, two = handles(), handles()
    assert one.claim(1, 10, 7, last_article_id=3) is True
    assert two.claim(1, 10, 7, last_article_id=3) is False  # another process has it
    assert one.get(1, 10, 7) is None and two.find(10, 7) == [] and one.list(1) == []
    one.record(1, 10, 7, thread_id=555, last_article_id=4)
    (found,) = two.find(10, 7)
    assert (found.thread_id, found.last_article_id) == (555, 4)
    assert two.get(1, 10, 7) == found
    assert two.claim(1, 10, 7, 4) is False  # it has a thread: nothing to start
    assert two.claim(1, 10, 7, 4, replacing=999) is False  # not the thread it has
    # Both find thread 555 gone; exactly one of them starts its replacement.
    assert two.claim(1, 10, 7, 4, replacing=555) is True
    assert one.claim(1, 10, 7, 4, replacing=555) is False
    two.release(1, 10, 7)  # starting it failed: a later try may claim again
    assert one.get(1, 10, 7) is None
    assert one.claim(1, 10, 7, 4) is True


def test_a_dead_processs_claim_is_taken_over(handles, monkeypatch):
    one, two = handles(), handles()
    assert one.claim(2, 10, 8, 1) is True  # ... and that process died before recording
    assert two.claim(2, 10, 8, 1) is False
    monkeypatch.setattr(story_threads, "PENDING_TIMEOUT", timedelta(0))
    assert two.claim(2, 10, 8, 1) is True
    two.record(2, 10, 8, 77, 1)
    assert two.claim(2, 10, 8, 1) is False  # a started thread is never taken over


def test_find_lists_the_watches_row_first_then_the_newest(handles):
    store = handles()
    old = datetime(2026, 12, 1, tzinfo=UTC)
    store.record(1, 10, 7, 101, 1, at=old)
    store.record(2, 10, 7, 102, 1, at=old + timedelta(hours=2))
    store.record(WATCHES, 10, 7, 100, 1, at=old - timedelta(days=1))
    store.record(3, 11, 7, 103, 1)  # another channel
    store.record(1, 10, 8, 104, 1)  # another story
    assert [t.thread_id for t in store.find(10, 7)] == [100, 102, 101]
    assert store.get(2, 10, 7).updated == old + timedelta(hours=2)  # type: ignore[union-attr]
    assert [t.story_id for t in store.list(1)] == [7, 8]


def test_many_processes_racing_for_one_story_start_one_thread(handles):
    stores = [handles() for _ in range(6)]
    start = threading.Barrier(len(stores))
    won: list[bool] = []

    def race(store: StoryThreads) -> None:
        start.wait()
        won.append(store.claim(WATCHES, 10, 9, 1))

    workers = [threading.Thread(target=race, args=(s,)) for s in stores]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sorted(won) == [False] * 5 + [True]


def test_the_bot_opens_the_record_on_the_configured_engine(request, tmp_path: Path):
    settings = load_settings(data_dir=tmp_path / "sqlite")
    corpus = Corpus(settings, encoder=FakeEncoder())
    try:
        stores = open_bot_stores(corpus)
        assert isinstance(stores.story_threads, StoryThreadStore)
    finally:
        corpus.close()
    url = request.getfixturevalue("pg_url")
    from bot.story_threads_pg import PgStoryThreadStore

    pg = replace(settings, data_dir=tmp_path / "pg", store=replace(settings.store, url=url))
    corpus = Corpus(pg, encoder=FakeEncoder())
    try:
        shared = open_bot_stores(corpus).story_threads
        assert isinstance(shared, PgStoryThreadStore)
        shared.record(1, 10, 7, 555, 3)
        other = PgStoryThreadStore(url)  # another process on the same database sees it
        assert [t.thread_id for t in other.find(10, 7)] == [555]
        other.close()
        local = StoryThreadStore(tmp_path / "pg" / STORY_THREADS_FILE)
        assert local.find(10, 7) == []  # not in the data dir's file
    finally:
        corpus.close()
