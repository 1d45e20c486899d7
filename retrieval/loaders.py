"""Turn files, folders, exports, feeds and URLs into `RawArticle` records.

Loaders only parse: they never touch the store. Problems with one file or one
record become `Skipped` items (reported, never fatal), and recoverable oddities
such as a non-UTF-8 file become `Note`s beside the articles read from it.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

import ijson

from .dates import parse_date
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


# --- JSON and JSONL ----------------------------------------------------------------------
# A record nested deeper than this is refused unbuilt. News records are flat; a hostile
# file nested 100,000 deep must neither build 100,000 containers nor make the str() of a
# field recurse that deep.
MAX_DEPTH = 64
_TOO_DEEP = object()  # stands for a record refused for its depth


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
    - Python's non-standard `NaN` and `Infinity` (which `json.dump` writes) are read as
      null, with a note. The strict parser stops at them, so a file that fails is read
      once more from its start with them replaced (slower, so only then), the records
      already given skipped.
    """
    read = _JSONRead(origin)
    fault: ijson.JSONError | None = None
    for lenient in (False, True):
        try:
            yield from read.records(fh, lenient)
            return
        except ijson.JSONError as exc:
            fault = exc
        except OSError as exc:
            yield from read.take_notes()
            yield _unreadable(origin, exc)
            return
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
        chunks = _utf8_chunks(fh, self.note)
        return _ijson_events(_nonstandard_as_null(chunks, self.note) if lenient else chunks)

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
    builder, depth = None, 0  # inside a record: its builder (None once too deep), its depth
    for event, raw in events:
        value = float(raw) if type(raw) is Decimal else raw  # as json.load gives numbers
        if depth:
            if event in ("start_map", "start_array"):
                depth += 1
            elif event in ("end_map", "end_array"):
                depth -= 1
            if builder is not None and depth > MAX_DEPTH:
                builder = None
            elif builder is not None:
                builder.event(event, value)
            if not depth:
                yield _TOO_DEEP if builder is None else builder.value
        elif event == "map_key":
            path[-1] = value  # type: ignore[assignment]
        elif event in ("end_map", "end_array"):
            path.pop()
        elif path == place:
            if event in ("start_map", "start_array"):
                builder, depth = ijson.ObjectBuilder(), 1
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


def _json_fault(error: ijson.JSONError | None) -> str:
    """ijson's message, its first line: yajl adds the text around the fault on the next."""
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


_OUTSIDE_STRING = re.compile(rb'"|NaN|-?Infinity')
_STRING_BODY = re.compile(rb'(?:[^"\\]|\\.)*', re.DOTALL)
_NONSTANDARD = (b"NaN", b"Infinity", b"-Infinity")


def _nonstandard_as_null(chunks: Iterable[bytes], note: Callable[[str], None]) -> Iterator[bytes]:
    """`chunks` with NaN, Infinity and -Infinity outside strings replaced by null.

    Hand-written because no JSON streamer reads them: a scan that knows only whether it is
    inside a string, holding back a chunk's tail that may be half a token or an escape.
    """
    in_string, carry = False, b""
    for chunk in chunks:
        data, pos, out = carry + chunk, 0, []
        while True:
            if in_string:
                end = _STRING_BODY.match(data, pos).end()  # type: ignore[union-attr]
                if end == len(data) or data[end : end + 1] == b"\\":
                    out.append(data[pos:end])
                    carry = data[end:]
                    break
                out.append(data[pos : end + 1])
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
            if m.group() == b'"':
                out.append(b'"')
                in_string = True
            else:
                out.append(b"null")
                note("non-standard NaN/Infinity values read as null")
            pos = m.end()
        if out := b"".join(out):
            yield out
    if carry:
        yield carry


def jsonl_values(fh: BinaryIO, origin: str) -> Iterator[tuple[str, object] | Skipped | Note]:
    """The value on each non-blank line of a JSONL stream, as (`origin#line`, value).

    A line that is not JSON, or nests deeper than `MAX_DEPTH`, costs only itself: it is a
    `Skipped` naming `origin#line` and why. A line that is not UTF-8 is read as
    Windows-1252; the first such line gives a note. Lines are parsed by `json.loads`,
    which also reads Python's NaN and Infinity.
    """
    noted = False
    for n, raw in enumerate(fh, 1):
        where = f"{origin}#{n}"
        text, note = read_text(raw.rstrip(b"\r\n"), where)
        if note and not noted:
            noted = True
            yield note
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except RecursionError:  # deeper than the interpreter's limit
            yield Skipped(where, f"nested deeper than {MAX_DEPTH} levels")
            continue
        except json.JSONDecodeError as exc:
            yield Skipped(where, f"invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        if text.count("[") + text.count("{") > MAX_DEPTH and _nests_deeper(value, MAX_DEPTH):
            yield Skipped(where, f"nested deeper than {MAX_DEPTH} levels")
            continue
        yield where, value


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


def _unreadable(origin: str, exc: OSError) -> Skipped:
    """The one way every loader reports a file it could not read (no traceback)."""
    return Skipped(origin, f"cannot read: {exc.strerror or exc}")


def load_file(path: Path) -> Iterator[Item]:
    origin = str(path)
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        yield from _load_jsonl_file(path)
        return
    if suffix in JSON_SUFFIXES:
        yield from _load_json_file(path)
        return
    try:
        raw = path.read_bytes()
    except OSError as exc:
        yield _unreadable(origin, exc)
        return
    if suffix in FEED_SUFFIXES or (suffix not in TEXT_SUFFIXES and looks_like_feed(raw)):
        yield from parse_feed(raw, origin)
        return
    text, note = read_text(raw, origin)
    if note:
        yield note
    if suffix in CSV_SUFFIXES:
        yield from parse_csv(text, origin)
    elif suffix in HTML_SUFFIXES:
        yield from parse_html(text, origin)
    else:
        yield from parse_plain_text(text, origin)


def _load_json_file(path: Path) -> Iterator[Item]:
    """Streamed with ijson (see `parse_json_stream`); a feed saved as .json is still a feed."""
    origin = str(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(2048)
            if looks_like_feed(head):
                yield from parse_feed(head + fh.read(), origin)
            else:
                yield from parse_json_stream(fh, origin)
    except OSError as exc:
        yield _unreadable(origin, exc)


def _load_jsonl_file(path: Path) -> Iterator[Item]:
    """Streamed line by line (see `jsonl_values`), so a multi-GB export never sits in memory."""
    origin = str(path)
    try:
        with path.open("rb") as fh:
            for item in jsonl_values(fh, origin):
                yield from_record(item[1], item[0]) if isinstance(item, tuple) else item
    except OSError as exc:
        yield _unreadable(origin, exc)


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
            yield Skipped(target, "folder holds no supported files")
        yield from files
    elif path.is_file():
        yield path
    else:
        yield Skipped(target, "no such file or folder")


def _is_url(target: str) -> bool:
    return re.match(r"^https?://", target, re.IGNORECASE) is not None


def load(targets: Iterable[str], *, allow_private: bool = False) -> Iterator[Item]:
    """Every item from every target, in order; never raises for bad input.

    Except a URL target `fetch` would refuse (`fetch.RefusedURL`: a malformed URL, or a
    loopback or other internal address while `allow_private` is false, which is the
    operator's `[fetch] allow_private`): this call raises it at once, before anything
    is read (or a model loaded to embed it), so nothing is half ingested and the command
    can say why and exit non-zero.
    """
    targets = list(targets)
    for target in filter(_is_url, targets):
        guard_url(target, allow_private=allow_private)
    return _load(targets, allow_private)


def _load(targets: list[str], allow_private: bool) -> Iterator[Item]:
    for target in targets:
        for entry in expand(target):
            if isinstance(entry, Skipped):
                yield entry
            elif isinstance(entry, Path):
                yield from load_file(entry)
            else:
                yield from load_url(entry, allow_private=allow_private)
