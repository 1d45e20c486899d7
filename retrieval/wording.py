"""The words users read, kept as data in `prompts/*.toml` so they can be changed without code.

A key names a file in `prompts/` and a (dotted) key inside it: `text("replies.abstain.title")`
is `title` in the `[abstain]` table of `prompts/replies.toml`. A value is a `str.format`
template filled from the keyword arguments. A value written as a table `{ one = ..., other =
... }` is a counted form: `one` when the `count` argument is 1, `other` otherwise.

To move more wording here: add the strings to a file in `prompts/` (listing a new file in
FILES) and call `text` with a literal key; `tests/test_wording.py` checks that every key
in the files is used, every key used exists, and every call passes the template's fields.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .paths import PROMPTS_DIR

# The wording files in prompts/ (topics.toml defines topics, not wording).
FILES = ("replies", "digest", "console", "errors", "discord", "cli", "watches")
COUNTED = frozenset({"one", "other"})

Entry = str | dict[str, str]


def text(key: str, /, **fields: Any) -> str:
    """The wording under `key`, its `{fields}` filled in."""
    entry = _entry(key)
    if isinstance(entry, dict):
        entry = entry["one"] if fields.get("count") == 1 else entry["other"]
    try:
        return entry.format(**fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"{_path(key)}: wording {key!r} cannot be filled in: {exc}") from None


def keys() -> dict[str, Entry]:
    """Every key of every wording file, with its value."""
    return {f"{name}.{k}": v for name in FILES for k, v in _load(name).items()}


def _entry(key: str) -> Entry:
    name, _, inner = key.partition(".")
    if name not in FILES:
        raise ConfigError(f"wording {key!r}: no prompts file {name!r} (known: {', '.join(FILES)})")
    try:
        return _load(name)[inner]
    except KeyError:
        raise ConfigError(f"{_path(key)} has no wording {inner!r}") from None


def _path(key: str) -> str:
    return str(PROMPTS_DIR / f"{key.partition('.')[0]}.toml")


@functools.cache
def _load(name: str) -> dict[str, Entry]:
    """One wording file, its nested tables flattened to dotted keys; read once."""
    path = PROMPTS_DIR / f"{name}.toml"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read wording from {path}: {exc}") from None
    return dict(_flatten(raw, "", path))


def _flatten(table: dict[str, Any], prefix: str, path: Path) -> Iterator[tuple[str, Entry]]:
    for k, v in table.items():
        counted = isinstance(v, dict) and set(v) == COUNTED
        if isinstance(v, dict) and not counted:
            yield from _flatten(v, f"{prefix}{k}.", path)
        elif isinstance(v, str) or (counted and all(isinstance(s, str) for s in v.values())):
            yield prefix + k, v
        else:
            raise ConfigError(f"{path}: {prefix}{k} must be text, not {type(v).__name__}")
