"""The countries a question is about, and what they do to the answer.

A country named in the question ("What did Japan say about…") weighs the
articles tagged with it: they gain `COUNTRY_BONUS` in the ranking. Nothing is
hidden: a question comparing countries ("Japan and the US") favours articles
about either, and an article about neither can still win on its evidence.

A `--country` filter is stricter: the answer must be about a filtered country.
The filter admits articles *tagged* with it, and such an article may say more
about a neighbour ("Japan, too, steadied nerves." in a story tagged KR), so a
sentence that names countries, none of them filtered, cannot answer; when no
sentence remains the answer abstains.

Names are resolved with `retrieval.countries` (names, codes, demonyms, aliases);
only the capitalised words of a question or of a shortlisted sentence are looked up.
"""

from __future__ import annotations

import functools
import re

from .countries import resolve_country, search_countries
from .errors import InputError
from .question import Question, name_runs
from .search import Candidate, rescored

COUNTRY_BONUS = 0.25
_POSSESSIVE = re.compile(r"['’]s$")


@functools.lru_cache(maxsize=4096)
def country_of(name: str) -> str | None:
    """The alpha-2 code `name` spells exactly (a name, demonym, alias), else None."""
    if not search_countries(name, 1):  # cheap: no country starts like it
        return None
    try:
        return resolve_country(name)
    except InputError:
        return None


def named_countries(text: str) -> set[str]:
    """Codes of the countries a text names, from its capitalised names and their words
    ("Former Japanese Prime Minister" names JP). A sentence's first word counts."""
    codes: set[str] = set()
    for name in name_runs(text):
        parts = [_POSSESSIVE.sub("", w) for w in name.split()]
        found = country_of(name)
        if found:
            codes.add(found)
            continue
        for k in range(len(parts)):  # the longest run of words that names a country
            for j in range(len(parts), k, -1):
                code = country_of(" ".join(parts[k:j]))
                if code:
                    codes.add(code)
                    break
    return codes


def question_countries(question: Question) -> set[str]:
    return named_countries(question.text)


def weigh(ranked: list[Candidate], tags: dict[int, list[str]], codes: set[str]) -> list[Candidate]:
    """The candidates, those tagged with one of `codes` raised by COUNTRY_BONUS."""
    if not codes:
        return ranked
    return rescored(
        ranked, lambda c: COUNTRY_BONUS if codes & set(tags.get(c.article_id, ())) else 0.0
    )


def off_filter(text: str, codes: tuple[str, ...]) -> bool:
    """Whether `text` names countries, none of them among the filter's `codes`."""
    named = named_countries(text)
    return bool(named) and not named & set(codes)
