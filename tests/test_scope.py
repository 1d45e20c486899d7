"""The question's own countries weigh the ranking; a country filter must be answered about.

Hand-made retrievals and candidates, no model.
"""

from __future__ import annotations

from retrieval.answer import compose
from retrieval.question import analyse
from retrieval.scope import COUNTRY_BONUS, named_countries, question_countries, weigh
from retrieval.search import Candidate
from tests.test_answer_rules import retrieval


def test_countries_named_in_text() -> None:
    assert named_countries("Japan, too, steadied nerves.") == {"JP"}
    assert named_countries("Former Japanese Prime Minister Shinzo Abe was shot.") == {"JP"}
    assert named_countries("South Korea’s KOSPI rose 2% on Monday.") == {"KR"}
    assert named_countries("Kim Kardashian wore the dress at the Met Gala.") == set()
    assert question_countries(analyse("How are Japan and the US handling tariffs?")) == {
        "JP",
        "US",
    }


def _c(aid: int, score: float) -> Candidate:
    return Candidate(aid, score, dense=score, lexical=0.5, best_sim=score)


def test_a_named_country_weighs_its_articles_without_hiding_others() -> None:
    ranked = [_c(1, 1.0), _c(2, 1.0 - COUNTRY_BONUS / 2), _c(3, 0.5)]
    tags = {1: ["US"], 2: ["JP", "US"], 3: []}
    assert [c.article_id for c in weigh(ranked, tags, {"JP"})] == [2, 1, 3]
    # Comparing two countries: both raised alike, so their order stands; nothing is hidden.
    assert [c.article_id for c in weigh(ranked, tags, {"JP", "US"})] == [1, 2, 3]
    assert [c.article_id for c in weigh(ranked, tags, set())] == [1, 2, 3]


def test_a_country_filter_whose_evidence_is_about_another_country_abstains() -> None:
    question = "How did markets in South Korea react to the tariffs?"
    about_japan = retrieval(
        question,
        {
            1: [
                ("Japan, too, steadied nerves.", 0.9),
                ("Tokyo's Nikkei rose 1% as Japan's exporters shrugged off the tariffs.", 0.8),
            ]
        },
    )
    answer = compose(about_japan, abstain_below=0.0, countries=("KR",))
    assert answer.abstained and answer.sentences == []
    assert not compose(about_japan, abstain_below=0.0).abstained  # the filter decides
    mixed = retrieval(
        question,
        {
            1: [
                ("Japan, too, steadied nerves.", 0.9),
                ("South Korea's KOSPI fell 2% as the tariffs hit its carmakers.", 0.7),
                ("Traders said the selling would not last beyond the week.", 0.6),
            ]
        },
    )
    shown = [s.text for s in compose(mixed, abstain_below=0.0, countries=("KR",)).sentences]
    assert "Japan, too, steadied nerves." not in shown
    assert any("KOSPI" in s for s in shown)
