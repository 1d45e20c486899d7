"""Slash commands. Each is thin: parse options, defer, one library call in a thread, reply.

A command's docstring is its Discord description; every parameter is described, in the
words of `prompts/discord.toml` (read when the commands are registered).
Commands are given exactly the collaborators they use (the corpus, the worker
threads, the subscription store, the digest scheduler, the feed registry), never
the client: they run inside it, but need nothing of it.
"""

from __future__ import annotations

import math
import time
from typing import Literal

import discord
from discord import app_commands

from retrieval import Corpus, InputError, wording
from retrieval.feeds import FeedRegistry
from retrieval.topics import topic_names

from . import handlers
from .embeds import inert
from .interactions import answer
from .limits import AskLimits
from .scheduler import DigestScheduler
from .subscriptions import CHANNEL, FORUM, SubscriptionStore, search_timezones
from .workers import WorkerThreads

MAX_CHOICES = 25
# Checked at run time too: a server can grant the commands to anyone, overriding the default.
manage_server_only = app_commands.checks.has_permissions(manage_guild=True)


class CountryCounts:
    """Articles per country in the corpus, cached for a minute (autocomplete is hot)."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus
        self._at = -math.inf  # never read yet (monotonic() may be under 60 s after boot)
        self._counts: dict[str, int] = {}

    def get(self) -> dict[str, int]:
        if time.monotonic() - self._at > 60:
            self._counts = dict(self.corpus.store.country_counts())
            self._at = time.monotonic()
        return self._counts


def next_digests(
    subscriptions: SubscriptionStore, digests: DigestScheduler, guild_id: int | None = None
) -> list[str]:
    """One line per subscription (of a server, or all): what it is and when it runs next."""
    out = []
    unscheduled = wording.text("discord.subscriptions.not_scheduled")
    for sub in subscriptions.list(guild_id):
        when = digests.next_run(sub.id)
        stamp = discord.utils.format_dt(when, "R") if when else unscheduled
        line = wording.text("discord.subscriptions.next", subscription=sub.describe(), when=stamp)
        out.append(line)
    return out


def country_choices(counts: dict[str, int], current: str) -> list[app_commands.Choice[str]]:
    """Countries and groupings in the corpus first (with article counts), then any that
    matches. After a "+" (a pair, "JP+U") the last part is completed and the rest kept."""
    from retrieval.countries import country_name, search_countries

    *done, typed = handlers.split_pair(current)
    if done:
        return _pair_choices(counts, done, typed)
    typed = typed.strip()
    if typed:
        codes = list(dict.fromkeys(code for code, _ in search_countries(typed, 50)))
    else:
        codes = list(counts)
    order = {code: i for i, code in enumerate(codes)}
    codes.sort(key=lambda c: (-counts.get(c, 0), order[c]))
    choices = []
    for code in codes[:MAX_CHOICES]:
        if n := counts.get(code, 0):
            label = wording.text(
                "discord.choices.country_in_corpus", name=country_name(code), code=code, articles=n
            )
        else:
            label = wording.text("discord.choices.country", name=country_name(code), code=code)
        choices.append(app_commands.Choice(name=label[:100], value=code))
    return choices


def _pair_choices(
    counts: dict[str, int], done: list[str], typed: str
) -> list[app_commands.Choice[str]]:
    from retrieval import InputError
    from retrieval.countries import country_name, resolve_country

    try:
        first = [resolve_country(part) for part in done]
    except InputError:
        return []  # an unreadable first part: the command will say why
    names = " + ".join(country_name(code) for code in first)
    choices = []
    for choice in country_choices(counts, typed):
        code = str(choice.value)
        if code in first:
            continue
        value = handlers.PAIR.join([*first, code])
        label = wording.text(
            "discord.choices.pair", names=f"{names} + {country_name(code)}", value=value
        )
        choices.append(app_commands.Choice(name=label[:100], value=value))
    return choices


def topic_choices(current: str) -> list[app_commands.Choice[str]]:
    typed = current.strip().lower()
    return [app_commands.Choice(name=name, value=name) for name in topic_names() if typed in name][
        :MAX_CHOICES
    ]


def register(
    tree: app_commands.CommandTree,
    *,
    corpus: Corpus,
    workers: WorkerThreads,
    subscriptions: SubscriptionStore,
    digests: DigestScheduler,
    limits: AskLimits,
) -> None:
    """The query commands: /ask, /headlines, /digest and /about, open to everyone."""
    countries = CountryCounts(corpus)
    filter_options = _filter_descriptions()

    @tree.command(name="ask")
    @app_commands.rename(with_="with")
    @app_commands.describe(question=wording.text("discord.options.question"), **filter_options)
    async def ask(
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, 500],
        country: str | None = None,
        topic: str | None = None,
        since: str | None = None,
        with_: str | None = None,
        members: bool = False,
    ) -> None:
        """Answer a question with sentences quoted from the corpus, each cited."""
        limits.check(question, interaction.user.id, interaction.channel_id)
        filters = handlers.parse_filters(country, topic, since, with_, members)
        await answer(interaction, workers, handlers.ask, corpus, question, filters)

    @tree.command(name="headlines")
    @app_commands.rename(with_="with")
    @app_commands.describe(limit=wording.text("discord.options.limit"), **filter_options)
    async def headlines(
        interaction: discord.Interaction,
        country: str | None = None,
        topic: str | None = None,
        since: str | None = None,
        limit: app_commands.Range[int, 1, 25] = 10,
        with_: str | None = None,
        members: bool = False,
    ) -> None:
        """The newest matching headlines, newest first."""
        filters = handlers.parse_filters(country, topic, since, with_, members)
        await answer(interaction, workers, handlers.headlines, corpus, filters, limit)

    @tree.command(name="digest")
    @app_commands.rename(with_="with")
    @app_commands.describe(**filter_options)
    async def digest(
        interaction: discord.Interaction,
        country: str | None = None,
        topic: str | None = None,
        since: str | None = None,
        with_: str | None = None,
        members: bool = False,
    ) -> None:
        """A digest of the matching stories, grouped by topic."""
        filters = handlers.parse_filters(country, topic, since, with_, members)
        await answer(interaction, workers, handlers.digest, corpus, filters)

    @tree.command(name="about")
    async def about(interaction: discord.Interaction) -> None:
        """Corpus size and dates, sources, model, and the next digests."""
        upcoming = next_digests(subscriptions, digests, interaction.guild_id)
        await answer(interaction, workers, handlers.about, corpus, upcoming)

    for command in (ask, headlines, digest):
        autocomplete_country_topic(command, countries, "country", "with_")
    register_show(tree, corpus=corpus, workers=workers)


# --- /show: one article in full (bot/show.py draws it) --------------------------------
def register_show(
    tree: app_commands.CommandTree, *, corpus: Corpus, workers: WorkerThreads
) -> None:
    """/show id: an article's title, outlet, date and where it came from, tags, text
    (cut to fit Discord) and link; open to everyone, like /ask."""
    from .show import show_reply

    @tree.command(name="show")
    @app_commands.describe(id=wording.text("replies.show.option"))
    async def show(interaction: discord.Interaction, id: app_commands.Range[int, 1]) -> None:
        """One article in full: outlet, date, tags, text and link."""
        await answer(interaction, workers, show_reply, corpus, id)


# --- end of /show ------------------------------------------------------------------------


def _filter_descriptions() -> dict[str, str]:
    """The descriptions of the filter options /ask, /headlines and /digest share."""
    return {
        "country": wording.text("discord.options.country"),
        "topic": wording.text("discord.options.topic"),
        "since": wording.text("discord.options.since"),
        "with_": wording.text("discord.options.with"),
        "members": wording.text("discord.options.members"),
    }


def autocomplete_country_topic(
    command: app_commands.Command, countries: CountryCounts, *country_options: str
) -> None:
    """Country choices (most reported first) for each of `country_options` ("country" by
    default) and topic choices for "topic": /ask, /headlines, /digest and /watch add."""

    async def _country(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return country_choices(countries.get(), current)

    async def _topic(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return topic_choices(current)

    for name in country_options or ("country",):
        command.autocomplete(name)(_country)
    command.autocomplete("topic")(_topic)


def delivery_for(channel: object, delivery: str | None) -> str:
    """The delivery asked for, checked against the channel: a forum takes only forum posts
    (and is forum delivery when none is named); a text channel takes anything else."""
    forum = isinstance(channel, discord.ForumChannel)
    chosen = delivery or (FORUM if forum else CHANNEL)
    if chosen == FORUM and not forum:
        raise InputError(wording.text("errors.subscription.forum_channel"))
    if chosen != FORUM and forum:
        raise InputError(wording.text("errors.subscription.text_channel", delivery=chosen))
    return chosen


def register_admin(
    tree: app_commands.CommandTree,
    *,
    subscriptions: SubscriptionStore,
    digests: DigestScheduler,
    feeds: FeedRegistry,
) -> None:
    """Digest subscriptions and feed sources: Manage Server only (default and checked)."""
    admin = app_commands.default_permissions(manage_guild=True)

    @tree.command(name="subscribe")
    @app_commands.describe(
        time=wording.text("discord.subscribe.options.time"),
        timezone=wording.text("discord.subscribe.options.timezone"),
        country=wording.text("discord.subscribe.options.country"),
        topic=wording.text("discord.subscribe.options.topic"),
        channel=wording.text("discord.subscribe.options.channel"),
        members=wording.text("discord.subscribe.options.members"),
        delivery=wording.text("discord.subscribe.options.delivery"),
    )
    @app_commands.guild_only()
    @admin
    @manage_server_only
    async def subscribe(
        interaction: discord.Interaction,
        time: str,
        timezone: str,
        country: str | None = None,
        topic: str | None = None,
        channel: discord.TextChannel | discord.ForumChannel | None = None,
        members: bool = False,
        delivery: Literal["channel", "threads", "forum"] | None = None,
    ) -> None:
        """Post a daily digest of trade and geopolitics stories to a channel."""
        filters = handlers.parse_filters(_split(country), _split(topic), None, None, members)
        channel_id = channel.id if channel else interaction.channel_id
        delivery = delivery_for(channel or interaction.channel, delivery)
        sub = subscriptions.add(
            channel_id or 0,
            time,
            timezone,
            filters.countries,
            filters.topics,
            interaction.guild_id,
            with_countries=filters.with_countries,
            members=filters.members,
            delivery=delivery,
        )
        digests.sync(subscriptions.list())
        when = digests.next_run(sub.id)
        soon = wording.text("discord.subscribe.soon")
        first = discord.utils.format_dt(when, "F") if when else soon
        reply = wording.text(
            "discord.subscribe.subscribed", subscription=sub.describe(), first=first
        )
        await interaction.response.send_message(reply, ephemeral=True)

    @subscribe.autocomplete("country")
    async def _country(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        # Comma-separated: complete the last one, keep the ones before as typed.
        head, _, last = current.rpartition(",")
        prefix = f"{head}," if head else ""
        return [
            app_commands.Choice(name=c.name, value=f"{prefix}{c.value}"[:100])
            for c in country_choices({}, last)
        ]

    @subscribe.autocomplete("timezone")
    async def _timezone(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=n, value=n) for n in search_timezones(current)]

    @tree.command(name="unsubscribe")
    @app_commands.describe(subscription=wording.text("discord.unsubscribe.options.subscription"))
    @app_commands.guild_only()
    @admin
    @manage_server_only
    async def unsubscribe(interaction: discord.Interaction, subscription: int) -> None:
        """Stop a daily digest."""
        sub = subscriptions.remove(subscription, interaction.guild_id)
        digests.sync(subscriptions.list())
        reply = wording.text("discord.unsubscribe.stopped", subscription=sub.describe())
        await interaction.response.send_message(reply, ephemeral=True)

    @unsubscribe.autocomplete("subscription")
    async def _subscription(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        subs = subscriptions.list(interaction.guild_id)
        return [
            app_commands.Choice(name=s.describe()[:100], value=s.id)
            for s in subs
            if current.strip().lower() in s.describe().lower()
        ][:MAX_CHOICES]

    @tree.command(name="subscriptions")
    @app_commands.guild_only()
    @admin
    @manage_server_only
    async def list_subscriptions(interaction: discord.Interaction) -> None:
        """This server's daily digests and when each runs next."""
        lines = next_digests(subscriptions, digests, interaction.guild_id) or [
            wording.text("discord.subscriptions.none")
        ]
        await interaction.response.send_message("\n".join(lines)[:2000], ephemeral=True)

    tree.add_command(sources_group(feeds))


def sources_group(feeds: FeedRegistry) -> app_commands.Group:
    """/sources add|remove|list: the feeds the corpus follows."""
    sources = app_commands.Group(
        name="sources",
        description=wording.text("discord.sources.description"),
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    @sources.command(name="add")
    @app_commands.describe(
        url=wording.text("discord.sources.options.url"),
        name=wording.text("discord.sources.options.name"),
    )
    @manage_server_only
    async def sources_add(
        interaction: discord.Interaction, url: str, name: str | None = None
    ) -> None:
        """Follow an RSS/Atom feed: new articles are ingested as they appear."""
        feed = feeds.add(url, name)
        reply = wording.text("discord.sources.following", label=inert(feed.label), url=feed.url)
        await interaction.response.send_message(reply, ephemeral=True)

    @sources.command(name="remove")
    @app_commands.describe(source=wording.text("discord.sources.options.source"))
    @manage_server_only
    async def sources_remove(interaction: discord.Interaction, source: str) -> None:
        """Stop following a feed (its articles stay in the corpus)."""
        feed = feeds.remove(source)
        reply = wording.text("discord.sources.stopped", label=inert(feed.label))
        await interaction.response.send_message(reply, ephemeral=True)

    @sources.command(name="list")
    @manage_server_only
    async def sources_list(interaction: discord.Interaction) -> None:
        """The feeds the corpus follows, and whether each is healthy."""
        followed = feeds.list()
        lines = [
            wording.text(  # a label is the feed's own title: a stranger's text, drawn inert
                "discord.sources.feed",
                id=f.id,
                label=inert(f.label),
                status=f.status,
                added=f.added,
            )
            for f in followed
        ] or [wording.text("discord.sources.none")]
        await interaction.response.send_message("\n".join(lines)[:2000], ephemeral=True)

    return sources


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]
