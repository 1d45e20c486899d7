"""Settings: `config/default.toml`, an optional extra TOML layered over it, then the environment.

Settings are plain frozen dataclasses handed down to the parts that need them;
nothing deep inside reads global configuration.
"""

from __future__ import annotations

import codecs
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config_check import build_section, check_sections, say
from .errors import ConfigError
from .paths import DEFAULT_CONFIG, ROOT


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


# Sections that are known but not built into `Settings` here: [data] is read by
# `load_settings`, [discord] by bot/settings.py (which checks it with `build_section`).
OTHER_SECTIONS = ("data", "discord")


def _read_toml(path: Path) -> dict[str, Any]:
    """A TOML file; UTF-8 (a BOM allowed) or UTF-16/32 with a BOM, as Windows editors save."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as exc:
        reason = exc.strerror or exc
        message = say("unreadable", path=path, reason=reason)
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
        where = say("byte", byte=byte, at=exc.start)
        raise ConfigError(say("encoding", path=path, error=where)) from None


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


def load_settings(extra: Path | None = None, data_dir: Path | None = None) -> Settings:
    """Defaults, then `extra`, then BRIEFBOT_* environment variables, then `data_dir`."""
    raw = _read_toml(DEFAULT_CONFIG)
    origins: dict[tuple[str, str], str] = {}
    _record(origins, raw, str(DEFAULT_CONFIG))
    if extra is not None:
        over = _read_toml(Path(extra))
        _record(origins, over, str(extra))
        raw = _merge(raw, over)
    check_sections(raw, origins, [*_SECTIONS, *OTHER_SECTIONS])
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
