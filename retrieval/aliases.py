"""The alias tables: every spelling of every country and grouping, and how to fold text.

ISO data (names, official and common names, alpha-2/alpha-3 codes) comes from
pycountry. What news text actually says -- "U.S.", "Britain", "Japanese", "the
Kremlin", "Nakasone", "West Germany" -- lives in data/countries.toml, and the
groupings' names, bodies and officials ("EC Commission", "OPEC", "Okonjo-Iweala") in
data/groupings.toml, so the tables can be reviewed and extended without touching code.
Both the text tagger (mentions.py) and the user-input resolver (countries.py) read them.
"""

from __future__ import annotations

import functools
import logging
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from importlib import resources
from typing import Any

import pycountry

from .groupings import groupings

log = logging.getLogger(__name__)

DATA_FILE = "countries.toml"

# TOML list name -> kind of alias.
_LISTS = {
    "aliases": "alias",
    "demonyms": "demonym",
    "cities": "city",
    "regions": "region",
    "postal": "postal",
    "people": "person",
    "institutions": "institution",
    "currencies": "currency",
    "company_forms": "company",
}
# When one spelling belongs to several countries, the lower rank wins: a country's
# own name beats somebody's capital city, which beats a person's surname.
RANK = {
    "code": 0,
    "name": 1,
    "alias": 1,
    "grouping": 1,
    "derived": 2,
    "demonym": 3,
    "region": 4,
    "city": 4,
    "institution": 5,
    "person": 5,
    "currency": 5,
    "postal": 6,
    "company": 7,
}
# How much one mention counts, relative to the country's name. Demonyms are weaker
# ("Japanese cars sold in Ohio" is mostly about the U.S. market).
KIND_WEIGHTS = {
    "name": 1.0,
    "alias": 1.0,
    "grouping": 1.0,
    "derived": 1.0,
    "demonym": 0.7,
    "city": 0.8,
    "region": 0.8,
    "postal": 0.8,
    "person": 0.8,
    "institution": 0.8,
    "currency": 0.3,
    "company": 0.0,  # counted apart: only a fallback when no country is named
}
SEARCH_KINDS = frozenset({"code", "name", "alias", "grouping", "derived", "demonym"})
_TRAP_FIELDS = {
    "alias",
    "code",
    "becomes",
    "before",
    "after",
    "near",
    "always",
    "keep_near",
    "cased",
}
TRAP_WINDOW = 80


# --------------------------------------------------------------------------- text


def _fold_table() -> dict[int, str]:
    """Accent and punctuation folding that keeps string length, so match offsets stay valid."""
    table: dict[int, str] = {}
    for cp in range(0x80, 0x2000):
        ch = chr(cp)
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        if len(base) == 1 and base.isascii() and base != ch:
            table[cp] = base
    for src, dst in zip("’‘‛`“”–—‒−ŁłØøĐđıİ\u00a0", "''''\"\"----LlOoDdiI ", strict=True):
        table[ord(src)] = dst
    return table


_FOLD = _fold_table()


def fold(text: str) -> str:
    return text.translate(_FOLD)


_KEY_DROP = re.compile(r"[.'`]")
_KEY_SPLIT = re.compile(r"[^a-z0-9]+")


def user_key(text: str) -> str:
    """Lookup key for user input: no case, accents, dots, apostrophes or leading "the"."""
    key = _KEY_DROP.sub("", fold(text).lower().replace("&", " and "))
    key = _KEY_SPLIT.sub(" ", key).strip()
    return key[4:] if key.startswith("the ") else key


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True, slots=True)
class Alias:
    text: str  # folded, as written in the data (capitals matter when tagging)
    code: str  # ISO alpha-2; "" for an ignored phrase
    kind: str


@dataclass(frozen=True, slots=True)
class Trap:
    code: str
    becomes: str
    before: re.Pattern[str] | None
    after: re.Pattern[str] | None
    near: re.Pattern[str] | None
    keep_near: re.Pattern[str] | None
    always: bool
    cased: bool


@dataclass(frozen=True, slots=True)
class Tables:
    names: dict[str, str]  # code -> display name (countries, then groupings)
    aliases: list[Alias]  # every spelling, best rank first
    traps: dict[str, list[Trap]]  # lower-case folded alias -> rules


def _invert(name: str) -> str | None:
    """Turn "Korea, Republic of" into "Republic of Korea"; None when the comma is a list."""
    head, _, tail = name.partition(", ")
    if tail.endswith((" of", " of the")) or " " not in tail:
        return f"{tail} {head}"
    return None


def _pycountry_names(country: Any) -> tuple[list[str], list[str]]:
    """(names, derived short forms) pycountry knows for one country."""
    names: list[str] = []
    derived: list[str] = []
    for field in ("name", "official_name", "common_name"):
        value = getattr(country, field, None)
        if not value:
            continue
        value = re.sub(r"\s*\([^)]*\)", "", value).strip()
        if ", " in value:
            names.append(value)
            inverted = _invert(value)
            if inverted:
                names.append(inverted)
            derived.append(value.partition(", ")[0])
        else:
            names.append(value)
    return names, derived


def _display_name(country: Any, override: str | None) -> str:
    """The TOML `name`, else pycountry's common name, else its name made readable."""
    if override:
        return override
    common = getattr(country, "common_name", None)
    if common:
        return common
    name = re.sub(r"\s*\([^)]*\)", "", country.name).strip()
    return (_invert(name) if ", " in name else None) or name


def _plural(demonym: str) -> str | None:
    if "-" in demonym or demonym.endswith(("s", "sh", "ch", "x", "z", "ese")):
        return None
    return demonym + "s"


def _compile(pattern: str | None, where: str) -> re.Pattern[str] | None:
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{DATA_FILE}: bad regex in {where}: {exc}") from exc


def _load_toml() -> dict:
    text = resources.files(__package__).joinpath("data", DATA_FILE).read_text(encoding="utf-8")
    return tomllib.loads(text)


@functools.cache
def tables() -> Tables:
    """Merge pycountry with the TOML tables; fails loudly on a typo in the data file."""
    data = _load_toml()
    ignore = data.pop("ignore", {})
    trap_rows = data.pop("traps", [])
    raw: list[tuple[int, int, Alias]] = []  # (rank, order, alias)
    names: dict[str, str] = {}

    def add(text: str, code: str, kind: str) -> None:
        text = " ".join(fold(text).split())
        if text:
            raw.append((RANK.get(kind, 9), len(raw), Alias(text, code, kind)))

    for country in pycountry.countries:
        code = country.alpha_2
        section = data.get(code, {})
        names[code] = _display_name(country, section.get("name"))
        add(code, code, "code")
        add(country.alpha_3, code, "code")
        found, derived = _pycountry_names(country)
        for name in found:
            add(name, code, "name")
        for name in derived:
            add(name, code, "derived")
    for code, section in data.items():
        if code not in names:
            raise ValueError(f"{DATA_FILE}: [{code}] is not an ISO 3166-1 alpha-2 code")
        unknown = set(section) - set(_LISTS) - {"name"}
        if unknown:
            raise ValueError(f"{DATA_FILE}: [{code}] has unknown keys {sorted(unknown)}")
        for list_name, kind in _LISTS.items():
            for text in section.get(list_name, []):
                add(text, code, kind)
                if kind == "demonym" and (plural := _plural(text)):
                    add(plural, code, kind)
    for grouping in groupings().values():
        names[grouping.code] = grouping.name
        add(grouping.code, grouping.code, "grouping")
        for kind, spellings in grouping.aliases.items():
            for text in spellings:
                add(text, grouping.code, kind)
    for text in ignore.get("phrases", []):
        add(text, "", "ignore")

    # Derived short forms ("Virgin Islands") that two countries share name neither.
    derived_codes: dict[str, set[str]] = {}
    for _, _, alias in raw:
        if alias.kind == "derived":
            derived_codes.setdefault(alias.text.lower(), set()).add(alias.code)
    raw = [r for r in raw if r[2].kind != "derived" or len(derived_codes[r[2].text.lower()]) == 1]
    raw.sort(key=lambda r: (r[0], r[1]))

    traps: dict[str, list[Trap]] = {}
    for i, row in enumerate(trap_rows):
        where = f"traps[{i}] ({row.get('alias')})"
        if set(row) - _TRAP_FIELDS or "alias" not in row or "code" not in row:
            raise ValueError(f"{DATA_FILE}: {where}: needs alias and code, knows {_TRAP_FIELDS}")
        trap = Trap(
            code=row["code"],
            becomes=row.get("becomes", ""),
            before=_compile(row.get("before"), where),
            after=_compile(row.get("after"), where),
            near=_compile(row.get("near"), where),
            keep_near=_compile(row.get("keep_near"), where),
            always=bool(row.get("always", False)),
            cased=bool(row.get("cased", False)),
        )
        traps.setdefault(fold(row["alias"]).lower(), []).append(trap)
    log.debug("country tables: %d spellings, %d traps", len(raw), len(trap_rows))
    return Tables(names=names, aliases=[r[2] for r in raw], traps=traps)
