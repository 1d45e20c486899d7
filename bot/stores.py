"""The bot's own tables on the corpus's engine: one factory, `open_bot_stores`.

With the embedded store (no `[store] url`) subscriptions, watches and the job store are
SQLite files in the data directory and feeds live in the corpus file, as before. With
`[store] url = "postgresql://…"` (or `BRIEFBOT_STORE_URL`) subscriptions, the digest
record, story threads, feeds and the scheduler's jobs are in that database, so several
bot processes share them (see README "Scaling out"). Watches stay in the data directory on both
(their PostgreSQL twin is not written yet), so each process keeps its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from retrieval import Corpus, Settings
from retrieval.feeds import FeedRegistry

from .scheduler import JOBS_FILE
from .story_threads import STORY_THREADS_FILE, StoryThreads, StoryThreadStore
from .subscriptions import SUBSCRIPTIONS_FILE, SubscriptionStore
from .watches import WATCHES_FILE, WatchStore


@dataclass
class BotStores:
    subscriptions: SubscriptionStore  # or its PostgreSQL twin, same methods
    feeds: FeedRegistry  # or PgFeedRegistry
    watches: WatchStore
    story_threads: StoryThreads  # StoryThreadStore or PgStoryThreadStore
    jobs_url: str  # an SQLAlchemy URL for APScheduler's job store


def store_url(corpus: Corpus) -> str:
    """The configured PostgreSQL URL, or "" for the embedded engine."""
    return corpus.settings.store.url


def sqlalchemy_url(url: str) -> str:
    """A libpq URL as SQLAlchemy's psycopg (3) dialect wants it."""
    return "postgresql+psycopg://" + url.split("://", 1)[1]


def story_thread_store(settings: Settings) -> StoryThreads:
    """Which thread follows which story, on the configured engine."""
    if not settings.store.url:
        return StoryThreadStore(Path(settings.data_dir) / STORY_THREADS_FILE)
    from .story_threads_pg import PgStoryThreadStore

    return PgStoryThreadStore(settings.store.url)


def open_bot_stores(corpus: Corpus) -> BotStores:
    data_dir = Path(corpus.data_dir)
    allow_private = corpus.settings.fetch.allow_private
    watches = WatchStore(data_dir / WATCHES_FILE)
    url = store_url(corpus)
    if not url:
        return BotStores(
            subscriptions=SubscriptionStore(data_dir / SUBSCRIPTIONS_FILE),
            feeds=FeedRegistry(corpus.store.path, allow_private=allow_private),
            watches=watches,
            story_threads=story_thread_store(corpus.settings),
            jobs_url=f"sqlite:///{data_dir / JOBS_FILE}",
        )
    from retrieval.feeds.registry_pg import PgFeedRegistry

    from .subscriptions_pg import PgSubscriptionStore

    return BotStores(
        subscriptions=PgSubscriptionStore(url),  # type: ignore[arg-type]
        feeds=PgFeedRegistry(url, allow_private=allow_private),  # type: ignore[arg-type]
        watches=watches,
        story_threads=story_thread_store(corpus.settings),
        jobs_url=sqlalchemy_url(url),
    )
