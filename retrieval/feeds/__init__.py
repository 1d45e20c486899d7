"""Live feeds: the registry of subscribed RSS/Atom sources (`registry`, and its PostgreSQL
twin `registry_pg`) and the poller that fetches them (`poller`).

Usage::

    allow = settings.fetch.allow_private
    registry = FeedRegistry(corpus.store.path, allow_private=allow)
    registry.add("https://example.com/rss.xml", name="Example")
    poller = FeedPoller(registry, interval=15 * 60, allow_private=allow)
    for result in poller.poll_due():  # from a scheduler job, e.g. every minute
        if result.items:
            report = corpus.ingest_items(result.items, progress=False)
            registry.record_added(result.feed.id, report.added)
        if result.alert or result.recovered:
            tell_admins(f"{result.feed.label}: {result.feed.status}")
"""

from __future__ import annotations

from ..identity import normalize_url
from .poller import FeedPoller, PollResult
from .registry import Feed, FeedRegistry, feed_url

__all__ = ["Feed", "FeedPoller", "FeedRegistry", "PollResult", "feed_url", "normalize_url"]
