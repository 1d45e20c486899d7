"""Lenient date parsing for the many ways exports and feeds write dates."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from dateutil import parser as dateutil_parser

from .errors import InputError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_date(value: object) -> datetime | None:
    """A timezone-aware UTC datetime, or None when `value` is empty or not a date.

    Accepts ISO 8601, RFC 2822, Reuters' `26-FEB-1987 15:01:01.79`, epoch
    seconds and most human spellings; naive times are taken as UTC.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, int | float):
        parsed = datetime.fromtimestamp(float(value), tz=UTC)
    else:
        text = str(value).strip()
        parsed = _parse_text(text)
        if parsed is None:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _parse_text(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        pass
    try:
        return dateutil_parser.parse(text)
    except (ValueError, OverflowError, TypeError):
        return None


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """`--since`: a duration back from now (`24h`, `7d`, `2w`, `30m`) or a date."""
    now = now or datetime.now(UTC)
    match = _DURATION.match(value)
    if match:
        amount, unit = float(match.group(1)), match.group(2).lower()
        return now - timedelta(**{_UNITS[unit]: amount})
    parsed = parse_date(value)
    if parsed is None:
        raise InputError(
            f"cannot read --since {value!r}: use a date (2025-04-18) or a duration (24h, 7d, 2w)"
        )
    return parsed


def isoformat(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None
