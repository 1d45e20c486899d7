"""Articles as the loaders hand them over, and the rules for one record's fields.

`RawArticle` (a record read from a file, feed or page), `Skipped` (a record or file
refused, with why) and `Note` (an oddity worth telling) are what every loader yields.
`make_article`/`from_record` build an article from untrusted fields: types coerced or
refused (never a Python repr), sizes capped, dates read sanely; any failure costs only
that record. The caps and their reasons are in `retrieval.loaders`' docstring.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from .dates import read_date
from .text import clean_body, clean_line, derive_title

FIELDS = {
    "id": ("id",),
    "title": ("title", "headline"),
    "body": ("body", "text", "content"),
    "url": ("url", "link"),
    "published": ("published", "published_at", "date"),
    "source": ("source",),
    "dateline": ("dateline",),
}
# Where an article's publication date came from. Ingestion time is never one, and neither
# is a file's modification time: copying or unpacking a folder resets it, which would make
# an old corpus look published today (the BBC folders unpacked this week).
DATE_SOURCES = ("record", "feed", "page", "text")

# Bounds on one input; see the module docstring for why each is what it is.
MAX_WHOLE_FILE_BYTES = 50_000_000
MAX_STREAMED_FILE_BYTES = 8_000_000_000
MAX_RECORD_BYTES = 16_000_000
MAX_RECORD_VALUES = 1_000_000
MAX_BODY_CHARS = 1_000_000
MAX_TITLE_CHARS = 1_000
MAX_FIELD_CHARS = 4_096
MAX_NUMBER_DIGITS = 600
# csv refuses fields past 128 KB by default; a body may be up to MAX_BODY_CHARS (and more
# before it is cut). The limit is process-wide, so it is only ever raised.
csv.field_size_limit(max(csv.field_size_limit(), MAX_RECORD_BYTES))
_SURROGATE = re.compile(r"[\ud800-\udfff]")


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
    # Where `published` came from (see `DATE_SOURCES`); None when the date is unknown.
    date_source: str | None = None
    # Where a file's record lives (absolute path, `#n` for the record inside it), so
    # re-ingesting an edited file replaces its articles; None for feeds and URLs.
    location: str | None = None
    # Oddities met while reading this record (a date out of range, a body cut short), not
    # yet reported: `load` gives them as `Note`s before the article and clears them;
    # `ingest` reports any left (articles from the feed poller, which bypasses `load`).
    notes: list[str] = field(default_factory=list, compare=False, repr=False)


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
    """Clean one record; derive a title from the body when it has none.

    Never raises for bad input: any failure skips this record alone, named by `origin`.
    """
    try:
        return _make_article(origin, title, body, fields)
    except _WrongType as exc:
        return Skipped(origin, str(exc))
    except MemoryError:
        raise
    except Exception as exc:  # a surprise costs this record only, and is reported by name
        return Skipped(origin, unexpected(exc))


class _WrongType(ValueError):
    """A field whose value cannot stand for its text (a list for a title)."""


def _make_article(origin: str, title: object, body: object, fields: dict) -> RawArticle | Skipped:
    notes: list[str] = []
    title_text = _title(_text("title", title), notes)
    body_text = _body(_text("body", body), notes)
    if not title_text and not body_text:
        return Skipped(origin, "no title or body")
    derived = False
    if not title_text:
        title_text, derived = derive_title(body_text), True
    published, why = read_date(fields.get("published"))
    if why:
        notes.append(f"date unknown: {why}")
    date_source = str(fields.get("date_source") or "record") if published else None
    return RawArticle(
        title=title_text,
        body=body_text,
        origin=origin,
        title_derived=derived,
        url=_optional("url", fields.get("url"), notes, str.strip),
        published=published,
        source=_optional("source", fields.get("source"), notes, clean_line),
        external_id=_optional("id", fields.get("external_id"), notes, str),
        dateline=_optional("dateline", fields.get("dateline"), notes, clean_line),
        date_source=date_source,
        notes=notes,
    )


_KINDS = {"list": "a list", "dict": "an object", "bool": "a boolean", "NoneType": "null"}


def _text(name: str, value: object) -> str:
    """The text a field stands for: a string as it is (lone surrogates replaced), a finite
    number as its decimal text, a body's list of strings as its paragraphs, a source
    object's `name`. Anything else raises `_WrongType`: never a Python repr."""
    if value is None:
        return ""
    if isinstance(value, str):
        return no_surrogates(value)
    if isinstance(value, bool):  # before int: True is an int
        raise _WrongType(f"{name} is a boolean, not text")
    if isinstance(value, int):
        if value.bit_length() > MAX_NUMBER_DIGITS * 3:  # str() refuses past 4,300 digits
            raise _WrongType(f"{name} is a number too large to be text")
        return str(value)
    if isinstance(value, float | Decimal):
        if not math.isfinite(value):
            raise _WrongType(f"{name} is {value}, not text")
        integral = value == int(value) and abs(value) < 2**53
        return str(int(value)) if integral else str(value)
    if name == "body" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n\n".join(no_surrogates(v) for v in value)
    if name == "source" and isinstance(value, dict) and isinstance(value.get("name"), str):
        return no_surrogates(value["name"])  # NewsAPI: {"id": "bbc-news", "name": "BBC News"}
    kind = type(value).__name__
    raise _WrongType(f"{name} is {_KINDS.get(kind, 'a ' + kind)}, not text")


def _title(text: str, notes: list[str]) -> str:
    """A cleaned title, cut at a word to `MAX_TITLE_CHARS` (with a note)."""
    title = clean_line(text[: MAX_TITLE_CHARS * 4]) if text else ""
    if len(title) <= MAX_TITLE_CHARS:
        return title
    cut = title.rfind(" ", 0, MAX_TITLE_CHARS + 1)
    title = title[: cut if cut > MAX_TITLE_CHARS // 2 else MAX_TITLE_CHARS].rstrip()
    notes.append(f"title cut to {len(title):,} characters (the limit is {MAX_TITLE_CHARS:,})")
    return title


def _body(text: str, notes: list[str]) -> str:
    """A cleaned body, cut at a paragraph break to `MAX_BODY_CHARS` (with a note).

    Only a prefix a few times the limit is cleaned: cleaning never lengthens text, so the
    cut falls in it unless the rest is nearly all blank space.
    """
    if not text:
        return ""
    body = clean_body(text[: MAX_BODY_CHARS * 4])
    if len(body) <= MAX_BODY_CHARS and len(text) <= MAX_BODY_CHARS * 4:
        return body
    cut = body.rfind("\n\n", 0, MAX_BODY_CHARS + 1)
    if cut < MAX_BODY_CHARS // 2:  # no paragraph break late enough: at a word, or anywhere
        cut = body.rfind(" ", 0, MAX_BODY_CHARS + 1)
        cut = cut if cut > MAX_BODY_CHARS // 2 else MAX_BODY_CHARS
    body = body[:cut].rstrip()
    notes.append(
        f"body cut to {len(body):,} characters at a paragraph break "
        f"(the limit is {MAX_BODY_CHARS:,}; it had {len(text):,})"
    )
    return body


def _optional(
    name: str, value: object, notes: list[str], clean: Callable[[str], str]
) -> str | None:
    """An optional text field, or None: left out, with a note, when of the wrong type or
    longer than `MAX_FIELD_CHARS` (a cut URL or id would be wrong, not shorter)."""
    if value is None or value == "":
        return None
    try:
        text = _text(name, value)
    except _WrongType as exc:
        notes.append(f"{exc}; left out")
        return None
    if len(text) > MAX_FIELD_CHARS:
        limit = f"the limit is {MAX_FIELD_CHARS:,}"
        notes.append(f"{name} of {len(text):,} characters left out ({limit})")
        return None
    return clean(text) or None


def no_surrogates(text: str) -> str:
    """`text` with lone surrogates (from a JSON `\\ud800` escape, or the undecodable bytes
    of a file name) replaced by U+FFFD: SQLite, JSON output and the console refuse them."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def shown_name(name: object) -> str:
    """A file name or target as notes show it: its non-UTF-8 bytes as U+FFFD."""
    return no_surrogates(str(name))


def unexpected(exc: BaseException) -> str:
    """A reason for an exception no loader expected: its type and message, kept short."""
    try:
        message = str(exc)
    except Exception:  # a broken __str__ must not break the report
        message = ""
    message = no_surrogates(message.split("\n", 1)[0])
    if len(message) > 200:
        message = message[:199] + "…"
    return f"unexpected {type(exc).__name__}" + (f": {message}" if message else "")


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
    """Decode bytes as what their byte-order mark says (UTF-32/16/8), else as UTF-8, or as
    Windows-1252 with a note (never dropped)."""
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            try:
                return raw[len(bom) :].decode(codec), None
            except UnicodeDecodeError as exc:
                why = f"not valid {codec.upper()} (byte {exc.start}); bad bytes read as U+FFFD"
                note = Note(origin, why)
                return raw[len(bom) :].decode(codec, errors="replace"), note
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        note = Note(origin, f"not valid UTF-8 (byte {exc.start}); read as Windows-1252")
        return raw.decode("cp1252", errors="replace"), note


# Longest first: the UTF-32-LE mark begins with the UTF-16-LE one.
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def unreadable(origin: str, exc: OSError) -> Skipped:
    """The one way every loader reports a file it could not read (no traceback)."""
    return Skipped(origin, f"cannot read: {exc.strerror or exc}")
