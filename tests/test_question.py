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
    ("sentence", "offers"),
    [
        ("California Gov. Gavin Newsom signed the bill on Friday.", True),  # a state
        ("The law was first proposed in Sacramento.", True),  # a city the tables know
        ("Assembly member Phil Ting wrote the bill.", False),  # a person is not a place
        ("The new law will take effect on January 1.", False),
        ("Jaywalking stops in the United States fell sharply.", False),  # the question's own
    ],
)
def test_a_place_question_is_offered_a_place_it_does_not_name(sentence: str, offers: bool):
    """ "Which state…" is answered by a place the country tables know (a country, a US
    state, a city), not by any capitalised name."""
    q = analyse("Which state in the United States is legalizing jaywalking?")
    assert q.wants == PLACE
    assert offered(sentence, q) is offers


@pytest.mark.parametrize(
    ("sentence", "reason"),
    [
        ("What does this mean for the economy?", QUESTION),
        ("Hide Caption 5 of 16 Photos: Pedestrians walk past a screen showing Abe.", CAPTION),
        ("Beyoncé new album release date", HEADING),
        ("Read more", BOILERPLATE),
        ("Tuesday night, officials", FRAGMENT),
        ("The Commission also recommended candidate status for Moldova.", None),
        ("By Jane Smith and Ann Lee", BOILERPLATE),
        ("By Tuesday morning, it had more than 1.7 million likes on the platform.", None),
        ("STAY UP-TO-DATE: Subscribe to our Sports newsletter now!", BOILERPLATE),
        ("A version of this story appears in CNN’s What Matters newsletter.", BOILERPLATE),
        ("Labor laws: 'A victory for workers': Chipotle to pay NYC workers", BOILERPLATE),
        ("Biden said: “We will not back down from this fight at all.”", None),
    ],
)
def test_unfit(sentence: str, reason: str | None) -> None:
    assert unfit(sentence) == reason


@pytest.mark.parametrize(
    ("question", "focus", "slot"),
    [
        (
            "Kim Kardashian damaged a dress. Who was the designer of the garment?",
            ("designer",),
            ((), ("garment",)),
        ),
        ("NASA hit an asteroid. What was the name of the mission?", ("mission",), ((), ())),
        (
            "Wiegman previously led which national team to victory at the Euro 2017?",
            ("national", "team"),
            (("wiegman", "previously", "led")[-2:], ("victory", "euro")),
        ),
    ],
)
def test_focus_and_slot(question: str, focus: tuple, slot: tuple) -> None:
    asked = analyse(question)
    assert asked.focus == focus
    assert asked.slot == slot
    assert asked.ask_clause.startswith(("Who", "What", "Wiegman"))


def test_leans_back() -> None:
    assert leans_back("He said the talks would resume.")
    assert leans_back("“They are not ready,” an aide said.")
    assert not leans_back("Japan said the talks would resume.")
