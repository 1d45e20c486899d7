from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retrieval.dates import EARLIEST, FUTURE_SLACK, parse_date, parse_since, read_date
from retrieval.errors import InputError

NOW = datetime(2025, 4, 18, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-04-18T09:00:00Z", "2025-04-18T09:00:00+00:00"),
        ("Fri, 18 Apr 2025 09:00:00 +0200", "2025-04-18T07:00:00+00:00"),
        ("26-FEB-1987 15:01:01.79", "1987-02-26T15:01:01.790000+00:00"),
        (1700000000, "2023-11-14T22:13:20+00:00"),  # seconds
        (1700000000.5, "2023-11-14T22:13:20.500000+00:00"),
        (1700000000000, "2023-11-14T22:13:20+00:00"),  # milliseconds
        (1700000000000000, "2023-11-14T22:13:20+00:00"),  # microseconds
        (1700000000000000000, "2023-11-14T22:13:20+00:00"),  # nanoseconds
        ("1700000000", "2023-11-14T22:13:20+00:00"),  # as a CSV writes it
        ("1700000000000", "2023-11-14T22:13:20+00:00"),
        (-1000000000, "1938-04-24T22:13:20+00:00"),  # before 1970, still in range
        (-1e15, "1938-04-24T22:13:20+00:00"),  # microseconds by magnitude
        ("1900-01-01", "1900-01-01T00:00:00+00:00"),
        ("20250418", "2025-04-18T00:00:00+00:00"),  # eight digits are a date, not an epoch
    ],
)
def test_dates_that_are_read(value, expected):
    date, why = read_date(value, NOW)
    assert why is None
    assert date is not None and date.isoformat() == expected


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (True, "boolean"),
        (False, "boolean"),
        (float("nan"), "not a date"),
        (float("inf"), "not a date"),
        (1e300, "too large"),
        (10**5000, "large"),
        (-(10**20), "too large"),
        (-5e9, "before 1900"),  # seconds: 1811
        ("9999-12-31", "future"),
        ("2025-04-21", "future"),
        ("1899-12-31", "before 1900"),
        ("0001-01-01T00:00:00+01:00", "out of range"),
        ("9999-12-31T23:59:59-05:00", "out of range"),
        ("not a date at all", "not a date"),
        ("x" * 10_000, "characters"),
        ([2025, 4, 18], "list"),
        ({"year": 2025}, "dict"),
    ],
    ids=lambda v: repr(v)[:30] if not isinstance(v, int) or v.bit_length() < 64 else "huge",
)
def test_dates_that_are_unknown_say_why(value, why):
    date, reason = read_date(value, NOW)
    assert date is None
    assert reason is not None and why in reason


def test_future_slack_allows_tomorrow_not_next_week():
    assert parse_date(NOW + timedelta(days=1), NOW) == NOW + timedelta(days=1)
    assert parse_date(NOW + timedelta(days=7), NOW) is None


@pytest.mark.parametrize("value", [None, "", "   "])
def test_empty_is_unknown_without_a_reason(value):
    assert read_date(value, NOW) == (None, None)


def test_since_takes_any_year_and_refuses_overflow():
    assert parse_since("1850-01-01").year == 1850
    with pytest.raises(InputError):
        parse_since("999999999999d")
    with pytest.raises(InputError):
        parse_since("not a date")


hostile = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.text(alphabet="0123456789-+:.TZ /,eE", max_size=40),
    st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2})?)?\Z"),
    st.datetimes(timezones=st.none() | st.timezones()),
    st.lists(st.integers(), max_size=3),
)


@given(hostile)
def test_read_date_never_raises_and_stays_in_range(value):
    date, why = read_date(value, NOW)
    if date is None:
        assert why is None or isinstance(why, str)
    else:
        assert why is None
        assert date.tzinfo is not None and date.utcoffset() == timedelta(0)
        assert EARLIEST <= date <= NOW + FUTURE_SLACK
        assert not (isinstance(value, float) and math.isnan(value))


# --- honest dates: where each date came from, and undated is never recent ----------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("WASHINGTON, April 18, 2025 (Reuters) - The U.S. said", "2025-04-18"),
        ("Tariff talks stall\n18 April 2025 - London", "2025-04-18"),
        ("2025-04-18 Tokyo: Japan asked again.", "2025-04-18"),
        ("The deal signed on 12 March 2019 was...", "2019-03-12"),  # at the head: the dateline
        ("The deal signed in March 2019 was revisited.", None),  # no day: not a date
        ("One\nTwo\nThree\nSigned on 2019-03-12.", None),  # past the first two lines
        ("x " * 70 + "2025-01-01", None),  # past the dateline's place
        ("Due 2099-01-01 says the plan.", None),  # in the future: not a publication date
    ],
)
def test_date_in_text_reads_only_a_dateline(text: str, expected: str | None):
    from retrieval.dates import date_in_text

    found = date_in_text(text, NOW)
    assert (found.date().isoformat() if found else None) == expected


@given(st.text(max_size=300))
def test_date_in_text_never_raises(text: str):
    from retrieval.dates import date_in_text

    found = date_in_text(text, NOW)
    assert found is None or found.tzinfo is not None


def test_each_loader_records_where_its_date_came_from(tmp_path):
    import json

    from retrieval.loaders import RawArticle, load, parse_feed

    (tmp_path / "a.json").write_text(
        json.dumps({"title": "T one", "body": "B.", "date": "2025-04-18"})
    )
    (tmp_path / "b.txt").write_text("Tariff talks stall\n\nTOKYO, April 18, 2025 - Japan asked.")
    (tmp_path / "c.txt").write_text("Tariff talks stall\n\nJapan asked again.")
    loaded = [a for a in load([str(tmp_path)]) if isinstance(a, RawArticle)]
    got = {a.origin.rsplit("/", 1)[-1].split("#")[0]: a for a in loaded}
    assert (got["a.json"].date_source, got["b.txt"].date_source) == ("record", "text")
    assert (got["c.txt"].published, got["c.txt"].date_source) == (None, None)  # no mtime
    feed = b"""<rss><channel><title>F</title><item><title>Headline here</title>
    <pubDate>Fri, 18 Apr 2025 09:00:00 GMT</pubDate></item></channel></rss>"""
    (entry,) = parse_feed(feed, "f")
    assert entry.date_source == "feed"


def test_since_leaves_undated_out_unless_asked_and_headlines_put_them_last(
    capsys, monkeypatch, tmp_path
):
    import json

    import retrieval
    from bot.cli import main
    from tests.conftest import FakeEncoder

    real = retrieval.Corpus
    monkeypatch.setattr(retrieval, "Corpus", lambda s, **kw: real(s, encoder=FakeEncoder(), **kw))
    monkeypatch.setenv("BRIEFBOT_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "undated.txt").write_text("Undated tariff story\n\nJapan asked about tariffs.")
    old = {"title": "Old tariff story", "body": "Tariffs in 1987.", "date": "1987-02-26"}
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert main(["ingest", str(tmp_path / "undated.txt"), str(tmp_path / "old.json")]) == 0
    capsys.readouterr()

    def titles(*argv: str) -> list[str]:
        assert main(["headlines", "--json", *argv]) == 0
        return [a["title"] for a in json.loads(capsys.readouterr().out)["articles"]]

    assert titles() == ["Old tariff story", "Undated tariff story"]  # undated last
    assert titles("--since", "3650d") == []  # ingested today is not published today
    assert titles("--since", "3650d", "--include-undated") == ["Undated tariff story"]
    assert titles("--since", "1980-01-01") == ["Old tariff story"]
    assert main(["headlines"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("— 1987-02-26") and " — undated" in lines[1]
