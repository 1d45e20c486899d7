"""Draw a `Reply` as Discord messages: embeds within Discord's limits, article text made inert.

Limits (Discord API docs): title 256, description 4,096, footer 2,048 characters;
6,000 characters across all embeds of a message; 10 embeds per message. Text is
added a whole sentence (or source line) at a time, so trimming always happens at
a sentence boundary; a single sentence too long for an embed is cut at a word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

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
    "error": 0xC53030,
}


_MARKDOWN = re.compile(r"([\\*_~|`\[\]()<>])")
_LINE_START = re.compile(r"^(\s*)([#>-]|\d+\.)", re.MULTILINE)


def inert(text: str) -> str:
    """Article text as plain text in Discord: no markdown, no masked links, no pings.

    Every markdown character gets a backslash (Discord shows it literally), line-start
    markers (# > - 1.) too; `escape_mentions` breaks @everyone, @here and <@id>.
    """
    text = _LINE_START.sub(r"\1\\\2", _MARKDOWN.sub(r"\\\1", text))
    return escape_mentions(text)


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
    if source.url and source.url.startswith(("http://", "https://")):
        url = source.url.replace(")", "%29").replace(" ", "%20")
        title = f"[{title}]({url})"
    bits = [f"`[{source.number}]` {title}"]
    meta = [inert(source.outlet)] if source.outlet else []
    if source.published:
        meta.append(source.published[:10])
    if source.countries:
        meta.append(" ".join(flag(c) or c for c in source.countries))  # groupings: no flag
    if meta:
        bits.append(" · ".join(meta))
    return " — ".join(bits)


def blocks(reply: Reply) -> list[str]:
    """The reply's text, in reading order, as the units that may not be split."""
    out = [inert(n) if reply.kind == "abstain" else n for n in reply.notes]
    numbers = {s.number: s for s in reply.sources}
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
    title = cut(reply.title, TITLE_LIMIT)
    footer = cut(reply.footer, FOOTER_LIMIT) if reply.footer else ""
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
        block = cut(block, DESCRIPTION_LIMIT)
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
