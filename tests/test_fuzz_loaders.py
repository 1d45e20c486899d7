"""Fuzzing the loaders: no input makes `load` raise, every item it yields is well formed,
and good records beside a hostile one are still read. bench/fuzz.py runs the same
strategies (tests/fuzz_strategies.py) for longer."""

from __future__ import annotations

import json
import os
import tempfile
from html import escape
from pathlib import Path
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval import loaders
from retrieval.loaders import Note, RawArticle, Skipped, load

from .fuzz_strategies import (
    CSV_CELLS,
    GOOD_TITLES,
    HOSTILE_RECORDS,
    LINE_ENDS,
    NASTY_TEXT,
    check_items,
    csv_document,
    feed_document,
    good_record,
    good_titles,
    html_document,
    json_document,
    jsonl_document,
    no_repr_of,
    text_document,
    write,
)

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SUFFIXES = [".txt", ".md", ".json", ".jsonl", ".csv", ".html", ".xml", ".rss", ".atom"]


def load_bytes(name: str, raw: bytes) -> list:
    with tempfile.TemporaryDirectory() as tmp:
        items = list(load([str(write(Path(tmp), name, raw))]))
    check_items(items)
    return items


@FUZZ
@given(st.binary(max_size=4000), st.sampled_from(SUFFIXES))
def test_arbitrary_bytes_never_raise(raw, suffix):
    load_bytes("fuzz" + suffix, raw)


@FUZZ
@given(st.sampled_from(SUFFIXES), st.data())
def test_mutated_valid_documents_never_raise(suffix, data):
    """Valid documents with bytes flipped, cut or repeated reach deeper than random bytes."""
    raw = bytearray(
        {
            ".json": json_document(good_record(2)),
            ".jsonl": jsonl_document(good_record(2)),
            ".csv": csv_document(["x", "Title", "Body.", "2024-01-01"], "\n"),
            ".html": html_document("A page title here", "A paragraph of text. " * 20),
            ".xml": feed_document("Entry title", "Entry body.", "2024-05-01", False),
            ".rss": feed_document("Entry title", "Entry body.", "2024-05-01", False),
            ".atom": feed_document("Entry title", "Entry body.", "2024-05-01T00:00Z", True),
        }.get(suffix, b"A headline for the test\n\nA body. Another sentence.\n")
    )
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        how = data.draw(st.sampled_from(["flip", "cut", "repeat", "insert"]))
        if how == "flip":
            raw[pos] = data.draw(st.integers(0, 255))
        elif how == "cut":
            del raw[pos:]
            if not raw:
                break
        elif how == "repeat":
            raw[pos:pos] = raw[pos : pos + 50] * data.draw(st.integers(1, 20))
        else:
            raw[pos:pos] = data.draw(st.sampled_from([b"\xff", b'"', b"[", b"{", b"\r", b"\\u"]))
    load_bytes("fuzz" + suffix, bytes(raw))


@FUZZ
@given(HOSTILE_RECORDS)
def test_json_hostile_record_costs_only_itself(record):
    items = load_bytes("f.json", json_document(record))
    assert good_titles(items) >= GOOD_TITLES
    for value in record.values():
        no_repr_of(value, items)


@FUZZ
@given(HOSTILE_RECORDS)
def test_jsonl_hostile_record_costs_only_itself(record):
    items = load_bytes("f.jsonl", jsonl_document(record))
    assert good_titles(items) >= GOOD_TITLES
    for value in record.values():
        no_repr_of(value, items)


@FUZZ
@given(CSV_CELLS, LINE_ENDS)
def test_csv_hostile_row_costs_only_itself(cells, line_end):
    items = load_bytes("f.csv", csv_document(cells, line_end))
    assert good_titles(items) >= GOOD_TITLES


XML_SAFE = NASTY_TEXT.map(
    lambda t: escape("".join(c for c in t if c in "\t\n\r" or " " <= c < "\ud800" or c > "\udfff"))
)


@FUZZ
@given(XML_SAFE, XML_SAFE, XML_SAFE, st.booleans())
def test_feed_hostile_entry_costs_only_itself(title, body, date, atom):
    items = load_bytes("f.atom" if atom else "f.rss", feed_document(title, body, date, atom))
    titles = good_titles(items)
    assert {"Good feed entry zero", "Good feed entry one"} <= titles


@FUZZ
@given(NASTY_TEXT, NASTY_TEXT, st.booleans())
def test_feed_and_html_with_raw_hostile_text_never_raise(title, body, atom):
    load_bytes("f.xml", feed_document(title, body, "2024-05-01", atom))
    load_bytes("f.html", html_document(title, body * 10))


@FUZZ
@given(NASTY_TEXT, NASTY_TEXT, LINE_ENDS)
def test_plain_text_with_hostile_text_never_raises(title, body, line_end):
    load_bytes("f.txt", text_document(title, body, line_end))


# --- a folder of good files with one hostile file of each kind -----------------------------

HOSTILE_FILES: dict[str, tuple[bytes, str]] = {
    # name: (content, how it is reported: "skipped" or "noted"; "" = read with no remark)
    "negative-date.json": (b'[{"title": "Negative epoch", "body": "x.", "date": -5e9}]', "noted"),
    "ms-date.json": (b'[{"title": "Millisecond epoch", "body": "x.", "date": 1.7e12}]', ""),
    "huge-date.json": (b'[{"title": "Huge date", "body": "x.", "date": 1e300}]', "noted"),
    "year-9999.json": (b'[{"title": "Far future", "body": "x.", "date": "9999-12-31"}]', "noted"),
    "bool-date.json": (b'[{"title": "Boolean date", "body": "x.", "date": true}]', "noted"),
    "big-int.json": (b'[{"title": "Big int", "body": "x.", "id": ' + b"9" * 5000 + b"}]", "noted"),
    "surrogate.jsonl": (b'{"title": "Lone \\ud800 surrogate", "body": "x."}\n', ""),
    "list-title.json": (b'[{"title": ["a", "b"], "body": "x."}]', "skipped"),
    "big-field.csv": (b"title,body\nBig field," + b"Word " * 40_000 + b"\n", ""),
    "cr-only.csv": (b"title,body\rCR only lines,Body one.\rSecond CR row,Body two.\r", ""),
    "deep.json": (b"[" * 10_000 + b"]" * 10_000, "skipped"),
    "broken.json": (b'[{"title": "Before the break", "body": "x."}, {"title": ', "skipped"),
    "empty.txt": (b"", "skipped"),
    "too-big.txt": (b"A headline\n\n" + b"Too big. " * 20_000, "skipped"),
    "giant.txt": (b"A giant report\n\n" + b"This is one sentence. " * 2_500, "noted"),
    os.fsdecode(b"not-utf8-\xff.txt"): (b"Not UTF-8 name\n\nA body here.", ""),
}
BAD_URL = "http://[::1/x"


def test_hostile_folder_keeps_the_good_and_reports_each_hostile_file(tmp_path, fake_corpus):
    folder = tmp_path / "corpus"
    folder.mkdir()
    good = [f"Good article number {n} on trade talks" for n in range(25)]
    for n, title in enumerate(good):
        (folder / f"good-{n:02}.txt").write_text(f"{title}\n\nNegotiators met on day {n}.")
    for name, (raw, _) in HOSTILE_FILES.items():
        (folder / name).write_bytes(raw)
    with mock.patch.object(loaders, "MAX_WHOLE_FILE_BYTES", 150_000):
        report = fake_corpus.ingest([str(folder), BAD_URL], progress=False)
    stored = fake_corpus.store.articles(range(1, report.articles + 1)).values()
    titles = {a.title for a in stored}
    assert set(good) <= titles
    assert {"Millisecond epoch", "CR only lines", "Big field", "Lone \ufffd surrogate"} <= titles
    assert "Before the break" in titles and "['a', 'b']" not in titles
    skipped = {Path(s.source.split("#")[0]).name for s in report.skipped}
    noted = {Path(n.source.split("#")[0]).name for n in report.notes}
    for name, (_, how) in HOSTILE_FILES.items():
        shown = loaders.shown_name(name)
        if how:
            assert shown in (skipped if how == "skipped" else noted), (name, how)
    assert "Not UTF-8 name" in titles  # its origin, with U+FFFD for \xff, stored in SQLite
    assert BAD_URL in {s.source for s in report.skipped}
    json.dumps(report.to_json(), ensure_ascii=False).encode("utf-8")  # what --json prints


def test_check_items_rejects_what_it_should():
    """The fuzz assertions can fail: a repr, a surrogate or an unknown item type is caught."""
    bad = [
        [RawArticle(title="t\ud800", body="", origin="o")],
        [Skipped("o", "")],
        [Note("o\udcff", "n")],
        ["not an item"],
    ]
    for items in bad:
        try:
            check_items(items)
        except AssertionError:
            continue
        raise AssertionError(f"check_items accepted {items!r}")
    record = {"title": ["a", "b"]}
    try:
        no_repr_of(record["title"], [RawArticle(title="['a', 'b']", body="", origin="o")])
    except AssertionError:
        return
    raise AssertionError("no_repr_of accepted a repr")
