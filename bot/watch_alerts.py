"""Posting watch alerts: every article that arrived since the last check, matched against
every watch, each match posted once to the watch's channel.

After each feed poll (and every minute, so `briefbot ingest` is seen too) the articles
above the stored cursor are matched off the event loop. Each match is claimed in the
record before it is sent, so a restart never posts it twice. A watch posts at most
`per_hour` messages in any hour: a match beyond that is held, and the held ones go out
together in one roll-up message ("3 more articles matched …") as soon as the hour
has room again; a roll-up counts as one message. An article published more than
`max_age_hours` ago (an archive being imported) alerts nobody.

The role a watch names is the only mention briefbot ever sends: `allowed_mentions`
admits exactly that role, and everything from the article is rendered inert.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import discord

from retrieval import Article, Corpus, Filters, InputError, wording
from retrieval.watches import WatchMatch, WatchMatcher

from .digests import Channels
from .embeds import DESCRIPTION_LIMIT, TITLE_LIMIT, cut, inert, source_line
from .interactions import NO_PINGS
from .replies import Source
from .watches import FAILED, FOLDED, HELD, POSTED, POSTING, SAME_STORY, Watch, WatchStore
from .workers import WorkerThreads

log = logging.getLogger(__name__)
CHUNK = 500  # articles matched per read of the store
COLOUR = 0xDD6B20
# Given article ids, the story id of each (once stories exist): one alert per story.
StoryOf = Callable[[Sequence[int]], dict[int, int]]
# Tells the server's admins something (the bot's admin channel).
Notify = Callable[[str], Awaitable[None]]


@dataclass
class Alert:
    """One message to post: a single match, or a roll-up of held ones."""

    watch: Watch
    items: list[tuple[Article, float, str]]  # (article, score, matching sentence)
    rollup: bool = False
    article_ids: list[int] = field(default_factory=list)


class WatchAlerter:
    def __init__(
        self,
        corpus: Corpus,
        store: WatchStore,
        workers: WorkerThreads,
        *,
        per_hour: int = 5,
        max_age_hours: float = 72.0,
        story_of: StoryOf | None = None,
    ) -> None:
        self.corpus = corpus
        self.store = store
        self.workers = workers
        self.per_hour = per_hour
        self.max_age = timedelta(hours=max_age_hours)
        self.story_of = story_of
        self.channels: Channels | None = None
        self.notify: Notify | None = None
        self._lock = asyncio.Lock()

    def start(self, channels: Channels, notify: Notify | None = None) -> None:
        """Post through the connected client from now on, and tell the admins (`notify`)
        when Discord refuses an alert. On the very first start the cursor is set to the
        newest article, so the backlog alerts nobody."""
        self.channels = channels
        self.notify = notify
        if self.store.cursor() is None:
            self.store.set_cursor(self.corpus.store.max_article_id())

    async def check(self, now: datetime | None = None) -> int:
        """Match what arrived since the last check and post the alerts; messages posted."""
        if self.channels is None:
            raise RuntimeError("WatchAlerter has nowhere to post: call start() first")
        now = now or datetime.now(UTC)
        async with self._lock:  # a feed poll and the minute's check never overlap
            alerts = await self.workers.run(self.plan, now)
            posted = 0
            for alert in alerts:
                posted += await self._post(self.channels, alert, now)
            return posted

    # --- deciding (in a worker thread) ----------------------------------------------------
    def plan(self, now: datetime) -> list[Alert]:
        """Match the new articles, claim each match, and return what to post now."""
        budget: dict[int, int] = {}  # messages each watch may still post this hour
        alerts = self._match_new(now, budget)
        return alerts + self._rollups(now, budget)

    def _room(self, watch_id: int, now: datetime, budget: dict[int, int]) -> int:
        if watch_id not in budget:
            sent = self.store.messages_since(watch_id, now - timedelta(hours=1))
            budget[watch_id] = max(0, self.per_hour - sent)
        return budget[watch_id]

    def _match_new(self, now: datetime, budget: dict[int, int]) -> list[Alert]:
        store = self.corpus.store
        newest = store.max_article_id()
        cursor = self.store.cursor()
        if cursor is None:  # never started (a direct call): only what arrives from now on
            self.store.set_cursor(newest)
            return []
        if newest <= cursor:
            return []
        watches = {w.id: w for w in self.store.list()}
        matcher = WatchMatcher(self.store.queries())
        # In id order (arrival), so the cursor can move chunk by chunk.
        ids = sorted(i for i in store.article_ids(Filters(after_id=cursor)) if i <= newest)
        alerts: list[Alert] = []
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            matches = matcher.match(store, chunk) if watches else []
            if matches:
                articles = store.articles(sorted({m.article_id for m in matches}))
                stories = self.story_of(list(articles)) if self.story_of else {}
                for m in matches:
                    alert = self._decide(m, watches, articles, stories, now, budget)
                    if alert is not None:
                        alerts.append(alert)
            self.store.set_cursor(chunk[-1])
        self.store.set_cursor(newest)
        return alerts

    def _decide(
        self,
        match: WatchMatch,
        watches: dict[int, Watch],
        articles: dict[int, Article],
        stories: dict[int, int],
        now: datetime,
        budget: dict[int, int],
    ) -> Alert | None:
        watch, article = watches.get(match.watch_id), articles.get(match.article_id)
        if watch is None or article is None or self._too_old(article, now):
            return None
        story = stories.get(article.id)
        args = (watch.id, article.id)
        if story is not None and self.store.story_alerted(watch.id, story):
            self.store.claim(*args, SAME_STORY, match.score, match.sentence, story)
            return None
        if self._room(watch.id, now, budget) <= 0:
            self.store.claim(*args, HELD, match.score, match.sentence, story)
            return None
        if not self.store.claim(*args, POSTING, match.score, match.sentence, story):
            return None  # recorded before (a restart re-reading the same articles)
        budget[watch.id] -= 1
        return Alert(watch, [(article, match.score, match.sentence)], article_ids=[article.id])

    def _rollups(self, now: datetime, budget: dict[int, int]) -> list[Alert]:
        out = []
        for watch_id in self.store.watches_holding():
            if self._room(watch_id, now, budget) <= 0:
                continue
            try:
                watch = self.store.get(watch_id)
            except InputError:
                continue
            held = self.store.take_held(watch_id)  # another process may have taken them
            if not held:
                continue
            articles = self.corpus.store.articles([h.article_id for h in held])
            items = [
                (articles[h.article_id], h.score, h.sentence)
                for h in held
                if h.article_id in articles
            ]
            if not items:  # their articles are gone: nothing left to tell
                self.store.set_status(watch_id, [h.article_id for h in held], FOLDED)
                continue
            budget[watch_id] -= 1
            out.append(Alert(watch, items, rollup=True, article_ids=[h.article_id for h in held]))
        return out

    def _too_old(self, article: Article, now: datetime) -> bool:
        if not article.published:
            return False  # undated: it arrived just now
        try:
            published = datetime.fromisoformat(article.published)
        except ValueError:
            return False
        if published.tzinfo is None:
            published = published.replace(tzinfo=UTC)
        return now - published > self.max_age

    # --- posting (on the event loop) ------------------------------------------------------
    async def _post(self, channels: Channels, alert: Alert, now: datetime) -> int:
        watch = alert.watch
        try:
            channel = channels.get_channel(watch.channel_id) or await channels.fetch_channel(
                watch.channel_id
            )
            content, embed, mentions = render_alert(alert)
            await channel.send(content=content, embed=embed, allowed_mentions=mentions)
        except discord.HTTPException as exc:
            self.store.set_status(watch.id, alert.article_ids, FAILED)
            log.warning("watch #%s: alert not posted to %s: %s", watch.id, watch.channel_id, exc)
            if self.notify is not None:
                reason = getattr(exc, "text", "") or str(exc)
                await self.notify(
                    wording.text(
                        "watches.alert.failed", id=watch.id, channel=watch.channel_id, error=reason
                    )
                )
            return 0
        done = FOLDED if alert.rollup else POSTED
        self.store.set_status(watch.id, alert.article_ids, done)
        self.store.record_message(watch.id, len(alert.article_ids), now)
        log.info("watch #%s: alert posted for %d articles", watch.id, len(alert.article_ids))
        return 1


def mentions_for(watch: Watch) -> discord.AllowedMentions:
    """Exactly the watch's role, or nobody: never @everyone, users or other roles."""
    if not watch.role_id:
        return NO_PINGS
    return discord.AllowedMentions(
        everyone=False, users=False, roles=[discord.Object(watch.role_id)], replied_user=False
    )


def render_alert(alert: Alert) -> tuple[str, discord.Embed, discord.AllowedMentions]:
    """(content, embed, allowed mentions) of an alert. The role mention is in the content
    (mentions inside embeds never ping); the article's words are all inert."""
    watch = alert.watch
    head = wording.text("watches.alert.content", id=watch.id, description=inert(watch.description))
    content = f"<@&{watch.role_id}> {head}" if watch.role_id else head
    sources = [_source(i, article) for i, (article, _, _) in enumerate(alert.items, start=1)]
    if alert.rollup:
        embed = discord.Embed(
            title=wording.text("watches.alert.rollup_title", count=len(alert.items)),
            colour=COLOUR,
        )
        embed.description = _listing([source_line(s) for s in sources])
    else:
        (article, score, sentence), source = alert.items[0], sources[0]
        url = source.url if source.url and source.url.startswith(("http://", "https://")) else None
        embed = discord.Embed(title=cut(inert(article.title), TITLE_LIMIT), url=url, colour=COLOUR)
        quote = cut(inert(sentence), DESCRIPTION_LIMIT - 600)
        embed.description = f"> {quote}\n\n{source_line(source)}"
        embed.set_footer(
            text=wording.text("watches.alert.footer", id=watch.id, score=f"{score:.2f}")
        )
    return content, embed, mentions_for(watch)


def _source(number: int, article: Article) -> Source:
    return Source(
        number=number,
        title=article.title,
        url=article.url,
        outlet=article.source,
        published=article.published,
        countries=list(article.countries),
    )


def _listing(lines: list[str]) -> str:
    """As many source lines as fit in one embed, then "and N more"."""
    out: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        more = wording.text("watches.alert.more", count=len(lines) - i)
        if used + len(line) + 1 > DESCRIPTION_LIMIT - len(more) - 1:
            out.append(more)
            break
        out.append(line)
        used += len(line) + 1
    return "\n".join(out)
