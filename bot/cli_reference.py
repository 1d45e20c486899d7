"""`docs/cli.md`, the command-line reference, generated from the argument parser.

Every command's and subcommand's `--help`, exactly as argparse prints it at a fixed
width, under one heading each: the parser is the one source of truth and the page is
its copy (the habit of sqlite-utils' cog-generated `cli-reference`), so
`tests/test_docs_cli.py` fails when they drift.

    python -m bot.cli_reference            # print the page
    python -m bot.cli_reference --check    # exit 1 if docs/cli.md differs
    python -m bot.cli_reference --update   # rewrite docs/cli.md

Hand-written, as a page layout only: argparse formats every help text itself (no
Markdown formatter for argparse is installed here, and its own `--help` is what a
user compares the page with); walking the subcommands needs argparse's
`_SubParsersAction`, which has no public accessor.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Iterator
from pathlib import Path

from .cli_parser import build_parser

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "cli.md"
# Wide enough for option help on one line, narrow enough to read in a browser.
WIDTH = 88
HEADER = """\
# briefbot command-line reference

Every command's `--help`, generated from the argument parser (`bot/cli_parser.py`)
by `python -m bot.cli_reference --update`; `tests/test_docs_cli.py` fails when this
page and the parser differ. The README shows each command with real output; the
`--json` shapes are described there too.

Common options (`--data-dir`, `--config`, `--json`, `--debug`) go before or after
the command name. Exit status: 0 success, 1 bad input or a failure explained in one
line, 2 usage error.
"""


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = (), text: str = ""
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str]]:
    """(command words, parser, what it does) for the parser and every subcommand, depth
    first in declaration order; a subcommand without a description has its one-line help."""
    yield path, parser, parser.description or text
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name), helps.get(name, ""))


def _help(parser: argparse.ArgumentParser) -> str:
    """`parser.format_help()` at WIDTH columns, whatever the terminal is."""
    parser.formatter_class = functools.partial(argparse.HelpFormatter, width=WIDTH)
    return parser.format_help().rstrip() + "\n"


def render(parser: argparse.ArgumentParser | None = None) -> str:
    """The whole reference page."""
    parser = parser or build_parser()
    listed = list(commands(parser))
    toc = [f"- [`briefbot {' '.join(w)}`](#{_anchor(w)}): {text}" for w, _, text in listed if w]
    parts = [HEADER, "\n".join(toc) + "\n"]
    for words, sub, text in listed:
        title = " ".join(("briefbot", *words))
        intro = f"{text}\n\n" if words and text else ""
        parts.append(f"## {title}\n\n{intro}```text\n{_help(sub)}```\n")
    return "\n".join(parts)


def _anchor(words: tuple[str, ...]) -> str:
    """GitHub's anchor of the heading `briefbot WORDS`."""
    return "-".join(("briefbot", *words))


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(prog="python -m bot.cli_reference", description=__doc__)
    mode = args.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if docs/cli.md is stale")
    mode.add_argument("--update", action="store_true", help="rewrite docs/cli.md")
    opts = args.parse_args(argv)
    page = render()
    if opts.update:
        REFERENCE.parent.mkdir(exist_ok=True)
        REFERENCE.write_text(page, encoding="utf-8")
        print(f"wrote {REFERENCE.relative_to(ROOT)}", file=sys.stderr)
        return 0
    if opts.check:
        current = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else ""
        if current != page:
            print(f"{REFERENCE.relative_to(ROOT)} is stale: run python -m bot.cli_reference"
                  " --update", file=sys.stderr)  # fmt: skip
            return 1
        return 0
    sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
