"""Settings: `config/default.toml`, an optional extra TOML layered over it, then the environment.

Settings are plain frozen dataclasses handed down to the parts that need them;
nothing deep inside reads global configuration.
"""

from __future__ import annotations

import codecs
import difflib
import math
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError


def _shipped_root() -> Path:
    """The folder holding `config/`, `prompts/` and `corpus/`.

    An installed wheel carries a copy of them in `retrieval/data/` (see pyproject.toml);
    a checkout or an editable install has only the top-level folders people edit.
    Plain paths suffice: pip installs wheels unpacked, and ingest walks `corpus/`.
    """
    packaged = Path(__file__).resolve().parent / "data"
    return packaged if (packaged / "config").is_dir() else packaged.parent.parent


ROOT = _shipped_root()
CONFIG_DIR = ROOT / "config"
PROMPTS_DIR = ROOT / "prompts"
DEFAULT_CONFIG = CONFIG_DIR / "default.toml"


@dataclass(frozen=True)
class CorpusSettings:
    bundled: tuple[str, ...] = ("corpus",)
    auto_ingest: bool = True

    def bundled_paths(self) -> list[Path]:
        """`bundled` as paths; relative ones are relative to ROOT (see config/default.toml)."""
        return [p if p.is_absolute() else ROOT / p for p in map(Path, self.bundled)]


@dataclass(frozen=True)
class EmbeddingSettings:
    backend: str = "auto"
    batch_size: int = 32
    threads: int = 0
    cache_dir: str = ""


@dataclass(frozen=True)
class IndexSettings:
    batch_articles: int = 1024
    exact_max_vectors: int = 250_000


@dataclass(frozen=True)
class AnswerSettings:
    max_sentences: int = 5
    min_sentences: int = 1
    candidate_sentences: int = 400
    answer_articles: int = 1
    lexical_weight: float = 0.5
    abstain_below: float = 0.42
    mmr_lambda: float = 0.7
    max_words: int = 65


@dataclass(frozen=True)
class SummarySettings:
    ratio: float = 0.3
    min_sentences: int = 2
    max_sentences: int = 5


@dataclass(frozen=True)
class DigestSettings:
    topics: tuple[str, ...] = ("trade", "geopolitics")
    since: str = "24h"
    max_stories: int = 15
    grace_hours: float = 6.0
    when_empty: str = "post"


@dataclass(frozen=True)
class FetchSettings:
    """How far outbound fetches may reach (see `retrieval.fetch`); from config only, never
    from anything a command or a Discord user passes."""

    allow_private: bool = False

    def __post_init__(self) -> None:
        # A string such as "false" would be truthy and open the gate: only a TOML boolean.
        if not isinstance(self.allow_private, bool):
            raise ConfigError(
                f"[fetch] allow_private must be true or false, not {self.allow_private!r}"
            )


@dataclass(frozen=True)
class StoreSettings:
    """[store]: which storage engine holds the corpus (see `retrieval.engines`)."""

    # "" is the embedded default (SQLite + FAISS in the data dir); a postgresql:// URL
    # is the PostgreSQL engine. Overridden by BRIEFBOT_STORE_URL.
    url: str = ""

    def __post_init__(self) -> None:
        if self.url and not self.url.startswith(("postgresql://", "postgres://")):
            raise ConfigError(
                "[store] url must be empty (the embedded SQLite store) or a"
                f" postgresql:// URL, not {self.url.split('://')[0]!r}"
            )


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    corpus: CorpusSettings = field(default_factory=CorpusSettings)
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    index: IndexSettings = field(default_factory=IndexSettings)
    answer: AnswerSettings = field(default_factory=AnswerSettings)
    summary: SummarySettings = field(default_factory=SummarySettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    data: DataSettings = field(default_factory=lambda: DataSettings())
    # Sections the library does not interpret (e.g. [discord]) are kept for the bot.
    raw: dict[str, Any] = field(default_factory=dict)
    # Where each (section, key) given in a file or the environment came from.
    origins: dict[tuple[str, str], str] = field(default_factory=dict)


@dataclass(frozen=True)
class DataSettings:
    """[data]: read by `load_settings` itself (the data dir), checked like the others."""

    dir: str = "."
    # How long a writing command waits for another writer of the data dir (retrieval/lock.py).
    writer_wait_seconds: float = 10.0


_SECTIONS = {
    "corpus": CorpusSettings,
    "embedding": EmbeddingSettings,
    "index": IndexSettings,
    "answer": AnswerSettings,
    "summary": SummarySettings,
    "digest": DigestSettings,
    "fetch": FetchSettings,
    "store": StoreSettings,
}


# What a configuration error says. Not in prompts/ like the other wording: `wording` reads
# PROMPTS_DIR from this module, so reading it here would be an import cycle (and a broken
# prompts folder could then not even be reported).
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


def _say(message: str, /, **fields_: Any) -> str:
    return MESSAGES[message].format(**fields_)


# Sections that are known but not built into `Settings` here: [data] is read by
# `load_settings`, [discord] by bot/settings.py (which checks it with `build_section`).
OTHER_SECTIONS = ("data", "discord")
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


def _read_toml(path: Path) -> dict[str, Any]:
    """A TOML file; UTF-8 (a BOM allowed) or UTF-16/32 with a BOM, as Windows editors save."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as exc:
        reason = exc.strerror or exc
        message = _say("unreadable", path=path, reason=reason)
        raise ConfigError(message) from None
    try:
        return tomllib.loads(_decode(raw, path))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _decode(raw: bytes, path: Path) -> str:
    # UTF-32's little-endian BOM starts with UTF-16's: test the longer ones first.
    boms = (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    )
    encoding = next((enc for bom, enc in boms if raw.startswith(bom)), "utf-8")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        byte = raw[exc.start : exc.start + 1].hex()
        where = _say("byte", byte=byte, at=exc.start)
        raise ConfigError(_say("encoding", path=path, error=where)) from None


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _record(origins: dict[tuple[str, str], str], raw: dict[str, Any], where: str) -> None:
    for section, table in raw.items():
        if isinstance(table, dict):
            for key in table:
                origins[(section, key)] = where
        else:
            origins[(section, "")] = where


def _hint(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return _say("did_you_mean", name=close[0]) if close else ""


def check_sections(raw: dict[str, Any], origins: dict[tuple[str, str], str]) -> None:
    """Every top-level name is a known section holding a table (a typo like [answr])."""
    known = [*_SECTIONS, *OTHER_SECTIONS]
    for section, table in raw.items():
        first = next(iter(table), "") if isinstance(table, dict) else ""
        where = origins.get((section, first)) or origins.get((section, ""), "config")
        if section not in known:
            raise ConfigError(
                _say(
                    "unknown_section",
                    path=where,
                    section=section,
                    hint=_hint(section, known),
                    known=", ".join(known),
                )
            )
        if not isinstance(table, dict):
            kind = type(table).__name__
            raise ConfigError(_say("not_table", path=where, section=section, kind=kind))


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
                _say(
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
            _say(
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
        int: _say("types.int"),
        float: _say("types.float"),
        str: _say("types.str"),
        bool: _say("types.bool"),
        tuple: _say("types.int_tuple" if item is int else "types.tuple"),
    }
    return names.get(t, _say("types.object"))


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
        allowed = _say("range.above", low=low, high=high)
    elif high is None and (most is None or value < low):
        allowed = _say("range.at_least", low=low)
    else:  # past its high, or past the 64 bits an unbounded int fits in
        allowed = _say("range.between", low=low, high=most)
    raise ConfigError(
        _say(
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
            _say(
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
        error = exc if readable else _say("too_far")
        raise ConfigError(
            _say("since", path=where, section=section, key=key, error=error)
        ) from None


def _check_order(section: str, values: dict[str, Any], origins: dict[tuple[str, str], str]) -> None:
    for low, high in ORDERED:
        if low in values and high in values and values[low] > values[high]:
            where = origins.get((section, low), "config")
            raise ConfigError(
                _say(
                    "order",
                    path=where,
                    section=section,
                    low=low,
                    high=high,
                    low_value=values[low],
                    high_value=values[high],
                )
            )


def load_settings(extra: Path | None = None, data_dir: Path | None = None) -> Settings:
    """Defaults, then `extra`, then BRIEFBOT_* environment variables, then `data_dir`."""
    raw = _read_toml(DEFAULT_CONFIG)
    origins: dict[tuple[str, str], str] = {}
    _record(origins, raw, str(DEFAULT_CONFIG))
    if extra is not None:
        over = _read_toml(Path(extra))
        _record(origins, over, str(extra))
        raw = _merge(raw, over)
    check_sections(raw, origins)
    data = build_section(DataSettings, raw.get("data", {}), "data", origins)
    env_dir = os.environ.get("BRIEFBOT_DATA_DIR")
    if data_dir:
        origins[("data", "dir")] = "--data-dir"
    elif env_dir:
        origins[("data", "dir")] = "$BRIEFBOT_DATA_DIR"
    chosen = data_dir or (Path(env_dir) if env_dir else Path(data.dir))
    if os.environ.get("BRIEFBOT_MODEL_CACHE"):
        raw.setdefault("embedding", {})["cache_dir"] = os.environ["BRIEFBOT_MODEL_CACHE"]
        origins[("embedding", "cache_dir")] = "$BRIEFBOT_MODEL_CACHE"
    if os.environ.get("BRIEFBOT_STORE_URL"):
        raw.setdefault("store", {})["url"] = os.environ["BRIEFBOT_STORE_URL"]
        origins[("store", "url")] = "$BRIEFBOT_STORE_URL"
    sections = {
        name: build_section(cls, raw.get(name, {}), name, origins)
        for name, cls in _SECTIONS.items()
    }
    return Settings(data_dir=chosen.expanduser(), raw=raw, origins=origins, data=data, **sections)
