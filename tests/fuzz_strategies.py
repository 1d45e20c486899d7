"""Hypothesis strategies for hostile loader input, and the check every result must pass.

Shared by tests/test_fuzz_loaders.py (a short run in the default suite) and bench/fuzz.py
(the same strategies, run for longer).
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import strategies as st

from retrieval import jsonread, records
from retrieval.dates import EARLIEST, FUTURE_SLACK
from retrieval.loaders import Note, RawArticle, Skipped

SURROGATE = re.compile(r"[\ud800-\udfff]")

# Text with what breaks naive code: lone surrogates, control characters, line ends of
# every kind, quotes and markup.
NASTY_CHARS = st.characters(codec=None) | st.sampled_from(
    ["\ud800", "\udfff", "\x00", "\x1b", "\r", "\n", "\u2028", "\ufeff", '"', ",", "<", "&"]
)
NASTY_TEXT = st.text(NASTY_CHARS, max_size=60)
# Built by map: a strategy holding 10**5000 could not even be repr'd (Python refuses to
# print ints past 4,300 digits), which is the very trap the loaders must avoid.
HUGE_INTS = st.sampled_from([2**64, -1, 0, 10**19, 1700000000000]) | st.integers(590, 5000).map(
    lambda digits: -(10**digits) if digits % 2 else 10**digits
)
FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [1e300, -1e300, 1e-300, 1.7e12, -5e9]
)
GIANT = st.sampled_from(["Word " * 60_000, "x" * 200_000, "\n" * 50_000, "9" * 5000])
DATES = st.sampled_from(
    ["9999-12-31", "0001-01-01T00:00:00+01:00", "1899-12-31", "26-FEB-1987 15:01:01.79",
     "2025-04-18T09:00:00Z", "1700000000", "not a date", ""]
)  # fmt: skip
SCALARS = (
    st.none() | st.booleans() | st.integers() | HUGE_INTS | FLOATS | NASTY_TEXT | DATES | GIANT
)


def _nest(inner: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(inner, max_size=3) | st.dictionaries(NASTY_TEXT, inner, max_size=3)


VALUES = st.recursive(SCALARS, _nest, max_leaves=6)
DEEP = st.integers(1, jsonread.MAX_DEPTH - 4).map(lambda n: _deep(n))
FIELD_NAMES = [
    "id", "title", "Headline", "body", "text", "content", "url", "link",
    "published", "date", "published_at", "source", "dateline", "extra",
]  # fmt: skip
HOSTILE_RECORDS = st.dictionaries(st.sampled_from(FIELD_NAMES), VALUES | DEEP, max_size=6)


def _deep(levels: int) -> object:
    value: object = "deep"
    for _ in range(levels):
        value = [value]
    return value


def good_record(n: int) -> dict:
    return {
        "id": f"good-{n}",
        "title": f"Good record number {n} about tariffs",
        "body": f"Negotiators met on day {n}. They agreed to meet again.",
        "date": "2024-05-01T09:00:00Z",
    }


GOOD_TITLES = {good_record(0)["title"], good_record(1)["title"]}


def good_titles(items: list) -> set[str]:
    return {i.title for i in items if isinstance(i, RawArticle)}


# --- writers: one hostile record between two good ones, as each format holds it ---------


def _dumps(value: object) -> str:
    """json.dumps, able to write the ints past 4,300 digits that other tools write. The
    process-wide limit is lifted only while writing, never while the loaders read."""
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        return json.dumps(value)
    finally:
        sys.set_int_max_str_digits(before)


def json_document(hostile: dict) -> bytes:
    """A JSON list [good, hostile, good]; json.dumps writes NaN/Infinity and escapes lone
    surrogates as \\ud800, as real exports do."""
    return _dumps([good_record(0), hostile, good_record(1)]).encode()


def jsonl_document(hostile: dict) -> bytes:
    lines = [json.dumps(good_record(0)), _dumps(hostile), json.dumps(good_record(1))]
    return ("\n".join(lines) + "\n").encode()


def csv_document(cells: list[str], line_end: str) -> bytes:
    """A CSV of the recognised columns: good, hostile (the given cells), good."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=line_end)
    cols = ["id", "title", "body", "date"]
    writer.writerow(cols)
    writer.writerow([good_record(0)[c] for c in cols])
    writer.writerow(cells)
    writer.writerow([good_record(1)[c] for c in cols])
    return out.getvalue().encode("utf-8", "surrogatepass")


CSV_CELLS = st.lists(NASTY_TEXT | GIANT | DATES, min_size=0, max_size=6)
LINE_ENDS = st.sampled_from(["\n", "\r\n", "\r"])


def _feed_item(title: str, body: str, date: str) -> str:
    return (
        f"<item><title>{title}</title><description>{body}</description>"
        f"<pubDate>{date}</pubDate></item>"
    )


def feed_document(title: str, body: str, date: str, atom: bool) -> bytes:
    """An RSS or Atom feed with good entries around one of hostile text (not escaped:
    markup in it is part of the attack)."""
    if atom:
        entries = "".join(
            f"<entry><title>{t}</title><summary>{b}</summary><updated>{d}</updated></entry>"
            for t, b, d in [
                ("Good feed entry zero", "Fine.", "2024-05-01T00:00:00Z"),
                (title, body, date),
                ("Good feed entry one", "Fine.", "2024-05-01T00:00:00Z"),
            ]
        )
        doc = f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom">{entries}</feed>'
    else:
        entries = "".join(
            [
                _feed_item("Good feed entry zero", "Fine.", "Wed, 01 May 2024 00:00:00 GMT"),
                _feed_item(title, body, date),
                _feed_item("Good feed entry one", "Fine.", "Wed, 01 May 2024 00:00:00 GMT"),
            ]
        )
        doc = f'<?xml version="1.0"?><rss version="2.0"><channel>{entries}</channel></rss>'
    return doc.encode("utf-8", "surrogatepass")


def html_document(title: str, body: str) -> bytes:
    page = f"<html><head><title>{title}</title></head><body><article><p>{body}</p></article>"
    return page.encode("utf-8", "surrogatepass")


def text_document(title: str, body: str, line_end: str) -> bytes:
    return f"{title}{line_end}{line_end}{body}".encode("utf-8", "surrogatepass")


# --- the check -----------------------------------------------------------------------


def _clean_text(value: object) -> bool:
    return value is None or (isinstance(value, str) and not SURROGATE.search(value))


def check_items(items: list, now: datetime | None = None) -> None:
    """What every loader result must be, whatever the input."""
    now = now or datetime.now(UTC)
    for item in items:
        assert isinstance(item, RawArticle | Skipped | Note), type(item)
        if isinstance(item, RawArticle):
            assert isinstance(item.title, str) and item.title.strip()
            assert isinstance(item.body, str) and len(item.body) <= records.MAX_BODY_CHARS
            assert len(item.title) <= records.MAX_TITLE_CHARS
            for text in (item.title, item.body, item.origin, item.url, item.source):
                assert _clean_text(text), repr(text)[:80]
            for text in (item.external_id, item.dateline):
                assert _clean_text(text) and (text is None or len(text) <= records.MAX_FIELD_CHARS)
            if item.published is not None:
                assert EARLIEST <= item.published <= now + FUTURE_SLACK
            assert not item.notes, "load() reports notes and clears them"
        elif isinstance(item, Skipped):
            assert _clean_text(item.source) and _clean_text(item.reason) and item.reason
        else:
            assert _clean_text(item.source) and _clean_text(item.note) and item.note
        # Whatever was read can be printed as the CLI's --json output.
        json.dumps(_as_json(item), ensure_ascii=False).encode("utf-8")


def _as_json(item: RawArticle | Skipped | Note) -> dict:
    if isinstance(item, RawArticle):
        fields = (item.title, item.body, item.origin, item.url, item.source, item.external_id)
        return {"fields": fields, "published": str(item.published)}
    return {"source": item.source, "text": getattr(item, "reason", getattr(item, "note", ""))}


def no_repr_of(value: object, items: list) -> None:
    """A list or object given for a field never shows up as its Python repr."""
    if isinstance(value, list | dict) and value:
        try:
            shown = repr(value)
        except ValueError:  # it holds an int past 4,300 digits: no repr of it can exist
            return
        for item in items:
            if isinstance(item, RawArticle):
                assert shown not in (item.title, item.body, item.source, item.external_id)


def write(tmp: Path, name: str, raw: bytes) -> Path:
    path = tmp / name
    path.write_bytes(raw)
    return path
