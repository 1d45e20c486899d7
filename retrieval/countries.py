"""Which countries a news article is about, and which country a user means.

ISO data (names, official and common names, alpha-2/alpha-3 codes) comes from
pycountry. What news text actually says -- "U.S.", "Britain", "Japanese", "the
Kremlin", "Nakasone", "West Germany" -- lives in data/countries.toml, so the tables
can be reviewed and extended without touching code.

Tagging is about aboutness, not mentions: a headline mention weighs most, then the
dateline ("TOKYO, March 3 -"), then the first two sentences, and a country mentioned
once deep in the body does not make the cut. All aliases are compiled into one
trie-shaped regex, built once per process, so tagging is one regex pass over the text
however many aliases there are.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import logging
import re
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import pycountry

from . import wording
from .errors import InputError

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
_RANK = {
    "code": 0,
    "name": 1,
    "alias": 1,
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
_SEARCH_KINDS = frozenset({"code", "name", "alias", "derived", "demonym"})
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
_TRAP_WINDOW = 80
# Suggestions more than this far (difflib ratio) behind the best one are not shown.
SUGGEST_MARGIN = 0.12


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


def _fold(text: str) -> str:
    return text.translate(_FOLD)


_KEY_DROP = re.compile(r"[.'`]")
_KEY_SPLIT = re.compile(r"[^a-z0-9]+")


def _key(text: str) -> str:
    """Lookup key for user input: no case, accents, dots, apostrophes or leading "the"."""
    key = _KEY_DROP.sub("", _fold(text).lower().replace("&", " and "))
    key = _KEY_SPLIT.sub(" ", key).strip()
    return key[4:] if key.startswith("the ") else key


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True, slots=True)
class _Alias:
    text: str  # folded, as written in the data (capitals matter when tagging)
    code: str  # ISO alpha-2; "" for an ignored phrase
    kind: str


@dataclass(frozen=True, slots=True)
class _Trap:
    code: str
    becomes: str
    before: re.Pattern[str] | None
    after: re.Pattern[str] | None
    near: re.Pattern[str] | None
    keep_near: re.Pattern[str] | None
    always: bool
    cased: bool


@dataclass(frozen=True, slots=True)
class _Tables:
    names: dict[str, str]  # code -> display name
    aliases: list[_Alias]  # every spelling, best rank first
    traps: dict[str, list[_Trap]]  # lower-case folded alias -> rules


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
def _tables() -> _Tables:
    """Merge pycountry with the TOML tables; fails loudly on a typo in the data file."""
    data = _load_toml()
    ignore = data.pop("ignore", {})
    trap_rows = data.pop("traps", [])
    raw: list[tuple[int, int, _Alias]] = []  # (rank, order, alias)
    names: dict[str, str] = {}

    def add(text: str, code: str, kind: str) -> None:
        text = " ".join(_fold(text).split())
        if text:
            raw.append((_RANK.get(kind, 9), len(raw), _Alias(text, code, kind)))

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
    for text in ignore.get("phrases", []):
        add(text, "", "ignore")

    # Derived short forms ("Virgin Islands") that two countries share name neither.
    derived_codes: dict[str, set[str]] = {}
    for _, _, alias in raw:
        if alias.kind == "derived":
            derived_codes.setdefault(alias.text.lower(), set()).add(alias.code)
    raw = [r for r in raw if r[2].kind != "derived" or len(derived_codes[r[2].text.lower()]) == 1]
    raw.sort(key=lambda r: (r[0], r[1]))

    traps: dict[str, list[_Trap]] = {}
    for i, row in enumerate(trap_rows):
        where = f"traps[{i}] ({row.get('alias')})"
        if set(row) - _TRAP_FIELDS or "alias" not in row or "code" not in row:
            raise ValueError(f"{DATA_FILE}: {where}: needs alias and code, knows {_TRAP_FIELDS}")
        trap = _Trap(
            code=row["code"],
            becomes=row.get("becomes", ""),
            before=_compile(row.get("before"), where),
            after=_compile(row.get("after"), where),
            near=_compile(row.get("near"), where),
            keep_near=_compile(row.get("keep_near"), where),
            always=bool(row.get("always", False)),
            cased=bool(row.get("cased", False)),
        )
        traps.setdefault(_fold(row["alias"]).lower(), []).append(trap)
    log.debug("country tables: %d spellings, %d traps", len(raw), len(trap_rows))
    return _Tables(names=names, aliases=[r[2] for r in raw], traps=traps)


# --------------------------------------------------------------------------- lookups


@functools.cache
def _lookup() -> dict[str, str]:
    """User-input key -> code, best-ranked spelling first (postal codes excluded)."""
    table: dict[str, str] = {}
    for alias in _tables().aliases:
        if alias.code and alias.kind not in ("postal", "company"):
            table.setdefault(_key(alias.text), alias.code)
    table.pop("", None)
    return table


def country_name(code: str) -> str:
    """Short common name for an alpha-2 code: "Russia", not "Russian Federation"."""
    names = _tables().names
    name = names.get(code.strip().upper()) if isinstance(code, str) else None
    if name is None:
        raise InputError(wording.text("errors.country.unknown_code", code=code))
    return name


def suggest_countries(text: str, limit: int = 3) -> list[str]:
    """Codes of the countries whose names or aliases look most like `text` (for typos)."""
    key = _key(text)
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
    code = _lookup().get(_key(text))
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
    tables = _tables()
    entries = []
    seen: set[tuple[str, str]] = set()
    for code, name in tables.names.items():
        entries.append((_key(name), code, name, 0))
        seen.add((_key(name), code))
    for alias in tables.aliases:
        if alias.kind not in _SEARCH_KINDS or not alias.code:
            continue
        key = _key(alias.text)
        if key and (key, alias.code) not in seen:
            seen.add((key, alias.code))
            plain = alias.kind != "code" and ", " not in alias.text
            label = alias.text if plain else tables.names[alias.code]
            entries.append((key, alias.code, label, _RANK[alias.kind]))
    return entries


def search_countries(prefix: str, limit: int = 25) -> list[tuple[str, str]]:
    """(code, matched name or alias) for autocomplete, best first.

    Exact matches come first, then names starting with the text, then names with a
    word starting with it, then names merely containing it. One row per country.
    """
    names = _tables().names
    key = _key(prefix)
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


# --------------------------------------------------------------------------- matcher


def _trie_pattern(words: Iterable[str]) -> str:
    """One regex for many words, shaped as a trie so re never retries a common prefix."""
    trie: dict = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:
        alts = [
            (r"\s+" if ch == " " else re.escape(ch)) + emit(child)
            for ch, child in sorted(node.items())
            if ch
        ]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if "" in node:  # a word may end here; the longer one is tried first
            return f"(?:{body})?"
        return body

    return emit(trie)


@dataclass(frozen=True, slots=True)
class _Mention:
    start: int
    end: int
    code: str
    kind: str


class _Matcher:
    """All spellings compiled once; finds country mentions and applies the traps."""

    def __init__(self, tables: _Tables) -> None:
        self.by_key: dict[str, list[_Alias]] = {}
        for alias in tables.aliases:
            if alias.kind != "code":  # "IN", "IT", "TO" in text are words, not countries
                self.by_key.setdefault(alias.text.lower(), []).append(alias)
        self.traps = tables.traps
        words = sorted(self.by_key)
        body = _trie_pattern(words)
        # In normal text a country word starts with a capital; the few entries written
        # with a lower-case first word ("de Klerk", "the Philippines") are allowed too.
        lower_starts = sorted(
            {
                w.split()[0]
                for w in words
                if w[0].isalpha() and any(a.text[0].islower() for a in self.by_key[w])
            }
        )
        starts = "|".join(re.escape(s) + r"\b" for s in lower_starts)
        gate = f"(?=(?-i:[A-Z0-9]){'|' + starts if starts else ''})"
        self.cased = re.compile(rf"(?<!\w){gate}(?:{body})(?!\w)", re.IGNORECASE)
        self.anycase = re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)

    def scan(self, text: str, mode: str, article: str) -> list[_Mention]:
        """Mentions in `text` (already folded). `mode`: sentence, title, caps or lower."""
        pattern = self.anycase if mode == "lower" else self.cased
        found: list[_Mention] = []
        for m in pattern.finditer(text):
            raw = m.group()
            if not raw.isascii() or "  " in raw or "\n" in raw or "\t" in raw:
                raw = " ".join(raw.split())
            key = raw.lower()
            alias = self._pick(key, raw, mode)
            if alias is None or not alias.code:
                continue
            start, end = m.span()
            code, kind = alias.code, alias.kind
            if kind == "postal" and not _ADDRESS_BEFORE.search(text[max(0, start - 40) : start]):
                continue
            for trap in self.traps.get(key, ()):
                if trap.code == code and _fires(trap, text, start, end, mode, article):
                    code = trap.becomes
                    kind = "region" if code else kind  # "Athens, Georgia": an address part
                    break
            if code:
                found.append(_Mention(start, end, code, kind))
        return _drop_address_cities(text, found)

    def _pick(self, key: str, raw: str, mode: str) -> _Alias | None:
        for alias in self.by_key.get(key, ()):
            if mode == "lower":
                if any(c.islower() for c in alias.text):  # acronyms need capitals
                    return alias
            elif _case_ok(alias.text, raw):
                return alias
        return None


_ADDRESS_BEFORE = re.compile(r"[A-Za-z][\w.'-]*,\s*$")
_COMMA_ONLY = re.compile(r"\s*,\s*")


def _case_ok(written: str, seen: str) -> bool:
    """Every capital in the data must be a capital in the text ("Turkey" not "turkey")."""
    if len(written) != len(seen):
        return seen[:1].isupper() or not written[:1].isupper()
    return all(s.isupper() for w, s in zip(written, seen, strict=True) if w.isupper())


def _fires(trap: _Trap, text: str, start: int, end: int, mode: str, article: str) -> bool:
    if trap.cased and mode != "sentence":
        return False
    fired = (
        trap.always
        or (
            trap.before is not None
            and trap.before.search(text[max(0, start - _TRAP_WINDOW) : start])
        )
        or (trap.after is not None and trap.after.search(text[end : end + _TRAP_WINDOW]))
        or (trap.near is not None and trap.near.search(article))
    )
    return bool(fired) and not (trap.keep_near is not None and trap.keep_near.search(article))


def _drop_address_cities(text: str, found: list[_Mention]) -> list[_Mention]:
    """In "Lebanon, Pa." or "London, Ontario" the place belongs to the region's country."""
    if len(found) < 2:
        return found
    keep = []
    for here, following in itertools.pairwise(found):
        if (
            following.kind in ("region", "postal")
            and following.code != here.code
            and _COMMA_ONLY.fullmatch(text, here.end, following.start)
        ):
            continue
        keep.append(here)
    keep.append(found[-1])
    return keep


@functools.cache
def _matcher() -> _Matcher:
    return _Matcher(_tables())


# --------------------------------------------------------------------------- tagging

_DATELINE = re.compile(r"[\s*#>]*([^\n]{2,80}?)\s*,?\s+-{1,2}\s+")
_DATELINE_PLACE = re.compile(
    r"[A-Z][A-Z.'&]+(?:[ -][A-Z][A-Z.'&]*)*(?=,|\s*\(|$)"
    r"|[^()]{2,60}\((?:Reuters?|AP|AFP|Bloomberg|Xinhua|Kyodo|dpa|UPI|Dow Jones)\)"
)
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n")
_ABBREVIATIONS = frozenset(
    {
        "mr", "mrs", "ms", "dr", "st", "co", "corp", "inc", "ltd", "plc", "jan", "feb", "mar",
        "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "no", "gov", "sen",
        "rep", "gen", "lt", "col", "vs", "jr", "sr", "prof", "pres", "dept", "bros", "mt", "ft",
        "messrs", "adm", "capt", "sgt",
    }
)  # fmt: skip
_INITIALS = re.compile(r"(?:[A-Za-z]\.)*[A-Za-z]")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{3,}")


def _mode(text: str, headline: bool) -> str:
    """How far capital letters can be trusted in `text`."""
    has_lower = any(c.islower() for c in text)
    if not has_lower:
        return "caps"
    if not any(c.isupper() for c in text):
        return "lower"
    if headline:
        words = _WORD.findall(text)
        if words and sum(w[0].isupper() for w in words) >= 0.6 * len(words):
            return "title"
    return "sentence"


def _dateline_end(body: str) -> int:
    """End of a newswire dateline ("TOKYO, March 3 -", "LONDON (Reuters) -"), or 0."""
    m = _DATELINE.match(body)
    if m and _DATELINE_PLACE.match(m.group(1)) and ". " not in m.group(1):
        return m.end()
    return 0


def _lead_end(body: str, start: int, sentences: int = 2) -> int:
    """End of the first `sentences` sentences after `start`; cheap, abbreviation-aware."""
    count = 0
    for m in _SENTENCE_END.finditer(body, start):
        if body[m.start()] in ".!?":
            before = body[max(start, m.start() - 15) : m.start()].split()
            token = before[-1] if before else ""
            if token.lower().strip("(\"'") in _ABBREVIATIONS or _INITIALS.fullmatch(token):
                continue
        count += 1
        if count == sentences:
            return m.end()
    return len(body)


class CountryTagger:
    """Tags an article with the countries it is about, best first.

    A mention's weight depends on where it is (headline, dateline, lead, rest) and
    what it is (a name counts more than a demonym). Per place the evidence is capped,
    so a country repeated twenty times in the body cannot outweigh the headline. A
    country is kept when its score reaches `min_score` and `min_ratio` of the top one.
    The defaults were tuned on Reuters-21578 files 000-006 (bench/countries.py --tune).
    Creating a tagger is cheap: the matcher is built once per process.
    """

    def __init__(
        self,
        *,
        title_weight: float = 3.0,
        dateline_weight: float = 3.0,
        lead_weight: float = 1.5,
        rest_weight: float = 0.4,
        lead_cap: float = 2.0,
        rest_cap: float = 4.0,
        min_score: float = 1.2,
        min_ratio: float = 0.3,
        company_forms: bool = True,
    ) -> None:
        self._matcher = _matcher()
        self._weights = (title_weight, dateline_weight, lead_weight, rest_weight)
        self._caps = (1.0, 1.0, lead_cap, rest_cap)
        self.min_score = min_score
        self.min_ratio = min_ratio
        self.company_forms = company_forms

    def evidence(self, title: str, body: str) -> list[tuple[str, tuple[float, ...]]]:
        """Per country, in order of first mention: summed mention weights per place
        (headline, dateline, lead, rest) and the number of company legal forms
        ("Inc") seen. Exposed so the thresholds can be tuned offline."""
        title = _fold(title or "")
        body = _fold(body or "")
        article = f"{title}\n{body}"
        zones: dict[str, list[float]] = {}
        mentions = [(0, m) for m in self._matcher.scan(title, _mode(title, True), article)]
        if body:
            dateline = _dateline_end(body)
            lead = _lead_end(body, dateline)
            for m in self._matcher.scan(body, _mode(body, False), article):
                mentions.append((1 if m.start < dateline else 2 if m.start < lead else 3, m))
        for zone, m in mentions:
            per = zones.setdefault(m.code, [0.0] * 5)
            if m.kind == "company":
                per[4] += 1
            else:
                per[zone] += KIND_WEIGHTS[m.kind]
        return [(code, tuple(per)) for code, per in zones.items()]

    def scores(self, title: str, body: str) -> list[tuple[str, float]]:
        """Every country with some evidence and its score, best first (ties: first mention)."""
        return [item for item in self._scored(self.evidence(title, body)) if item[1] > 0]

    def tag(self, title: str, body: str, limit: int = 4) -> list[str]:
        """ISO alpha-2 codes the article is about, best first; [] when none qualifies."""
        return self.select(self.evidence(title, body), limit)

    def select(self, evidence: list[tuple[str, tuple[float, ...]]], limit: int = 4) -> list[str]:
        """Apply the thresholds to `evidence()` output; see the class docstring."""
        scored = self._scored(evidence)
        if scored and scored[0][1] > 0:
            floor = max(self.min_score, self.min_ratio * scored[0][1])
            chosen = [code for code, score in scored if score >= floor][:limit]
            if chosen:
                return chosen
        # No country qualifies: a company's legal form ("Acme Inc") is the last clue.
        forms = [(per[4], code) for code, per in evidence if per[4] > 0]
        if self.company_forms and forms:
            return [max(forms, key=lambda item: item[0])[1]]
        return []

    def _scored(self, evidence: list[tuple[str, tuple[float, ...]]]) -> list[tuple[str, float]]:
        weights, caps = self._weights, self._caps
        scored = [
            (code, sum(w * min(v, cap) for w, v, cap in zip(weights, per, caps, strict=False)))
            for code, per in evidence
        ]
        scored.sort(key=lambda item: -item[1])  # stable: ties keep first-mention order
        return scored
