"""Settings: `config/default.toml`, an optional extra TOML layered over it, then the environment.

Settings are plain frozen dataclasses handed down to the parts that need them;
nothing deep inside reads global configuration.
"""

from __future__ import annotations

import os
import tomllib
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
    min_sentences: int = 2
    candidate_sentences: int = 400
    answer_articles: int = 4
    lexical_weight: float = 0.5
    abstain_below: float = 0.48
    mmr_lambda: float = 0.7


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
class Settings:
    data_dir: Path
    corpus: CorpusSettings = field(default_factory=CorpusSettings)
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    index: IndexSettings = field(default_factory=IndexSettings)
    answer: AnswerSettings = field(default_factory=AnswerSettings)
    summary: SummarySettings = field(default_factory=SummarySettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    # Sections the library does not interpret (e.g. [discord]) are kept for the bot.
    raw: dict[str, Any] = field(default_factory=dict)


_SECTIONS = {
    "corpus": CorpusSettings,
    "embedding": EmbeddingSettings,
    "index": IndexSettings,
    "answer": AnswerSettings,
    "summary": SummarySettings,
    "digest": DigestSettings,
    "fetch": FetchSettings,
}


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def build_section(cls: type, values: dict[str, Any], name: str) -> Any:
    """A settings dataclass from one TOML table; unknown keys are an error (typos)."""
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown setting [{name}] {unknown[0]} (known: {', '.join(known)})")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls(**kwargs)


def load_settings(extra: Path | None = None, data_dir: Path | None = None) -> Settings:
    """Defaults, then `extra`, then BRIEFBOT_* environment variables, then `data_dir`."""
    raw = _read_toml(DEFAULT_CONFIG)
    if extra is not None:
        raw = _merge(raw, _read_toml(Path(extra)))
    env_dir = os.environ.get("BRIEFBOT_DATA_DIR")
    chosen = data_dir or (Path(env_dir) if env_dir else Path(raw.get("data", {}).get("dir", ".")))
    if os.environ.get("BRIEFBOT_MODEL_CACHE"):
        raw.setdefault("embedding", {})["cache_dir"] = os.environ["BRIEFBOT_MODEL_CACHE"]
    sections = {
        name: build_section(cls, raw.get(name, {}), name) for name, cls in _SECTIONS.items()
    }
    return Settings(data_dir=chosen.expanduser(), raw=raw, **sections)
