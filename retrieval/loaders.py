"""Turn files, folders, exports, feeds and URLs into `RawArticle` records.

Loaders only parse: they never touch the store. Problems with one file or one
record become `Skipped` items (reported, never fatal), and recoverable oddities
such as a non-UTF-8 file become `Note`s beside the articles read from it.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .dates import parse_date
from .text import clean_body, clean_line, derive_title, is_headline_like

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md", ".text"}
JSON_SUFFIXES = {".json"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
CSV_SUFFIXES = {".csv"}
HTML_SUFFIXES = {".html", ".htm"}
FEED_SUFFIXES = {".xml", ".rss", ".atom"}
SUPPORTED = (
    TEXT_SUFFIXES | JSON_SUFFIXES | JSONL_SUFFIXES | CSV_SUFFIXES | HTML_SUFFIXES | FEED_SUFFIXES
)
FIELDS = {
    "id": ("id",),
    "title": ("title", "headline"),
    "body": ("body", "text", "content"),
    "url": ("url", "link"),
    "published": ("published", "published_at", "date"),
    "source": ("source",),
    "dateline": ("dateline",),
}
HEADLINE_LIST_MIN_WORDS = 4
USER_AGENT = "briefbot/0.1 (+https://github.com/briefbot)"
FETCH_TIMEOUT = 20


@dataclass
class RawArticle:
    title: str
    body: str
    origin: str
    title_derived: bool = False
    url: str | None = None
    published: datetime | None = None
    source: str | None = None
    external_id: str | None = None
    dateline: str | None = None


@dataclass(frozen=True)
class Skipped:
    source: str
    reason: str


@dataclass(frozen=True)
class Note:
    source: str
    note: str


Item = RawArticle | Skipped | Note


def make_article(
    origin: str,
    title: object = None,
    body: object = None,
    **fields: object,
) -> RawArticle | Skipped:
    """Clean one record; derive a title from the body when it has none."""
    title_text = clean_line(str(title)) if title not in (None, "") else ""
    body_text = clean_body(str(body)) if body not in (None, "") else ""
    if not title_text and not body_text:
        return Skipped(origin, "no title or body")
    derived = False
    if not title_text:
        title_text, derived = derive_title(body_text), True
    ext = fields.get("external_id")
    return RawArticle(
        title=title_text,
        body=body_text,
        origin=origin,
        title_derived=derived,
        url=str(fields["url"]).strip() or None if fields.get("url") else None,
        published=parse_date(fields.get("published")),
        source=clean_line(str(fields["source"])) or None if fields.get("source") else None,
        external_id=str(ext) if ext not in (None, "") else None,
        dateline=clean_line(str(fields["dateline"])) or None if fields.get("dateline") else None,
    )


def from_record(record: dict, origin: str) -> RawArticle | Skipped:
    """A JSON/CSV record with any of the recognised field names (first present wins)."""
    if not isinstance(record, dict):
        return Skipped(origin, f"expected an object, found {type(record).__name__}")
    lowered = {str(k).lower(): v for k, v in record.items()}

    def pick(name: str) -> object:
        for key in FIELDS[name]:
            if lowered.get(key) not in (None, ""):
                return lowered[key]
        return None

    return make_article(
        origin,
        title=pick("title"),
        body=pick("body"),
        url=pick("url"),
        published=pick("published"),
        source=pick("source"),
        external_id=pick("id"),
        dateline=pick("dateline"),
    )


def read_text(raw: bytes, origin: str) -> tuple[str, Note | None]:
    """Decode bytes as UTF-8, or as Windows-1252 with a note (never dropped)."""
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        note = Note(origin, f"not valid UTF-8 (byte {exc.start}); read as Windows-1252")
        return raw.decode("cp1252", errors="replace"), note


def parse_plain_text(text: str, origin: str) -> Iterator[RawArticle | Skipped]:
    """Plain text: an optional headline line, a body, and blocks of one-line headlines.

    A block of two or more lines that all read like headlines is a list of
    headline-only items (the seed format); everything else is the article body.
    """
    blocks = [b for b in re.split(r"\n[ \t]*\n", text.strip()) if b.strip()]
    if not blocks:
        yield Skipped(origin, "empty file")
        return
    if looks_like_word_list(text):
        yield Skipped(origin, "a list of words (one or two per line), not an article")
        return
    title = None
    first_lines = blocks[0].split("\n")
    rest_after_first = len(first_lines) > 1 or len(blocks) > 1
    first_block_is_list = is_headline_list(first_lines)
    if is_headline_like(first_lines[0]) and rest_after_first and not first_block_is_list:
        title = first_lines[0]
        blocks[0] = "\n".join(first_lines[1:])
    body_blocks, headlines = [], []
    for block in blocks:
        lines = [ln for ln in block.split("\n") if ln.strip()]
        if is_headline_list(lines):
            headlines.extend(lines)
        elif lines:
            body_blocks.append("\n".join(lines))
    if len(blocks) == 1 and len(first_lines) == 1 and title is None:
        headlines, body_blocks = [first_lines[0]], []
    if body_blocks or title:
        yield make_article(origin, title=title, body="\n\n".join(body_blocks))
    for n, line in enumerate(headlines, 1):
        yield make_article(f"{origin}#headline-{n}", title=line)


def is_headline_list(lines: list[str]) -> bool:
    """Two or more lines that all read like headlines, of headline length (4+ words on
    average): a list of labels such as "COCOA" or "Crude Oil (CRUDE)" is not news."""
    lines = [ln for ln in lines if ln.strip()]
    if len(lines) < 2 or not all(map(is_headline_like, lines)):
        return False
    return sum(len(ln.split()) for ln in lines) / len(lines) >= HEADLINE_LIST_MIN_WORDS


def looks_like_word_list(text: str) -> bool:
    """Label or keyword lists shipped beside a corpus (`all-places-strings.lc.txt`):
    many short lines, no sentence punctuation, no headline capitals."""
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    if len(lines) < 20 or re.search(r"[.!?]", text):
        return False
    words_per_line = sum(len(ln.split()) for ln in lines) / len(lines)
    return words_per_line < 3 and not any(map(is_headline_like, lines))


def parse_json(text: str, origin: str) -> Iterator[RawArticle | Skipped]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        yield Skipped(origin, f"invalid JSON: {exc.msg} (line {exc.lineno})")
        return
    if isinstance(data, dict):
        for key in ("articles", "items", "records", "data"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    records = data if isinstance(data, list) else [data]
    for n, record in enumerate(records):
        yield from_record(record, f"{origin}#{n}")


def parse_jsonl(lines: Iterable[str], origin: str) -> Iterator[RawArticle | Skipped]:
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Skipped(f"{origin}#{n}", f"invalid JSON: {exc.msg}")
            continue
        yield from_record(record, f"{origin}#{n}")


def parse_csv(text: str, origin: str) -> Iterator[RawArticle | Skipped]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        yield Skipped(origin, "empty CSV")
        return
    for n, row in enumerate(reader, 2):
        yield from_record(row, f"{origin}#{n}")


def parse_html(text: str, origin: str, url: str | None = None) -> Iterator[RawArticle | Skipped]:
    """Main text and metadata of an article page, via trafilatura."""
    import trafilatura

    doc = trafilatura.bare_extraction(text, url=url, with_metadata=True)
    if doc is None:
        yield Skipped(origin, "no article text found in HTML")
        return
    data = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    yield make_article(
        origin,
        title=data.get("title"),
        body=data.get("text"),
        url=data.get("url") or url,
        published=data.get("date"),
        source=data.get("sitename") or data.get("hostname"),
    )


def parse_feed(raw: bytes | str, origin: str) -> Iterator[RawArticle | Skipped]:
    """RSS/Atom entries via feedparser; the entry's content or summary is the body."""
    import feedparser

    feed = feedparser.parse(raw)
    if not feed.entries:
        reason = (
            f"not a readable feed ({feed.bozo_exception})" if feed.bozo else "feed has no entries"
        )
        yield Skipped(origin, reason)
        return
    outlet = feed.feed.get("title")
    for n, entry in enumerate(feed.entries):
        body = ""
        if entry.get("content"):
            body = entry.content[0].get("value", "")
        body = body or entry.get("summary", "")
        if "<" in body:
            body = _strip_tags(body)
        yield make_article(
            f"{origin}#{n}",
            title=entry.get("title"),
            body=body,
            url=entry.get("link"),
            published=entry.get("published") or entry.get("updated"),
            source=outlet,
            external_id=entry.get("id"),
        )


def _strip_tags(fragment: str) -> str:
    import trafilatura

    text = trafilatura.extract(f"<html><body><div>{fragment}</div></body></html>")
    return text or re.sub(r"<[^>]+>", " ", fragment)


def looks_like_feed(raw: bytes) -> bool:
    head = raw[:2048].lstrip().lower()
    return b"<rss" in head or b"<feed" in head or b"<rdf:rdf" in head


def load_file(path: Path) -> Iterator[Item]:
    origin = str(path)
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        yield from _load_jsonl_file(path)
        return
    try:
        raw = path.read_bytes()
    except OSError as exc:
        yield Skipped(origin, f"cannot read: {exc.strerror or exc}")
        return
    if suffix in FEED_SUFFIXES or (suffix not in TEXT_SUFFIXES and looks_like_feed(raw)):
        yield from parse_feed(raw, origin)
        return
    text, note = read_text(raw, origin)
    if note:
        yield note
    if suffix in JSON_SUFFIXES:
        yield from parse_json(text, origin)
    elif suffix in CSV_SUFFIXES:
        yield from parse_csv(text, origin)
    elif suffix in HTML_SUFFIXES:
        yield from parse_html(text, origin)
    else:
        yield from parse_plain_text(text, origin)


def _load_jsonl_file(path: Path) -> Iterator[Item]:
    """Streamed line by line, so a multi-GB export never sits in memory at once."""
    origin = str(path)
    try:
        fh = path.open("rb")
    except OSError as exc:
        yield Skipped(origin, f"cannot read: {exc.strerror or exc}")
        return
    with fh:
        noted = False

        def lines() -> Iterator[str]:
            nonlocal noted
            for n, raw in enumerate(fh, 1):
                text, note = read_text(raw, f"{origin}#{n}")
                if note and not noted:
                    noted = True
                    log.warning("%s", note.note)
                yield text

        yield from parse_jsonl(lines(), origin)


def load_url(url: str) -> Iterator[Item]:
    """A feed (RSS/Atom) or an article page, told apart by content."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:
            raw = response.read()
            ctype = response.headers.get("Content-Type", "")
    except (OSError, ValueError) as exc:
        yield Skipped(url, f"cannot fetch: {getattr(exc, 'reason', None) or exc}")
        return
    if looks_like_feed(raw) or "rss" in ctype or "atom" in ctype:
        yield from parse_feed(raw, url)
        return
    text, note = read_text(raw, url)
    if note:
        yield note
    yield from parse_html(text, url, url=url)


def expand(target: str) -> Iterator[Path | str | Skipped]:
    """A path, a folder (recursive, sorted, supported files only) or a URL."""
    if re.match(r"^https?://", target, re.IGNORECASE):
        yield target
        return
    path = Path(target).expanduser()
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and p.suffix.lower() in SUPPORTED
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        if not files:
            yield Skipped(target, "folder holds no supported files")
        yield from files
    elif path.is_file():
        yield path
    else:
        yield Skipped(target, "no such file or folder")


def load(targets: Iterable[str]) -> Iterator[Item]:
    """Every item from every target, in order; never raises for bad input."""
    for target in targets:
        for entry in expand(target):
            if isinstance(entry, Skipped):
                yield entry
            elif isinstance(entry, Path):
                yield from load_file(entry)
            else:
                yield from load_url(entry)
