"""Turn files, folders, exports, feeds and URLs into `RawArticle` records.

Loaders only parse: they never touch the store. Problems with one file or one
record become `Skipped` items (reported, never fatal), and recoverable oddities
such as a non-UTF-8 file become `Note`s beside the articles read from it.

What bad input costs, and the bounds that keep one file from degrading the store:

- **A bad record costs only itself, a bad file only itself.** `make_article` turns any
  exception into a `Skipped` for that record; `load` does the same for each file, URL
  and command-line target, keeping what was read before the failure. The reason names
  the exception's type and message, so a bug is reported, not hidden. MemoryError,
  KeyboardInterrupt and SystemExit are never caught.
- **Fields of the wrong type** are never stored as Python reprs. A number given for a
  text field is its decimal text (an `id` of 17 is "17"); a `body` that is a list of
  strings is its paragraphs; a `source` object with a `name` (NewsAPI) is that name.
  Otherwise a wrong `title` or `body` skips the record, and a wrong `id`, `url`,
  `source` or `dateline` is left out with a note. A date that is not one, or is out of
  the sane range (see `dates`), is unknown, with a note.
- **File sizes.** Files parsed whole (plain text, HTML, RSS/Atom) are refused above
  `MAX_WHOLE_FILE_BYTES` (50 MB: a long book is 5 MB; a bigger "article" is a dump, and
  its parse holds it in memory several times over). Streamed exports (.json, .jsonl,
  .csv), read record by record in flat memory, are refused above
  `MAX_STREAMED_FILE_BYTES` (8 GB, past the largest public news dumps in one file).
- **Field sizes.** A body is cut at a paragraph break to `MAX_BODY_CHARS` (1 M
  characters, a 500-page book), a title at a word to `MAX_TITLE_CHARS`, with a note;
  an `id`, `url`, `source` or `dateline` over `MAX_FIELD_CHARS` is left out. A number
  of `MAX_NUMBER_DIGITS` or more characters is read as null, with a note (Python
  refuses to convert ints past 4,300 digits, and ijson's C backend crashes on them).
  A JSONL line, a CSV line or a JSON string over `MAX_RECORD_BYTES` (16 MB) ends that
  file (CSV, JSON: where the next record starts is then unknown) or skips that line
  (JSONL); a JSON record of more than `MAX_RECORD_VALUES` values is skipped.
- **Names.** Origins are shown with `shown_name`: bytes of a file name that are not
  UTF-8 (which Python carries as lone surrogates) appear as U+FFFD, so every note can
  be printed, stored and written as JSON.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import os
import re
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

import ijson

from .dates import read_date
from .fetch import FetchError, fetch, guard_url
from .text import clean_body, clean_line, derive_title, is_headline_like

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
# An object holding its records in a list under one of these keys (first present wins).
WRAPPER_KEYS = ("articles", "items", "records", "data")
HEADLINE_LIST_MIN_WORDS = 4
JSON_CHUNK = 64 * 1024

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


# --- JSON and JSONL ----------------------------------------------------------------------
# A record nested deeper than this is refused unbuilt. News records are flat; a hostile
# file nested 100,000 deep must neither build 100,000 containers nor make the str() of a
# field recurse that deep.
MAX_DEPTH = 64
_TOO_DEEP = object()  # stands for a record refused for its depth
_TOO_LARGE = object()  # stands for a record refused for its number of values


def parse_json(text: str, origin: str) -> Iterator[Item]:
    """A JSON document held as text; see `parse_json_stream`."""
    yield from parse_json_stream(io.BytesIO(text.encode("utf-8")), origin)


def parse_json_stream(fh: BinaryIO, origin: str) -> Iterator[Item]:
    """Records of a JSON document read from a seekable binary file, streamed with ijson.

    Accepted shapes: a list of records; an object holding its list of records under one
    of `WRAPPER_KEYS`; any other value is one record. Records are built one at a time, so
    a multi-GB export never sits in memory at once. What bad input costs:

    - a record of the wrong shape (not an object, no title or body) or nested deeper than
      `MAX_DEPTH` is skipped alone (origin `file#n`), and reading goes on;
    - a syntax error ends the file, as a streaming parser cannot find where the next
      record starts: the records before it are kept, then one `Skipped` says after which
      record it stopped and why;
    - Python's non-standard `NaN` and `Infinity` (which `json.dump` writes), and numbers
      of `MAX_NUMBER_DIGITS` or more characters or an exponent past 15 digits (which
      Python or ijson cannot hold), are read as null, with a note. The strict parser
      stops at them (for numbers, a cheap scan stops it before ijson sees one), so a file
      that fails is read once more from its start with them replaced (slower, so only
      then), the records already given skipped;
    - a string or run of input over `MAX_RECORD_BYTES` without a quote ends the file like
      a syntax error, and a record of more than `MAX_RECORD_VALUES` values is skipped
      unbuilt, so one record cannot fill memory.
    """
    read = _JSONRead(origin)
    fault: Exception | None = None
    for lenient in (False, True):
        try:
            yield from read.records(fh, lenient)
            return
        except OSError as exc:
            yield from read.take_notes()
            yield _unreadable(origin, exc)
            return
        except _RunTooLong as exc:
            fault = exc
            break  # the lenient pass would meet it too
        except MemoryError:
            raise
        except Exception as exc:  # ijson.JSONError, or what a C parser raises for odd input
            fault = exc
        yield from read.take_notes()
    what = _json_fault(fault)
    if read.given:
        where = f"after record #{read.given - 1}"
        yield Skipped(origin, f"invalid JSON {where}: {what}; the rest of the file was not read")
    else:
        yield Skipped(origin, f"invalid JSON: {what}")


@dataclass
class _JSONRead:
    """One .json file's reading, shared by its strict and its lenient pass."""

    origin: str
    given: int = 0  # records already yielded, counted by position
    place: list[str | None] = field(default_factory=list)  # where the records are
    pending: list[Note] = field(default_factory=list)
    noted: set[Note] = field(default_factory=set)

    def records(self, fh: BinaryIO, lenient: bool) -> Iterator[Item]:
        if not self.given:  # else keep the list records came from, whatever a new look says
            self.place = _records_place(self._events(fh, lenient), lenient)
        for n, value in enumerate(_values(self._events(fh, lenient), self.place)):
            yield from self.take_notes()
            if n >= self.given:
                yield _record(value, f"{self.origin}#{n}")
                self.given = n + 1
        yield from self.take_notes()

    def _events(self, fh: BinaryIO, lenient: bool) -> Iterator[tuple[str, object]]:
        fh.seek(0)
        chunks = _bounded_runs(_utf8_chunks(fh, self.note))
        chunks = _nonstandard_as_null(chunks, self.note) if lenient else _no_long_numbers(chunks)
        return _ijson_events(chunks)

    def note(self, text: str) -> None:
        note = Note(self.origin, text)
        if note not in self.noted:
            self.noted.add(note)
            self.pending.append(note)

    def take_notes(self) -> Iterator[Note]:
        while self.pending:
            yield self.pending.pop(0)


def _record(value: object, origin: str) -> RawArticle | Skipped:
    if value is _TOO_DEEP:
        return Skipped(origin, f"nested deeper than {MAX_DEPTH} levels")
    if value is _TOO_LARGE:
        return Skipped(origin, f"more than {MAX_RECORD_VALUES:,} values in one record")
    return from_record(value, origin)  # type: ignore[arg-type]  # it reports a non-object


def _records_place(events: Iterable[tuple[str, object]], lenient: bool) -> list[str | None]:
    """Where the records are, as ijson's prefix split on dots: ["item"] for a list,
    [key, "item"] for an object with a list under one of `WRAPPER_KEYS`, [] for any other
    value (one record).

    A list is known from its first event. An object is read to its end (events only,
    nothing built) unless an `articles` list, which outranks the others, comes first. A
    fault midway raises in the strict pass; the lenient pass settles for the lists seen.
    """
    depth, key, lists = 0, None, set()
    try:
        for event, value in events:
            if depth == 0 and event != "start_map":
                return ["item"] if event == "start_array" else []
            if depth == 1 and event == "map_key":
                key = value
            elif depth == 1 and key in WRAPPER_KEYS and event != "end_map":
                if event == "start_array" and key == WRAPPER_KEYS[0]:
                    return [key, "item"]
                (lists.add if event == "start_array" else lists.discard)(key)
            if event in ("start_map", "start_array"):
                depth += 1
            elif event in ("end_map", "end_array"):
                depth -= 1
    except ijson.JSONError:
        if not lenient:
            raise
    key = next((k for k in WRAPPER_KEYS if k in lists), None)
    return [key, "item"] if key else []


def _values(events: Iterable[tuple[str, object]], place: list[str | None]) -> Iterator[object]:
    """Each value at `place`, built whole by ijson's ObjectBuilder, or `_TOO_DEEP` (and not
    built past `MAX_DEPTH`) for one nested deeper. Depth is counted from the events, so a
    deep file costs neither recursion nor memory."""
    path: list[str | None] = []  # outside a record: the key or "item" at each level
    builder, depth = None, 0  # inside a record: its builder (None once refused), its depth
    refused, size = _TOO_DEEP, 0  # why the record in hand was refused; its events so far
    for event, raw in events:
        value = float(raw) if type(raw) is Decimal else raw  # as json.load gives numbers
        if depth:
            size += 1
            if event in ("start_map", "start_array"):
                depth += 1
            elif event in ("end_map", "end_array"):
                depth -= 1
            if builder is not None and (depth > MAX_DEPTH or size > MAX_RECORD_VALUES):
                builder, refused = None, _TOO_DEEP if depth > MAX_DEPTH else _TOO_LARGE
            elif builder is not None:
                builder.event(event, value)
            if not depth:
                yield refused if builder is None else builder.value
        elif event == "map_key":
            path[-1] = value  # type: ignore[assignment]
        elif event in ("end_map", "end_array"):
            path.pop()
        elif path == place:
            if event in ("start_map", "start_array"):
                builder, depth, size = ijson.ObjectBuilder(), 1, 0
                builder.event(event, value)
            else:
                yield value
        elif event in ("start_map", "start_array"):
            path.append("item" if event == "start_array" else None)


def _ijson_events(chunks: Iterable[bytes]) -> Iterator[tuple[str, object]]:
    """ijson's parse events for `chunks`, yielded as each chunk is parsed."""
    out = ijson.sendable_list()
    coro = ijson.basic_parse_coro(out)
    try:
        for chunk in chunks:
            coro.send(chunk)
            yield from out
            del out[:]
        coro.close()
    except ijson.JSONError:
        yield from out  # what was complete before a fault in the same chunk still counts
        raise
    yield from out


def _json_fault(error: Exception | None) -> str:
    """ijson's message, its first line: yajl adds the text around the fault on the next.
    Any other exception is named by its type, as `unexpected` does."""
    if error is not None and not isinstance(error, ijson.JSONError | _RunTooLong):
        return unexpected(error)
    text = error.args[0] if error is not None and error.args else error
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return text.split("\n", 1)[0].strip().rstrip(".")


def _utf8_chunks(fh: BinaryIO, note: Callable[[str], None]) -> Iterator[bytes]:
    """`fh` as it is when it is valid UTF-8 (a BOM dropped); else read as Windows-1252
    from the first invalid byte on, with a note (as `read_text` does for a whole file)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, cp1252, first = 0, False, True
    while True:
        raw = fh.read(JSON_CHUNK)
        while first and 0 < len(raw) < len(codecs.BOM_UTF8) and (more := fh.read(JSON_CHUNK)):
            raw += more  # enough to tell a BOM
        eof = not raw
        if first and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        first = False
        if cp1252:
            text = raw.decode("cp1252", errors="replace")
        else:
            held = len(decoder.getstate()[0])  # an incomplete character from the last chunk
            try:
                text = decoder.decode(raw, final=eof)
            except UnicodeDecodeError as exc:
                note(f"not valid UTF-8 (byte {offset - held + exc.start}); read as Windows-1252")
                good = exc.object[: exc.start].decode("utf-8")
                text = good + exc.object[exc.start :].decode("cp1252", errors="replace")
                cp1252 = True
        offset += len(raw)
        if text:
            yield text.encode("utf-8")
        if eof:
            return


class _RunTooLong(ValueError):
    """Input past `MAX_RECORD_BYTES` with no place a record could end in it."""


class _LongNumber(ValueError):
    """A number the strict pass must not hand to ijson (see `_no_long_numbers`)."""


def _bounded_runs(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """`chunks`, refusing a stretch of more than `MAX_RECORD_BYTES` without a double quote:
    ijson would hold a string that long whole, however long it grew. (Counted over raw
    bytes, so an escaped quote counts as one; a huge string of them is still bounded by
    the record size check in `_values`.)"""
    since_quote = 0
    for chunk in chunks:
        last = chunk.rfind(b'"')
        since_quote = len(chunk) - last - 1 if last >= 0 else since_quote + len(chunk)
        if since_quote > MAX_RECORD_BYTES:
            raise _RunTooLong(f"more than {MAX_RECORD_BYTES:,} bytes in one string or value")
        yield chunk


# Digits in a run that long, or an exponent that long, anywhere in the input. The
# lookbehind makes a long run of digits cost one attempt, not one per digit.
_LONG_NUMBER = re.compile(rb"(?<![0-9])[0-9]{%d}|[eE][+-]?[0-9]{16}" % MAX_NUMBER_DIGITS)


def _no_long_numbers(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """`chunks`, raising `_LongNumber` before ijson is given a chunk holding a number it
    cannot take: its C backend crashes the interpreter on an integer past Python's 4,300
    digits and raises on an exponent past 18. Digits inside strings stop it too; the
    lenient pass, which knows strings from numbers, then reads the file."""
    tail = b""
    for chunk in chunks:
        if _LONG_NUMBER.search(tail + chunk):
            raise _LongNumber("a number too long to read")
        tail = (tail + chunk)[-(MAX_NUMBER_DIGITS + 1) :]  # a run may span many small chunks
        yield chunk


_OUTSIDE_STRING = re.compile(rb'"|NaN|-?Infinity|-?[0-9][0-9.eE+-]*')
_STRING_BODY = re.compile(rb'(?:[^"\\]|\\.)*', re.DOTALL)
_NONSTANDARD = (b"NaN", b"Infinity", b"-Infinity")
_NUMBER_CHARS = b"0123456789.eE+-"
_EXPONENT = re.compile(rb"[eE][+-]?([0-9]*)")


def _number_too_long(token: bytes) -> bool:
    exponent = _EXPONENT.search(token)
    return len(token) >= MAX_NUMBER_DIGITS or bool(exponent and len(exponent.group(1)) > 15)


# In a string: a surrogate pair, a lone surrogate escape, or any other escape, in that
# order, so escapes are consumed whole and `\\ud800` (a backslash, then text) is left.
_ESCAPES = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    rb"|\\u[dD][89a-fA-F][0-9a-fA-F]{2}|\\.",
    re.DOTALL,
)


def _no_lone_surrogates(piece: bytes, note: Callable[[str], None]) -> bytes:
    """String bytes with each lone surrogate escape (\\ud800) as \\ufffd: yajl refuses
    one in a key (and makes '?' of one in a value)."""

    def fix(m: re.Match[bytes]) -> bytes:
        if len(m.group()) != 6:
            return m.group()
        note("lone surrogate escapes read as U+FFFD")
        return b"\\ufffd"

    return _ESCAPES.sub(fix, piece) if b"\\u" in piece else piece


def _last_escape(piece: bytes) -> int:
    """Where the last escape starting in the last 12 bytes of `piece` begins (a surrogate
    pair is 12 bytes), or len(piece). `piece` starts on an escape boundary."""
    if b"\\" not in piece[-12:]:
        return len(piece)
    # Escapes are found from the start: only a scan from a boundary knows which backslash
    # begins one. Rare (a backslash near a chunk's end) and only in the lenient pass.
    last = len(piece)
    for m in _ESCAPES.finditer(piece):
        if m.start() >= len(piece) - 12:
            last = m.start()
            break
    return last


def _nonstandard_as_null(chunks: Iterable[bytes], note: Callable[[str], None]) -> Iterator[bytes]:
    """`chunks` with NaN, Infinity, -Infinity and numbers too long to read (see
    `_number_too_long`) outside strings replaced by null.

    Hand-written because no JSON streamer reads them: a scan that knows only whether it is
    inside a string, holding back a chunk's tail that may be half a token or an escape. A
    number still growing at a chunk's end is held back while short; once too long it is
    null, and the rest of it is dropped as it comes.
    """
    in_string, in_long_number, carry = False, False, b""
    for chunk in chunks:
        data, pos, out = carry + chunk, 0, []
        carry = b""
        if in_long_number:
            pos = len(data) - len(data.lstrip(_NUMBER_CHARS))
            in_long_number = pos == len(data)
        while pos < len(data) or in_string:
            if in_string:
                end = _STRING_BODY.match(data, pos).end()  # type: ignore[union-attr]
                if end == len(data) or data[end : end + 1] == b"\\":
                    piece = data[pos:end]
                    hold = _last_escape(piece)  # an escape (pair) the chunk may have cut
                    out.append(_no_lone_surrogates(piece[:hold], note))
                    carry = piece[hold:] + data[end:]
                    break
                out.append(_no_lone_surrogates(data[pos : end + 1], note))
                pos, in_string = end + 1, False
                continue
            m = _OUTSIDE_STRING.search(data, pos)
            if m is None:
                hold = next(
                    (
                        k
                        for k in range(min(8, len(data) - pos), 0, -1)
                        if any(t.startswith(data[-k:]) for t in _NONSTANDARD)
                    ),
                    0,
                )
                out.append(data[pos : len(data) - hold])
                carry = data[len(data) - hold :]
                break
            out.append(data[pos : m.start()])
            token = m.group()
            if token == b'"':
                out.append(b'"')
                in_string = True
            elif token in _NONSTANDARD:
                out.append(b"null")
                note("non-standard NaN/Infinity values read as null")
            elif _number_too_long(token):
                out.append(b"null")
                note(f"numbers of {MAX_NUMBER_DIGITS} or more characters read as null")
                in_long_number = m.end() == len(data)  # it may go on in the next chunk
            elif m.end() == len(data):
                carry = token  # it may go on in the next chunk
            else:
                out.append(token)
            pos = m.end()
        if out := b"".join(out):
            yield out
    if carry:
        yield b"null" if _number_too_long(carry) else carry


def jsonl_values(fh: BinaryIO, origin: str) -> Iterator[tuple[str, object] | Skipped | Note]:
    """The value on each non-blank line of a JSONL stream, as (`origin#line`, value).

    A line that is not JSON, nests deeper than `MAX_DEPTH` or is longer than
    `MAX_RECORD_BYTES` costs only itself: it is a `Skipped` naming `origin#line` and why.
    A line that is not UTF-8 is read as Windows-1252; the first such line gives a note.
    Lines are parsed by `json.loads`, which also reads Python's NaN and Infinity; an
    integer of `MAX_NUMBER_DIGITS` or more digits is read as null, with a note, as in
    .json files.
    """
    noted, long_numbers = False, []
    for n, raw in enumerate(_bounded_lines(fh), 1):
        where = f"{origin}#{n}"
        if raw is None:
            yield Skipped(where, f"a line longer than {MAX_RECORD_BYTES:,} bytes")
            continue
        text, note = read_text(raw.rstrip(b"\r\n"), where)
        if note and not noted:
            noted = True
            yield note
        if not text.strip():
            continue
        try:
            value = json.loads(text, parse_int=lambda digits: _int_or_null(digits, long_numbers))
        except RecursionError:  # deeper than the interpreter's limit
            yield Skipped(where, f"nested deeper than {MAX_DEPTH} levels")
            continue
        except json.JSONDecodeError as exc:
            yield Skipped(where, f"invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        if long_numbers == [1]:
            long_numbers.append(2)  # noted once per file
            yield Note(origin, f"numbers of {MAX_NUMBER_DIGITS} or more characters read as null")
        if text.count("[") + text.count("{") > MAX_DEPTH and _nests_deeper(value, MAX_DEPTH):
            yield Skipped(where, f"nested deeper than {MAX_DEPTH} levels")
            continue
        yield where, value


def _int_or_null(digits: str, seen: list[int]) -> int | None:
    """A JSON integer, or None past `MAX_NUMBER_DIGITS` (int() refuses past 4,300 digits)."""
    if len(digits) < MAX_NUMBER_DIGITS:
        return int(digits)
    if not seen:
        seen.append(1)
    return None


def _bounded_lines(fh: BinaryIO) -> Iterator[bytes | None]:
    """The lines of `fh` (ending in b"\\n"), or None for one over `MAX_RECORD_BYTES`, whose
    bytes are read on and dropped rather than held."""
    while line := fh.readline(MAX_RECORD_BYTES + 1):
        if len(line) <= MAX_RECORD_BYTES or line.endswith(b"\n"):
            yield line
            continue
        while (more := fh.readline(MAX_RECORD_BYTES)) and not more.endswith(b"\n"):
            pass
        yield None


def _nests_deeper(value: object, limit: int) -> bool:
    """Whether lists and objects in `value` nest more than `limit` levels (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def parse_csv(text: str, origin: str) -> Iterator[RawArticle | Skipped]:
    """CSV held as text; see `csv_records`."""
    yield from csv_records(io.StringIO(text, newline=""), origin)


def csv_records(lines: Iterable[str], origin: str) -> Iterator[RawArticle | Skipped]:
    """One record per row after the header row, named `origin#n` (the header is row 1).

    `lines` keep their line ends, split at \\r\\n, \\r or \\n (a file written with
    CR-only line ends, as old Macs did, reads like any other), as `csv` wants them. Rows
    of the wrong length are read as `csv.DictReader` reads them (missing fields empty,
    extra ones ignored). A field or line past `MAX_RECORD_BYTES` ends the file with a
    `Skipped`: `csv` starts afresh on the next line, which may be in the middle of the
    quoted field, so the rows after it cannot be trusted.
    """
    reader = csv.reader(lines)
    n = 1
    try:
        header = next(reader, None)
        if not header:
            yield Skipped(origin, "empty CSV")
            return
        for row in reader:
            if not row:  # a blank line, as DictReader skips it
                continue
            n += 1
            yield from_record(dict(zip(header, row, strict=False)), f"{origin}#{n}")
    except (csv.Error, _RunTooLong) as exc:
        yield Skipped(f"{origin}#{n + 1}", f"bad CSV: {exc}; the rest of the file was not read")


_LINE_END = re.compile(r"\r\n|\r|\n")


def _text_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """The lines of UTF-8 `chunks` (each whole characters, as `_utf8_chunks` gives them),
    ends kept; a line over `MAX_RECORD_BYTES` raises `_RunTooLong` instead of growing.
    A \\r\\n split between chunks gives a line and an empty one, which csv reads as a
    blank line."""
    held: list[str] = []
    held_chars = 0
    for chunk in chunks:
        text, pos = chunk.decode("utf-8"), 0
        for m in _LINE_END.finditer(text):
            if held_chars + m.end() - pos > MAX_RECORD_BYTES:
                break
            held.append(text[pos : m.end()])
            yield "".join(held)
            held, held_chars, pos = [], 0, m.end()
        held.append(text[pos:])
        held_chars += len(text) - pos
        if held_chars > MAX_RECORD_BYTES:
            raise _RunTooLong(f"a line longer than {MAX_RECORD_BYTES:,} characters")
    if held_chars:
        yield "".join(held)


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
        yield _feed_entry(entry, f"{origin}#{n}", outlet)


def _feed_entry(entry: dict, origin: str, outlet: object) -> RawArticle | Skipped:
    """One entry; whatever feedparser made of a hostile one costs that entry only."""
    try:
        body = ""
        if entry.get("content"):
            body = entry.content[0].get("value", "")
        body = body or entry.get("summary", "")
        if isinstance(body, str) and "<" in body:
            body = _strip_tags(body)
    except MemoryError:
        raise
    except Exception as exc:
        return Skipped(origin, unexpected(exc))
    return make_article(
        origin,
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


def _unreadable(origin: str, exc: OSError) -> Skipped:
    """The one way every loader reports a file it could not read (no traceback)."""
    return Skipped(origin, f"cannot read: {exc.strerror or exc}")


def load_file(path: Path) -> Iterator[Item]:
    """The items of one file, told by its suffix (or, for an unknown one, its content)."""
    origin = shown_name(path)
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES | JSON_SUFFIXES | CSV_SUFFIXES:
        yield from _load_streamed(path, origin, suffix)
        return
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_WHOLE_FILE_BYTES + 1)  # read, not stat: a file may still grow
    except OSError as exc:
        yield _unreadable(origin, exc)
        return
    if len(raw) > MAX_WHOLE_FILE_BYTES:
        yield _too_large(origin, suffix, MAX_WHOLE_FILE_BYTES)
        return
    if suffix in FEED_SUFFIXES or (suffix not in TEXT_SUFFIXES and looks_like_feed(raw)):
        yield from parse_feed(raw, origin)
        return
    text, note = read_text(raw, origin)
    if note:
        yield note
    if suffix in HTML_SUFFIXES:
        yield from parse_html(text, origin)
    else:
        yield from parse_plain_text(text, origin)


def _too_large(origin: str, suffix: str, limit: int) -> Skipped:
    kind = f"{suffix} files" if suffix else "such files"
    return Skipped(origin, f"file too large (the limit for {kind} is {limit / 1e6:,.0f} MB)")


def _load_streamed(path: Path, origin: str, suffix: str) -> Iterator[Item]:
    """JSON, JSONL and CSV, read record by record in flat memory, so a multi-GB export
    never sits in memory at once."""
    try:
        with path.open("rb") as fh:
            if os.fstat(fh.fileno()).st_size > MAX_STREAMED_FILE_BYTES:
                yield _too_large(origin, suffix, MAX_STREAMED_FILE_BYTES)
            elif suffix in JSONL_SUFFIXES:
                for item in jsonl_values(fh, origin):
                    yield from_record(item[1], item[0]) if isinstance(item, tuple) else item
            elif suffix in CSV_SUFFIXES:
                notes: list[str] = []
                lines = _text_lines(_utf8_chunks(fh, notes.append))
                for item in csv_records(lines, origin):
                    yield from (Note(origin, text) for text in notes)
                    notes.clear()
                    yield item
                yield from (Note(origin, text) for text in notes)
            else:
                yield from _json_file(fh, origin)
    except OSError as exc:
        yield _unreadable(origin, exc)


def _json_file(fh: BinaryIO, origin: str) -> Iterator[Item]:
    """Streamed with ijson (see `parse_json_stream`); a feed saved as .json is still a feed."""
    head = fh.read(2048)
    if not looks_like_feed(head):
        yield from parse_json_stream(fh, origin)
        return
    raw = head + fh.read(MAX_WHOLE_FILE_BYTES + 1 - len(head))
    if len(raw) > MAX_WHOLE_FILE_BYTES:
        yield _too_large(origin, "feed", MAX_WHOLE_FILE_BYTES)
    else:
        yield from parse_feed(raw, origin)


def load_url(url: str, *, allow_private: bool = False) -> Iterator[Item]:
    """A feed (RSS/Atom) or an article page, told apart by content; a fetch failure (a
    redirect to a refused address included) is a `Skipped`. `allow_private` is the
    operator's `[fetch] allow_private`."""
    try:
        response = fetch(url, allow_private=allow_private)
    except FetchError as exc:
        yield Skipped(url, f"cannot fetch: {exc}")
        return
    raw, ctype = response.body, response.headers.get("Content-Type", "")
    if looks_like_feed(raw) or "rss" in ctype or "atom" in ctype:
        yield from parse_feed(raw, url)
        return
    text, note = read_text(raw, url)
    if note:
        yield note
    yield from parse_html(text, url, url=url)


def expand(target: str) -> Iterator[Path | str | Skipped]:
    """A path, a folder (recursive, sorted, supported files only) or a URL."""
    if _is_url(target):
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
            yield Skipped(shown_name(target), "folder holds no supported files")
        yield from files
    elif path.is_file():
        yield path
    else:
        yield Skipped(shown_name(target), "no such file or folder")


def _is_url(target: str) -> bool:
    return re.match(r"^https?://", target, re.IGNORECASE) is not None


def load(targets: Iterable[str], *, allow_private: bool = False) -> Iterator[Item]:
    """Every item from every target, in order; never raises for bad input.

    Each target, and each file or URL in it, is read inside `_guarded`: whatever goes
    wrong costs that file alone. Except a well-formed URL target that `fetch` would
    refuse (`fetch.RefusedURL`: a loopback or other internal address while
    `allow_private`, the operator's `[fetch] allow_private`, is false): this call raises
    it at once, before anything is read (or a model loaded to embed it), so the command
    can say why and exit non-zero. A malformed URL is only that target's skip.
    """
    targets = [str(t) for t in targets]
    for target in targets:
        if _is_url(target) and _well_formed(target):
            guard_url(target, allow_private=allow_private)
    return _load(targets, allow_private)


def _well_formed(url: str) -> bool:
    try:
        return bool(urllib.parse.urlsplit(url).hostname)
    except ValueError:  # "http://[::1/x"
        return False


def _load(targets: list[str], allow_private: bool) -> Iterator[Item]:
    for target in targets:
        yield from _guarded(shown_name(target), _target_items(target, allow_private))


def _target_items(target: str, allow_private: bool) -> Iterator[Item]:
    for entry in expand(target):
        if isinstance(entry, Skipped):
            yield entry
        elif isinstance(entry, Path):
            yield from _guarded(shown_name(entry), load_file(entry))
        else:
            yield from _guarded(shown_name(entry), load_url(entry, allow_private=allow_private))


def _guarded(origin: str, items: Iterator[Item]) -> Iterator[Item]:
    """`items`, each article's notes given as `Note`s before it, and any exception from
    reading them turned into one `Skipped` for `origin` (what came before it is kept).
    The reason names the exception, so a loader bug shows in the report instead of
    hiding; MemoryError (and the BaseExceptions: KeyboardInterrupt, SystemExit,
    GeneratorExit) propagate."""
    try:
        for item in items:
            if isinstance(item, RawArticle) and item.notes:
                for text in item.notes:
                    yield Note(item.origin, text)
                item.notes = []  # reported: ingest must not report them again
            yield item
    except MemoryError:
        raise
    except Exception as exc:
        yield Skipped(origin, f"{unexpected(exc)}; the rest was not read")
