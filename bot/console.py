"""`briefbot chat`: a local console speaking the bot's slash commands, rendered with rich.

Reads commands interactively, or one per line from a non-interactive stdin so
it can be scripted: `/ask QUESTION`, `/headlines`, `/about`, `/help`, `/quit`.
"""

from __future__ import annotations

import shlex
import sys
from typing import TextIO

from rich.console import Console
from rich.markup import escape

out = Console(highlight=False, soft_wrap=True)

HELP = """commands:
  /ask QUESTION [--country C] [--topic T] [--since WHEN]   cited answer from the corpus
  /headlines [--country C] [--topic T] [--since WHEN] [--limit N]
  /about                                                   corpus size, dates, model
  /help, /quit
A line without a leading slash is asked as a question."""


def print_ask(result) -> None:
    answer = result.answer
    number = {r.article.id: n for n, r in enumerate(result.articles, 1)}
    if answer.abstained:
        out.print("[bold]Nothing in the corpus answers that[/bold] — closest headlines:")
        for r in result.articles[:3]:
            out.print(f"  • {escape(r.article.title)}")
        return
    for s in answer.sentences:
        out.print(f"{escape(s.text)} [cyan][{number.get(s.article_id, '?')}][/cyan]")
    out.print()
    cited = {s.article_id for s in answer.sentences}
    for r in result.articles:
        if r.article.id in cited:
            out.print(f"[cyan][{number[r.article.id]}][/cyan] {_source_line(r.article)}")


def _source_line(article) -> str:
    bits = [escape(article.title)]
    if article.source:
        bits.append(escape(article.source))
    if article.published:
        bits.append(article.published[:10])
    if article.countries:
        bits.append(" ".join(article.countries))
    line = " — ".join(bits)
    return f"{line} <{escape(article.url)}>" if article.url else line


def print_headlines(articles) -> None:
    if not articles:
        out.print("No matching headlines.")
        return
    for a in articles:
        out.print(f"• {_source_line(a)}")


def _dispatch(corpus, line: str) -> bool:
    from .cli import make_filters

    line = line.strip()
    if not line:
        return True
    if not line.startswith("/"):
        line = "/ask " + line
    command, _, rest = line.partition(" ")
    command = command.lower()
    if command in ("/quit", "/exit"):
        return False
    if command == "/help":
        out.print(HELP)
        return True
    if command == "/about":
        st = corpus.stats()
        out.print(
            f"{st.articles} articles, {st.vectors} sentence vectors;"
            f" published {(st.first_published or '?')[:10]} .. {(st.last_published or '?')[:10]};"
            f" model {st.model}"
        )
        return True
    words, opts = _parse_options(rest)
    filters = make_filters(opts.get("country"), opts.get("topic"), _last(opts.get("since")))
    if command == "/ask":
        if not words:
            out.print("usage: /ask QUESTION")
            return True
        print_ask(corpus.ask(" ".join(words), filters))
    elif command == "/headlines":
        limit = int(_last(opts.get("limit")) or 20)
        print_headlines(corpus.headlines(filters, limit))
    else:
        out.print(f"unknown command {escape(command)}; /help lists them")
    return True


def _last(values: list[str] | None) -> str | None:
    return values[-1] if values else None


def _parse_options(rest: str) -> tuple[list[str], dict[str, list[str]]]:
    """`--name value` and Discord-style `name:value` options; the rest are words."""
    try:
        tokens = shlex.split(rest)
    except ValueError:
        tokens = rest.split()
    words: list[str] = []
    opts: dict[str, list[str]] = {}
    it = iter(tokens)
    for tok in it:
        if tok.startswith("--") and len(tok) > 2:
            opts.setdefault(tok[2:], []).append(next(it, ""))
        elif ":" in tok and tok.split(":", 1)[0] in ("country", "topic", "since", "limit"):
            key, value = tok.split(":", 1)
            opts.setdefault(key, []).append(value)
        else:
            words.append(tok)
    return words, opts


def run_console(corpus, stream: TextIO) -> int:
    from retrieval import BriefbotError

    interactive = stream.isatty()
    if interactive:
        out.print("briefbot console — /help for commands, /quit to leave")
    while True:
        if interactive:
            try:
                line = input("briefbot> ")
            except EOFError:
                break
        else:
            line = stream.readline()
            if not line:
                break
        try:
            if not _dispatch(corpus, line):
                break
        except BriefbotError as exc:
            out.print(f"[red]error:[/red] {escape(str(exc))}")
    if interactive:
        print(file=sys.stderr)
    return 0
