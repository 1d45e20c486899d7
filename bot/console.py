"""`briefbot chat`: a local console speaking the bot's slash commands, through the same
handlers, rendered as text with rich.

Reads commands interactively, or one per line from a non-interactive stdin so
it can be scripted. Options are written `--country Japan` or Discord-style
`country:Japan`.
"""

from __future__ import annotations

import shlex
from typing import TextIO

from rich.console import Console
from rich.markup import escape

from retrieval import wording

from . import handlers
from .replies import Reply, Source, flag

out = Console(highlight=False, soft_wrap=True)

OPTIONS = ("country", "topic", "since", "limit")


def _source_line(source: Source) -> str:
    bits = [escape(source.title)]
    if source.outlet:
        bits.append(escape(source.outlet))
    if source.published:
        bits.append(source.published[:10])
    if source.countries:
        bits.append(" ".join(f"{flag(c)} {c}" for c in source.countries))
    line = " — ".join(bits)
    return f"{line} <{escape(source.url)}>" if source.url else line


def render(reply: Reply, console: Console = out) -> None:
    """Draw a reply as text: the same parts the Discord embed shows, in the same order."""
    if reply.kind in ("abstain", "about", "help", "error"):
        console.print(f"[bold]{escape(reply.title)}[/bold]")
    for note in reply.notes:
        console.print(escape(note))
    numbers = {s.number: s for s in reply.sources}
    if reply.kind == "headlines":
        for line in reply.lines:
            console.print(f"• {_source_line(numbers[line.cites[0]])}")
    else:
        for line in reply.lines:
            marks = " ".join(f"[cyan]\\[{n}][/cyan]" for n in line.cites)
            console.print(
                f"{escape(line.text)} {marks}".rstrip()
                if reply.kind == "answer"
                else f"  • {escape(line.text)}"
            )
    for section in reply.sections:
        marks = " ".join(f"[cyan]\\[{n}][/cyan]" for n in section.cites)
        where = " ".join(section.countries)
        console.print(
            f"\n[bold]{escape(section.heading)}[/bold] {marks} [dim]{where}[/dim]".rstrip()
        )
        for line in section.lines:
            console.print(f"  {escape(line.text)}")
    if reply.kind == "answer":
        console.print()
        cited = {n for line in reply.lines for n in line.cites}
        for source in reply.sources:
            if source.number in cited:
                console.print(f"[cyan]\\[{source.number}][/cyan] {_source_line(source)}")
    if reply.footer and reply.kind != "headlines":
        console.print(f"[dim]{escape(reply.footer)}[/dim]")


def parse_options(rest: str) -> tuple[list[str], dict[str, list[str]]]:
    """`--name value` and Discord-style `name:value` options; the rest are words."""
    try:
        tokens = shlex.split(rest)
    except ValueError:
        tokens = rest.split()
    words: list[str] = []
    opts: dict[str, list[str]] = {}
    it = iter(tokens)
    for tok in it:
        if tok.startswith("--") and tok[2:] in OPTIONS:
            opts.setdefault(tok[2:], []).append(next(it, ""))
        elif ":" in tok and tok.split(":", 1)[0] in OPTIONS:
            key, value = tok.split(":", 1)
            opts.setdefault(key, []).append(value or next(it, ""))
        else:
            words.append(tok)
    return words, opts


def dispatch(corpus, line: str) -> Reply | None:
    """One console line to a reply; None means quit."""
    line = line.strip()
    if not line.startswith("/"):
        line = "/ask " + line
    command, _, rest = line.partition(" ")
    command = command.lower()
    if command in ("/quit", "/exit"):
        return None
    if command == "/help":
        return handlers.help_reply()
    if command == "/about":
        return handlers.about(corpus)
    words, opts = parse_options(rest)
    filters = handlers.parse_filters(
        opts.get("country"), opts.get("topic"), (opts.get("since") or [None])[-1]
    )
    limit = int((opts.get("limit") or ["0"])[-1] or 0)
    if command == "/ask":
        if not words:
            return Reply(kind="error", title=wording.text("console.ask_usage"))
        return handlers.ask(corpus, " ".join(words), filters, limit or 5)
    if command == "/headlines":
        return handlers.headlines(corpus, filters, limit or 10)
    if command == "/digest":
        return handlers.digest(corpus, filters)
    return Reply(kind="error", title=wording.text("console.unknown_command", command=command))


def run_console(corpus, stream: TextIO) -> int:
    from retrieval import BriefbotError

    interactive = stream.isatty()
    if interactive:
        out.print(wording.text("console.banner"))
    while True:
        if interactive:
            try:
                line = input(wording.text("console.prompt"))
            except EOFError:
                break
        else:
            line = stream.readline()
            if not line:
                break
        if not line.strip():
            continue
        try:
            reply = dispatch(corpus, line)
        except (BriefbotError, ValueError) as exc:
            reply = Reply(kind="error", title=wording.text("console.error", error=exc))
        if reply is None:
            break
        render(reply)
        if not interactive:
            out.print()
    return 0
