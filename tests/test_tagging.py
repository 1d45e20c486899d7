"""Country and topic tags at ingest, topic input, and filters applied inside the search."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval import Corpus, Filters, InputError
from retrieval.topics import load_topics, resolve_topic


def by_title(corpus: Corpus, start: str):
    for article in corpus.headlines(None, None):
        if article.title.startswith(start):
            return article
    raise AssertionError(f"no article titled {start!r}")


@pytest.mark.parametrize(
    ("title", "countries", "topic"),
    [
        ("Japan has called on the United States", ["JP", "US"], "trade"),
        ("U.S. Initiates $11.1 Billion Arms Sale to Taiwan", ["US", "TW"], "geopolitics"),
        ("Canada Signals Delay in US Tariff Deal", ["CA", "US"], "trade"),
    ],
)
def test_seed_articles_are_tagged(seed_corpus: Corpus, title, countries, topic):
    article = by_title(seed_corpus, title)
    assert article.countries[:2] == countries
    assert topic in article.topics


def test_off_topic_seed_headlines_are_not_trade(seed_corpus: Corpus):
    for start in ("Kennedy Center Reportedly Renamed", "U.S. House Advances GOP Healthcare"):
        assert "trade" not in by_title(seed_corpus, start).topics


def test_country_filter_on_seed(seed_corpus: Corpus):
    result = seed_corpus.ask("tariffs", Filters(countries=("JP",)))
    assert result.articles and all("JP" in r.article.countries for r in result.articles)
    assert result.articles[0].article.title.startswith("Japan has called")


@pytest.mark.parametrize(
    ("text", "name"),
    [("trade", "trade"), ("Trade tensions", "trade"), (" GEOPOLITICS ", "geopolitics")],
)
def test_resolve_topic(text, name):
    assert resolve_topic(text) == name


def test_unknown_topic_suggests():
    with pytest.raises(InputError, match="did you mean trade"):
        resolve_topic("trde")


def test_topic_definitions_are_complete():
    topics = {t.name: t for t in load_topics()}
    assert {"trade", "geopolitics"} <= set(topics)
    for topic in topics.values():
        assert topic.description and topic.examples and topic.keywords


def test_rare_country_still_found_in_a_large_corpus(fake_corpus: Corpus, tmp_path: Path):
    """0.5% of the corpus is about Japan: a filtered search must return those, not nothing."""
    rows = [
        {
            "id": f"c{i}",
            "title": f"Ottawa budget update {i}",
            "body": f"Canadian officials in Ottawa discussed the economy and budget item {i}.",
        }
        for i in range(400)
    ]
    rows += [
        {
            "id": "j1",
            "title": "Tokyo weighs stimulus",
            "body": "Japanese officials in Tokyo said growth slowed.",
        },
        {"id": "j2", "title": "Japan exports slip", "body": "Japan said exports fell in March."},
    ]
    f = tmp_path / "big.json"
    f.write_text(json.dumps(rows))
    fake_corpus.ingest([str(f)])
    result = fake_corpus.ask(
        "Canadian officials discussed the economy and budget", Filters(countries=("JP",)), limit=10
    )
    assert {r.article.external_id for r in result.articles} == {"j1", "j2"}
    unfiltered = fake_corpus.ask("Canadian officials discussed the economy and budget", limit=10)
    assert all(r.article.external_id.startswith("c") for r in unfiltered.articles)


def test_retag_reproduces_ingest_tags(fake_corpus: Corpus):
    from tests.conftest import SEED

    fake_corpus.ingest([str(SEED)])
    before = {a.id: (a.countries, a.topics) for a in fake_corpus.headlines(None, None)}
    assert fake_corpus.retag() == 18
    after = {a.id: (a.countries, a.topics) for a in fake_corpus.headlines(None, None)}
    assert after == before
