"""Which countries and groupings a news article is about (`CountryTagger`).

Tagging is about aboutness, not mentions: a headline mention weighs most, then the
dateline ("TOKYO, March 3 -"), then the first two sentences, and a country mentioned
once deep in the body does not make the cut.
"""

from __future__ import annotations

import re

from .aliases import KIND_WEIGHTS, fold
from .groupings import groupings, is_grouping
from .mentions import Mention, matcher

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
    """Tags an article with the countries and the groupings it is about, best first.

    A mention's weight depends on where it is (headline, dateline, lead, rest) and
    what it is (a name counts more than a demonym). Per place the evidence is capped,
    so a country repeated twenty times in the body cannot outweigh the headline. A
    country is kept when its score reaches `min_score` and `min_ratio` of the top one.
    The defaults were tuned on Reuters-21578 files 000-006 (bench/countries.py --tune).

    Groupings (EU, OPEC, ...) are scored the same way but chosen apart, with their own
    floor, so naming the EC never pushes a country out, and a member country never
    makes the grouping: only the grouping's own names, bodies and officials do. When a
    grouping is chosen, mentions of its seat ("BRUSSELS -") no longer count for the
    host country: a Commission story from Brussels is about the EU, not Belgium.
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
        grouping_min_score: float = 1.5,
        grouping_min_ratio: float = 0.3,
        groupings: bool = True,
        seats: bool = True,
    ) -> None:
        self._matcher = matcher()
        self._weights = (title_weight, dateline_weight, lead_weight, rest_weight)
        self._caps = (1.0, 1.0, lead_cap, rest_cap)
        self.min_score = min_score
        self.min_ratio = min_ratio
        self.company_forms = company_forms
        self.grouping_min_score = grouping_min_score
        self.grouping_min_ratio = grouping_min_ratio
        self.groupings = groupings
        self.seats = seats

    def mentions(self, title: str, body: str) -> list[tuple[int, Mention]]:
        """(place, mention) for every country and grouping mention; place 0 is the
        headline, 1 the dateline, 2 the lead, 3 the rest."""
        title = fold(title or "")
        body = fold(body or "")
        article = f"{title}\n{body}"
        found = [(0, m) for m in self._matcher.scan(title, _mode(title, True), article)]
        if body:
            dateline = _dateline_end(body)
            lead = _lead_end(body, dateline)
            for m in self._matcher.scan(body, _mode(body, False), article):
                found.append((1 if m.start < dateline else 2 if m.start < lead else 3, m))
        return found

    def evidence(self, title: str, body: str) -> list[tuple[str, tuple[float, ...]]]:
        """Per code, in order of first mention: summed mention weights per place
        (headline, dateline, lead, rest) and the number of company legal forms
        ("Inc") seen. Exposed so the thresholds can be tuned offline."""
        return self._evidence(self.mentions(title, body))

    @staticmethod
    def _evidence(
        mentions: list[tuple[int, Mention]], skip: frozenset[str] = frozenset()
    ) -> list[tuple[str, tuple[float, ...]]]:
        zones: dict[str, list[float]] = {}
        for zone, m in mentions:
            if m.kind == "city" and m.key in skip:
                continue
            per = zones.setdefault(m.code, [0.0] * 5)
            if m.kind == "company":
                per[4] += 1
            else:
                per[zone] += KIND_WEIGHTS[m.kind]
        return [(code, tuple(per)) for code, per in zones.items()]

    def scores(self, title: str, body: str) -> list[tuple[str, float]]:
        """Every code with some evidence and its score, best first (ties: first mention)."""
        return [item for item in self._scored(self.evidence(title, body)) if item[1] > 0]

    def tag(self, title: str, body: str, limit: int = 4) -> list[str]:
        """Codes the article is about: ISO alpha-2 countries best first, then groupings."""
        mentions = self.mentions(title, body)
        evidence = self._evidence(mentions)
        chosen = self.select_groupings(evidence) if self.groupings else []
        seats = frozenset(fold(seat).lower() for code in chosen for seat in groupings()[code].seats)
        if seats and self.seats:
            evidence = self._evidence(mentions, seats)
        return self.select(evidence, limit) + chosen

    def select(self, evidence: list[tuple[str, tuple[float, ...]]], limit: int = 4) -> list[str]:
        """The countries `evidence()` output is about; see the class docstring."""
        evidence = [item for item in evidence if not is_grouping(item[0])]
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

    def select_groupings(
        self, evidence: list[tuple[str, tuple[float, ...]]], limit: int = 3
    ) -> list[str]:
        """The groupings `evidence()` output is about, best first."""
        scored = self._scored([item for item in evidence if is_grouping(item[0])])
        if not scored or scored[0][1] <= 0:
            return []
        floor = max(self.grouping_min_score, self.grouping_min_ratio * scored[0][1])
        return [code for code, score in scored if score >= floor][:limit]

    def _scored(self, evidence: list[tuple[str, tuple[float, ...]]]) -> list[tuple[str, float]]:
        weights, caps = self._weights, self._caps
        scored = [
            (code, sum(w * min(v, cap) for w, v, cap in zip(weights, per, caps, strict=False)))
            for code, per in evidence
        ]
        scored.sort(key=lambda item: -item[1])  # stable: ties keep first-mention order
        return scored
