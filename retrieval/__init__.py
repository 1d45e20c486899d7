"""briefbot's retrieval library: ingest, index, search, answer, summarise. No Discord here."""

from __future__ import annotations

from .config import Settings, load_settings
from .corpus import AskResult, Corpus, RankedArticle, Stats
from .dates import parse_since
from .digest import Digest, Story, clean_title
from .errors import BriefbotError, ConfigError, InputError, StoreError
from .filters import Filters
from .ingest import IngestReport
from .lifecycle import Removal
from .storage import Article, ArticleStore, Selection

__all__ = [
    "Article",
    "ArticleStore",
    "AskResult",
    "BriefbotError",
    "ConfigError",
    "Corpus",
    "Digest",
    "Filters",
    "IngestReport",
    "InputError",
    "RankedArticle",
    "Removal",
    "Selection",
    "Settings",
    "Stats",
    "StoreError",
    "Story",
    "clean_title",
    "load_settings",
    "parse_since",
]
