"""Draw a `Reply` as Discord messages: embeds within Discord's limits, article text made inert.

Limits (Discord API docs): title 256, description 4,096, footer 2,048 characters;
6,000 characters across all embeds of a message; 10 embeds per message. Text is
added a whole sentence (or source line) at a time, so trimming always happens at
a sentence boundary; a single sentence too long for an embed is cut at a word.
`tests/test_discord_limits.py` checks both promises on generated hostile replies.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import quote

import discord
from discord.utils import escape_mentions

from retrieval import wording

from .replies import Reply, Source, flag

TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FOOTER_LIMIT = 2048
MESSAGE_TOTAL_LIMIT = 6000
EMBEDS_PER_MESSAGE = 10
COLOURS = {
    "answer": 0x2B6CB0,
    "abstain": 0x718096,
    "headlines": 0x2F855A,
    "digest": 0x6B46C1,
    "about": 0x4A5568,
    "help": 0x4A5568,
    "article": 0x2C7A7B,
    "error": 0xC53030,
}


_MARKDOWN = re.compile(r"([\\*_~|`\[\]()<>])")
_LINE_START = re.compile(r"^(\s*)([#>-]|\d+\.)", re.MULTILINE)
# Invite links (discord.gg/x, discord.com/invite/x, ...): a backslash before the dot
# keeps them from being recognised as invites, and shows nothing.
_INVITE = re.compile(r"\b(discord(?:app)?|dsc)(\.(?:gg|com|io|me|li|new)\b)", re.IGNORECASE)
# A link target longer than this is shown as its title only (it would crowd the embed).
MAX_URL = 512


def visible(text: str) -> str:
    """Without invisible format characters (zero-width spaces and joiners, bidi overrides,
    soft hyphens: Unicode category Cf), which can disguise a mention, a link or a word."""
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def inert(text: str) -> str:
    """Article text as plain text in Discord: no markdown, no masked links, no pings.

    Every markdown character gets a backslash (Discord shows it literally), line-start
    markers (# > - 1.) too, so `<@id>`, `<#id>`, `<@&id>` and `[x](url)` stay text;
    `escape_mentions` breaks @everyone and @here; invite links are broken too.
    """
    text = _LINE_START.sub(r"\1\\\2", _MARKDOWN.sub(r"\\\1", visible(text)))
    return escape_mentions(_INVITE.sub(r"\1\\\2", text))


# Mention-like markup (<@id>, <@&id>, <#id>, </cmd:id>, <:emoji:id>, <t:stamp>) in text
# that draws no markdown, such as a title or footer: a zero-width space after `<` breaks it.
_ANGLE_MARKUP = re.compile(r"<(?=[@#/:at])")


def plain(text: str) -> str:
    """Text for a title or footer (no markdown there, so no backslashes): no invisible
    characters, and no mention or mention-like markup left whole."""
    return escape_mentions(_ANGLE_MARKUP.sub("<\u200b", visible(text)))


def link_target(url: str | None) -> str | None:
    """An article's URL as a markdown link target, or None if it cannot be one: only
    http(s), at most MAX_URL characters, and every character that could end or
    reshape the link (brackets, parentheses, quotes, spaces, angle brackets) escaped."""
    if not url or not url.startswith(("http://", "https://")):
        return None
    target = quote(visible(url), safe=":/?#@!$&*+,;=%~-._")
    return target if len(target) <= MAX_URL else None


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary with an ellipsis."""
    if len(text) <= limit:
        return text
    head = text[: max(0, limit - 1)]
    if " " in head:
        head = head.rsplit(" ", 1)[0]
    return head.rstrip() + "…"


def source_line(source: Source) -> str:
    title = inert(source.title)
    if url := link_target(source.url):
        title = f"[{title}]({url})"
    bits = [f"`[{source.number}]` {title}"]
    meta = [inert(source.outlet)] if source.outlet else []
    # When it was published, or honestly that nobody knows (never its ingestion time).
    meta.append(
        source.published[:10] if source.published else wording.text("replies.sources.undated")
    )
    if source.countries:
        meta.append(" ".join(flag(c) or c for c in source.countries))  # groupings: no flag
    if meta:
        bits.append(" · ".join(meta))
    return " — ".join(bits)


def blocks(reply: Reply) -> list[str]:
    """The reply's text, in reading order, as the units that may not be split."""
    out = [inert(n) if reply.kind == "abstain" else n for n in reply.notes]
    numbers = {s.number: s for s in reply.sources}
    if reply.kind == "article":  # its notes are our labels with the article's values in
        return [*reply.notes, "", *(inert(line.text) for line in reply.lines)]
    if reply.kind == "headlines":
        out += [source_line(numbers[line.cites[0]]) for line in reply.lines]
        return out
    for line in reply.lines:
        marks = " ".join(f"`[{n}]`" for n in line.cites)
        out.append(f"{inert(line.text)} {marks}".rstrip() if marks else f"• {inert(line.text)}")
    for section in reply.sections:
        flags = " ".join(flag(c) or c for c in section.countries)
        marks = " ".join(f"`[{n}]`" for n in section.cites)
        out.append(f"\n**{inert(section.heading)}** {marks} {flags}".rstrip())
        if section.note:
            out.append(f"*{inert(section.note)}*")
        out += [f"> {inert(line.text)}" for line in section.lines]
    if reply.sources and reply.kind in ("answer", "digest"):
        out.append(f"\n**{wording.text('replies.sources.heading')}**")
        out += [source_line(s) for s in reply.sources]
    return out


@dataclass
class _Message:
    embeds: list[discord.Embed] = field(default_factory=list)
    total: int = 0


def render(reply: Reply) -> list[list[discord.Embed]]:
    """Messages (each a list of embeds) that together show the whole reply."""
    colour = COLOURS.get(reply.kind, 0x4A5568)
    # A title may echo a question: no markdown is drawn there, but no tricks either.
    title = cut(plain(reply.title), TITLE_LIMIT)
    footer = cut(plain(reply.footer), FOOTER_LIMIT) if reply.footer else ""
    messages: list[_Message] = [_Message()]
    parts: list[str] = []
    # Reserve room for the title and footer in every message's 6,000 budget.
    budget = MESSAGE_TOTAL_LIMIT - len(title) - len(footer)

    def flush() -> None:
        if not parts:
            return
        msg = messages[-1]
        desc = "\n".join(parts).strip("\n")
        if len(msg.embeds) >= EMBEDS_PER_MESSAGE or msg.total + len(desc) > budget:
            messages.append(_Message())
            msg = messages[-1]
        embed = discord.Embed(description=desc, colour=colour)
        if not any(m.embeds for m in messages):
            embed.title = title
        msg.embeds.append(embed)
        msg.total += len(desc)
        parts.clear()

    for block in blocks(reply):
        block = cut(block, min(DESCRIPTION_LIMIT, budget))  # alone in an embed, it still fits
        size = len("\n".join([*parts, block]))
        room = min(DESCRIPTION_LIMIT, budget - messages[-1].total)
        if parts and size > room:
            flush()
        parts.append(block)
    flush()
    if not messages[0].embeds:
        messages[0].embeds.append(discord.Embed(title=title, colour=colour))
    if footer:
        messages[-1].embeds[-1].set_footer(text=footer)
    return [m.embeds for m in messages]
