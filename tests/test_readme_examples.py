"""Every console example in the README runs, and prints what the README shows.

The habit of sqlite-utils' documentation tests: docs and code cannot drift apart.

What runs: each fenced block of the README with `$ ` lines is a session; every `$ briefbot
…` command (also `.venv/bin/briefbot …`, and `printf '…' | briefbot chat`) runs in
README order, in one temporary HOME, so state carries from block to block as it does for
a reader following along: the first command meets an empty data dir (the default,
`~/.local/share/briefbot`) and ingests the bundled seed corpus. HOME holds
`docs/examples/home/` (the files the examples name: `~/news/canada/`, `blocs.json`,
`my.toml`) plus `~/news/canada/chart.txt`, a PNG made here. `briefbot` is the real CLI
of this checkout (`python -m bot.cli`), offline. Lines that follow a command, up to the
next `$` or the fence, are its output: stdout and stderr as a terminal shows them. A
line ending in `[y/N] y` is a question answered by typing: that command gets a terminal
(a pty) and `y` when it asks. A last line `...` stands for the rest of the output.
Not run: other commands (`make …`), and a block right after `<!-- not run: REASON -->`
(what needs the network or a server: at most four, each saying why).

Normalised, on both sides, and only this (`tests/readme_examples.py`):
- the run's folders: the temporary HOME reads `/home/me`, the checkout
  `/home/me/briefbot`;
- the run's clock: the examples' articles are all dated before 2026, so any date or
  date-time from 2026 on (ingested/updated times, `last ingest`, `corpus as of` an
  undated corpus, a digest's window) equals any other;
- the embedding backend `auto` picked (`all-MiniLM-L6-v2 (openvino)`), which depends on
  the CPU and the model cache;
- trailing blanks.

The README's quoted `/ask` embed is Discord's real reply too (`test_the_readme_embed_…`,
on the seed corpus). To rewrite the README's outputs and that quote from a real run
(after changing what commands print):

    BRIEFBOT_UPDATE_README=1 pytest -m "" tests/test_readme_examples.py

then read the diff: it is the documentation's change.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot import embeds, handlers
from bot.cli_parser import UsageError, build_parser
from retrieval import Corpus, Settings
from retrieval.embed import REFERENCE
from tests import readme_examples as rx

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
EXAMPLES = ROOT / "docs" / "examples" / "home"
HOME = "/home/me"
# The 8-byte PNG signature and a header chunk: what `ingest` must skip as "not text".
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")

SAMPLE = """\
Intro.

```console
$ briefbot stats  # a comment
articles     18
$ make test
```

<!-- not run: needs the network -->
```console
$ briefbot sources poll
added 12 articles
```

```
$ printf '/about\\n' | briefbot chat
About briefbot
...
```
"""


def test_blocks_are_found_with_their_outputs() -> None:
    found = rx.blocks(SAMPLE)
    assert [[c.command for c in b.commands] for b in found] == [
        ["briefbot stats"],
        ["briefbot sources poll"],
        ["printf '/about\\n' | briefbot chat"],
    ]
    assert found[0].commands[0].expected == ["articles     18"]  # `make test` is not run
    assert found[1].skipped == "needs the network" and found[0].skipped is None
    assert found[2].commands[0].expected == ["About briefbot", "..."]


@pytest.mark.parametrize(
    ("expected", "actual", "same"),
    [
        (["a", "..."], ["a", "b", "c"], True),
        (["a", "..."], ["b"], False),
        (["a"], ["a", "b"], False),
        (["at 2026-12-02T06:31:39.0114+00:00"], ["at 2027-01-05T10:00:00+00:00"], True),
        (["since 2026-11-24 03:26 UTC"], ["since 2031-02-01 00:00 UTC"], True),
        (["published  2025-04-18T00:00:00+00:00"], ["published  2025-04-19T00:00:00+00:00"], False),
        (["model  all-MiniLM-L6-v2 (openvino)"], ["model  all-MiniLM-L6-v2 (torch)"], True),
        (["added 1"], ["added 2"], False),
    ],
)  # fmt: skip
def test_matching_normalises_only_what_varies(expected, actual, same) -> None:
    assert rx.matches(expected, actual) is same


def test_shown_names_the_run_folders_as_a_reader_s() -> None:
    paths = {"/tmp/x/home": HOME, "/work/checkout": f"{HOME}/briefbot"}
    out = "skipped /tmp/x/home/news/a.txt  \r\n# /work/checkout/config/default.toml\n\n"
    assert rx.shown(out, paths) == [
        "skipped /home/me/news/a.txt",
        "# /home/me/briefbot/config/default.toml",
    ]


def test_update_keeps_a_trailing_ellipsis() -> None:
    assert rx.updated(["x", "..."], ["a", "b", "c"]) == ["a", "..."]
    assert rx.updated(["x"], ["a", "b"]) == ["a", "b"]


def test_every_readme_example_parses() -> None:
    """Fast: each example's options exist (a renamed flag fails here, without a run)."""
    parser = build_parser()
    for block in rx.blocks(README.read_text(encoding="utf-8")):
        for command in block.commands:
            part = next(p for p in command.command.split("|") if "briefbot" in p)
            argv = shlex.split(part)[1:]
            if "--help" in argv or "--version" in argv:
                continue
            try:
                parser.parse_args(argv)
            except UsageError as exc:
                if any("error:" in line for line in command.expected):
                    continue  # an example of a usage error
                raise AssertionError(f"README line {command.line + 1}: {exc}") from None


def test_few_examples_are_not_run_and_each_says_why() -> None:
    skipped = [b for b in rx.blocks(README.read_text(encoding="utf-8")) if b.skipped]
    assert all(b.skipped and b.skipped.strip() for b in skipped)
    assert len(skipped) <= 4, [b.skipped for b in skipped]


def _environment(home: Path, shims: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("BRIEFBOT_", "DISCORD_"))}
    return {
        **keep,
        "HOME": str(home),
        "PATH": f"{shims}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",  # stdout and stderr interleave as on a terminal
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "NO_COLOR": "1",
        # One model cache for the whole test run (conftest sets it), as on a user's machine.
        "BRIEFBOT_MODEL_CACHE": os.environ["BRIEFBOT_MODEL_CACHE"],
    }


def _home(tmp_path: Path) -> tuple[Path, Path]:
    home = tmp_path / "home"
    shutil.copytree(EXAMPLES, home)
    (home / "news" / "canada" / "chart.txt").write_bytes(PNG)
    shims = tmp_path / "bin"
    shims.mkdir()
    shim = shims / "briefbot"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m bot.cli "$@"\n')
    shim.chmod(0o755)
    return home, shims


@pytest.mark.slow  # about 40 commands, each a fresh process that loads the model
def test_readme_examples_print_what_the_readme_shows(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    lines = text.split("\n")
    home, shims = _home(tmp_path)
    env = _environment(home, shims)
    paths = {str(home): HOME, str(ROOT): f"{HOME}/briefbot"}
    update = os.environ.get("BRIEFBOT_UPDATE_README") == "1"
    # The one-time model preparation (and its notice) happens here, not in the first example.
    rx.run(f"briefbot --data-dir {shlex.quote(str(tmp_path / 'warm'))} stats", home, env, None)
    failures: list[str] = []
    replaced: list[tuple[int, int, list[str]]] = []
    for block in rx.blocks(text):
        if block.skipped:
            continue
        for command in block.commands:
            line = command.command.removeprefix(".venv/bin/")
            output = rx.run(line, home, env, rx.answer_of(command.expected))
            actual = rx.shown(output, paths)
            if rx.matches(command.expected, actual):
                continue
            if update:
                first = command.line + 1
                new = rx.updated(command.expected, actual)
                replaced.append((first, first + len(command.expected), new))
                continue
            failures.append(
                f"README line {command.line + 1}: $ {command.command}\n"
                + "--- README\n" + "\n".join(command.expected)
                + "\n--- ran\n" + "\n".join(actual)
            )  # fmt: skip
    if update and replaced:
        for first, last, new in reversed(replaced):
            lines[first:last] = new
        README.write_text("\n".join(lines), encoding="utf-8")
        pytest.skip(f"rewrote {len(replaced)} example outputs in README.md: review the diff")
    assert not failures, (
        f"{len(failures)} README examples differ (BRIEFBOT_UPDATE_README=1 rewrites them):\n\n"
        + "\n\n".join(failures)
    )


EMBED_INTRO = "An example `/ask question: Why is Japan objecting to US tariffs? country: Japan`"


def _quoted_embed(lines: list[str]) -> tuple[int, int]:
    """The README's quoted embed: (first, end) line numbers of its `>` lines."""
    start = next(n for n, line in enumerate(lines) if line.startswith(EMBED_INTRO))
    first = next(n for n in range(start, len(lines)) if lines[n].startswith(">"))
    end = next(n for n in range(first, len(lines)) if not lines[n].startswith(">"))
    return first, end


@pytest.fixture
def reference_seed_corpus(
    seed_settings: Settings, seed_corpus: Corpus, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Corpus]:
    """The seed corpus embedded by the fp32 reference backend. The quote is an exact
    match, and a fast backend, faithful as it is to fp32, can still flip a near-tie at the
    answer's word budget: the quote is pinned to the one backend every machine has,
    whichever one this run's model cache made ready."""
    if seed_settings.embedding.backend == REFERENCE:
        yield seed_corpus
        return
    embedding = replace(seed_settings.embedding, backend=REFERENCE)
    settings = replace(
        seed_settings, data_dir=tmp_path_factory.mktemp("seed-reference"), embedding=embedding
    )
    with Corpus(settings) as corpus:
        corpus.ensure_bundled()
        yield corpus


def test_the_readme_embed_example_is_what_discord_gets(reference_seed_corpus: Corpus) -> None:
    """The quote is the embed drawn for that question: title in bold, the description's
    lines, the footer in italics (the corpus date is the run's clock, as above)."""
    text = README.read_text(encoding="utf-8")
    lines = text.split("\n")
    first, end = _quoted_embed(lines)
    question = "Why is Japan objecting to US tariffs?"
    reply = handlers.ask(reference_seed_corpus, question, handlers.parse_filters(["Japan"]))
    ((embed,),) = embeds.render(reply)
    drawn = [f"**{embed.title}**", *(embed.description or "").split("\n"), f"*{embed.footer.text}*"]
    quoted = [f"> {line}".rstrip() for line in drawn]
    if os.environ.get("BRIEFBOT_UPDATE_README") == "1" and not rx.matches(lines[first:end], quoted):
        lines[first:end] = quoted
        README.write_text("\n".join(lines), encoding="utf-8")
        pytest.skip("rewrote the quoted /ask embed in README.md: review the diff")
    assert rx.matches(lines[first:end], quoted), "\n".join(quoted)
