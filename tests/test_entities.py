"""Named-entity answer types (retrieval/entities.py): what type a question wants, the
features a sentence gets from its entities, and a clear error without spaCy's model."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval import entities
from retrieval.entities import ENTITY_FEATURES, Entity, entity_features, wanted_labels
from retrieval.errors import InputError
from retrieval.question import analyse


def wants(text: str) -> frozenset[str]:
    q = analyse(text)
    return wanted_labels(q.ask_clause or q.text, q.focus)


@pytest.mark.parametrize(
    ("question", "label"),
    [
        ("Which company agreed to buy the social network this week?", "ORG"),
        ("Which automaker recalled 2.9 million vehicles this week?", "ORG"),
        ("Who was the designer of the garment?", "PERSON"),
        ("Who won the tournament on Sunday?", "PERSON"),
        ("Which country was recommended for EU candidacy?", "GPE"),
        ("Where did the launch occur?", "GPE"),
        ("How many people were rescued from the mine?", "CARDINAL"),
        ("How much did the painting sell for?", "MONEY"),
        ("What percentage of voters backed the measure?", "PERCENT"),
        ("What year did it debut?", "DATE"),
        ("When will the bridge reopen?", "DATE"),
        ("Which film won best picture?", "WORK_OF_ART"),
    ],
)
def test_the_type_a_question_wants(question: str, label: str) -> None:
    assert label in wants(question)


@pytest.mark.parametrize(
    "question",
    [
        # "which X" naming no entity type wants none, though "who" comes later.
        "The governing body of which sport said athletes who transitioned may not compete?",
        "Which disease has been detected in samples this week?",
        "Why did the talks fail?",
    ],
)
def test_a_question_with_no_entity_type(question: str) -> None:
    assert wants(question) == frozenset()


def column(name: str) -> int:
    return ENTITY_FEATURES.index(name)


def test_a_novel_entity_of_the_wanted_type_beside_the_question_words() -> None:
    q = analyse("Which company bought the startup Figma?")
    texts = [
        "Adobe bought the startup Figma for $20 billion.",  # the answer, in the slot
        "Figma was founded by Dylan Field.",  # a person: not the type asked for
        "The startup Figma said Figma would stay independent.",  # only the question's name
    ]
    tagged = [
        (Entity("Adobe", "ORG", 0), Entity("Figma", "ORG", 4), Entity("$20 billion", "MONEY", 6)),
        (Entity("Figma", "ORG", 0), Entity("Dylan Field", "PERSON", 4)),
        (Entity("Figma", "ORG", 2), Entity("Figma", "ORG", 4)),
    ]
    X = entity_features(texts, tagged, q)
    assert X.shape == (3, len(ENTITY_FEATURES))
    assert X[:, column("ent_wanted")].tolist() == [1.0, 0.0, 0.0]
    assert X[0, column("ent_slot")] > 0  # "bought" comes just after it
    assert X[1:, column("ent_slot")].tolist() == [0.0, 0.0]


def test_an_answer_named_in_several_sentences_counts_more() -> None:
    q = analyse("Which country will host the summit?")
    texts = ["Japan will host it.", "Officials in Japan and Kenya agreed.", "Kenya declined."]
    tagged = [
        (Entity("Japan", "GPE", 0),),
        (Entity("Japan", "GPE", 2), Entity("Kenya", "GPE", 4)),
        (Entity("Kenya", "GPE", 0),),
    ]
    X = entity_features(texts, tagged, q)
    assert X[:, column("ent_redundant")].tolist() == [1.0, 1.0, 1.0]
    assert X[1, column("ent_count")] > X[0, column("ent_count")]
    single = entity_features(texts[:2], tagged[:2], q)
    assert single[:, column("ent_redundant")].tolist() == [1.0, 1.0]
    lone = entity_features(
        ["Japan will host it.", "Japan confirmed it.", "Kenya declined."],
        [(Entity("Japan", "GPE", 0),), (Entity("Japan", "GPE", 0),), (Entity("Kenya", "GPE", 0),)],
        q,
    )
    assert lone[:, column("ent_redundant")].tolist() == [1.0, 1.0, 0.5]


def test_no_wanted_type_gives_zero_rows() -> None:
    q = analyse("Why did the talks fail?")
    X = entity_features(["Talks failed in Geneva."], [(Entity("Geneva", "GPE", 3),)], q)
    assert not np.any(X)


def test_without_the_model_tag_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entities, "MODEL", "no_such_spacy_model")
    entities._pipeline.cache_clear()
    entities.available.cache_clear()
    try:
        assert entities.available() is False
        with pytest.raises(InputError, match="briefbot\\[entities\\]"):
            entities.tag(["Adobe bought Figma."])
    finally:
        entities._pipeline.cache_clear()
        entities.available.cache_clear()


@pytest.mark.slow
def test_the_model_tags_names_at_word_positions() -> None:
    pytest.importorskip(entities.MODEL)
    (ents,) = entities.tag(["On Tuesday, Tim Cook said Apple would open a store in Paris."])
    found = {(e.text, e.label, e.start) for e in ents}
    assert ("Tim Cook", "PERSON", 2) in found
    assert ("Paris", "GPE", 11) in found
