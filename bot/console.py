"""`briefbot chat`: a local console speaking the bot's slash commands, through the same
handlers, rendered as text with rich.

Reads commands interactively, or one per line from a non-interactive stdin so
it can be scripted. Options are written `--country Japan` or Discord-style
`country:Japan`.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.markup import escape

from retrieval import wording

from . import handlers
from .replies import Reply, Source, flag

log = logging.getLogger(__name__)
out = Console(highlight=False, soft_wrap=True)
HISTORY_FILE = "console_history"
HISTORY_LINES = 1000

OPTIONS = ("country", "topic", "since", "limit", "with", "members")
FLAGS = ("members",)  # `--members` alone means yes; `members:no` says otherwise


def _source_line(source: Source) -> str:
    bits = [escape(source.title)]
    if source.outlet:
        bits.append(escape(source.outlet))
    # A citation says when it was published, or honestly that nobody knows.
    bits.append(source.published[:10] if source.published else wording.text("console.undated"))
    if source.countries:
        bits.append(" ".join(f"{flag(c)} {c}".lstrip() for c in source.countries))
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
        if section.note:
            console.print(f"  [italic]{escape(section.note)}[/italic]")
        for line in section.lines:
            console.print(f"  {escape(line.text)}")
        for n in section.cites:  # the section's sources, as the embeds list them
            if n in numbers:
                console.print(f"    [cyan]\\[{n}][/cyan] {_source_line(numbers[n])}")
    if reply.kind == "answer":
        console.print()
        cited = {n for line in reply.lines for n in line.cites}
        for source in reply.sources:
            if source.number in cited:
                console.print(f"[cyan]\\[{source.number}][/cyan] {_source_line(source)}")
    if reply.footer and reply.kind != "headlines":
        console.print(f"[dim]{escape(reply.footer)}[/dim]")


def parse_options(rest: str) -> tuple[list[str], dict[str, list[str]]]:
    """The console's `--name value` / `name:value` options (see `handlers.split_options`)."""
    return handlers.split_options(rest, OPTIONS, FLAGS)


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
    if command == "/show":
        return _show(corpus, rest)
    if command == "/watch":
        from .watch_console import console_watch

        return console_watch(corpus, rest)
    words, opts = parse_options(rest)
    filters = handlers.parse_filters(
        opts.get("country"),
        opts.get("topic"),
        (opts.get("since") or [None])[-1],
        opts.get("with"),
        (opts.get("members") or [False])[-1],
    )
    limit = opts.get("limit")
    if command == "/ask":
        if not words:
            return Reply(kind="error", title=wording.text("console.ask_usage"))
        count = handlers.parse_count(limit[-1], "limit") if limit else 5
        return handlers.ask(corpus, " ".join(words), filters, count)
    if command == "/headlines":
        count = handlers.parse_count(limit[-1], "limit") if limit else 10
        return handlers.headlines(corpus, filters, count)
    if command == "/digest":
        return handlers.digest(corpus, filters)
    return Reply(kind="error", title=wording.text("console.unknown_command", command=command))


def _show(corpus, rest: str) -> Reply:
    """`/show ID`: one article in full, as `briefbot show` prints it."""
    from .show import show_lines

    words = rest.split()
    if len(words) != 1:
        return Reply(kind="error", title=wording.text("console.show_usage"))
    article = corpus.article(handlers.parse_count(words[0], "id", most=2**63 - 1))
    return Reply(
        kind="about",
        title=wording.text("console.show_title", id=article.id),
        notes=show_lines(article),
    )


def answer_line(corpus, line: str) -> Reply | None:
    """`dispatch`, with every failure turned into an error reply: no line ends the session.

    The console's one boundary between a line and the loop, like the bot's `on_error`:
    the project's errors are shown as they are; anything else is a bug, shown in one
    line and logged with its traceback (visible with --debug). KeyboardInterrupt and
    EOFError are not caught here: they mean cancel the line and leave.
    """
    from retrieval import BriefbotError

    try:
        return dispatch(corpus, line)
    except BriefbotError as exc:
        return Reply(kind="error", title=wording.text("console.error", error=exc))
    except Exception as exc:
        log.debug("console line %r failed", line, exc_info=True)
        title = wording.text("console.unexpected", kind=type(exc).__name__, error=exc)
        return Reply(kind="error", title=title)


def run_console(corpus, stream: TextIO, history: Path | None = None) -> int:
    """Read lines until /quit or end of input; each line's reply, or its error, is printed.

    Interactive (a terminal): line editing and history via `readline` (saved to
    `history`), Ctrl-C cancels the current line and Ctrl-D leaves. Piped: one command
    per line, a bad line is reported and the next one runs.
    """
    interactive = stream.isatty()
    _decode_leniently(stream)
    if interactive:
        _start_history(history)
        out.print(wording.text("console.banner"))
    try:
        _loop(corpus, stream, interactive)
    finally:
        if interactive:
            _save_history(history)
    return 0


def _loop(corpus, stream: TextIO, interactive: bool) -> None:
    while True:
        try:
            line = _read_line(stream, interactive)
            if line is None:
                return
            if not line.strip():
                continue
            reply = answer_line(corpus, line)
        except KeyboardInterrupt:
            if not interactive:
                raise  # a script interrupted is stopped, as any command is
            out.print(wording.text("console.cancelled"))
            continue
        if reply is None:
            return
        render(reply)
        if not interactive:
            out.print()


def _read_line(stream: TextIO, interactive: bool) -> str | None:
    """The next line, or None at the end of input (Ctrl-D, or the end of a pipe)."""
    if interactive:
        try:
            return input(wording.text("console.prompt"))
        except EOFError:
            out.print()
            return None
    line = stream.readline()
    return line or None


def _decode_leniently(stream: TextIO) -> None:
    """A line that is not UTF-8 is read with U+FFFD for its bad bytes, not a crash of the
    session (a TextIOWrapper raises UnicodeDecodeError mid-read otherwise)."""
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(errors="replace")
        except (ValueError, OSError):  # a stream already read from cannot change
            log.debug("cannot make %r lenient", stream, exc_info=True)


def _start_history(history: Path | None) -> None:
    """Line editing (arrows, Ctrl-R) and history, where the `readline` module exists."""
    try:
        import readline
    except ImportError:  # Windows without pyreadline: plain input()
        return
    readline.set_history_length(HISTORY_LINES)
    if history is not None:
        with contextlib.suppress(OSError):  # no history yet, or unreadable: start empty
            readline.read_history_file(history)


def _save_history(history: Path | None) -> None:
    try:
        import readline
    except ImportError:
        return
    if history is not None:
        try:
            readline.write_history_file(history)
        except OSError as exc:
            log.warning("cannot save console history to %s: %s", history, exc)
