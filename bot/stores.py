"""The bot's own tables on the corpus's engine: `open_bot_stores` for the bot, and one
factory per store for the CLI commands that need only one of them.

With the embedded store (no `[store] url`) subscriptions, watches and the job store are
SQLite files in the data directory and feeds live in the corpus file, as before. With
`[store] url = "postgresql://…"` (or `BRIEFBOT_STORE_URL`) subscriptions, the digest
record, watches and their alert record, story threads, feeds and the scheduler's jobs are
in that database, so several bot processes share them (see README "Scaling out"), and
`briefbot subscriptions|watches|sources` show and change the same rows.
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
    watches: WatchStore  # or PgWatchStore
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


def subscription_store(settings: Settings) -> SubscriptionStore:
    """Subscriptions and the digest record on the configured engine."""
    if not settings.store.url:
        return SubscriptionStore(Path(settings.data_dir) / SUBSCRIPTIONS_FILE)
    from .subscriptions_pg import PgSubscriptionStore

    return PgSubscriptionStore(settings.store.url)  # type: ignore[return-value]


def watch_store(settings: Settings) -> WatchStore:
    """Watches and their alert record on the configured engine."""
    if not settings.store.url:
        return WatchStore(Path(settings.data_dir) / WATCHES_FILE)
    from .watches_pg import PgWatchStore

    return PgWatchStore(settings.store.url)


def feed_registry(corpus: Corpus) -> FeedRegistry:
    """The subscribed feeds: in the corpus file, or in the configured database."""
    allow_private = corpus.settings.fetch.allow_private
    url = store_url(corpus)
    if not url:
        return FeedRegistry(corpus.store.path, allow_private=allow_private)
    from retrieval.feeds.registry_pg import PgFeedRegistry

    return PgFeedRegistry(url, allow_private=allow_private)  # type: ignore[return-value]


def open_bot_stores(corpus: Corpus) -> BotStores:
    url = store_url(corpus)
    return BotStores(
        subscriptions=subscription_store(corpus.settings),
        feeds=feed_registry(corpus),
        watches=watch_store(corpus.settings),
        story_threads=story_thread_store(corpus.settings),
        jobs_url=sqlalchemy_url(url) if url else f"sqlite:///{corpus.data_dir / JOBS_FILE}",
    )
