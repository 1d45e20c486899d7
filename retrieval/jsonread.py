"""JSON and JSONL exports, streamed record by record (a 200 MB array is never held whole).

One reader for both, bounded: nesting depth, values per record, string and line sizes,
and numbers too long to convert are refused or nulled per record, with a note; a
syntax error in a .json file ends that file (where the next record starts is then
unknown) and keeps what came before it.
"""

from __future__ import annotations

import codecs
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import BinaryIO

import ijson

from .records import (
    MAX_NUMBER_DIGITS,
    MAX_RECORD_BYTES,
    MAX_RECORD_VALUES,
    Item,
    Note,
    RawArticle,
    Skipped,
    from_record,
    read_text,
    unexpected,
    unreadable,
)

JSON_CHUNK = 64 * 1024
WRAPPER_KEYS = ("articles", "items", "records", "data")

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
            yield unreadable(origin, exc)
            return
        except RunTooLong as exc:
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
        chunks = _bounded_runs(utf8_chunks(fh, self.note))
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
    if error is not None and not isinstance(error, ijson.JSONError | RunTooLong):
        return unexpected(error)
    text = error.args[0] if error is not None and error.args else error
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return text.split("\n", 1)[0].strip().rstrip(".")


def utf8_chunks(fh: BinaryIO, note: Callable[[str], None]) -> Iterator[bytes]:
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


class RunTooLong(ValueError):
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
            raise RunTooLong(f"more than {MAX_RECORD_BYTES:,} bytes in one string or value")
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
