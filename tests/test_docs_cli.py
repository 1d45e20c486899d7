"""The CLI reference (`docs/cli.md`) is the parser's own `--help`, and stays so.

After changing `bot/cli_parser.py`, regenerate it: `python -m bot.cli_reference --update`.
(The page is argparse's output on the project's Python, 3.11; another version words
usage lines a little differently.)
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from bot import cli_reference
from bot.cli_parser import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = list(cli_reference.commands(build_parser()))


def test_the_reference_is_the_parsers_help() -> None:
    page = cli_reference.REFERENCE.read_text(encoding="utf-8")
    assert page == cli_reference.render(), (
        "docs/cli.md differs from the parser: run `python -m bot.cli_reference --update`"
    )


def test_every_command_and_subcommand_has_a_section() -> None:
    page = cli_reference.REFERENCE.read_text(encoding="utf-8")
    headings = set(re.findall(r"^## (briefbot.*)$", page, re.MULTILINE))
    assert headings == {" ".join(("briefbot", *words)) for words, _, _ in COMMANDS}


@pytest.mark.parametrize(
    "words, parser",
    [pytest.param(w, p, id=" ".join(w)) for w, p, _ in COMMANDS if w],
)
def test_every_command_and_option_is_described(
    words: tuple[str, ...], parser: argparse.ArgumentParser
) -> None:
    described = {" ".join(w): text for w, _, text in COMMANDS}
    assert described[" ".join(words)].strip(), f"briefbot {' '.join(words)} has no description"
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            continue
        assert action.help and action.help != argparse.SUPPRESS, (
            f"briefbot {' '.join(words)}: {action.option_strings or action.dest} has no help"
        )


@pytest.mark.parametrize("name", [w[0] for w, _, _ in COMMANDS if len(w) == 1])
def test_every_command_has_a_readme_example(name: str) -> None:
    """The README is the front door: each command is shown with an example (`run` and
    `start` need Discord or are `chat`: they have a section instead)."""
    example = re.compile(rf"^\$ (?:printf .*\| )?briefbot {name}\b", re.MULTILINE)
    if name in ("run", "start"):
        assert re.search(rf"^### briefbot {name}\b", README, re.MULTILINE), name
    else:
        assert example.search(README), f"no `$ briefbot {name}` example in the README"


def test_the_readme_links_the_reference_in_the_repository() -> None:
    assert "(docs/cli.md)" in README
    assert "../shared" not in README and "cli-contract.md" not in README


def test_update_and_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    target = tmp_path / "docs" / "cli.md"
    monkeypatch.setattr(cli_reference, "REFERENCE", target)
    monkeypatch.setattr(cli_reference, "ROOT", tmp_path)
    assert cli_reference.main(["--check"]) == 1  # missing
    assert cli_reference.main(["--update"]) == 0
    assert target.read_text(encoding="utf-8") == cli_reference.render()
    assert cli_reference.main(["--check"]) == 0
    target.write_text(target.read_text(encoding="utf-8").replace("--limit", "--lim"))
    assert cli_reference.main(["--check"]) == 1
    assert "--update" in capsys.readouterr().err


def test_the_help_does_not_depend_on_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    narrow = cli_reference.render()
    monkeypatch.setenv("COLUMNS", "300")
    assert cli_reference.render() == narrow
