"""Posting watch alerts: every article that arrived since the last check, matched against
every watch, each match posted once to the watch's channel.

After each feed poll (and every minute, so `briefbot ingest` is seen too) the articles
above the stored cursor are matched off the event loop. Each match is claimed in the
record before it is sent, so a restart never posts it twice. A watch posts at most
`per_hour` messages in any hour: a match beyond that is held, and the held ones go out
together in one roll-up message ("3 more articles matched …") as soon as the hour
has room again; a roll-up counts as one message. An article published more than
`max_age_hours` ago (an archive being imported) alerts nobody.

With a record of story threads (`bot.story_threads`), a story is followed rather than
repeated: the first matching article of a story is a top-level alert, and a later one
(or any, when the channel already has a thread for the story, a digest's say) is a short
update, "New in this story: …", in the story's thread, started from the first alert's
message when it has none yet (`bot.watch_threads`). A story's thread gets at most one
update per `story_minutes`; what matches meanwhile is held and goes in the next one.

The role a watch names is the only mention briefbot ever sends: `allowed_mentions`
admits exactly that role (on a story's first alert, not on its updates), and everything
from the article is rendered inert.
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

from . import threads
from .digests import Channels
from .embeds import DESCRIPTION_LIMIT, TITLE_LIMIT, cut, inert, source_line
from .interactions import NO_PINGS
from .replies import Source
from .story_threads import WATCHES, StoryThreads
from .watch_threads import Payload, StoryFollower
from .watches import FAILED, FOLDED, HELD, POSTED, POSTING, SAME_STORY, Held, Watch, WatchStore
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
    story: int | None = None  # the articles' story, when stories are stored
    update: bool = False  # an update in the story's thread, not a top-level alert
    mention: bool = True  # the role is mentioned (a story's first alert, not its updates)


@dataclass
class Room:
    """What one plan may still post: messages per watch this hour, and the stories
    (channel, story) that have had their message in this plan."""

    watches: dict[int, int] = field(default_factory=dict)
    stories: set[tuple[int, int]] = field(default_factory=set)


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
        story_threads: StoryThreads | None = None,
        story_minutes: float = 30.0,
    ) -> None:
        self.corpus = corpus
        self.store = store
        self.workers = workers
        self.per_hour = per_hour
        self.max_age = timedelta(hours=max_age_hours)
        self.story_of = story_of
        self.story_threads = story_threads  # None: a story's later articles are folded
        self.story_gap = timedelta(minutes=story_minutes)
        self.follower = StoryFollower(story_threads) if story_threads is not None else None
        self.channels: Channels | None = None
        self.notify: Notify | None = None
        self._lock = asyncio.Lock()
        self._told: set[int] = set()  # channels whose admins heard that threads are refused

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
        room = Room()
        alerts = self._match_new(now, room)
        return alerts + self._rollups(now, room)

    def _room(self, watch_id: int, now: datetime, room: Room) -> int:
        if watch_id not in room.watches:
            sent = self.store.messages_since(watch_id, now - timedelta(hours=1))
            room.watches[watch_id] = max(0, self.per_hour - sent)
        return room.watches[watch_id]

    def _followed(self, channel_id: int, story: int | None) -> bool:
        """Whether the channel has a thread (or a watch's first alert) for the story."""
        if story is None or self.story_threads is None:
            return False
        return bool(self.story_threads.find(channel_id, story))

    def _story_room(self, channel_id: int, story: int, now: datetime, room: Room) -> bool:
        """Whether the story may have an update now: none in this plan, and none from the
        channel's watches in the last `story_minutes`."""
        if (channel_id, story) in room.stories or self.story_threads is None:
            return False
        last = self.story_threads.get(WATCHES, channel_id, story)
        return last is None or now - last.updated >= self.story_gap

    def _match_new(self, now: datetime, room: Room) -> list[Alert]:
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
                    alert = self._decide(m, watches, articles, stories, now, room)
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
        room: Room,
    ) -> Alert | None:
        watch, article = watches.get(match.watch_id), articles.get(match.article_id)
        if watch is None or article is None or self._too_old(article, now):
            return None
        story = stories.get(article.id)
        args = (watch.id, article.id)
        alerted = story is not None and self.store.story_alerted(watch.id, story)
        if alerted and self.story_threads is None:  # no threads to follow it in: folded
            self.store.claim(*args, SAME_STORY, match.score, match.sentence, story)
            return None
        update = alerted or self._followed(watch.channel_id, story)
        if self._room(watch.id, now, room) <= 0 or (
            update
            and story is not None
            and not self._story_room(watch.channel_id, story, now, room)
        ):
            self.store.claim(*args, HELD, match.score, match.sentence, story)
            return None
        if not self.store.claim(*args, POSTING, match.score, match.sentence, story):
            return None  # recorded before (a restart re-reading the same articles)
        room.watches[watch.id] -= 1
        if story is not None:
            room.stories.add((watch.channel_id, story))
        item = (article, match.score, match.sentence)
        return Alert(
            watch, [item], article_ids=[article.id], story=story, update=update, mention=not alerted
        )

    def _rollups(self, now: datetime, room: Room) -> list[Alert]:
        """The held matches of each watch with room again: one update per followed story
        whose thread may have one, and one roll-up of the rest."""
        out: list[Alert] = []
        for watch_id in self.store.watches_holding():
            if self._room(watch_id, now, room) <= 0:
                continue
            try:
                watch = self.store.get(watch_id)
            except InputError:
                continue
            held = self.store.take_held(watch_id)  # marked posting: no other process gets them
            if not held:
                continue
            articles = self.corpus.store.articles([h.article_id for h in held])
            gone = [h.article_id for h in held if h.article_id not in articles]
            if gone:  # their articles are gone: nothing left to tell
                self.store.set_status(watch_id, gone, FOLDED)
            held = [h for h in held if h.article_id in articles]
            posted: set[int] = set()
            for alert in self._held_alerts(watch, held, articles, now, room):
                if self._room(watch_id, now, room) <= 0:
                    break
                room.watches[watch_id] -= 1
                posted.update(alert.article_ids)
                out.append(alert)
            back = [h.article_id for h in held if h.article_id not in posted]
            if back:  # taken, but no room for them yet: held again for a later run
                self.store.set_status(watch_id, back, HELD)
        return out

    def _held_alerts(
        self,
        watch: Watch,
        held: list[Held],
        articles: dict[int, Article],
        now: datetime,
        room: Room,
    ) -> list[Alert]:
        """What the held matches make: an update per followed story with room, then one
        roll-up of those of no followed story (a story without room stays held)."""
        stories = self.story_of([h.article_id for h in held]) if self.story_of else {}
        by_story: dict[int, list[Held]] = {}
        rest: list[Held] = []
        for h in held:
            story = stories.get(h.article_id)
            if story is not None and (
                (watch.channel_id, story) in room.stories or self._followed(watch.channel_id, story)
            ):
                by_story.setdefault(story, []).append(h)
            else:
                rest.append(h)
        out = []
        for story, group in by_story.items():
            if not self._story_room(watch.channel_id, story, now, room):
                continue
            room.stories.add((watch.channel_id, story))
            out.append(
                Alert(
                    watch,
                    [(articles[h.article_id], h.score, h.sentence) for h in group],
                    rollup=len(group) > 1,
                    article_ids=[h.article_id for h in group],
                    story=story,
                    update=True,
                    mention=False,
                )
            )
        if rest:
            items = [(articles[h.article_id], h.score, h.sentence) for h in rest]
            out.append(Alert(watch, items, rollup=True, article_ids=[h.article_id for h in rest]))
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
        content, embed, mentions = render_alert(alert)
        payload = Payload(content, embed, mentions)
        try:
            if not await self._in_thread(channels, alert, payload, now):
                await self._in_channel(channels, alert, payload, now)
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

    async def _in_channel(
        self, channels: Channels, alert: Alert, payload: Payload, now: datetime
    ) -> None:
        """Post in the watch's channel; the message a story's first alert becomes the one
        its thread will start from."""
        channel_id = alert.watch.channel_id
        channel = channels.get_channel(channel_id) or await channels.fetch_channel(channel_id)
        message = await channel.send(**payload.kwargs())
        if self.follower is not None and alert.story is not None:
            newest = max(alert.article_ids)
            self.follower.first_alert(channel_id, alert.story, message.id, newest, now)

    async def _in_thread(
        self, channels: Channels, alert: Alert, payload: Payload, now: datetime
    ) -> bool:
        """Post an update in its story's thread; False when it goes to the channel instead
        (no thread to be had, or Discord refused one: the admins are told, once a run)."""
        if not alert.update or alert.story is None or self.follower is None:
            return False
        watch = alert.watch
        name = alert.items[0][0].title
        try:
            return await self.follower.post(
                channels, watch.channel_id, alert.story, name, payload, max(alert.article_ids), now
            )
        except discord.HTTPException as exc:
            if not threads.missing_permission(exc):
                raise
            log.warning("watch #%s: no story thread in %s: %s", watch.id, watch.channel_id, exc)
            if self.notify is not None and watch.channel_id not in self._told:
                self._told.add(watch.channel_id)
                reason = getattr(exc, "text", "") or str(exc)
                await self.notify(
                    wording.text(
                        "watches.alert.thread_refused",
                        id=watch.id,
                        channel=watch.channel_id,
                        error=reason,
                    )
                )
            return False


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
    content = f"<@&{watch.role_id}> {head}" if watch.role_id and alert.mention else head
    sources = [_source(i, article) for i, (article, _, _) in enumerate(alert.items, start=1)]
    if alert.rollup:
        count = len(alert.items)
        if alert.update:
            title = wording.text("watches.alert.update_many", count=count)
        else:
            title = wording.text("watches.alert.rollup_title", count=count)
        embed = discord.Embed(title=title, colour=COLOUR)
        embed.description = _listing([source_line(s) for s in sources])
    else:
        (article, score, sentence), source = alert.items[0], sources[0]
        url = source.url if source.url and source.url.startswith(("http://", "https://")) else None
        title = inert(article.title)
        if alert.update:
            title = wording.text("watches.alert.update_title", title=title)
        embed = discord.Embed(title=cut(title, TITLE_LIMIT), url=url, colour=COLOUR)
        quote = cut(inert(sentence), DESCRIPTION_LIMIT - 600)
        embed.description = f"> {quote}\n\n{source_line(source)}"
        embed.set_footer(
            text=wording.text("watches.alert.footer", id=watch.id, score=f"{score:.2f}")
        )
    return content, embed, mentions_for(watch) if alert.mention else NO_PINGS


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
