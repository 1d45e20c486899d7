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
import os
import re
import urllib.parse
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from .documents import docx_text, pdf_text
from .fetch import FetchError, fetch, guard_url
from .jsonread import RunTooLong, jsonl_values, parse_json_stream, utf8_chunks
from .plaintext import parse_plain_text
from .records import (
    MAX_RECORD_BYTES,
    MAX_STREAMED_FILE_BYTES,
    MAX_WHOLE_FILE_BYTES,
    Item,
    Note,
    RawArticle,
    Skipped,
    from_record,
    make_article,
    no_surrogates,
    read_text,
    shown_name,
    unexpected,
    unreadable,
)
from .sniff import Sniffed, sniff_file

TEXT_SUFFIXES = {".txt", ".md", ".text"}
JSON_SUFFIXES = {".json"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
CSV_SUFFIXES = {".csv"}
HTML_SUFFIXES = {".html", ".htm"}
FEED_SUFFIXES = {".xml", ".rss", ".atom"}
DOCUMENT_SUFFIXES = {".docx", ".pdf"}
SUPPORTED = (
    TEXT_SUFFIXES
    | JSON_SUFFIXES
    | JSONL_SUFFIXES
    | CSV_SUFFIXES
    | HTML_SUFFIXES
    | FEED_SUFFIXES
    | DOCUMENT_SUFFIXES
)


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
    except (csv.Error, RunTooLong) as exc:
        yield Skipped(f"{origin}#{n + 1}", f"bad CSV: {exc}; the rest of the file was not read")


_LINE_END = re.compile(r"\r\n|\r|\n")


def _text_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """The lines of UTF-8 `chunks` (each whole characters, as `utf8_chunks` gives them),
    ends kept; a line over `MAX_RECORD_BYTES` raises `RunTooLong` instead of growing.
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
            raise RunTooLong(f"a line longer than {MAX_RECORD_BYTES:,} characters")
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
        date_source="page",
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
        date_source="feed",
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
    """The items of one file: what it holds is sniffed from its bytes (`sniff`), so a
    binary file is skipped whatever its name; a text file is read by its suffix (or, for
    an unknown one, its content)."""
    origin = shown_name(path)
    suffix = path.suffix.lower()
    try:
        sniffed = sniff_file(path)
    except OSError as exc:
        yield unreadable(origin, exc)
        return
    # A record file (CSV/JSON/JSONL) with a few stray NUL bytes is text with a bad record,
    # which costs only that record (the rest of the file is stored).
    record_file = suffix in JSONL_SUFFIXES | JSON_SUFFIXES | CSV_SUFFIXES
    if sniffed.kind == "binary" and not (sniffed.stray and record_file):
        yield Skipped(origin, f"not text: {sniffed.what}")
        return
    if sniffed.kind == "binary":
        sniffed = Sniffed("text")
    if sniffed.kind != "text":
        yield from _load_document(path, origin, sniffed.kind)
        return
    if suffix in JSONL_SUFFIXES | JSON_SUFFIXES | CSV_SUFFIXES:
        yield from _load_streamed(path, origin, suffix)
        return
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_WHOLE_FILE_BYTES + 1)  # read, not stat: a file may still grow
    except OSError as exc:
        yield unreadable(origin, exc)
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


def _load_document(path: Path, origin: str, kind: str) -> Iterator[Item]:
    """A .docx or PDF read as its text, then like a plain-text file."""
    if path.stat().st_size > MAX_WHOLE_FILE_BYTES:
        yield _too_large(origin, f".{kind}", MAX_WHOLE_FILE_BYTES)
        return
    text = docx_text(path) if kind == "docx" else pdf_text(path)
    if not text.strip():
        yield Skipped(origin, f"no text in this {kind.upper()} (a scan, or only images?)")
        return
    yield from parse_plain_text(text, origin)


def _too_large(origin: str, suffix: str, limit: int) -> Skipped:
    kind = f"{suffix} files" if suffix else "such files"
    return Skipped(origin, f"file too large (the limit for {kind} is {limit / 1e6:,.0f} MB)")


def _load_streamed(path: Path, origin: str, suffix: str) -> Iterator[Item]:
    """JSON, JSONL and CSV, read record by record in flat memory, so a multi-GB export
    never sits in memory at once."""
    try:
        with path.open("rb") as raw_fh:
            if os.fstat(raw_fh.fileno()).st_size > MAX_STREAMED_FILE_BYTES:
                yield _too_large(origin, suffix, MAX_STREAMED_FILE_BYTES)
                return
            fh = _as_utf8(raw_fh)
            if suffix in JSONL_SUFFIXES:
                for item in jsonl_values(fh, origin):
                    yield from_record(item[1], item[0]) if isinstance(item, tuple) else item
            elif suffix in CSV_SUFFIXES:
                notes: list[str] = []
                lines = _text_lines(utf8_chunks(fh, notes.append))
                for item in csv_records(lines, origin):
                    yield from (Note(origin, text) for text in notes)
                    notes.clear()
                    yield item
                yield from (Note(origin, text) for text in notes)
            else:
                yield from _json_file(fh, origin)
    except OSError as exc:
        yield unreadable(origin, exc)


def _as_utf8(fh: BinaryIO) -> BinaryIO:
    """`fh`, or for an export saved as UTF-16 or UTF-32 (told by its byte-order mark) the
    same file re-encoded as UTF-8 while it is read, so the streaming readers see UTF-8."""
    head = fh.peek(4)[:4] if hasattr(fh, "peek") else b""
    for bom, codec in (
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if head.startswith(bom):
            return codecs.EncodedFile(fh, "utf-8", codec)  # type: ignore[return-value]
    return fh


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


def expand(target: str, exclude: Path | None = None) -> Iterator[Path | str | Skipped]:
    """A path, a folder (recursive, sorted) or a URL. In a folder, hidden files and
    folders are passed over, and so is `exclude` (the data directory); a file of an
    unsupported type is listed as skipped (named on its own, it is read by its content)."""
    if is_url(target):
        yield target
        return
    if not target.strip():
        yield Skipped(repr(target), "an empty path")
        return
    path = Path(target).expanduser()
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        if exclude is not None and _inside(exclude, path):
            kept = [p for p in files if not _inside(p, exclude)]
            if len(kept) < len(files):
                yield Skipped(shown_name(exclude), "the data directory: the store, not articles")
            files = kept
        supported = [p for p in files if p.suffix.lower() in SUPPORTED]
        if not supported:
            yield Skipped(shown_name(target), "folder holds no supported files")
        for p in files:
            if p.suffix.lower() in SUPPORTED:
                yield p
            else:
                kind = f"({p.suffix})" if p.suffix else "(no suffix)"
                yield Skipped(shown_name(p), f"not a supported file type {kind}")
    elif path.is_file():
        yield path
    else:
        yield Skipped(shown_name(target), "no such file or folder")


def _inside(path: Path, folder: Path) -> bool:
    """Whether `path` is `folder` or lies under it, links resolved."""
    return path.resolve().is_relative_to(folder.resolve())


def is_url(target: str) -> bool:
    return re.match(r"^https?://", target, re.IGNORECASE) is not None


def load(
    targets: Iterable[str], *, allow_private: bool = False, exclude: Path | None = None
) -> Iterator[Item]:
    """Every item from every target, in order; never raises for bad input. A folder's
    walk passes over `exclude` (the data directory, whose files are not articles).

    Each target, and each file or URL in it, is read inside `_guarded`: whatever goes
    wrong costs that file alone. Except a well-formed URL target that `fetch` would
    refuse (`fetch.RefusedURL`: a loopback or other internal address while
    `allow_private`, the operator's `[fetch] allow_private`, is false): this call raises
    it at once, before anything is read (or a model loaded to embed it), so the command
    can say why and exit non-zero. A malformed URL is only that target's skip.
    """
    targets = [str(t) for t in targets]
    for target in targets:
        if is_url(target) and _well_formed(target):
            guard_url(target, allow_private=allow_private)
    return _load(targets, allow_private, exclude)


def _well_formed(url: str) -> bool:
    try:
        return bool(urllib.parse.urlsplit(url).hostname)
    except ValueError:  # "http://[::1/x"
        return False


def _load(targets: list[str], allow_private: bool, exclude: Path | None) -> Iterator[Item]:
    for target in targets:
        yield from _guarded(shown_name(target), _target_items(target, allow_private, exclude))


def _target_items(target: str, allow_private: bool, exclude: Path | None) -> Iterator[Item]:
    for entry in expand(target, exclude):
        if isinstance(entry, Skipped):
            yield entry
        elif isinstance(entry, Path):
            yield from _located(entry, _guarded(shown_name(entry), load_file(entry)))
        else:
            yield from _guarded(shown_name(entry), load_url(entry, allow_private=allow_private))


def _located(path: Path, items: Iterator[Item]) -> Iterator[Item]:
    """`items` of the file at `path`, each article given its `location`: the file's
    absolute path and the part of its origin after the file name (`#17` for a record), so
    re-ingesting the file from anywhere finds the articles it gave before."""
    shown, where = shown_name(path), str(path.resolve())
    for item in items:
        if isinstance(item, RawArticle) and item.origin.startswith(shown):
            item.location = no_surrogates(where) + item.origin[len(shown) :]
        yield item


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
