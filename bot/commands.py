"""Slash commands. Each is thin: parse options, defer, one library call in a thread, reply.

A command's docstring is its Discord description; every parameter is described.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from retrieval.topics import topic_names

from . import handlers

if TYPE_CHECKING:
    from .app import BriefBot

COUNTRY = "A country: name, ISO code, demonym or capital (Japan, JP, Japanese, Tokyo)"
TOPIC = "A topic, e.g. trade or geopolitics"
SINCE = "Only articles since a date (2025-04-18) or a duration back from now (24h, 7d, 2w)"
MAX_CHOICES = 25


def country_choices(bot: BriefBot, current: str) -> list[app_commands.Choice[str]]:
    """Countries in the corpus first (with article counts), then any country that matches."""
    from retrieval.countries import country_name, search_countries

    counts = bot.country_counts()
    typed = current.strip()
    if typed:
        codes = list(dict.fromkeys(code for code, _ in search_countries(typed, 50)))
    else:
        codes = list(counts)
    order = {code: i for i, code in enumerate(codes)}
    codes.sort(key=lambda c: (-counts.get(c, 0), order[c]))
    choices = []
    for code in codes[:MAX_CHOICES]:
        n = counts.get(code, 0)
        label = f"{country_name(code)} ({code})" + (f" — {n} articles" if n else "")
        choices.append(app_commands.Choice(name=label[:100], value=code))
    return choices


def topic_choices(current: str) -> list[app_commands.Choice[str]]:
    typed = current.strip().lower()
    return [app_commands.Choice(name=name, value=name) for name in topic_names() if typed in name][
        :MAX_CHOICES
    ]


def register(tree: app_commands.CommandTree, bot: BriefBot) -> None:
    cooldown = bot.settings.ask_cooldown_seconds

    @tree.command(name="ask")
    @app_commands.describe(
        question="What you want to know, in your own words",
        country=COUNTRY,
        topic=TOPIC,
        since=SINCE,
    )
    @app_commands.checks.cooldown(1, cooldown, key=lambda i: i.user.id)
    async def ask(
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, 500],
        country: str | None = None,
        topic: str | None = None,
        since: str | None = None,
    ) -> None:
        """Answer a question with sentences quoted from the corpus, each cited."""
        filters = handlers.parse_filters(country, topic, since)
        await interaction.response.defer(thinking=True)
        reply = await bot.run(handlers.ask, bot.corpus, question, filters)
        await bot.send_interaction_reply(interaction, reply)

    @tree.command(name="headlines")
    @app_commands.describe(
        country=COUNTRY, topic=TOPIC, since=SINCE, limit="How many headlines (1-25, default 10)"
    )
    async def headlines(
        interaction: discord.Interaction,
        country: str | None = None,
        topic: str | None = None,
        since: str | None = None,
        limit: app_commands.Range[int, 1, 25] = 10,
    ) -> None:
        """The newest matching headlines, newest first."""
        filters = handlers.parse_filters(country, topic, since)
        await interaction.response.defer(thinking=True)
        reply = await bot.run(handlers.headlines, bot.corpus, filters, limit)
        await bot.send_interaction_reply(interaction, reply)

    @tree.command(name="digest")
    @app_commands.describe(country=COUNTRY, topic=TOPIC, since=SINCE)
    async def digest(
        interaction: discord.Interaction,
        country: str | None = None,
        topic: str | None = None,
        since: str | None = None,
    ) -> None:
        """A digest of the matching stories, grouped by topic."""
        filters = handlers.parse_filters(country, topic, since)
        await interaction.response.defer(thinking=True)
        reply = await bot.run(handlers.digest, bot.corpus, filters)
        await bot.send_interaction_reply(interaction, reply)

    @tree.command(name="about")
    async def about(interaction: discord.Interaction) -> None:
        """Corpus size and dates, sources, model, and the next digests."""
        await interaction.response.defer(thinking=True)
        reply = await bot.run(handlers.about, bot.corpus)
        await bot.send_interaction_reply(interaction, reply)

    for command in (ask, headlines, digest):

        @command.autocomplete("country")
        async def _country(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            return country_choices(bot, current)

        @command.autocomplete("topic")
        async def _topic(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            return topic_choices(current)
