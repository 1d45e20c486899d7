"""A question the English model cannot read is told so (issue 13, item 7)."""

from __future__ import annotations

import pytest

from retrieval.script import foreign_script


@pytest.mark.parametrize(
    ("question", "script"),
    [
        ("日本の関税は？", "Chinese or Japanese"),
        ("にほんのかんぜい", "Japanese"),
        ("한국 관세", "Korean"),
        ("Что сказала Россия о пошлинах?", "Cyrillic"),
        ("ما هي الرسوم الجمركية؟", "Arabic"),
    ],
)
def test_questions_in_other_scripts_are_named(question, script):
    assert foreign_script(question) == script


@pytest.mark.parametrize(
    "question",
    [
        "What did Japan say about tariffs?",
        "Did Macron meet Xi (习近平) in Paris?",  # a name in another script, English question
        "Qu'a dit la Commission européenne ?",  # Latin letters, accented
        "2026?",
        "",
        "ＴＯＫＹＯ tariffs",
    ],
)
def test_english_and_latin_questions_pass(question):
    assert foreign_script(question) is None


def test_ask_says_the_model_reads_english(seed_corpus):
    answer = seed_corpus.ask("日本の関税について教えて").answer
    assert answer.note and "reads English" in answer.note and "Japanese" in answer.note
    assert seed_corpus.ask("What did Japan say about tariffs?").answer.note is None
