"""The README's console examples as data: found, run, compared and rewritten.

Used by `tests/test_readme_examples.py`; see its docstring for the rules. Hand-written,
as sqlite-utils' documentation tests are: the few rules of our README's sessions
(`$ ` commands, a trailing `...`, a `[y/N] y` answer) are simpler than any
doctest-style tool's, and the runner must type into a terminal (a pty) for `remove`.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

FENCE = re.compile(r"^```(\w*)\s*$")
# A block right after this comment is shown, not run: `<!-- not run: needs the network -->`.
NOT_RUN = re.compile(r"^<!-- not run: (?P<reason>.+?) -->\s*$")
# What is run: briefbot itself, also at the end of a pipe (`printf '/about\n' | briefbot chat`).
RUNS = re.compile(r"^(?:\.venv/bin/)?briefbot\b|^printf .*\| briefbot\b")
# A question the command asks on the terminal, and the answer typed after it.
ANSWERED = re.compile(r"^(?P<prompt>.*\[y/N\] )(?P<answer>\S+)$")
ELLIPSIS = "..."
# The examples' articles are all dated before 2026, so a date (or date and time) from 2026
# on in their output is the clock of the run: an ingestion time, `corpus as of` an undated
# corpus, a digest's window, `generated`. It compares equal to any other such date.
RUN_CLOCK = re.compile(
    r"\b20(?:2[6-9]|[3-9]\d)-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:[+-]\d\d:\d\d| UTC)?)?"
)
# Which backend `auto` picked depends on the machine's CPU and model cache.
BACKEND = re.compile(r"(all-MiniLM-L6-v2 )\([^)]*\)")
COMMAND_TIMEOUT = 300


@dataclass
class Command:
    line: int  # 0-based line of the `$ ` line in the README
    command: str
    expected: list[str]  # the lines shown after it, up to the next command or the fence


@dataclass
class Block:
    start: int  # 0-based line of the opening fence
    end: int  # 0-based line of the closing fence
    commands: list[Command] = field(default_factory=list)
    skipped: str | None = None  # why it is not run


def blocks(text: str) -> list[Block]:
    """Every fenced block holding `$ ` sessions of briefbot, in order."""
    lines = text.split("\n")
    found: list[Block] = []
    i = 0
    while i < len(lines):
        if not FENCE.match(lines[i]):
            i += 1
            continue
        start = i
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            i += 1
        body = lines[start + 1 : i]
        block = Block(start, i)
        before = lines[start - 1] if start else ""
        if skip := NOT_RUN.match(before):
            block.skipped = skip["reason"]
        for n, line in enumerate(body, start + 1):
            if line.startswith("$ "):
                block.commands.append(Command(n, line[2:].split("  # ")[0].strip(), []))
            elif block.commands:
                block.commands[-1].expected.append(line)
        for command in block.commands:
            while command.expected and not command.expected[-1].strip():
                command.expected.pop()  # a blank line before the next `$` is layout
        block.commands = [c for c in block.commands if RUNS.match(c.command)]
        if block.commands:
            found.append(block)
        i += 1
    return found


def shown(output: str, paths: dict[str, str]) -> list[str]:
    """Output as the README shows it: the run's folders named as a reader's (`/home/me`),
    `\\r` of a terminal taken out, trailing blanks and blank last lines dropped."""
    for real, display in sorted(paths.items(), key=lambda kv: -len(kv[0])):
        output = output.replace(real, display)
    lines = [line.rstrip() for line in output.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def normalised(line: str) -> str:
    """What may differ between two runs of the same example, made the same."""
    return BACKEND.sub(r"\1(<backend>)", RUN_CLOCK.sub("<run clock>", line))


def matches(expected: list[str], actual: list[str]) -> bool:
    """Line by line after `normalised`; a last expected line `...` stands for any lines."""
    if expected and expected[-1].strip() == ELLIPSIS:
        head = expected[:-1]
        return len(actual) >= len(head) and matches(head, actual[: len(head)])
    return [normalised(x) for x in expected] == [normalised(x) for x in actual]


def updated(expected: list[str], actual: list[str]) -> list[str]:
    """The README's new lines for a command: the real output, keeping a trailing `...`
    (and as many lines before it as were shown)."""
    if expected and expected[-1].strip() == ELLIPSIS and len(actual) > len(expected) - 1:
        return [*actual[: len(expected) - 1], expected[-1]]
    return actual


def answer_of(expected: list[str]) -> tuple[str, str] | None:
    """(prompt, typed answer) when the example answers a question on the terminal."""
    for line in expected:
        if m := ANSWERED.match(line):
            return m["prompt"].split("\n")[-1], m["answer"]
    return None


def run(command: str, cwd: Path, env: dict[str, str], answer: tuple[str, str] | None) -> str:
    """stdout and stderr interleaved as a terminal shows them (both unbuffered, one pipe).

    A command that asks gets a terminal for stdin (a pty) and its answer typed when the
    prompt appears; the echo a terminal would show is put into the output there."""
    if answer is None:
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=COMMAND_TIMEOUT,
        )
        return done.stdout.decode("utf-8", "replace")
    prompt, typed = answer
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        ["bash", "-c", command],
        cwd=cwd,
        env=env,
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    os.close(slave)
    assert proc.stdout is not None
    out = b""
    deadline = time.monotonic() + COMMAND_TIMEOUT
    asked = False
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 0.2)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                out += chunk
            if not asked and out.decode("utf-8", "replace").endswith(prompt):
                os.write(master, typed.encode() + b"\n")
                out += typed.encode() + b"\n"  # the terminal's echo
                asked = True
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return out.decode("utf-8", "replace")
