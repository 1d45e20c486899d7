"""Checking configuration values: every TOML key against its settings dataclass.

A typo, a wrong type, a number out of range or a text outside its choices is one
`ConfigError` line naming the file (or environment variable), the key and what is
allowed. `retrieval.config` builds its sections with `build_section`; `bot.settings`
builds [discord] with it too.
"""

from __future__ import annotations

import difflib
import math
import tomllib
import types
import typing
from dataclasses import fields
from typing import Any

from .errors import ConfigError
from .paths import PROMPTS_DIR

# What a configuration error says. Not in prompts/ like the other wording: a broken prompts
# folder could then not even be reported.
MESSAGES = {
    "unreadable": "cannot read config file {path}: {reason}",
    "encoding": "{path}: not UTF-8 text ({error}): save it as UTF-8"
    " (UTF-16 with a byte order mark is read too)",
    "byte": "byte 0x{byte} at offset {at}",
    "unknown_section": "{path}: unknown section [{section}]{hint} (known: {known})",
    "not_table": "{path}: {section} must be a [{section}] table of settings, not a {kind}",
    "unknown_key": "{path}: unknown setting [{section}] {key}{hint} (known: {known})",
    "did_you_mean": "; did you mean {name}?",
    "wrong_type": "{path}: [{section}] {key} must be {expected}, not {value!r}",
    "out_of_range": "{path}: [{section}] {key} = {value!r} is out of range: it must be {allowed}",
    "not_choice": "{path}: [{section}] {key}: {value!r} is not allowed{hint}"
    " (choose from: {allowed})",
    "since": "{path}: [{section}] {key}: {error}",
    "too_far": "that reaches back further than dates go",
    "order": "{path}: [{section}] {low} ({low_value}) is more than {high} ({high_value})",
    "range.between": "from {low} to {high}",
    "range.at_least": "at least {low}",
    "range.above": "more than {low} and at most {high}",
    "types.int": "a whole number",
    "types.float": "a number",
    "types.str": "text (in quotes)",
    "types.bool": "true or false",
    "types.tuple": "a list of texts",
    "types.int_tuple": "a list of whole numbers",
    "types.object": "a value",
}


def say(message: str, /, **fields_: Any) -> str:
    return MESSAGES[message].format(**fields_)


# Bounds of settings, (section, key) -> (low, high, low_excluded); high None is unbounded.
# A number not listed must be >= 0 (no count, size, duration or weight here is negative)
# and fit in 64 bits, as SQLite and the C libraries take it.
RANGES: dict[tuple[str, str], tuple[float, float | None, bool]] = {
    ("embedding", "threads"): (0, 1024, False),
    ("embedding", "batch_size"): (1, 65536, False),
    ("index", "batch_articles"): (1, None, False),
    ("answer", "max_sentences"): (1, None, False),
    ("answer", "min_sentences"): (1, None, False),
    ("answer", "candidate_sentences"): (1, None, False),
    ("answer", "answer_articles"): (1, None, False),
    ("answer", "mmr_lambda"): (0, 1, False),
    # A confidence: 0 answers everything, 1 abstains on everything.
    ("answer", "abstain_below"): (0, 1, False),
    ("answer", "max_words"): (1, None, False),
    ("summary", "ratio"): (0, 1, True),
    ("summary", "min_sentences"): (1, None, False),
    ("summary", "max_sentences"): (1, None, False),
    ("digest", "max_stories"): (1, None, False),
    ("discord", "max_concurrent_queries"): (1, None, False),
    ("discord", "watch_alerts_per_hour"): (1, None, False),
    ("discord", "shard_count"): (0, 65536, False),
}
MAX_INT = 2**63 - 1
# Pairs that must be in order (low <= high) within a section.
ORDERED = (("min_sentences", "max_sentences"),)


def _choices(section: str, key: str) -> tuple[str, ...] | None:
    """The closed set a text setting is chosen from, or None when any text will do."""
    if (section, key) == ("embedding", "backend"):
        from .backends.registry import REGISTRY

        return ("auto", *REGISTRY)
    if (section, key) == ("digest", "when_empty"):
        return ("post", "skip")
    if (section, key) == ("digest", "topics"):
        # The names are topics.toml's tables (read here: retrieval.topics imports this module).
        with (PROMPTS_DIR / "topics.toml").open("rb") as fh:
            return tuple(tomllib.load(fh))
    return None


def _hint(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return say("did_you_mean", name=close[0]) if close else ""


def check_sections(
    raw: dict[str, Any], origins: dict[tuple[str, str], str], known: list[str]
) -> None:
    """Every top-level name is one of the `known` sections and holds a table (a typo like
    [answr])."""
    for section, table in raw.items():
        first = next(iter(table), "") if isinstance(table, dict) else ""
        where = origins.get((section, first)) or origins.get((section, ""), "config")
        if section not in known:
            raise ConfigError(
                say(
                    "unknown_section",
                    path=where,
                    section=section,
                    hint=_hint(section, known),
                    known=", ".join(known),
                )
            )
        if not isinstance(table, dict):
            kind = type(table).__name__
            raise ConfigError(say("not_table", path=where, section=section, kind=kind))


def build_section(
    cls: type, values: dict[str, Any], name: str, origins: dict[tuple[str, str], str] | None = None
) -> Any:
    """A settings dataclass from one TOML table, every value checked against the field's
    type and range: unknown keys (typos), a wrong type, a number out of range or a text
    outside its choices is a ConfigError naming the file, the key and what is allowed.
    `origins` says which file (or environment variable) gave each key."""
    origins = origins or {}
    known = {f.name: f for f in fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        where = origins.get((name, key), "config")
        if key not in known:
            raise ConfigError(
                say(
                    "unknown_key",
                    path=where,
                    section=name,
                    key=key,
                    hint=_hint(key, list(known)),
                    known=", ".join(known),
                )
            )
        kwargs[key] = _check(name, key, value, hints[key], where)
    _check_order(name, kwargs, origins)
    return cls(**kwargs)


def _check(section: str, key: str, value: Any, hint: Any, where: str) -> Any:
    """`value` as the field's type (a list as a tuple, an int as a float), checked."""
    allowed = _allowed_types(hint)
    item = _item_type(hint)

    def wrong() -> ConfigError:
        expected = " or ".join(_type_name(t, item) for t in allowed)
        return ConfigError(
            say(
                "wrong_type",
                path=where,
                section=section,
                key=key,
                expected=expected,
                value=value,
            )
        )

    if isinstance(value, bool):
        if bool not in allowed:
            raise wrong()
        return value
    if isinstance(value, int) and int not in allowed and float in allowed:
        value = float(value)
    if isinstance(value, list) and tuple in allowed:
        if not all(isinstance(v, item) and not isinstance(v, bool) for v in value):
            raise wrong()
        for one in value:
            if item is str:
                _check_choice(section, key, one, where)
            else:
                _check_range(section, key, one, where)
        return tuple(value)
    if not any(isinstance(value, t) for t in allowed if t is not tuple):
        raise wrong()
    if isinstance(value, int | float):
        _check_range(section, key, value, where)
    elif isinstance(value, str):
        _check_choice(section, key, value, where)
        if (section, key) == ("digest", "since"):
            _check_since(section, key, value, where)
    return value


def _type_name(t: type, item: type = str) -> str:
    names = {
        int: say("types.int"),
        float: say("types.float"),
        str: say("types.str"),
        bool: say("types.bool"),
        tuple: say("types.int_tuple" if item is int else "types.tuple"),
    }
    return names.get(t, say("types.object"))


def _item_type(hint: Any) -> type:
    """What a list setting holds: whole numbers for `tuple[int, ...]` (shard ids), else text."""
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    for arm in typing.get_args(hint) if union else (hint,):
        if typing.get_origin(arm) in (tuple, list) and int in typing.get_args(arm):
            return int
    return str


def _allowed_types(hint: Any) -> tuple[type, ...]:
    """The plain types a field's annotation admits (`X | None`: X, TOML having no null)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        arms = [a for a in typing.get_args(hint) if a is not type(None)]
        return tuple(t for arm in arms for t in _allowed_types(arm))
    origin = typing.get_origin(hint)
    if origin in (tuple, list):
        return (tuple,)
    return (hint,) if isinstance(hint, type) else (object,)


def _check_range(section: str, key: str, value: float, where: str) -> None:
    low, high, excluded = RANGES.get((section, key), (0, None, False))
    most = MAX_INT if high is None and isinstance(value, int) else high
    fine = math.isfinite(value) and (value > low if excluded else value >= low)
    if fine and (most is None or value <= most):
        return
    if excluded:
        allowed = say("range.above", low=low, high=high)
    elif high is None and (most is None or value < low):
        allowed = say("range.at_least", low=low)
    else:  # past its high, or past the 64 bits an unbounded int fits in
        allowed = say("range.between", low=low, high=most)
    raise ConfigError(
        say(
            "out_of_range",
            path=where,
            section=section,
            key=key,
            value=value,
            allowed=allowed,
        )
    )


def _check_choice(section: str, key: str, value: str, where: str) -> None:
    choices = _choices(section, key)
    if choices is not None and value not in choices:
        raise ConfigError(
            say(
                "not_choice",
                path=where,
                section=section,
                key=key,
                value=value,
                hint=_hint(value, list(choices)),
                allowed=", ".join(choices),
            )
        )


def _check_since(section: str, key: str, value: str, where: str) -> None:
    from .dates import parse_since
    from .errors import InputError

    try:
        parse_since(value)
    except (InputError, OverflowError, ValueError) as exc:
        readable = isinstance(exc, InputError) and not isinstance(exc, OverflowError)
        error = exc if readable else say("too_far")
        raise ConfigError(say("since", path=where, section=section, key=key, error=error)) from None


def _check_order(section: str, values: dict[str, Any], origins: dict[tuple[str, str], str]) -> None:
    for low, high in ORDERED:
        if low in values and high in values and values[low] > values[high]:
            where = origins.get((section, low), "config")
            raise ConfigError(
                say(
                    "order",
                    path=where,
                    section=section,
                    low=low,
                    high=high,
                    low_value=values[low],
                    high_value=values[high],
                )
            )
