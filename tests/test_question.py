"""Question analysis and the sentence screen that answers are picked through."""

from __future__ import annotations

import pytest

from retrieval.evidence import BOILERPLATE, CAPTION, FRAGMENT, HEADING, QUESTION, leans_back, unfit
from retrieval.question import NAME, NUMBER, PLACE, YEAR, analyse, offered


@pytest.mark.parametrize(
    ("question", "wants"),
    [
        ("Microsoft retired Internet Explorer this week. What year did it debut?", YEAR),
        ("The rate rise was the highest hike since:", YEAR),
        ("How many vehicles did Ford recall?", NUMBER),
        ("Which country was recommended for EU candidacy alongside Ukraine?", PLACE),
        ("Who won the NHL's Hart Trophy?", NAME),
        ("Beyoncé's next project: what is it titled?", NAME),
        ("Why is Japan objecting to US tariffs", None),
    ],
)
def test_answer_kind(question: str, wants: str | None) -> None:
    assert analyse(question).wants == wants


def test_names_numbers_and_time_words() -> None:
    q = analyse("Which automaker recalled 2.9 million vehicles this week, said Joe Biden in 2022?")
    assert "Joe Biden" in q.names and "Which" not in q.names
    assert "2.9" in q.numbers and q.years == (2022,)
    assert q.relative == "this week"
    assert not q.history
    assert analyse("How has the EU's history of enlargement shaped this?").history


def test_offered_needs_something_the_question_lacks() -> None:
    q = analyse("Microsoft retired Internet Explorer in 2022. What year did it debut?")
    assert offered("The browser debuted in 1995.", q)
    assert not offered("Microsoft retired the browser in 2022.", q)
    who = analyse("Who designed the dress Kim Kardashian wore?")
    assert offered("It was based on a sketch by the designer Bob Mackie.", who)
    assert not offered("Kim Kardashian wore the dress.", who)


@pytest.mark.parametrize(
    ("sentence", "reason"),
    [
        ("What does this mean for the economy?", QUESTION),
        ("Hide Caption 5 of 16 Photos: Pedestrians walk past a screen showing Abe.", CAPTION),
        ("Beyoncé new album release date", HEADING),
        ("Read more", BOILERPLATE),
        ("Tuesday night, officials", FRAGMENT),
        ("The Commission also recommended candidate status for Moldova.", None),
    ],
)
def test_unfit(sentence: str, reason: str | None) -> None:
    assert unfit(sentence) == reason


def test_leans_back() -> None:
    assert leans_back("He said the talks would resume.")
    assert leans_back("“They are not ready,” an aide said.")
    assert not leans_back("Japan said the talks would resume.")
