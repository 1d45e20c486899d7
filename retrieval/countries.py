"""Which country or grouping a user means: `--country Japan`, `country:EU`, autocomplete.

The tables are those the text tagger uses (aliases.py); here they are keyed for
typed input: no case, accents, dots or leading "the". `CountryTagger` is re-exported
for callers that know this module as the home of both.
"""

from __future__ import annotations

import difflib
import functools

from . import wording
from .aliases import RANK, SEARCH_KINDS, fold, tables, user_key
from .country_tagger import CountryTagger
from .errors import InputError
from .groupings import code_hints, groupings
from .mentions import matcher

__all__ = [
    "CountryTagger",
    "country_name",
    "grouping_hint",
    "question_countries",
    "resolve_country",
    "search_countries",
    "suggest_countries",
]

# Suggestions more than this far (difflib ratio) behind the best one are not shown.
SUGGEST_MARGIN = 0.12


@functools.cache
def _lookup() -> dict[str, str]:
    """User-input key -> code, best-ranked spelling first (postal codes excluded)."""
    table: dict[str, str] = {}
    for alias in tables().aliases:
        if alias.code and alias.kind not in ("postal", "company"):
            table.setdefault(user_key(alias.text), alias.code)
    table.pop("", None)
    return table


def country_name(code: str) -> str:
    """Short common name for an alpha-2 code: "Russia", not "Russian Federation"."""
    names = tables().names
    name = names.get(code.strip().upper()) if isinstance(code, str) else None
    if name is None:
        raise InputError(wording.text("errors.country.unknown_code", code=code))
    return name


def suggest_countries(text: str, limit: int = 3) -> list[str]:
    """Codes of the countries whose names or aliases look most like `text` (for typos)."""
    key = user_key(text)
    if not key or limit <= 0:
        return []
    table = _lookup()
    matcher = difflib.SequenceMatcher(b=key, autojunk=False)
    scored = []
    for candidate in table:
        if len(candidate) <= 3:
            continue
        matcher.set_seq1(candidate)
        if matcher.real_quick_ratio() >= 0.6 and matcher.quick_ratio() >= 0.6:
            ratio = matcher.ratio()
            if ratio >= 0.6:
                scored.append((ratio, candidate))
    scored.sort(key=lambda item: (-item[0], item[1]))
    codes: list[str] = []
    for ratio, candidate in scored:
        # Far behind the best guess is noise: "Jpan" is Japan, not also Spain.
        if ratio < scored[0][0] - SUGGEST_MARGIN:
            break
        code = table[candidate]
        if code not in codes:
            codes.append(code)
            if len(codes) == limit:
                break
    return codes


def resolve_country(text: str) -> str:
    """Alpha-2 code for whatever a user typed: name, code, demonym, capital or alias.

    Raises InputError with up to three suggestions when nothing matches, so the
    bot can answer "did you mean Japan (JP)?" instead of silently filtering nothing.
    """
    code = _lookup().get(user_key(text))
    if code:
        return code
    shown = " ".join(text.split())[:60]
    if not shown:
        raise InputError(wording.text("errors.country.missing"))
    hints = [f"{country_name(c)} ({c})" for c in suggest_countries(text)]
    if not hints:
        raise InputError(wording.text("errors.country.unknown", country=shown))
    said = hints[0] if len(hints) == 1 else ", ".join(hints[:-1]) + " or " + hints[-1]
    raise InputError(wording.text("errors.country.suggest", country=shown, hints=said))


@functools.cache
def _search_entries() -> list[tuple[str, str, str, int]]:
    """(key, code, label, rank) for autocomplete: names, codes, aliases and demonyms."""
    data = tables()
    entries = []
    seen: set[tuple[str, str]] = set()
    for code, name in data.names.items():
        entries.append((user_key(name), code, name, 0))
        seen.add((user_key(name), code))
    for alias in data.aliases:
        if alias.kind not in SEARCH_KINDS or not alias.code:
            continue
        key = user_key(alias.text)
        if key and (key, alias.code) not in seen:
            seen.add((key, alias.code))
            plain = alias.kind != "code" and ", " not in alias.text
            label = alias.text if plain else data.names[alias.code]
            entries.append((key, alias.code, label, RANK[alias.kind]))
    return entries


def search_countries(prefix: str, limit: int = 25) -> list[tuple[str, str]]:
    """(code, matched name or alias) for autocomplete, best first.

    Exact matches come first, then names starting with the text, then names with a
    word starting with it, then names merely containing it. One row per country.
    """
    names = tables().names
    key = user_key(prefix)
    if not key:
        ordered = sorted(names.items(), key=lambda item: item[1])
        return ordered[:limit]
    best: dict[str, tuple[tuple[int, int, int, str], str]] = {}
    for entry_key, code, label, rank in _search_entries():
        if entry_key == key:
            grade = 0
        elif entry_key.startswith(key):
            grade = 1
        elif f" {key}" in f" {entry_key}":
            grade = 2
        elif key in entry_key:
            grade = 3
        else:
            continue
        score = (grade, rank, len(entry_key), names[code])
        if code not in best or score < best[code][0]:
            best[code] = (score, label)
    ranked = sorted(best.items(), key=lambda item: item[1][0])
    return [(code, label) for code, (_, label) in ranked[:limit]]


def grouping_hint(typed: str, code: str) -> str | None:
    """A note when `typed` is a country's ISO code that also names a grouping.

    The rule: an ISO code always means its country (`EC` is Ecuador, `AU` Australia,
    as in ISO 3166 and every other tool); the note points at the grouping, whose own
    code (`EU`, `AFU`) or name is unambiguous.
    """
    if user_key(typed) != code.lower():
        return None
    hinted = code_hints(code)
    if not hinted:
        return None
    grouping = groupings()[hinted[0]]
    return wording.text(
        "errors.country.grouping_hint",
        typed=typed.strip(),
        country=country_name(code),
        code=code,
        grouping=grouping.name,
        grouping_code=grouping.code,
    )


def question_countries(text: str) -> list[str]:
    """Codes of the countries and groupings a question names, in order of mention.

    Names, demonyms, capitals, institutions and people all count ("what did Nakasone
    say about chips?" names Japan), so a question can be narrowed the way a filter is.
    """
    folded = fold(text or "")
    found = matcher().scan(folded, "sentence", folded) + matcher().scan(folded, "lower", folded)
    found.sort(key=lambda m: m.start)  # typed questions are often all lower case: both
    return list(dict.fromkeys(m.code for m in found))
