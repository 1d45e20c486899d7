"""Text analysis: query terms for FTS5, and the stemming answers and summaries use."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import snowballstemmer

from retrieval.analysis import content_stems, query_terms, stem
from retrieval.answer import overlap


@pytest.mark.parametrize(
    ("question", "terms"),
    [
        ("Why is Japan pushing back on U.S. tariffs?", ["japan", "pushing", "back", "tariffs"]),
        ("tariffs, TARIFFS and tariffs", ["tariffs"]),  # distinct, lower-cased, in order
        ("What did 3 G7 ministers say in 2025?", ["3", "g7", "ministers", "2025"]),
        ("a b c_d", []),  # single letters are not words, nor is "_"
        ("Ökonomie der Zölle", ["ökonomie", "der", "zölle"]),  # accents kept for FTS5
    ],
)
def test_query_terms(question: str, terms: list[str]):
    assert query_terms(question) == terms


@pytest.mark.parametrize(
    ("terms", "text", "share"),
    [
        ({"tariffs"}, "A new tariff on steel.", 1.0),
        ({"pushing", "talks"}, "Japan pushed back; talk of a deal.", 1.0),
        ({"japan", "cars"}, "Japan exports rice.", 0.5),
        (set(), "anything", 0.0),
    ],
)
def test_overlap_matches_inflected_forms(terms: set[str], text: str, share: float):
    assert overlap(terms, text) == share


def test_stem_is_snowball_english_on_every_thread():
    """A Snowball stemmer holds the word in progress: threads must not share one."""
    words = [
        f"{w}{suffix}"
        for w in ("nation", "trade", "export", "talk")
        for suffix in ("", "s", "ed", "ing", "al", "ally", "ization")
    ] * 50
    want = snowballstemmer.stemmer("english").stemWords(words)
    stem.cache_clear()
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(stem, words))
    assert got == want
    assert content_stems("The nations said trading talks resumed") == [
        "nation",
        "trade",
        "talk",
        "resum",
    ]


def test_the_c_stemmer_gives_the_pure_python_stems():
    """PyStemmer (the stemmer snowballstemmer hands out when it is installed) must stem as
    snowballstemmer's own English stemmer does, or stored stems would change with it."""
    from snowballstemmer.english_stemmer import EnglishStemmer

    fast = snowballstemmer.stemmer("english")
    assert type(fast).__module__ == "Stemmer"  # the C one is installed and used
    words = [
        "generously", "nationalization", "tariffs", "retaliatory", "dying", "skies",
        "news", "exceedingly", "cabinet's", "u.s.", "co-operation", "1990s", "feed",
        "agreed", "hopping", "controlling", "arguing", "sensational", "quickly",
    ]  # fmt: skip
    assert fast.stemWords(words) == [EnglishStemmer().stemWord(w) for w in words]
