"""Finding country and grouping mentions in text: one regex over every alias, and the traps.

All aliases are compiled into one trie-shaped regex, built once per process, so
finding mentions is one regex pass over the text however many aliases there are.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .aliases import TRAP_WINDOW, Alias, Tables, Trap, tables


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
class Mention:
    start: int
    end: int
    code: str
    kind: str
    key: str  # the matched text, folded and lower-cased


class Matcher:
    """All spellings compiled once; finds country and grouping mentions, applies the traps."""

    def __init__(self, tables: Tables) -> None:
        self.by_key: dict[str, list[Alias]] = {}
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
        self._body = body

    @functools.cached_property
    def anycase(self) -> re.Pattern[str]:
        """For all-lower-case text (typed questions): compiled on first use, because an
        ingest rarely meets such text and compiling this regex is a visible part of
        every process's start (bench/RESULTS.md)."""
        return re.compile(rf"(?<!\w)(?:{self._body})(?!\w)", re.IGNORECASE)

    def scan(self, text: str, mode: str, article: str) -> list[Mention]:
        """Mentions in `text` (already folded). `mode`: sentence, title, caps or lower."""
        pattern = self.anycase if mode == "lower" else self.cased
        found: list[Mention] = []
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
                found.append(Mention(start, end, code, kind, key))
        return _drop_address_cities(text, found)

    def _pick(self, key: str, raw: str, mode: str) -> Alias | None:
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


def _fires(trap: Trap, text: str, start: int, end: int, mode: str, article: str) -> bool:
    if trap.cased and mode != "sentence":
        return False
    fired = (
        trap.always
        or (
            trap.before is not None
            and trap.before.search(text[max(0, start - TRAP_WINDOW) : start])
        )
        or (trap.after is not None and trap.after.search(text[end : end + TRAP_WINDOW]))
        or (trap.near is not None and trap.near.search(article))
    )
    return bool(fired) and not (trap.keep_near is not None and trap.keep_near.search(article))


def _drop_address_cities(text: str, found: list[Mention]) -> list[Mention]:
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
def matcher() -> Matcher:
    return Matcher(tables())
