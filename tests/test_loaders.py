from __future__ import annotations

import codecs
import io
import json
import os
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval import ingest as ingest_module
from retrieval import jsonread, loaders, records
from retrieval.loaders import (
    Note,
    RawArticle,
    Skipped,
    from_record,
    load,
    parse_json_stream,
    parse_plain_text,
)

from .conftest import SEED


def articles(items) -> list[RawArticle]:
    return [i for i in items if isinstance(i, RawArticle)]


def test_seed_format_is_one_untitled_article_then_headline_items():
    items = articles(load([str(SEED)]))
    assert len(items) == 18
    article, headlines = items[0], items[1:]
    assert article.title_derived and article.title.startswith(
        "Japan has called on the United States"
    )
    assert "Prime Minister Ishiba Shigeru" in article.body
    assert all(h.body == "" and not h.title_derived for h in headlines)
    titles = [h.title for h in headlines]
    assert "U.S. Initiates $11.1 Billion Arms Sale to Taiwan Amid Rising China Tensions" in titles
    assert titles[-1] == "U.S. House Advances GOP Healthcare Bill as ACA Subsidies Near Expiration"


def test_headline_first_line_is_the_title(tmp_path: Path):
    f = tmp_path / "bbc.txt"
    f.write_text(
        "Ad sales boost Time Warner profit\n\nQuarterly profits rose 76%.\n\nMore text here."
    )
    (item,) = articles(load([str(f)]))
    assert item.title == "Ad sales boost Time Warner profit"
    assert item.body == "Quarterly profits rose 76%.\n\nMore text here."


def test_non_utf8_file_is_read_with_a_note(tmp_path: Path):
    f = tmp_path / "latin.txt"
    f.write_bytes("Chelsea sack Mutu\n\nThe striker’s club said: café closed.".encode("cp1252"))
    items = list(load([str(f)]))
    notes = [i for i in items if isinstance(i, Note)]
    (item,) = articles(items)
    assert notes and "UTF-8" in notes[0].note
    assert "striker’s" in item.body and "café" in item.body


def test_json_list_with_field_aliases_and_reuters_dates(tmp_path: Path):
    records = [
        {
            "title": "JAPAN CUTS CHIP OUTPUT",
            "body": "Tokyo said it would cut output.",
            "date": "26-FEB-1987 15:01:01.79",
            "id": "r1",
        },
        {
            "headline": "Second",
            "text": "Body two.",
            "published_at": "2025-04-18T09:00:00Z",
            "link": "https://example.com/2",
            "source": "Wire",
        },
        {"title": "", "body": ""},
    ]
    f = tmp_path / "a.json"
    f.write_text(json.dumps(records))
    items = list(load([str(f)]))
    arts = articles(items)
    assert [a.title for a in arts] == ["JAPAN CUTS CHIP OUTPUT", "Second"]
    assert arts[0].published.isoformat() == "1987-02-26T15:01:01.790000+00:00"
    assert arts[0].external_id == "r1"
    assert arts[1].url == "https://example.com/2" and arts[1].source == "Wire"
    assert Skipped(f"{f}#2", "no title or body") in items


def test_jsonl_bad_line_is_skipped_rest_kept(tmp_path: Path):
    f = tmp_path / "a.jsonl"
    f.write_text('{"title": "One", "body": "First."}\nnot json\n{"title": "Two"}\n')
    items = list(load([str(f)]))
    assert [a.title for a in articles(items)] == ["One", "Two"]
    assert any(isinstance(i, Skipped) and i.source.endswith("#2") for i in items)


def test_csv_records(tmp_path: Path):
    f = tmp_path / "a.csv"
    f.write_text("Title,Body,Date\nHello,World body.,2024-01-02\n")
    (item,) = articles(load([str(f)]))
    assert item.title == "Hello" and item.published.year == 2024


def test_rss_file(tmp_path: Path):
    f = tmp_path / "feed.xml"
    f.write_text(
        """<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>
        <item><title>Tariffs rise</title><link>https://e.com/1</link><guid>g1</guid>
        <description>&lt;p&gt;Duties went up on steel.&lt;/p&gt;</description>
        <pubDate>Tue, 10 Jun 2025 04:00:00 GMT</pubDate></item></channel></rss>"""
    )
    (item,) = articles(load([str(f)]))
    assert item.title == "Tariffs rise" and item.source == "Wire" and item.external_id == "g1"
    assert "Duties went up on steel." in item.body and "<p>" not in item.body


def test_html_page(tmp_path: Path):
    f = tmp_path / "page.html"
    para = "Canada said on Monday it would delay the tariff deal with the United States. " * 4
    f.write_text(
        f"<html><head><title>Canada delays deal</title></head><body><nav>menu</nav>"
        f"<article><h1>Canada delays deal</h1><p>{para}</p><p>{para}</p></article></body></html>"
    )
    (item,) = articles(load([str(f)]))
    assert "Canada" in item.title and "delay the tariff deal" in item.body


def test_missing_path_and_empty_folder_are_reported(tmp_path: Path):
    items = list(load([str(tmp_path / "nope.txt"), str(tmp_path)]))
    reasons = {i.reason for i in items if isinstance(i, Skipped)}
    assert reasons == {"no such file or folder", "folder holds no supported files"}


@given(st.text(max_size=600))
def test_plain_text_parser_never_raises_and_yields_clean_items(text):
    for item in parse_plain_text(text, "x.txt"):
        assert isinstance(item, RawArticle | Skipped)
        if isinstance(item, RawArticle):
            assert item.title.strip() == item.title and item.title
            assert "\r" not in item.body


def test_word_lists_beside_a_corpus_are_skipped(tmp_path: Path):
    f = tmp_path / "all-places-strings.lc.txt"
    f.write_text("\n".join(["afghanistan", "albania", "west-germany", "usa"] * 10))
    assert list(load([str(f)])) == [
        Skipped(str(f), "a list of words (one or two per line), not an article")
    ]
    headlines = tmp_path / "heads.txt"
    headlines.write_text("\n".join(f"Tariff Talks Stall Round {i}" for i in range(25)))
    assert len(articles(load([str(headlines)]))) == 25


def test_label_lists_are_not_headline_items(tmp_path: Path):
    f = tmp_path / "notes.txt"
    f.write_text(
        "Notes on the categories\n\nThe list follows.\n\nCOCOA\nCOFFEE\nCrude Oil (CRUDE)\n"
    )
    items = articles(load([str(f)]))
    assert len(items) == 1 and "COCOA" in items[0].body


# --- JSON, streamed with ijson -------------------------------------------------------


def reference_parse_json(text: str, origin: str) -> list:
    """The loader before streaming (whole document through `json.loads`): the oracle."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return [Skipped(origin, f"invalid JSON: {exc.msg} (line {exc.lineno})")]
    if isinstance(data, dict):
        for key in ("articles", "items", "records", "data"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    records = data if isinstance(data, list) else [data]
    return [from_record(record, f"{origin}#{n}") for n, record in enumerate(records)]


def stream(raw: bytes, origin: str = "f.json", chunk: int | None = None) -> list:
    with mock.patch.object(jsonread, "JSON_CHUNK", chunk or jsonread.JSON_CHUNK):
        return list(parse_json_stream(io.BytesIO(raw), origin))


class CountingReader:
    """A binary file that counts the bytes handed out."""

    def __init__(self, raw: bytes):
        self.fh, self.bytes_read = io.BytesIO(raw), 0

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.bytes_read += len(data)
        return data

    def seek(self, pos: int, whence: int = 0) -> int:
        return self.fh.seek(pos, whence)


def record(n: int) -> dict:
    return {
        "id": f"r{n}",
        "title": f"Tariff talks, round {n}",
        "body": f"Negotiators met again on day {n}. " * 8,
        "date": "2025-04-18T09:00:00Z",
    }


def big_export(n: int = 20_000, wrap: str | None = None) -> bytes:
    records = [record(i) for i in range(n)]
    return json.dumps({"meta": {"n": n}, wrap: records} if wrap else records).encode()


def test_json_array_is_streamed_not_read_whole():
    raw = big_export()
    assert len(raw) > 5_000_000
    for doc in (raw, big_export(wrap="articles")):
        reader = CountingReader(doc)
        items = parse_json_stream(reader, "big.json")
        first = next(items)
        assert first.title == "Tariff talks, round 0" and first.origin == "big.json#0"
        assert reader.bytes_read < len(doc) / 20  # a look-ahead chunk and a parse chunk
        assert sum(1 for _ in items) == 19_999


def test_json_array_memory_stays_flat_while_streaming(tmp_path: Path):
    f = tmp_path / "big.json"
    f.write_bytes(big_export())
    size = f.stat().st_size
    tracemalloc.start()
    try:
        count = sum(isinstance(i, RawArticle) for i in load([str(f)]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 20_000
    assert peak < size / 10, (peak, size)  # json.load peaks at several times the file size


def test_json_malformed_midway_keeps_earlier_records_and_reports(tmp_path: Path):
    good = [record(i) for i in range(3)]
    body = json.dumps(good)[:-1]
    for tail, fault in [(', {"title": x}]', "invalid char"), (", ", "premature EOF")]:
        f = tmp_path / "cut.json"
        f.write_text(body + tail)
        items = list(load([str(f)]))
        assert [a.title for a in articles(items)] == [r["title"] for r in good]
        (problem,) = [i for i in items if isinstance(i, Skipped)]
        assert problem.source == str(f)
        assert problem.reason.startswith("invalid JSON after record #2: ")
        assert fault in problem.reason and problem.reason.endswith("was not read")


def test_json_malformed_far_into_a_big_file_keeps_everything_before(tmp_path: Path):
    raw = big_export(5_000)
    f = tmp_path / "cut.json"
    f.write_bytes(raw[: len(raw) * 3 // 4])
    items = list(load([str(f)]))
    arts = articles(items)
    assert 3_000 < len(arts) < 5_000
    assert [a.origin for a in arts] == [f"{f}#{n}" for n in range(len(arts))]
    assert items[-1] == Skipped(
        str(f),
        f"invalid JSON after record #{len(arts) - 1}: parse error: premature EOF;"
        " the rest of the file was not read",
    )


def test_json_broken_before_any_record_is_one_skipped_item(tmp_path: Path):
    for text in ["", "   ", "{title: 1}", '[{"title": "a"']:
        (item,) = stream(text.encode())
        assert item.source == "f.json" and item.reason.startswith("invalid JSON: ")


def test_json_shapes_wrappers_single_records_and_scalars():
    def titles(doc) -> list:
        return [i.title if isinstance(i, RawArticle) else i.reason for i in stream(doc)]

    r = {"title": "R"}
    assert titles(json.dumps({"data": [{"title": "D"}], "articles": [r]}).encode()) == ["R"]
    assert titles(json.dumps({"data": [{"title": "D"}], "records": [r]}).encode()) == ["R"]
    assert titles(json.dumps({"data": 5, "title": "T"}).encode()) == ["T"]
    assert titles(json.dumps({"items": [r, 3]}).encode()) == ["R", "expected an object, found int"]
    assert titles(b"null") == ["expected an object, found NoneType"]
    assert titles(b"[]") == [] and titles(b'{"articles": []}') == []


def test_json_non_utf8_is_read_as_cp1252_with_a_note(tmp_path: Path):
    pad = [{"title": f"Plain ASCII record {n}"} for n in range(2_000)]  # past the first chunk
    text = json.dumps([*pad, {"title": "Café talks", "body": "The minister’s view."}])
    raw = text.replace("\\u00e9", "é").replace("\\u2019", "’").encode("cp1252")
    f = tmp_path / "latin.json"
    f.write_bytes(raw)
    items = list(load([str(f)]))
    (note,) = [i for i in items if isinstance(i, Note)]
    bad = raw.index("é".encode("cp1252"))
    assert bad > jsonread.JSON_CHUNK
    assert note == Note(str(f), f"not valid UTF-8 (byte {bad}); read as Windows-1252")
    last = articles(items)[-1]
    assert (last.title, last.body) == ("Café talks", "The minister’s view.")
    assert len(articles(items)) == 2_001


def test_json_bom_is_dropped():
    assert [a.title for a in articles(stream(b'\xef\xbb\xbf[{"title": "BOM"}]', chunk=1))] == [
        "BOM"
    ]


def test_json_nan_and_infinity_from_json_dump_are_read_as_null():
    records = [
        {"title": "One", "score": 1.5},
        {"title": "Two", "score": float("nan"), "body": 'He said "NaN, Infinity" twice.'},
        {"title": "Three", "low": float("-inf"), "high": float("inf")},
    ]
    raw = json.dumps(records).encode()
    for chunk in (None, 3):
        items = stream(raw, chunk=chunk)
        assert [a.title for a in articles(items)] == ["One", "Two", "Three"]
        assert articles(items)[1].body == 'He said "NaN, Infinity" twice.'
        assert Note("f.json", "non-standard NaN/Infinity values read as null") in items
        assert not [i for i in items if isinstance(i, Skipped)]


def test_json_feed_saved_as_json_is_still_a_feed(tmp_path: Path):
    f = tmp_path / "feed.json"
    f.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
        "<item><title>Tariffs rise</title><description>Duties up.</description></item>"
        "</channel></rss>"
    )
    (item,) = articles(load([str(f)]))
    assert item.title == "Tariffs rise" and item.source == "Wire"


DATE_VALUES = (
    st.none()
    | st.sampled_from(
        ["", "2025-04-18T09:00:00Z", "26-FEB-1987 15:01:01.79", "Tue, 10 Jun 2025 04:00:00 GMT"]
    )
    | st.integers(0, 2_000_000_000)
    | st.floats(0, 2e9)
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELD_NAMES = ["id", "Title", "headline", "body", "text", "content", "url", "link", "source"]
RECORDS = st.fixed_dictionaries(
    {},
    optional={
        **{k: VALUES for k in FIELD_NAMES},
        "published": DATE_VALUES,
        "date": DATE_VALUES,
        "dateline": SCALARS,
        "zz": VALUES,
    },
)
ELEMENTS = RECORDS | SCALARS
DOCUMENTS = (
    st.lists(ELEMENTS, max_size=6)
    | st.dictionaries(
        st.sampled_from(["articles", "items", "records", "data", "title", "meta"]),
        st.lists(ELEMENTS, max_size=4) | SCALARS,
        max_size=4,
    )
    | RECORDS
    | SCALARS
)


@settings(max_examples=300, deadline=None)
@given(DOCUMENTS, st.booleans(), st.sampled_from([None, 0, 2]), st.integers(1, 64))
def test_streamed_json_matches_json_loads(doc, ascii_only, indent, chunk):
    text = json.dumps(doc, ensure_ascii=ascii_only, indent=indent)
    assert stream(text.encode(), chunk=chunk) == reference_parse_json(text, "f.json")


@settings(max_examples=200, deadline=None)
@given(st.lists(RECORDS, min_size=1, max_size=6), st.data())
def test_truncated_json_array_yields_a_prefix_then_one_problem(records, data):
    text = json.dumps(records)
    cut = data.draw(st.integers(0, len(text) - 1))
    items = stream(text[:cut].encode(), chunk=data.draw(st.integers(1, 64)))
    *given_items, problem = items
    assert given_items == reference_parse_json(text, "f.json")[: len(given_items)]
    assert problem.source == "f.json" and problem.reason.startswith("invalid JSON")


# --- bad input: what each kind costs ------------------------------------------------------


def nested(levels: int, inner: str = "1") -> str:
    """A value `levels` lists deep."""
    return "[" * levels + inner + "]" * levels


def test_json_nested_100k_deep_is_refused_without_recursion(tmp_path: Path):
    f = tmp_path / "deep.json"
    f.write_text(nested(100_000))
    assert f.stat().st_size > 200_000
    assert list(load([str(f)])) == [
        Skipped(f"{f}#0", f"nested deeper than {jsonread.MAX_DEPTH} levels")
    ]


def test_json_nesting_costs_no_memory_past_the_limit(tmp_path: Path):
    f = tmp_path / "deeper.json"
    f.write_text('{"title": "Deep", "body": ' + nested(500_000) + "}")
    tracemalloc.start()
    try:
        (item,) = load([str(f)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert item == Skipped(f"{f}#0", f"nested deeper than {jsonread.MAX_DEPTH} levels")
    assert peak < 12_000_000, peak  # building 500,000 lists would take over 30 MB


def test_json_deep_record_costs_only_itself(tmp_path: Path):
    deep = '{"title": "Deep", "body": ' + nested(100_000) + "}"
    records = '[{"title": "Before"}, ' + deep + ', {"title": "After"}]'
    for text in [records, '{"meta": ' + nested(100_000) + ', "items": ' + records + "}"]:
        f = tmp_path / "mixed.json"
        f.write_text(text)
        items = list(load([str(f)]))
        assert [a.title for a in articles(items)] == ["Before", "After"]
        assert [i for i in items if isinstance(i, Skipped)] == [
            Skipped(f"{f}#1", f"nested deeper than {jsonread.MAX_DEPTH} levels")
        ]


def test_depth_limit_is_the_same_for_json_and_jsonl(tmp_path: Path):
    limit = jsonread.MAX_DEPTH
    at = '{"title": "At the limit", "x": ' + nested(limit - 1) + "}"  # the record is level 1
    past = '{"title": "Past it", "x": ' + nested(limit) + "}"
    arr, lines = tmp_path / "a.json", tmp_path / "a.jsonl"
    arr.write_text(f"[{at}, {past}]")
    lines.write_text(f"{at}\n{past}\n")
    for f, origin in [(arr, f"{arr}#1"), (lines, f"{lines}#2")]:
        items = list(load([str(f)]))
        assert [a.title for a in articles(items)] == ["At the limit"]
        assert items[-1] == Skipped(origin, f"nested deeper than {limit} levels")


def test_jsonl_each_bad_line_costs_only_itself_and_is_named(tmp_path: Path):
    f = tmp_path / "mixed.jsonl"
    f.write_bytes(
        b'{"title": "One", "score": NaN}\n'
        b"\n"
        b'{"title": "Two", "body": \n'
        b"[1, 2]\n"
        + nested(100_000).encode()
        + b"\n"
        + '{"title": "Café"}\n'.encode("cp1252")
        + b'{"title": "Three"}'
    )
    items = list(load([str(f)]))
    assert [a.title for a in articles(items)] == ["One", "Café", "Three"]
    assert [i for i in items if isinstance(i, Skipped)] == [
        Skipped(f"{f}#3", "invalid JSON: Expecting value (column 26)"),
        Skipped(f"{f}#4", "expected an object, found list"),
        Skipped(f"{f}#5", f"nested deeper than {jsonread.MAX_DEPTH} levels"),
    ]
    assert [i for i in items if isinstance(i, Note)] == [
        Note(f"{f}#6", "not valid UTF-8 (byte 14); read as Windows-1252")
    ]


def test_jsonl_values_give_each_line_its_place():
    fh = io.BytesIO(b'{"question": "q1"}\n\nnot json\n"text"\n')
    assert list(jsonread.jsonl_values(fh, "q.jsonl")) == [
        ("q.jsonl#1", {"question": "q1"}),
        Skipped("q.jsonl#3", "invalid JSON: Expecting value (column 1)"),
        ("q.jsonl#4", "text"),
    ]


# --- hostile values and bounds (issue 17) -------------------------------------------------


def notes(items) -> list[str]:
    return [i.note for i in items if isinstance(i, Note)]


def skipped(items) -> list[Skipped]:
    return [i for i in items if isinstance(i, Skipped)]


GOOD = {"title": "Tariff talks resume", "body": "Negotiators met in Geneva."}


@pytest.mark.parametrize(
    ("fields", "attr", "expected", "note"),
    [
        ({"id": 17}, "external_id", "17", None),
        ({"id": 17.0}, "external_id", "17", None),
        ({"id": 10**40}, "external_id", str(10**40), None),
        ({"id": [1, 2]}, "external_id", None, "id is a list, not text; left out"),
        ({"id": True}, "external_id", None, "id is a boolean, not text; left out"),
        ({"id": float("nan")}, "external_id", None, "id is nan, not text; left out"),
        ({"source": {"id": "bbc", "name": "BBC News"}}, "source", "BBC News", None),
        ({"source": {"id": "bbc"}}, "source", None, "source is an object, not text; left out"),
        ({"url": ["https://e.com"]}, "url", None, "url is a list, not text; left out"),
        ({"url": "https://e.com/" + "x" * 5000}, "url", None, "url of 5,014 characters"),
        ({"body": ["First para.", "Second para."]}, "body", "First para.\n\nSecond para.", None),
        ({"date": True}, "published", None, "a boolean (True) is not a date"),
        ({"date": "9999-12-31"}, "published", None, "is in the future"),
        ({"date": 1e300}, "published", None, "too large for an epoch time"),
        (
            {"date": 1700000000000},
            "published",
            datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
            None,
        ),
        ({"title": "Tariff \ud800 talks"}, "title", "Tariff \ufffd talks", None),
    ],
)
def test_fields_of_the_wrong_type_are_converted_or_left_out_never_a_repr(
    tmp_path: Path, fields, attr, expected, note
):
    f = tmp_path / "a.jsonl"
    f.write_text(json.dumps({**GOOD, **fields}) + "\n")
    items = list(load([str(f)]))
    (art,) = articles(items)
    assert getattr(art, attr) == expected
    if note:
        assert any(note in n for n in notes(items)), notes(items)
    else:
        assert not notes(items)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"title": ["a", "b"]}, "title is a list, not text"),
        ({"title": {"en": "x"}}, "title is an object, not text"),
        ({"body": True}, "body is a boolean, not text"),
        ({"body": [1, 2]}, "body is a list, not text"),
    ],
)
def test_a_title_or_body_of_the_wrong_type_skips_the_record_alone(tmp_path: Path, fields, reason):
    f = tmp_path / "a.json"
    f.write_text(json.dumps([GOOD, {**GOOD, **fields}, {**GOOD, "title": "Third"}]))
    items = list(load([str(f)]))
    assert [a.title for a in articles(items)] == [GOOD["title"], "Third"]
    assert skipped(items) == [Skipped(f"{f}#1", reason)]


@pytest.mark.parametrize("chunk", [None, 7, 300, 4096])
@pytest.mark.parametrize(
    "hostile",
    [
        '"id": ' + "9" * 5000,  # past Python's int-string limit (and ijson's C backend)
        '"id": -' + "1" * 700,
        '"id": 1e99999999999999999999',  # past decimal's exponent range
        '"id": 0.' + "5" * 800,
    ],
)
def test_numbers_too_long_to_read_are_null_and_cost_nothing_else(hostile, chunk):
    doc = f'[{json.dumps(GOOD)}, {{"title": "Huge", {hostile}, "body": "Digits {"7" * 900}."}},'
    doc += ' {"title": "After", "date": NaN}]'
    items = stream(doc.encode(), chunk=chunk)
    arts = articles(items)
    assert [a.title for a in arts] == [GOOD["title"], "Huge", "After"]
    assert arts[1].external_id is None and arts[1].body == f"Digits {'7' * 900}."
    assert any("numbers of 600 or more" in n for n in notes(items))


def test_jsonl_huge_integer_is_null_with_a_note(tmp_path: Path):
    f = tmp_path / "a.jsonl"
    f.write_text('{"title": "Huge", "id": ' + "9" * 5000 + "}\n" + json.dumps(GOOD) + "\n")
    items = list(load([str(f)]))
    assert [a.external_id for a in articles(items)] == [None, None]
    assert any("600 or more" in n for n in notes(items))


def test_json_string_past_the_record_bound_ends_the_file_after_good_records():
    doc = f'[{json.dumps(GOOD)}, {{"title": "{"x" * 3000}"}}, {json.dumps(GOOD)}]'
    with mock.patch.object(jsonread, "MAX_RECORD_BYTES", 1000):
        items = stream(doc.encode(), chunk=100)
    assert [a.title for a in articles(items)] == [GOOD["title"]]
    (problem,) = skipped(items)
    assert "more than 1,000 bytes" in problem.reason and "after record #0" in problem.reason


def test_json_record_with_too_many_values_is_skipped_alone():
    doc = json.dumps([GOOD, {"title": "Wide", "tags": list(range(100))}, GOOD])
    with mock.patch.object(jsonread, "MAX_RECORD_VALUES", 50):
        items = stream(doc.encode())
    assert len(articles(items)) == 2
    assert skipped(items) == [Skipped("f.json#1", "more than 50 values in one record")]


def test_jsonl_line_past_the_bound_costs_only_itself(tmp_path: Path):
    f = tmp_path / "a.jsonl"
    f.write_text(
        json.dumps(GOOD) + "\n" + json.dumps({"title": "x" * 5000}) + "\n" + json.dumps(GOOD)
    )
    with mock.patch.object(jsonread, "MAX_RECORD_BYTES", 1000):
        items = list(load([str(f)]))
    assert len(articles(items)) == 2
    assert skipped(items) == [Skipped(f"{f}#2", "a line longer than 1,000 bytes")]


@pytest.mark.parametrize("end", ["\r", "\n", "\r\n"])
def test_csv_line_ends_of_every_kind_and_fields_past_128kb(tmp_path: Path, end):
    f = tmp_path / "a.csv"
    big = "Word " * 60_000  # 300 KB, past csv's default field_size_limit
    rows = ["title,body", "One,First body.", f'Two,"{big}"', 'Three,"Multi' + end + 'line."']
    f.write_bytes((end.join(rows) + end).encode())
    items = list(load([str(f)]))
    arts = articles(items)
    assert [a.title for a in arts] == ["One", "Two", "Three"]
    assert len(arts[1].body) > 250_000 and arts[2].body == "Multi line."
    assert [a.origin for a in arts] == [f"{f}#2", f"{f}#3", f"{f}#4"]


def test_csv_line_past_the_bound_ends_the_file_keeping_rows_before(tmp_path: Path):
    f = tmp_path / "a.csv"
    f.write_text("title,body\nOne,First.\nTwo," + "x" * 5000 + "\nThree,Third.\n")
    with mock.patch.object(loaders, "MAX_RECORD_BYTES", 1000):
        items = list(load([str(f)]))
    assert [a.title for a in articles(items)] == ["One"]
    (problem,) = skipped(items)
    assert problem.source == f"{f}#3" and "the rest of the file was not read" in problem.reason


def test_csv_streamed_keeps_bom_and_cp1252_handling(tmp_path: Path):
    f = tmp_path / "a.csv"
    f.write_bytes(codecs.BOM_UTF8 + "title,body\nCafé,Ok.\n".encode())
    g = tmp_path / "b.csv"
    g.write_bytes("title,body\nCafé,Ok.\n".encode("cp1252"))
    items = list(load([str(f), str(g)]))
    assert [a.title for a in articles(items)] == ["Café", "Café"]
    assert len(notes(items)) == 1 and "UTF-8" in notes(items)[0]


@pytest.mark.parametrize(
    ("name", "limit"),
    [
        ("big.txt", "MAX_WHOLE_FILE_BYTES"),
        ("big.html", "MAX_WHOLE_FILE_BYTES"),
        ("big.jsonl", "MAX_STREAMED_FILE_BYTES"),
        ("big.csv", "MAX_STREAMED_FILE_BYTES"),
    ],
)
def test_files_past_their_size_cap_are_skipped(tmp_path: Path, name, limit):
    f = tmp_path / name
    f.write_text("title,body\n" + "Tariffs rose again today.\n" * 100)
    with mock.patch.object(loaders, limit, 1000):
        items = list(load([str(f)]))
    (problem,) = items
    assert problem.source == str(f) and problem.reason.startswith("file too large")


def test_body_past_the_cap_is_cut_at_a_paragraph_break_with_a_note(tmp_path: Path):
    f = tmp_path / "a.jsonl"
    body = "\n\n".join(f"Paragraph {n} is here." for n in range(50))
    f.write_text(json.dumps({"title": "Long", "body": body}) + "\n")
    with mock.patch.object(records, "MAX_BODY_CHARS", 100):
        items = list(load([str(f)]))
    (art,) = articles(items)
    assert len(art.body) <= 100 and art.body.endswith("is here.")
    assert body.startswith(art.body)
    assert any("body cut to" in n for n in notes(items))


def test_any_parser_exception_costs_only_its_file_and_is_named(tmp_path: Path):
    (tmp_path / "a.txt").write_text("Tariffs rise again\n\nDuties went up.")
    (tmp_path / "b.html").write_text("<html></html>")
    (tmp_path / "c.txt").write_text("Talks resume in Geneva\n\nNegotiators met.")
    with mock.patch.object(loaders, "parse_html", side_effect=ValueError("boom")):
        items = list(load([str(tmp_path)]))
    assert len(articles(items)) == 2
    assert skipped(items) == [
        Skipped(str(tmp_path / "b.html"), "unexpected ValueError: boom; the rest was not read")
    ]


def test_memory_error_and_interrupts_are_not_swallowed(tmp_path: Path):
    (tmp_path / "b.html").write_text("<html></html>")
    for exc in (MemoryError, KeyboardInterrupt):
        with mock.patch.object(loaders, "parse_html", side_effect=exc), pytest.raises(exc):
            list(load([str(tmp_path)]))


def test_a_url_that_fails_in_any_way_costs_only_itself(tmp_path: Path):
    (tmp_path / "a.txt").write_text("Tariffs rise again\n\nDuties went up.")
    items = list(load([str(tmp_path), "http://[::1/x"]))
    assert len(articles(items)) == 1
    assert [s.source for s in skipped(items)] == ["http://[::1/x"]
    with mock.patch.object(loaders, "fetch", side_effect=ValueError("Invalid IPv6 URL")):
        items = list(load(["http://[::1/x", str(tmp_path)]))
    assert len(articles(items)) == 1
    assert "ValueError: Invalid IPv6 URL" in skipped(items)[0].reason


def test_non_utf8_file_names_are_shown_with_replacement_characters(tmp_path: Path):
    name = os.fsdecode(b"caf\xe9 \xff.txt")
    (tmp_path / name).write_text("Tariffs rise again\n\nDuties went up.")
    (art,) = articles(load([str(tmp_path)]))
    assert art.origin == str(tmp_path / "caf\ufffd \ufffd.txt")
    (problem,) = list(load([str(tmp_path / os.fsdecode(b"gone\xff.txt"))]))
    assert problem == Skipped(str(tmp_path / "gone\ufffd.txt"), "no such file or folder")


def test_an_article_is_capped_at_max_sentences_with_a_note(tmp_path: Path, fake_corpus):
    f = tmp_path / "giant.txt"
    f.write_text(
        "A giant report\n\n" + " ".join(f"Sentence number {n} is here." for n in range(2500))
    )
    report = fake_corpus.ingest([str(f)], progress=False)
    assert report.added == 1
    assert report.embedded == 1 + ingest_module.MAX_SENTENCES  # the title and 2,000 sentences
    assert any("body cut after 2,000 sentences" in n.note for n in report.notes)
    (art,) = fake_corpus.store.articles([1]).values()
    assert art.body.endswith("Sentence number 1999 is here.")


@pytest.mark.parametrize("chunk", [None, 1, 5, 11, 13])
def test_json_lone_surrogate_escapes_in_keys_and_values_cost_nothing(chunk):
    doc = (
        f'[{json.dumps(GOOD)}, {{"\\udc00": 1, "title": "Lone \\ud800 and pair \\ud83d\\ude00",'
        ' "body": "Escaped \\\\ud800 stays text."}, {"title": "After"}]'
    )
    items = stream(doc.encode(), chunk=chunk)
    arts = articles(items)
    assert [a.title for a in arts] == [GOOD["title"], "Lone \ufffd and pair \U0001f600", "After"]
    assert arts[1].body == "Escaped \\ud800 stays text."
