"""Sentence splitting at abbreviations: titles never end a sentence, real ends still do."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.text import split_sentences

TITLES = ["Rep.", "Sen.", "Gov.", "Lt.", "Gen.", "Dr.", "Prof.", "Sgt.", "Mr.", "Mrs."]
NAMES = ["Tom Suozzi", "Kathy Hochul", "Chuck Schumer", "Ana Silva", "George Santos"]
VERBS = ["said on Tuesday", "voted against the bill", "met officials in Tokyo", "declined"]


def spans(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Santos won after he lost to Democratic Rep. Tom Suozzi in 2022. He then left.",
            ["Santos won after he lost to Democratic Rep. Tom Suozzi in 2022.", "He then left."],
        ),
        (
            "Gov. Kathy Hochul signed it. Sen. Chuck Schumer agreed.",
            ["Gov. Kathy Hochul signed it.", "Sen. Chuck Schumer agreed."],
        ),
        (
            "Rep. George Santos, R-N.Y. is facing charges. Others disagree.",
            ["Rep. George Santos, R-N.Y. is facing charges.", "Others disagree."],
        ),
        ("It ranked No. 2 in the poll. Good news.", ["It ranked No. 2 in the poll.", "Good news."]),
        # Real sentence ends are kept.
        ("The answer was no. Then he left.", ["The answer was no.", "Then he left."]),
        (
            "It was sold in the U.S. The rest went abroad.",
            ["It was sold in the U.S.", "The rest went abroad."],
        ),
    ],
)
def test_abbreviations(text: str, expected: list[str]) -> None:
    assert spans(text) == expected


sentence = st.builds(
    lambda title, name, verb, lead: f"{lead} {title} {name} {verb}.",
    st.sampled_from(TITLES),
    st.sampled_from(NAMES),
    st.sampled_from(VERBS),
    st.sampled_from(["Yesterday", "In Washington,", "According to aides,", "Separately,"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(sentence, min_size=1, max_size=6))
def test_a_title_never_ends_a_sentence(sentences: list[str]) -> None:
    text = " ".join(sentences)
    got = spans(text)
    assert got == sentences
    assert not any(s.rsplit(" ", 1)[-1] in TITLES for s in got)
