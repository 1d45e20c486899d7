"""Groupings (the EU, OPEC, the WTO, ...) as actors beside countries: codes, members, dates.

The data is in data/groupings.toml. A grouping code (EU, OPEC, G7) is used wherever a
country code is (tags in `article_countries`, `Filters.countries`), which is why no
grouping code may be an ISO code. This module knows the codes and memberships; the
text matching of their names lives in aliases.py with the countries'.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from datetime import date
from importlib import resources

import pycountry

DATA_FILE = "groupings.toml"
# TOML list name -> kind of alias (the kinds countries.toml uses, plus `grouping`).
ALIAS_LISTS = {
    "aliases": "grouping",
    "institutions": "institution",
    "titles": "institution",
    "people": "person",
}
_KEYS = {"name", "seats", "user_codes", "members", *ALIAS_LISTS}
_DAY = r"\d{4}(?:-\d{2}-\d{2})?"
_MEMBER = re.compile(rf"([A-Z]{{2}})(?:\s+({_DAY})?\.\.({_DAY})?)?")


@dataclass(frozen=True, slots=True)
class Membership:
    """One period of membership, half-open: `since` is the first day, `until` the first day out."""

    code: str
    since: date | None = None
    until: date | None = None

    def covers(self, day: date) -> bool:
        return (self.since is None or self.since <= day) and (
            self.until is None or day < self.until
        )


@dataclass(frozen=True, slots=True)
class Grouping:
    code: str
    name: str
    aliases: dict[str, tuple[str, ...]]  # alias kind -> spellings
    seats: tuple[str, ...]
    user_codes: tuple[str, ...]  # another country's ISO code people also use for it
    members: tuple[Membership, ...]

    def member_codes(self, on: date | None = None) -> list[str]:
        """Members on a day, or everyone who ever was (`on` None), in data order."""
        codes = (m.code for m in self.members if on is None or m.covers(on))
        return list(dict.fromkeys(codes))


def _day(text: str | None, end: bool) -> date | None:
    if not text:
        return None
    if len(text) == 4:  # a bare year: from its first day, or until the next year's first
        return date(int(text) + 1 if end else int(text), 1, 1)
    return date.fromisoformat(text)


def parse_member(text: str) -> Membership:
    """ "GB 1973..2020-02-01" -> Membership("GB", 1973-01-01, 2020-02-01); "DE" -> always.

    A bare year as `until` means through that year. Raises ValueError when unreadable.
    """
    m = _MEMBER.fullmatch(text.strip())
    if not m:
        raise ValueError(f"bad member {text!r}: want 'CODE' or 'CODE FROM..UNTIL'")
    code, since, until = m.group(1), _day(m.group(2), False), _day(m.group(3), True)
    if pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"bad member {text!r}: {code} is not an ISO 3166-1 alpha-2 code")
    if since and until and until <= since:
        raise ValueError(f"bad member {text!r}: ends before it starts")
    return Membership(code, since, until)


def _read(code: str, section: dict) -> Grouping:
    where = f"{DATA_FILE}: [{code}]"
    if unknown := set(section) - _KEYS:
        raise ValueError(f"{where} has unknown keys {sorted(unknown)}")
    if "name" not in section:
        raise ValueError(f"{where} needs a name")
    iso = len(code) == 2 and pycountry.countries.get(alpha_2=code) is not None
    if iso or (len(code) == 3 and pycountry.countries.get(alpha_3=code) is not None):
        raise ValueError(f"{where}: a grouping code must not be an ISO country code")
    try:
        members = tuple(parse_member(m) for m in section.get("members", []))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    aliases = {kind: () for kind in ALIAS_LISTS.values()}
    for list_name, kind in ALIAS_LISTS.items():
        aliases[kind] += tuple(section.get(list_name, []))
    return Grouping(
        code=code,
        name=section["name"],
        aliases=aliases,
        seats=tuple(section.get("seats", [])),
        user_codes=tuple(section.get("user_codes", [])),
        members=members,
    )


@functools.cache
def groupings() -> dict[str, Grouping]:
    """Every grouping by code, in data order; fails loudly on a typo in the data file."""
    text = resources.files(__package__).joinpath("data", DATA_FILE).read_text(encoding="utf-8")
    return {code: _read(code, section) for code, section in tomllib.loads(text).items()}


def is_grouping(code: str) -> bool:
    return code in groupings()


def split_codes(codes: list[str]) -> tuple[list[str], list[str]]:
    """(country codes, grouping codes) of a tag list, each in its order."""
    table = groupings()
    return [c for c in codes if c not in table], [c for c in codes if c in table]


def code_hints(code: str) -> list[str]:
    """Groupings people also write as this ISO code ("EC" -> ["EU"])."""
    return [g.code for g in groupings().values() if code in g.user_codes]
