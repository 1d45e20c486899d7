"""The wording files and the code agree: every key in `prompts/` is used, every key the code
asks for exists, and every call fills in exactly the template's fields.

Calls are found by reading the source (ast), so a key is checked whether or not a test
happens to reach the line; a key the scan cannot read (not a string literal) fails.
"""

from __future__ import annotations

import ast
import importlib.util
import string
from dataclasses import dataclass
from pathlib import Path

import pytest

from retrieval import wording
from retrieval.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "retrieval")
ACCESSOR = "retrieval.wording"


@dataclass(frozen=True)
class Call:
    where: str
    key: str | None  # None: not a string literal
    fields: frozenset[str] | None  # None: the call passes **kwargs


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _accessor_names(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    """How this module spells the accessor: `text`, `wording.text`, or an alias of either."""
    package = module if is_package else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            for alias in node.names:
                if source == ACCESSOR and alias.name == "text":
                    names.add(alias.asname or "text")
                elif f"{source}.{alias.name}" == ACCESSOR:
                    names.add(f"{alias.asname or alias.name}.text")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == ACCESSOR:
                    names.add(f"{alias.asname or ACCESSOR}.text")
    return names


def _calls() -> list[Call]:
    calls = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            names = _accessor_names(tree, _module_name(path), path.name == "__init__.py")
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Call) and ast.unparse(node.func) in names):
                    continue
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                first = node.args[0] if node.args else None
                literal = isinstance(first, ast.Constant) and isinstance(first.value, str)
                kwargs = [k.arg for k in node.keywords]
                calls.append(
                    Call(
                        where,
                        first.value if literal else None,
                        None if None in kwargs else frozenset(kwargs),
                    )
                )
    return calls


def _fields(entry: wording.Entry) -> frozenset[str]:
    """The fields a template needs (a counted form: its `count` and both forms' fields)."""
    templates = list(entry.values()) if isinstance(entry, dict) else [entry]
    found = {
        name.split(".")[0].split("[")[0]
        for template in templates
        for _, name, _, _ in string.Formatter().parse(template)
        if name is not None
    }
    return frozenset(found | ({"count"} if isinstance(entry, dict) else set()))


CALLS = _calls()
KEYS = wording.keys()


def test_the_scan_finds_the_callers():
    """Guards the scan itself: a scan finding nothing would pass every test below."""
    files = {c.where.split(":")[0] for c in CALLS}
    assert {
        "bot/handlers.py",
        "bot/embeds.py",
        "bot/console.py",
        "bot/commands.py",
        "bot/subscriptions.py",
        "bot/cli_corpus.py",
        "bot/cli_json.py",
    } <= files


def test_every_key_is_a_literal():
    assert [c.where for c in CALLS if c.key is None] == []


def test_every_key_used_exists():
    assert [f"{c.where}: {c.key}" for c in CALLS if c.key and c.key not in KEYS] == []


def test_every_key_in_the_files_is_used():
    used = {c.key for c in CALLS}
    assert sorted(set(KEYS) - used) == []


def test_every_call_fills_in_the_templates_fields():
    wrong = [
        f"{c.where}: {c.key} gets {sorted(c.fields)}, needs {sorted(_fields(KEYS[c.key]))}"
        for c in CALLS
        if c.key in KEYS and c.fields is not None and c.fields != _fields(KEYS[c.key])
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("key", "fields", "expected"),
    [
        ("replies.abstain.title", {}, "Nothing in the corpus answers that"),
        (
            "replies.footer.dated",
            {"articles": 3, "as_of": "2025-06-01"},
            "3 articles · corpus as of 2025-06-01",
        ),
        ("digest.stories", {"count": 1}, "1 story"),
        ("digest.stories", {"count": 2}, "2 stories"),
        ("digest.articles", {"count": 0}, "0 articles"),
        ("console.prompt", {}, "briefbot> "),
        ("errors.topic.unknown", {"topic": "x", "hint": "h"}, "unknown topic 'x': h"),
        (
            "discord.errors.too_fast",
            {"seconds": 12.6},
            "You're asking too fast — try again in 13s.",
        ),
        ("cli.batch.not_object", {"line": 4}, "line 4: expected a JSON object"),
    ],
)
def test_text_fills_in_templates(key: str, fields: dict, expected: str):
    assert wording.text(key, **fields) == expected


@pytest.mark.parametrize(
    ("key", "fields", "message"),
    [
        ("replies.nope", {}, "has no wording 'nope'"),
        ("nofile.key", {}, "no prompts file 'nofile'"),
        ("replies.footer.dated", {"articles": 3}, "cannot be filled in"),
    ],
)
def test_text_says_what_is_wrong(key: str, fields: dict, message: str):
    with pytest.raises(ConfigError, match=message):
        wording.text(key, **fields)


def test_a_value_that_is_not_text_is_a_config_error(tmp_path: Path, monkeypatch):
    (tmp_path / "replies.toml").write_text("[abstain]\ntitle = 3\n", encoding="utf-8")
    monkeypatch.setattr(wording, "PROMPTS_DIR", tmp_path)
    wording._load.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r"abstain\.title must be text, not int"):
            wording.text("replies.abstain.title")
    finally:
        wording._load.cache_clear()
