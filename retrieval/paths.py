"""Where the shipped files are: `config/`, `prompts/` and `corpus/`, in a checkout or a wheel."""

from __future__ import annotations

from pathlib import Path


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
