"""A story as its own Discord thread or forum post: starting one, finding it again, tags.

`threads` delivery posts a story's section as a message in the channel and starts a
thread from it; `forum` delivery makes a forum post whose tags name the story's topics
and countries (matched against the forum's `available_tags`, case-insensitively;
missing ones are added when the forum has room and the bot may manage it, else only
existing tags are applied). A story's later articles go into its thread as a short
update.

An archived thread is unarchived before posting (Discord archives idle threads; the
story is not over). A thread that is gone, or locked by a moderator, is not reopened:
a new thread is started, its first message links the old one, and it replaces it in
the record. Everything here uses discord.py's own models; nothing is stored here.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Protocol

import discord

from retrieval import Corpus, wording
from retrieval.countries import country_name
from retrieval.digest import Digest, Story

from . import handlers
from .embeds import cut, plain, render
from .interactions import NO_PINGS
from .replies import Line, Reply


class Channels(Protocol):
    """What posting needs of the connected client: finding a channel (or thread) by id."""

    def get_channel(self, id: int, /) -> Any: ...

    async def fetch_channel(self, channel_id: int, /) -> Any: ...


log = logging.getLogger(__name__)
THREAD_NAME_LIMIT = 100  # Discord: a thread's name
TAG_NAME_LIMIT = 20  # a forum tag's name
TAGS_PER_POST = 5  # tags one forum post may carry
TAGS_PER_FORUM = 20  # tags one forum may define
ARCHIVE_MINUTES = 10080  # a week idle before Discord archives it: a story runs days
# Discord's JSON error codes for a bot lacking access to a channel or a permission there.
MISSING_ACCESS, MISSING_PERMISSIONS = 50001, 50013
ARCHIVED = 50083  # the thread is archived (and could not be reopened by posting)
Messages = list[list[discord.Embed]]


def missing_permission(exc: discord.HTTPException) -> bool:
    """Whether Discord refused for want of access or a permission (403, 50001, 50013)."""
    return exc.status == 403 or exc.code in (MISSING_ACCESS, MISSING_PERMISSIONS)


def thread_name(story: Story) -> str:
    return cut(plain(story.title), THREAD_NAME_LIMIT) or str(story.id)


def tag_names(story: Story) -> list[str]:
    """Forum tag names for a story: its topics, then its countries' names (a name too long
    for a tag is left as its code)."""
    names = [*story.topics]
    for code in story.countries:
        name = country_name(code) or code
        names.append(name if len(name) <= TAG_NAME_LIMIT else code)
    out: list[str] = []
    for name in names:
        name = name[:TAG_NAME_LIMIT]
        if name and name.casefold() not in {n.casefold() for n in out}:
            out.append(name)
    return out[:TAGS_PER_POST]


# --- replies -------------------------------------------------------------------------------
def story_reply(corpus: Corpus, digest: Digest, story: Story, note: str = "") -> Reply:
    """A story on its own: its headline, what it says, every source (outlet and date)."""
    whole = handlers.digest_reply(corpus, _only(digest, story))
    section = whole.sections[0]
    notes = [n for n in (note, section.note) if n]
    return Reply(
        kind="digest",
        title=section.heading,
        notes=notes,
        lines=[Line(line.text) for line in section.lines],
        sources=whole.sources,
    )


def update_reply(
    corpus: Corpus, digest: Digest, story: Story, last_posted: datetime, today: date
) -> Reply:
    """What is new in a story since its thread's last post: "New since yesterday", the new
    summary sentences (or headlines), and the new articles as cited sources with dates."""
    whole = handlers.digest_reply(corpus, _only(digest, story))
    section = whole.sections[0]
    days = (today - last_posted.date()).days
    if days <= 0:
        since = wording.text("discord.threads.since_today")
    elif days == 1:
        since = wording.text("discord.threads.since_yesterday")
    else:
        since = last_posted.date().isoformat()
    lines = [Line(line.text) for line in section.lines] or [
        Line(s.title, [s.number]) for s in whole.sources
    ]
    notes = [section.note] if section.note else []
    return Reply(
        kind="digest",
        title=wording.text("discord.threads.update_title", since=since),
        notes=notes,
        lines=lines,
        sources=whole.sources,
    )


def _only(digest: Digest, story: Story) -> Digest:
    return Digest(digest.generated, digest.since, [story], digest.last_article_id)


# --- Discord ---------------------------------------------------------------------------------
async def send_all(target: discord.abc.Messageable, messages: Messages) -> None:
    for embeds in messages:
        await target.send(embeds=embeds, allowed_mentions=NO_PINGS)


async def start_thread(channel: discord.TextChannel, reply: Reply, name: str) -> discord.Thread:
    """The story's message in the channel, and a thread started from it for what follows."""
    first, *rest = render(reply)
    message = await channel.send(embeds=first, allowed_mentions=NO_PINGS)
    try:
        thread = await message.create_thread(name=name, auto_archive_duration=ARCHIVE_MINUTES)
    except discord.HTTPException:  # no thread (a permission, say): no orphan section either
        with contextlib.suppress(discord.HTTPException):
            await message.delete()
        raise
    await send_all(thread, rest)
    return thread


async def forum_post(
    forum: discord.ForumChannel, reply: Reply, name: str, tags: Sequence[str]
) -> discord.Thread:
    """A forum post for the story, tagged with its topics and countries."""
    applied = await forum_tags(forum, tags)
    first, *rest = render(reply)
    made = await forum.create_thread(
        name=name,
        embeds=first,
        applied_tags=applied,
        auto_archive_duration=ARCHIVE_MINUTES,
        allowed_mentions=NO_PINGS,
    )
    await send_all(made.thread, rest)
    return made.thread


async def forum_tags(forum: discord.ForumChannel, names: Sequence[str]) -> list[discord.ForumTag]:
    """The forum's tags of these names, adding the missing ones in one edit when there is
    room; without Manage Channels, only the tags the forum already has."""
    have = {t.name.casefold(): t for t in forum.available_tags}
    missing = [n for n in names if n.casefold() not in have]
    room = TAGS_PER_FORUM - len(have)
    if missing and room > 0:
        tags = [*forum.available_tags, *(discord.ForumTag(name=n) for n in missing[:room])]
        try:
            edited = await forum.edit(available_tags=tags)
        except discord.HTTPException as exc:
            log.info("forum %s: tags not added (%s); using the existing ones", forum.id, exc)
        else:
            if edited is not None:
                have = {t.name.casefold(): t for t in edited.available_tags}
    return [have[n.casefold()] for n in names if n.casefold() in have][:TAGS_PER_POST]


async def post_update(channels: Channels, thread_id: int, reply: Reply) -> bool:
    """Post into the stored thread; False when it is gone, locked or archived for good
    (the caller starts a new one), however stale the client's view of it was."""
    thread = await open_thread(channels, thread_id)
    if thread is None:
        return False
    try:
        await send_all(thread, render(reply))
    except discord.NotFound:
        return False
    except discord.HTTPException as exc:
        if exc.code != ARCHIVED:
            raise
        return False
    return True


async def open_thread(channels: Channels, thread_id: int) -> discord.Thread | None:
    """The stored thread, unarchived if Discord archived it; None when it is gone, locked
    or no longer a thread (the caller starts a new one)."""
    try:
        thread = channels.get_channel(thread_id) or await channels.fetch_channel(thread_id)
    except discord.NotFound:
        return None
    if not isinstance(thread, discord.Thread) or thread.locked:
        return None
    if thread.archived:
        thread = await thread.edit(archived=False)
    return thread
