"""The time a question is about, and how it orders or restricts the candidate articles.

"Yesterday", "this week", "last month", "latest" are relative: relative to the
*reference date*, which is the caller's `now` when given and otherwise the newest
publication date in the corpus (a corpus of last year's news asked "what happened
this week" means its own last week, not the calendar's). Relative words *weigh*
the ranking: candidates published inside the window keep their score, the others
lose `OUTSIDE_PENALTY`, so a story dated a day off is not lost. "Latest" and
"most recent" prefer the newer of close candidates. An explicit year ("in 2023",
"during 2019") *restricts* the search to that year; when the corpus has nothing
relevant in it the caller falls back to the whole corpus and says so. A question
with no time words is taken to be about the present: candidates published long
before the reference date lose a little (`rerank_by_age`), unless it asks for history.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .question import Question
from .search import RERANKED, Candidate, rescored

# Score lost by a candidate published outside the question's window (fused scores of
# the top candidates are about 1-1.5 apart from each other by 0.1-0.3).
OUTSIDE_PENALTY = 0.3
# "Latest": score lost per day older than the newest close candidate, up to the cap.
RECENCY_PER_DAY = 0.01
RECENCY_CAP = 0.3
# Without time words a news question is about the present: a candidate published more
# than AGE_GRACE_DAYS before the reference date loses AGE_PER_YEAR of score per year
# past that, up to AGE_CAP (a follow-up months later is still news; a five-year-old
# story of the same kind is another event). Not when the question asks for history.
AGE_GRACE_DAYS = 180
AGE_PER_YEAR = 0.1
AGE_CAP = 0.3

_WINDOWS = {
    "today": (1, 0),
    "tonight": (1, 0),
    "yesterday": (2, 0),
    "this week": (7, 0),
    "this weekend": (4, 0),
    "last week": (14, 0),
    "last weekend": (10, 0),
    "this month": (31, 0),
    "last month": (62, 0),
    "this year": (366, 0),
    "so far this year": (366, 0),
}
_LATEST = frozenset(["latest", "recent", "recently", "newest", "most recent"])
_IN_YEAR = re.compile(r"\b(?:in|during|throughout)\s+((?:19|20)\d\d)\b(?!\s*(?:-|–|to)\s*\d)")


@dataclass(frozen=True)
class Timeframe:
    """`start`..`end` (end exclusive): a window to weigh by, or a year to restrict to."""

    start: datetime
    end: datetime
    restrict: bool  # True for an explicit year
    latest: bool = False  # "latest": newer wins among close candidates
    label: str = ""  # the words that set it ("this week", "2023")


def timeframe(question: Question, reference: datetime | None) -> Timeframe | None:
    """The time `question` is about, or None when it names none."""
    year = _IN_YEAR.search(question.text)
    if year and not question.history:
        y = int(year.group(1))
        start = datetime(y, 1, 1, tzinfo=UTC)
        return Timeframe(start, datetime(y + 1, 1, 1, tzinfo=UTC), True, label=year.group(1))
    if question.relative is None or reference is None:
        return None
    end = reference + timedelta(days=1)
    if question.relative in _LATEST:
        return Timeframe(end - timedelta(days=3650), end, False, True, question.relative)
    back, _ = _WINDOWS.get(question.relative, (7, 0))
    return Timeframe(end - timedelta(days=back + 1), end, False, label=question.relative)


def rerank(
    ranked: list[Candidate], published: dict[int, datetime], frame: Timeframe
) -> list[Candidate]:
    """The candidates reordered for a weighing timeframe (undated ones are left as they
    are: nothing says they are outside)."""
    head = ranked[:RERANKED]
    newest = max((published[c.article_id] for c in head if c.article_id in published), default=None)

    def penalty(when: datetime) -> float:
        lost = 0.0 if frame.start <= when < frame.end else OUTSIDE_PENALTY
        if frame.latest and newest is not None:
            days = (newest - when).total_seconds() / 86400
            lost += min(RECENCY_CAP, RECENCY_PER_DAY * days)
        return lost

    return _reordered(ranked, published, penalty)


def rerank_by_age(
    ranked: list[Candidate], published: dict[int, datetime], reference: datetime
) -> list[Candidate]:
    """The candidates reordered for a question without time words: the long-past ones
    lose a little (`AGE_PER_YEAR`), so among close candidates the current story wins."""

    def penalty(when: datetime) -> float:
        days = (reference - when).total_seconds() / 86400 - AGE_GRACE_DAYS
        return min(AGE_CAP, AGE_PER_YEAR * days / 365) if days > 0 else 0.0

    return _reordered(ranked, published, penalty)


def _reordered(
    ranked: list[Candidate],
    published: dict[int, datetime],
    penalty: Callable[[datetime], float],
) -> list[Candidate]:
    """`search.rescored` with `penalty(published date)` taken off (undated candidates
    keep their score: nothing says they are outside or old)."""

    def change(c: Candidate) -> float:
        when = published.get(c.article_id)
        return -penalty(when) if when is not None else 0.0

    return rescored(ranked, change)


def reorder(
    ranked: list[Candidate],
    published: dict[int, datetime],
    frame: Timeframe | None,
    reference: datetime | None,
    history: bool,
) -> tuple[list[Candidate], bool]:
    """The candidates in the order the question's time asks for, and whether the best is
    inside its window: weighed by its time words' window, by age when it has none (unless
    it asks for history), as they are for an explicit year (the search kept only that)."""
    if frame is not None and not frame.restrict:
        ranked = rerank(ranked, published, frame)
        return ranked, top_inside(ranked, published, frame)
    if frame is None and reference is not None and not history:
        return rerank_by_age(ranked, published, reference), True
    return ranked, True


def top_inside(ranked: list[Candidate], published: dict[int, datetime], frame: Timeframe) -> bool:
    """Whether the best candidate is dated inside `frame` (undated: nothing says not)."""
    when = published.get(ranked[0].article_id) if ranked else None
    return when is None or frame.start <= when < frame.end


def parse_published(value: str | None) -> datetime | None:
    """A stored publication date (ISO 8601) as an aware datetime."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
