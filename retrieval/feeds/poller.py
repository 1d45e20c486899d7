"""The feed poller: fetch the due feeds, parse them, keep only new entries, complete them.

`FeedPoller` fetches the feeds its registry hands it (`claim_due`) and returns only entries
never seen before, as `RawArticle`s ready for `Corpus.ingest_items`. Polling is polite
(conditional GET, exponential backoff after failures, a server's Retry-After honoured),
bounded (every fetch goes through `retrieval.fetch`) and isolated: a broken feed is
recorded on that feed and never stops the others. Every poll refuses a feed or redirect
that resolves to an internal address unless built with `allow_private=True`, and an
entry linking to one keeps the feed's own text (see `FeedPoller._with_page_text`).
Polling blocks on the network, so the bot runs it off the event loop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import Message
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from ..errors import InputError
from ..fetch import FetchError, FetchLimits, RefusedURL, Response, fetch
from ..identity import entry_keys
from ..identity import http_parts as _http_parts
from ..loaders import looks_like_feed, parse_feed, parse_html
from ..records import RawArticle, Skipped, read_text
from .registry import Feed, _human, _now

if TYPE_CHECKING:
    from .registry import FeedRegistry
    from .registry_pg import PgFeedRegistry

log = logging.getLogger(__name__)

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, "
    "text/html;q=0.5, */*;q=0.1"
)
MAX_ERROR_CHARS = 300
# The longest Retry-After honoured: a server asking for a week off must not silence a feed.
MAX_RETRY_AFTER = 24 * 3600


# --- poller ----------------------------------------------------------------------------------
@dataclass
class PollResult:
    feed: Feed  # its state after this poll
    items: list[RawArticle] = field(default_factory=list)  # new entries only
    not_modified: bool = False  # the server answered 304
    error: str | None = None
    alert: bool = False  # the feed just reached `alert_after` failures in a row
    recovered: bool = False  # a good poll after an alert
    skipped: list[Skipped] = field(default_factory=list)  # unreadable entries
    pages: int = 0  # article pages fetched for teaser entries

    @property
    def ok(self) -> bool:
        return self.error is None


class FeedPoller:
    """Fetches due feeds and returns their new entries; records health and backoff."""

    def __init__(
        self,
        registry: FeedRegistry | PgFeedRegistry,
        *,
        interval: float = 15 * 60,
        timeout: float = 10.0,
        fetch_pages: bool = True,
        page_min_chars: int = 400,
        max_pages: int = 30,
        max_backoff: float = 6 * 3600,
        alert_after: int = 3,
        limits: FetchLimits | None = None,
        allow_private: bool = False,
    ) -> None:
        self.registry = registry
        self.interval = interval
        self.timeout = timeout
        self.fetch_pages = fetch_pages
        self.page_min_chars = page_min_chars
        # Page fetches per feed per poll, so a first poll of a long teaser feed stays short.
        self.max_pages = max_pages
        self.max_backoff = max_backoff
        self.alert_after = alert_after
        # Every fetch (feed or page): `timeout` per connect and per read, 3 × it in all.
        self.limits = limits or FetchLimits.from_timeout(timeout)
        # Feeds, their redirects and the article pages behind entries may reach internal
        # addresses only when the operator says so ([fetch] allow_private).
        self.allow_private = allow_private

    def backoff(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds to wait after `failures` failures in a row: interval × 2^failures, capped;
        longer if the server asked for it (Retry-After, up to `MAX_RETRY_AFTER`)."""
        delay = min(self.interval * 2 ** min(failures, 32), max(self.max_backoff, self.interval))
        return max(delay, min(retry_after or 0.0, MAX_RETRY_AFTER))

    def poll_due(self, now: datetime | None = None) -> list[PollResult]:
        """Poll every feed that is due; never raises, one bad feed never stops the others."""
        now = now or _now()
        results = []
        for feed in self.registry.claim_due(now):
            try:
                results.append(self.poll(feed, now=now))
            except InputError:
                log.info("feed %s was removed while polling", feed.url)
            except Exception:  # the last guard (e.g. the database is locked): keep going
                log.exception("polling %s failed", feed.url)
        return results

    def poll(self, feed: Feed | str | int, now: datetime | None = None) -> PollResult:
        """Poll one feed now, whatever its backoff. InputError only for an unknown feed."""
        feed = self.registry.get(feed.id if isinstance(feed, Feed) else feed)
        now = now or _now()
        try:
            return self._poll(feed, now)
        except FetchError as exc:
            return self._failed(feed, str(exc), now, retry_after=exc.retry_after)
        except Exception as exc:  # a bug or a library surprise must not kill the scheduler
            log.exception("polling %s failed unexpectedly", feed.url)
            return self._failed(feed, f"internal error: {type(exc).__name__}: {exc}", now)

    def _poll(self, feed: Feed, now: datetime) -> PollResult:
        headers = {"Accept": ACCEPT}
        if feed.etag:
            headers["If-None-Match"] = feed.etag
        if feed.last_modified:
            headers["If-Modified-Since"] = feed.last_modified
        response = self._get(feed.url, headers)
        if response.status == 304:
            saved = self._succeeded(feed, now, feed.etag, feed.last_modified)
            return PollResult(saved, not_modified=True, recovered=feed.alerted)
        entries, skipped = self._parse(response.body, feed.url)
        new, keys = self._new_entries(feed, entries)
        items, pages = self._complete(new, feed.url)
        saved = self._succeeded(
            feed,
            now,
            response.headers.get("ETag"),
            response.headers.get("Last-Modified"),
            name=next((e.source for e in entries if e.source), None),
            keys=keys,
            new=len(items),
        )
        if items:
            log.info("feed %s: %d new entries (%d pages fetched)", feed.label, len(items), pages)
        return PollResult(saved, items, skipped=skipped, pages=pages, recovered=feed.alerted)

    def _succeeded(
        self,
        feed: Feed,
        now: datetime,
        etag: str | None,
        last_modified: str | None,
        *,
        name: str | None = None,
        keys: list[str] | None = None,
        new: int = 0,
    ) -> Feed:
        if feed.consecutive_failures:
            level = logging.WARNING if feed.alerted else logging.INFO
            log.log(
                level, "feed %s recovered after %d failures", feed.label, feed.consecutive_failures
            )
        saved = self.registry.record_success(
            feed.id,
            now=now,
            next_after=now + timedelta(seconds=self.interval),
            etag=etag,
            last_modified=last_modified,
            name=name,
            keys=keys or (),
            new=new,
        )
        return saved or feed

    def _failed(
        self, feed: Feed, error: str, now: datetime, *, retry_after: float | None = None
    ) -> PollResult:
        error = " ".join(error.split())[:MAX_ERROR_CHARS]
        failures = feed.consecutive_failures + 1
        alert = failures >= self.alert_after and not feed.alerted
        delay = self.backoff(failures, retry_after)
        saved = self.registry.record_failure(
            feed.id, now=now, error=error, next_after=now + timedelta(seconds=delay), alerted=alert
        )
        log.log(
            logging.WARNING if alert else logging.INFO,
            "feed %s failed (%d× in a row): %s; next try in %s",
            feed.label,
            failures,
            error,
            _human(delay),
        )
        return PollResult(saved or feed, error=error, alert=alert)

    # --- parsing and dedupe ---------------------------------------------------------------
    @staticmethod
    def _parse(raw: bytes, origin: str) -> tuple[list[RawArticle], list[Skipped]]:
        """The feed's entries and unreadable ones; FetchError when it is not a feed at all."""
        items = list(parse_feed(raw, origin))
        whole = next((i for i in items if isinstance(i, Skipped) and i.source == origin), None)
        # parse_feed reports an unreadable document and an empty one alike; only a document
        # that looks like RSS/Atom may be empty (an HTML login wall is a failure).
        if whole is not None and not (
            whole.reason == "feed has no entries" and looks_like_feed(raw)
        ):
            reason = "not an RSS/Atom feed" if whole.reason == "feed has no entries" else None
            raise FetchError(reason or whole.reason)
        articles = [i for i in items if isinstance(i, RawArticle)]
        skipped = [i for i in items if isinstance(i, Skipped) and i is not whole]
        return articles, skipped

    def _new_entries(
        self, feed: Feed, entries: list[RawArticle]
    ) -> tuple[list[RawArticle], list[str]]:
        """Entries never seen in this feed, and every current key (to remember or refresh)."""
        keyed = [(e, entry_keys(e)) for e in entries]
        all_keys = [k for _, keys in keyed for k in keys]
        known = self.registry.known_keys(feed.id, all_keys)
        new = []
        for entry, keys in keyed:
            if known.isdisjoint(keys):
                new.append(entry)
            known.update(keys)  # a repeat within this document is not new either
        return new, all_keys

    # --- fetching -------------------------------------------------------------------------
    def _complete(self, entries: list[RawArticle], base: str) -> tuple[list[RawArticle], int]:
        """Absolute links, and the article page's text for entries that carry only a teaser."""
        out, pages = [], 0
        for entry in entries:
            if entry.url:
                entry = dataclasses.replace(entry, url=urljoin(base, entry.url))
            wants_page = entry.url and len(entry.body) < self.page_min_chars
            if self.fetch_pages and wants_page and pages < self.max_pages:
                pages += 1
                entry = self._with_page_text(entry)
            out.append(entry)
        return out, pages

    def _with_page_text(self, entry: RawArticle) -> RawArticle:
        """The entry with its page's main text as body; the teaser stays if that fails.

        A link the fetch policy refuses (an entry pointing at 127.0.0.1, or the redirect hop
        of a page sending us to an internal address) is never requested: the entry is still
        stored with the feed's own text, the refusal is logged as a warning (a feed pointing
        inward is worth an operator's look), and the feed itself stays healthy.
        """
        link = entry.url or ""
        if _http_parts(link) is None:
            return entry
        try:
            page = self._get(link, {"Accept": "text/html, */*;q=0.5"})
        except RefusedURL as exc:
            log.warning("page %s: %s; keeping the feed's teaser", link, exc)
            return entry
        except FetchError as exc:
            log.info("page %s: %s; keeping the feed's teaser", link, exc)
            return entry
        ctype = page.headers.get_content_type()
        if "html" not in ctype and "xml" not in ctype:
            log.info("page %s is %s, not HTML; keeping the feed's teaser", link, ctype)
            return entry
        parsed = parse_html(_decode(page.body, page.headers, link), entry.origin, url=link)
        page = next((i for i in parsed if isinstance(i, RawArticle)), None)
        if page is None or len(page.body) <= len(entry.body):
            log.info("page %s has no more text than the teaser", link)
            return entry
        return dataclasses.replace(
            entry,
            body=page.body,
            published=entry.published or page.published,
            source=entry.source or page.source,
        )

    def _get(self, url: str, headers: dict[str, str]) -> Response:
        """GET within the poller's limits; a 304 is returned, not raised."""
        return fetch(url, headers=headers, limits=self.limits, allow_private=self.allow_private)


def _decode(raw: bytes, headers: Message, origin: str) -> str:
    """The declared charset first; else UTF-8 or Windows-1252 as for files."""
    charset = headers.get_content_charset()
    if charset:
        with contextlib.suppress(LookupError, UnicodeDecodeError):
            return raw.decode(charset)
    return read_text(raw, origin)[0]
