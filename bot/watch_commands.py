"""/watch add|list|remove: standing watches, Manage Server only (by default and checked).

Each is thin like the other commands: parse, one library call (embedding the
description runs in a worker thread), reply ephemerally.
"""

from __future__ import annotations

import discord
from discord import app_commands

from retrieval import Corpus, InputError, wording

from . import handlers
from .commands import MAX_CHOICES, CountryCounts, autocomplete_country_topic
from .interactions import NO_PINGS
from .watches import WatchStore, new_watch
from .workers import WorkerThreads

# Checked at run time too: a server can grant the commands to anyone, overriding the default.
manage_server_only = app_commands.checks.has_permissions(manage_guild=True)


def watch_group(corpus: Corpus, workers: WorkerThreads, store: WatchStore) -> app_commands.Group:
    watch = app_commands.Group(
        name="watch",
        description=wording.text("watches.discord.description"),
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )
    countries = CountryCounts(corpus)

    @watch.command(name="add")
    @app_commands.describe(
        description=wording.text("watches.discord.options.description"),
        country=wording.text("watches.discord.options.country"),
        topic=wording.text("watches.discord.options.topic"),
        role=wording.text("watches.discord.options.role"),
    )
    @manage_server_only
    async def watch_add(
        interaction: discord.Interaction,
        description: app_commands.Range[str, 1, 200],
        country: str | None = None,
        topic: str | None = None,
        role: discord.Role | None = None,
    ) -> None:
        """Alert this channel when a new article matches a description in words."""
        if role is not None and role.is_default():
            raise InputError(wording.text("watches.errors.everyone"))
        filters = handlers.parse_filters(_split(country), _split(topic), None)
        await interaction.response.defer(ephemeral=True, thinking=True)
        made = await workers.run(
            lambda: new_watch(
                corpus,
                store,
                description,
                interaction.channel_id or 0,
                countries=filters.countries,
                topics=filters.topics,
                guild_id=interaction.guild_id,
                role_id=role.id if role else None,
            )
        )
        reply = wording.text("watches.discord.added", watch=made.describe())
        pings = role is None or role.mentionable or interaction.app_permissions.mention_everyone
        if role is not None and not pings:
            reply += " " + wording.text("watches.discord.role_not_mentionable", role=role.id)
        await interaction.followup.send(reply, ephemeral=True, allowed_mentions=NO_PINGS)

    autocomplete_country_topic(watch_add, countries)

    @watch.command(name="list")
    @manage_server_only
    async def watch_list(interaction: discord.Interaction) -> None:
        """This server's watches."""
        lines = [w.describe() for w in store.list(interaction.guild_id)] or [
            wording.text("watches.discord.none")
        ]
        await interaction.response.send_message(
            "\n".join(lines)[:2000], ephemeral=True, allowed_mentions=NO_PINGS
        )

    @watch.command(name="remove")
    @app_commands.rename(watch_id="id")
    @app_commands.describe(watch_id=wording.text("watches.discord.options.id"))
    @manage_server_only
    async def watch_remove(interaction: discord.Interaction, watch_id: int) -> None:
        """Stop a watch."""
        gone = store.remove(watch_id, interaction.guild_id)
        reply = wording.text("watches.discord.removed", watch=gone.describe())
        await interaction.response.send_message(reply, ephemeral=True, allowed_mentions=NO_PINGS)

    @watch_remove.autocomplete("watch_id")
    async def _watch_id(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        typed = current.strip().lower()
        return [
            app_commands.Choice(name=w.describe()[:100], value=w.id)
            for w in store.list(interaction.guild_id)
            if typed in w.describe().lower()
        ][:MAX_CHOICES]

    return watch


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]
