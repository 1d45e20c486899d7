"""Sentence selection and abstention on small hand-made retrievals (no model).

Each test builds the retrieval an answer is composed from: candidate articles and
their sentences with similarities, so one rule at a time can be shown to decide.
"""

from __future__ import annotations

import numpy as np

from retrieval.analysis import query_terms
from retrieval.answer import compose, confidence, confidence_features
from retrieval.question import analyse
from retrieval.search import Candidate, Retrieval, SentenceTable


def retrieval(question: str, articles: dict[int, list[tuple[str, float]]]) -> Retrieval:
    """Articles in rank order: id -> [(sentence, similarity)], positions from 0."""
    owners, positions, texts, sims = [], [], [], []
    for aid, sentences in sorted(articles.items()):
        for pos, (text, sim) in enumerate(sentences):
            owners.append(aid)
            positions.append(pos)
            texts.append(text)
            sims.append(sim)
    n = len(texts)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(n, 16)).astype(np.float32)  # unrelated: no near-duplicates
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    table = SentenceTable(
        np.array(owners), np.array(positions), vectors, texts, np.array(sims, np.float32)
    )
    ranked = [
        Candidate(
            aid,
            score=1.0 - 0.3 * r,
            dense=max(s for _, s in sents),
            lexical=1.0 - 0.5 * r,
            best_sim=max(s for _, s in sents),
        )
        for r, (aid, sents) in enumerate(articles.items())
    ]
    return Retrieval(question, ranked, table)


def test_a_question_caption_or_heading_is_never_shown() -> None:
    r = retrieval(
        "Why did Japan raise tariffs on steel imports?",
        {
            1: [
                ("Why did Japan raise tariffs on steel imports?", 0.95),
                ("Hide Caption 3 of 9 Photos: Japan steel tariffs protest in Tokyo.", 0.9),
                ("Japan steel tariffs explained", 0.9),
                ("Japan raised tariffs on steel imports to shield its mills from a glut.", 0.7),
            ]
        },
    )
    answer = compose(r, abstain_below=0.0)
    assert [s.text for s in answer.sentences] == [
        "Japan raised tariffs on steel imports to shield its mills from a glut."
    ]


def test_the_sentence_offering_what_is_asked_wins() -> None:
    r = retrieval(
        "Microsoft retired Internet Explorer this week. What year did it debut?",
        {
            1: [
                ("Microsoft retired its Internet Explorer browser on Wednesday this week.", 0.8),
                ("Users had been told to move to the Edge browser for months.", 0.5),
                ("Internet Explorer first appeared in 1995 as an add-on for Windows.", 0.7),
            ]
        },
    )
    answer = compose(r, abstain_below=0.0, max_sentences=1)
    assert "1995" in answer.sentences[0].text


def test_a_pronoun_opener_brings_the_sentence_it_leans_on() -> None:
    r = retrieval(
        "What did the trade minister say about the tariffs?",
        {
            1: [
                ("Akazawa Ryosei met his US counterpart in Washington on Monday.", 0.2),
                ("He said the tariffs on Japanese cars were deeply regrettable.", 0.95),
            ]
        },
    )
    answer = compose(r, abstain_below=0.0, max_sentences=1)
    assert [s.position for s in answer.sentences] == [0, 1]


def test_the_word_budget_holds_after_the_first_sentence() -> None:
    long = " ".join(["Tariffs rose sharply on steel and aluminium imports"] * 4) + "."
    r = retrieval(
        "How did tariffs on steel change?",
        {
            1: [
                (long, 0.9),
                (long.replace("rose", "fell"), 0.88),
                ("Steel tariffs rose again.", 0.8),
            ]
        },
    )
    answer = compose(r, abstain_below=0.0, max_words=40)
    words = [len(s.text.split()) for s in answer.sentences]
    assert words[0] > 30 and sum(words[1:]) <= 40 - words[0] + 40  # first always shown
    assert len(answer.sentences) <= 2


def test_confidence_grows_with_the_evidence() -> None:
    question = "Which country did the European Commission recommend alongside Ukraine?"
    strong = retrieval(
        question,
        {
            1: [("The European Commission recommended Moldova alongside Ukraine.", 0.8)],
            2: [("Markets were calm on Friday.", 0.2)],
        },
    )
    weak = retrieval(
        question,
        {
            1: [("A summit in Brussels discussed energy prices.", 0.35)],
            2: [("Markets were calm on Friday.", 0.3)],
        },
    )
    q, terms = analyse(question), set(query_terms(question))
    assert confidence(confidence_features(strong, q, terms)) > 0.5
    assert confidence(confidence_features(weak, q, terms)) < 0.2
    assert compose(weak).abstained and not compose(strong).abstained


def test_missing_names_lower_confidence() -> None:
    question = "What did Fumio Kishida say in Hiroshima about tariffs?"
    about = "tariffs were discussed at length by officials in the capital today."
    with_names = retrieval(question, {1: [(f"Fumio Kishida said in Hiroshima that {about}", 0.6)]})
    without = retrieval(question, {1: [(f"A minister said that {about}", 0.6)]})
    q, terms = analyse(question), set(query_terms(question))
    assert confidence(confidence_features(with_names, q, terms)) > confidence(
        confidence_features(without, q, terms)
    )


def test_an_answer_keeps_to_the_best_articles_year() -> None:
    from retrieval.selection import same_story_era as _same_story_era

    question = "What did the G7 summit leaders agree on trade?"
    r = retrieval(
        question,
        {
            1: [("The G7 summit leaders agreed to coordinate export controls on chips.", 0.8)],
            2: [("At the G7 summit leaders agreed to cut tariffs on steel.", 0.78)],
            3: [("G7 trade ministers met again in the spring.", 0.7)],
        },
    )
    kept = _same_story_era(r.ranked, {1: 2022, 2: 2019}, analyse(question))
    assert [c.article_id for c in kept] == [1, 3]  # 3 is undated: kept
    history = analyse("How has what G7 leaders agreed on trade changed over the years?")
    assert len(_same_story_era(r.ranked, {1: 2022, 2: 2019}, history)) == 3
    assert len(_same_story_era(r.ranked, {2: 2019}, analyse(question))) == 3  # best undated
    # Through compose: the other year's article is never quoted, even as the only fit one.
    only_other = retrieval(
        question,
        {
            1: [("G7 summit leaders agreed what?", 0.8)],
            2: [("At the G7 summit leaders agreed to cut tariffs on steel.", 0.78)],
        },
    )
    two = {"abstain_below": 0.0, "answer_articles": 2}
    assert compose(only_other, years={1: 2022, 2: 2019}, **two).sentences == []
    assert compose(only_other, years={1: 2022}, **two).sentences
