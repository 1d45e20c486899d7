"""Readers for the evaluation collections (Reuters-21578 JSON, BBC News Summary).

The data lives outside the repository; every script takes its path as an argument.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def reuters_stories(folder: Path, files: range | None = None) -> Iterator[dict]:
    """Every story of reut2-NNN.json, in file order."""
    paths = sorted(folder.glob("reut2-*.json"))
    if files is not None:
        paths = [p for p in paths if int(re.findall(r"\d+", p.name)[-1]) in files]
    for path in paths:
        yield from json.loads(path.read_text(encoding="utf-8"))


def write_reuters_jsonl(stories: Iterable[dict], path: Path) -> Path:
    """Stories as the JSONL export briefbot ingests: the fields a Reuters record carries."""
    with path.open("w") as fh:
        for s in stories:
            record = {k: s.get(k) for k in ("title", "body", "date", "dateline")}
            fh.write(json.dumps(record | {"id": s["attrs"]["newid"]}) + "\n")
    return path


def sentence_case(title: str) -> str:
    title = " ".join(title.split())
    return title[:1].upper() + title[1:].lower()


def bbc_pairs(folder: Path, categories: tuple[str, ...] | None = None) -> Iterator[dict]:
    """{category, name, text, summary}: the article (headline first) and its reference summary."""
    for article in sorted((folder / "articles").glob("*/*.txt")):
        category = article.parent.name
        if categories and category not in categories:
            continue
        summary = folder / "summaries" / category / article.name
        yield {
            "category": category,
            "name": f"{category}/{article.stem}",
            "text": article.read_bytes().decode("utf-8", errors="replace"),
            "summary": summary.read_bytes().decode("utf-8", errors="replace"),
        }


def bbc_headline(text: str) -> str:
    return text.strip().split("\n", 1)[0].strip()
