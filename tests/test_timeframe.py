"""Questions about a time: relative words weigh the ranking, an explicit year restricts it.

Hand-made corpora (the fake encoder, no model): the same story in several years, so only
the dates can decide.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from retrieval.question import analyse
from retrieval.search import Candidate
from retrieval.timeframe import (
    AGE_CAP,
    AGE_GRACE_DAYS,
    AGE_PER_YEAR,
    OUTSIDE_PENALTY,
    rerank,
    rerank_by_age,
    timeframe,
)

REF = datetime(2022, 6, 17, tzinfo=UTC)


@pytest.mark.parametrize(
    ("question", "days", "restrict"),
    [
        ("What did the Fed decide this week?", 8, False),
        ("Who resigned yesterday?", 3, False),
        ("Which team won last month?", 63, False),
        ("Who won the election in 2023?", 365, True),
    ],
)
def test_timeframe_of_a_question(question: str, days: int, restrict: bool) -> None:
    frame = timeframe(analyse(question), REF)
    assert frame is not None and frame.restrict == restrict
    assert (frame.end - frame.start).days == days


@pytest.mark.parametrize(
    "question",
    [
        "The Fed raised rates. This was the highest hike since 1994?",  # history, not a year
        "Who won the 2018 World Cup final?",  # a name, not "in 2018"
        "Why are tariffs rising?",
    ],
)
def test_no_timeframe(question: str) -> None:
    frame = timeframe(analyse(question), REF)
    assert frame is None or not frame.restrict


def test_relative_words_need_a_reference() -> None:
    assert timeframe(analyse("What happened this week?"), None) is None


def _candidate(aid: int, score: float) -> Candidate:
    return Candidate(aid, score, dense=score, lexical=0.5, best_sim=score)


def test_outside_the_window_loses_to_inside() -> None:
    frame = timeframe(analyse("Which park flooded this week?"), REF)
    ranked = [_candidate(1, 1.2), _candidate(2, 1.2 - OUTSIDE_PENALTY / 2), _candidate(3, 0.5)]
    published = {1: datetime(2021, 6, 15, tzinfo=UTC), 2: datetime(2022, 6, 14, tzinfo=UTC)}
    assert [c.article_id for c in rerank(ranked, published, frame)] == [2, 1, 3]
    far = [_candidate(1, 1.2), _candidate(2, 1.2 - 2 * OUTSIDE_PENALTY)]
    assert [c.article_id for c in rerank(far, published, frame)] == [1, 2]  # weighs, not hides


def test_latest_prefers_the_newer_of_close_candidates() -> None:
    frame = timeframe(analyse("What is the latest on the Fed's rate hikes?"), REF)
    ranked = [_candidate(1, 1.0), _candidate(2, 0.95)]
    published = {1: datetime(2022, 3, 1, tzinfo=UTC), 2: datetime(2022, 6, 15, tzinfo=UTC)}
    assert [c.article_id for c in rerank(ranked, published, frame)] == [2, 1]


def test_without_time_words_the_long_past_loses_a_little() -> None:
    """Years old: AGE_PER_YEAR a year past the grace, capped; inside the grace, nothing."""
    old, recent = datetime(2017, 6, 17, tzinfo=UTC), datetime(2022, 3, 1, tzinfo=UTC)
    close = [_candidate(1, 1.0), _candidate(2, 1.0 - AGE_CAP / 2), _candidate(3, 0.2)]
    published = {1: old, 2: recent}
    assert [c.article_id for c in rerank_by_age(close, published, REF)] == [2, 1, 3]
    scores = {c.article_id: c.score for c in rerank_by_age(close, published, REF)}
    assert scores[1] == pytest.approx(1.0 - AGE_CAP)  # five years: the cap
    assert scores[2] == pytest.approx(1.0 - AGE_CAP / 2)  # 108 days: inside the grace
    assert scores[3] == 0.2  # undated: nothing says it is old
    year_and_half = datetime(2020, 12, 17, tzinfo=UTC)
    lost = AGE_PER_YEAR * ((REF - year_and_half).days - AGE_GRACE_DAYS) / 365
    (moved,) = rerank_by_age([_candidate(4, 1.0)], {4: year_and_half}, REF)
    assert moved.score == pytest.approx(1.0 - lost)
    far = [_candidate(1, 1.0), _candidate(2, 1.0 - 2 * AGE_CAP)]
    assert [c.article_id for c in rerank_by_age(far, published, REF)] == [1, 2]  # weighs


def _hurricanes(tmp_path: Path) -> Path:
    """The same kind of story five years apart, the older worded a little closer."""
    rows = [
        ("maria-2017", "2017-09-20", "A hurricane knocked out power across Puerto Rico."),
        ("fiona-2022", "2022-09-19", "A hurricane knocked out power in Puerto Rico again."),
    ]
    return _dated(tmp_path / "storms.jsonl", "Storm", rows)


def _dated(path: Path, title: str, rows: list[tuple[str, str, str]]) -> Path:
    """(id, published, body) rows as a JSON-lines export, titled `title` and the year."""
    lines = (
        json.dumps({"id": i, "title": f"{title} {d[:4]}", "body": b, "published": d})
        for i, d, b in rows
    )
    path.write_text("\n".join(lines))
    return path


def test_a_question_without_time_words_means_the_present(fake_corpus, tmp_path) -> None:
    fake_corpus.ingest([str(_hurricanes(tmp_path))], progress=False)
    now = datetime(2022, 9, 22, tzinfo=UTC)
    question = "Which hurricane knocked out power across Puerto Rico?"
    assert _top(fake_corpus.ask(question, now=now)) == "fiona-2022"
    # Asked as of 2017, the 2022 story is in the future, not old: nothing moves it.
    assert _top(fake_corpus.ask(question, now=datetime(2017, 9, 22, tzinfo=UTC))) == "maria-2017"
    # A question about history is left to similarity.
    history = "Which hurricane in history knocked out power across Puerto Rico?"
    assert _top(fake_corpus.ask(history, now=now)) == "maria-2017"


def _summits(tmp_path: Path) -> Path:
    rows = [
        (
            "g7-2019",
            "2019-08-26",
            "G7 leaders agreed at the summit in Biarritz to study a digital tax.",
        ),
        (
            "g7-2022",
            "2022-06-28",
            "G7 leaders agreed at the summit in Elmau to cap Russian oil prices.",
        ),
        ("g7-2022b", "2022-06-10", "G7 finance ministers agreed at a meeting to fund Ukraine."),
    ]
    return _dated(tmp_path / "summits.jsonl", "G7 summit", rows)


def _top(result) -> str:
    return result.articles[0].article.external_id


def test_an_explicit_year_restricts_and_falls_back_with_a_note(fake_corpus, tmp_path) -> None:
    fake_corpus.ingest([str(_summits(tmp_path))], progress=False)
    asked = fake_corpus.ask("What did G7 leaders agree at the summit in 2019?")
    assert {r.article.external_id for r in asked.articles} == {"g7-2019"}
    assert asked.answer.note is None
    missing = fake_corpus.ask("What did G7 leaders agree at the summit in 2015?")
    assert missing.answer.note and "2015" in missing.answer.note
    assert len(missing.articles) == 3


def test_this_week_counts_from_the_newest_article_or_now(fake_corpus, tmp_path) -> None:
    fake_corpus.ingest([str(_summits(tmp_path))], progress=False)
    question = "What did G7 leaders agree this week?"
    assert _top(fake_corpus.ask(question)) == "g7-2022"  # the corpus's last week
    then = datetime(2019, 8, 28, tzinfo=UTC)
    assert _top(fake_corpus.ask(question, now=then)) == "g7-2019"
