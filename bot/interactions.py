"""Answering slash commands: defer, run the handler off the loop, send the rendered reply.

Errors are translated once, in `report_error` (the command tree's error handler):
known ones become a short ephemeral message, the unknown are logged in full.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import discord
from discord import app_commands

from retrieval import BriefbotError, wording

from .embeds import render
from .replies import Reply
from .workers import WorkerThreads

log = logging.getLogger(__name__)
NO_PINGS = discord.AllowedMentions.none()


async def answer(
    interaction: discord.Interaction,
    workers: WorkerThreads,
    handler: Callable[..., Reply],
    *args: Any,
) -> None:
    """Acknowledge at once (Discord allows 3 s), run the handler off the loop, reply.

    A full queue (`workers.Busy`) is said at once, as the first response, not deferred."""
    job = workers.submit(handler, *args)
    try:
        await interaction.response.defer(thinking=True)
    except BaseException:
        job.cancel()
        raise
    reply = await job
    await send_reply(interaction, reply)


async def send_reply(interaction: discord.Interaction, reply: Reply) -> None:
    messages = render(reply)
    ephemeral = reply.ephemeral
    if not interaction.response.is_done():
        await interaction.response.send_message(
            embeds=messages[0], ephemeral=ephemeral, allowed_mentions=NO_PINGS
        )
        rest = messages[1:]
    else:
        rest = messages
    for embeds in rest:
        await interaction.followup.send(
            embeds=embeds, ephemeral=ephemeral, allowed_mentions=NO_PINGS
        )


async def report_error(
    interaction: discord.Interaction, error: app_commands.AppCommandError
) -> None:
    """Known errors become a short ephemeral message; the unknown are logged in full."""
    original = getattr(error, "original", error)
    if isinstance(error, app_commands.CommandOnCooldown):
        text = wording.text("discord.errors.too_fast", seconds=error.retry_after)
    elif isinstance(error, app_commands.MissingPermissions):
        text = wording.text("discord.errors.manage_server")
    elif isinstance(error, app_commands.NoPrivateMessage):
        text = wording.text("discord.errors.server_only")
    elif isinstance(original, BriefbotError):
        text = str(original)
    else:
        log.error("command %s failed", getattr(interaction.command, "name", "?"), exc_info=original)
        text = wording.text("discord.errors.command_failed")
    await _send_error(interaction, text)


async def _send_error(interaction: discord.Interaction, text: str) -> None:
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)
        else:
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)
    except discord.HTTPException:
        log.exception("could not report an error to the user")
