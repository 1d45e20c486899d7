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
