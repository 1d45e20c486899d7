"""Lenient date parsing for the many ways exports and feeds write dates.

A record's date is read by `read_date`, which never raises: whatever it is given, it
returns a timezone-aware UTC datetime in the sane range, or None with the reason. The
sane range is from `EARLIEST` (1900-01-01) to `FUTURE_SLACK` (2 days) after now: news is
not older, and a date further ahead is a typo or a placeholder (9999-12-31) that would
otherwise top every newest-first list forever. The slack allows for time zones and for
embargoed copy dated tomorrow.

Numbers (and strings of nine or more digits, as CSV writes them) are Unix epoch times,
their unit told by magnitude, as exports write seconds, milliseconds (JavaScript,
pandas), microseconds or nanoseconds (pandas' datetime64):

| absolute value   | unit         | e.g. (all 2023-11-14 22:13:20 UTC) |
| ---------------- | ------------ | ---------------------------------- |
| below 1e11       | seconds      | 1700000000                         |
| below 1e14       | milliseconds | 1700000000000                      |
| below 1e17       | microseconds | 1700000000000000                   |
| below 1e20       | nanoseconds  | 1700000000000000000                |
| anything larger  | not a date   |                                    |

1e11 seconds is the year 5138 and 1e11 milliseconds is March 1973, so every time in the
sane range since 1973 is read in the right unit whichever was written. A boolean, NaN,
an infinity, a list or an object is not a date.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime

from dateutil import parser as dateutil_parser

from .errors import InputError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=2)
# (upper bound of the absolute value, seconds per unit), smallest unit last; see above.
EPOCH_UNITS = ((1e11, 1.0), (1e14, 1e-3), (1e17, 1e-6), (1e20, 1e-9))
# Longer text is not a date (and dateutil is slow on long input).
MAX_DATE_CHARS = 100
_EPOCH_TEXT = re.compile(r"^[+-]?\d{9,}(?:\.\d*)?$")


def parse_date(value: object, now: datetime | None = None) -> datetime | None:
    """A timezone-aware UTC datetime in the sane range, or None; see `read_date`."""
    return read_date(value, now)[0]


def read_date(value: object, now: datetime | None = None) -> tuple[datetime | None, str | None]:
    """(date, None) for a date in the sane range, (None, why) for a value that is not
    one or is out of range, (None, None) for an empty value. Never raises.

    Accepts ISO 8601, RFC 2822, Reuters' `26-FEB-1987 15:01:01.79`, epoch numbers (see
    the module docstring) and most human spellings; naive times are taken as UTC.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    parsed, why = _any_date(value)
    if parsed is None:
        return None, why
    now = now or datetime.now(UTC)
    if parsed < EARLIEST:
        return None, f"{_shown(value)} is before {EARLIEST.year}"
    if parsed > now + FUTURE_SLACK:
        return None, f"{_shown(value)} is in the future"
    return parsed, None


def _any_date(value: object) -> tuple[datetime | None, str | None]:
    """`value` as an aware UTC datetime, whatever its year, or (None, why)."""
    try:
        if isinstance(value, bool):  # before int: True is an int, and would be 1970
            return None, f"a boolean ({value}) is not a date"
        if isinstance(value, datetime):
            parsed: datetime | None = value
        elif isinstance(value, int | float | Decimal):
            return _from_epoch(value)
        elif isinstance(value, str):
            text = value.strip()
            if len(text) > MAX_DATE_CHARS:
                return None, f"a text of {len(text):,} characters is not a date"
            if _EPOCH_TEXT.match(text):
                return _from_epoch(float(text))
            parsed = _parse_text(text)
        else:
            return None, f"a {type(value).__name__} is not a date"
        if parsed is None:
            return None, f"{_shown(value)} is not a date"
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC), None
    except (OverflowError, ValueError):  # e.g. year 9999 at UTC-5 is past datetime.max
        return None, f"{_shown(value)} is out of range"


def _from_epoch(number: float | Decimal) -> tuple[datetime | None, str | None]:
    if isinstance(number, int) and number.bit_length() > 80:  # float() of it may overflow
        return None, "a number this large is not a date"
    seconds = float(number)
    if not math.isfinite(seconds):
        return None, f"{_shown(number)} is not a date"
    for bound, unit in EPOCH_UNITS:
        if abs(seconds) < bound:
            return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds * unit), None
    return None, f"{_shown(number)} is too large for an epoch time"


def _shown(value: object) -> str:
    """`value` for a note: short, and safe for any input (str() of a huge int raises)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return "a number this large"
    text = repr(value) if isinstance(value, str) else str(value)
    text = re.sub(r"[\ud800-\udfff]", "\ufffd", text)
    return text if len(text) <= 40 else text[:39] + "…"


def _parse_text(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        pass
    try:
        return dateutil_parser.parse(text)
    except (ValueError, OverflowError, TypeError):
        return None


class SinceOverflow(InputError, OverflowError):
    """A `--since` before the year 1: an input error for the user, an overflow for callers
    that bound the window themselves (and word it their way)."""


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """`--since`: a duration back from now (`24h`, `7d`, `2w`, `30m`) or a date.

    Unlike a record's date, any year is taken: the user asked for it.
    """
    now = now or datetime.now(UTC)
    match = _DURATION.match(value)
    if match:
        amount, unit = float(match.group(1)), match.group(2).lower()
        try:
            return now - timedelta(**{_UNITS[unit]: amount})
        except OverflowError:  # 99999999999d: before the year 1
            raise SinceOverflow(f"cannot read --since {value!r}: that is too long ago") from None
    parsed = _any_date(value)[0]
    if parsed is None:
        raise InputError(
            f"cannot read --since {value!r}: use a date (2025-04-18) or a duration (24h, 7d, 2w)"
        )
    return parsed


def isoformat(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
# A full date (day, month and year) as datelines write it: 2025-04-18, April 18, 2025,
# 18 April 2025, 26-FEB-1987.
_TEXT_DATE = re.compile(
    rf"\b(\d{{4}}-\d{{2}}-\d{{2}}|{_MONTH}\s+\d{{1,2}},?\s+\d{{4}}|\d{{1,2}}\s+{_MONTH},?\s+\d{{4}}"
    rf"|\d{{1,2}}-{_MONTH}-\d{{4}})\b",
    re.IGNORECASE,
)
# Only the dateline's place: a date deeper in the text is what the story is about.
DATELINE_CHARS = 120


def date_in_text(text: str, now: datetime | None = None) -> datetime | None:
    """The publication date a plain-text article states where a dateline stands: a full
    date (day, month, year) within the first `DATELINE_CHARS` characters of its first two
    lines, or None. "In March 2019" or a date deeper in the story is not its date."""
    lines = [ln for ln in text.lstrip().split("\n", 3)[:3] if ln.strip()][:2]
    head = "\n".join(lines)[:DATELINE_CHARS]
    match = _TEXT_DATE.search(head)
    return parse_date(match.group(1), now) if match else None
