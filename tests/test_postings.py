"""The BM25 postings in memory (`retrieval.postings`) against FTS5, the reference.

Every test compares with FTS5's own bm25() on the same store (a `BM25Search` without
postings), so a tokenizer, formula or bookkeeping slip shows up as a different ranking.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from retrieval import Corpus, Filters
from retrieval.corpus import LEXICAL_NAME
from retrieval.lexical import BM25Search

QUESTIONS = [
    "tariffs on Japanese cars",
    "tariff tariffs steel",  # two words, one token: FTS5 scores it twice
    "China export controls rare earths",
    "oil prices OPEC output",
    "Canada USMCA talks",
    "wheat 1987 harvest",
    "naïve résumé",  # diacritics folded by unicode61
    "zzzunknownword tariffs",
]

BODIES = [
    ("Japan tariffs on cars", "Japan objected to US tariffs on cars and steel. Talks go on."),
    ("Steel tariffs rise", "The United States raised steel tariffs again. Steel makers cheered."),
    ("China export controls", "China tightened export controls on rare earths used in magnets."),
    ("OPEC cuts output", "OPEC agreed to cut oil output as prices fell. Saudi Arabia led."),
    ("Canada and USMCA", "Canada signalled a delay in talks as the USMCA review nears."),
    ("Wheat harvest 1987", "The 1987 wheat harvest was large; prices for wheat fell."),
    ("A naive resume", "A naïve résumé of trade policy, tariffs and oil, in brief."),
    ("Cars and oil", "Car makers worry about oil prices and tariffs on cars in Japan."),
]


def fts5(corpus: Corpus) -> BM25Search:
    return BM25Search(corpus.store._connections.get)  # no postings: FTS5 itself


def records(n: int, start: int = 0) -> list[dict]:
    out = []
    for i in range(start, start + n):
        title, body = BODIES[i % len(BODIES)]
        out.append({"id": f"a{i}", "title": f"{title} {i}", "body": f"{body} Item{i} noted."})
    return out


def ingest(corpus: Corpus, tmp_path: Path, recs: list[dict], name: str) -> None:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(recs))
    corpus.ingest([str(path)])


def same_as_fts5(corpus: Corpus, filters: Filters | None = None, limit: int = 20) -> None:
    filters = filters or Filters()
    reference = fts5(corpus)
    store = corpus.store
    assert store.lexical.postings is not None
    for question in QUESTIONS:
        want = reference.search(question, limit, filters)
        got = store.lexical_search(question, limit, filters)
        assert [a for a, _ in got] == [a for a, _ in want], question
        assert np.allclose([s for _, s in got], [s for _, s in want], rtol=1e-12), question


@pytest.fixture
def filled(fake_corpus: Corpus, tmp_path: Path) -> Corpus:
    ingest(fake_corpus, tmp_path, records(60), "first")
    return fake_corpus


def test_postings_rank_and_score_as_fts5(filled: Corpus):
    assert filled.store.lexical.postings.articles == 60
    same_as_fts5(filled)
    same_as_fts5(filled, limit=3)


@pytest.mark.parametrize(
    "filters", [Filters(after_id=30), Filters(countries=("JP",)), Filters(countries=("CN", "CA"))]
)
def test_filtered_postings_rank_as_fts5(filled: Corpus, filters: Filters):
    assert len(filled.store.admitted(filters))
    same_as_fts5(filled, filters)


def test_postings_follow_new_articles_without_being_told(filled: Corpus, tmp_path: Path):
    """Rows committed by any writer are read before the next search."""
    ingest(filled, tmp_path, records(40, start=60), "second")
    same_as_fts5(filled)
    assert filled.store.lexical.postings.articles == 100


def test_postings_drop_and_reread_changed_articles(filled: Corpus):
    store = filled.store
    db = store._db
    gone = [3, 10, 11]
    for aid in gone:
        db.execute("DELETE FROM articles_fts WHERE rowid=?", (aid,))
        db.execute("DELETE FROM articles WHERE id=?", (aid,))
    changed = 5
    db.execute("DELETE FROM articles_fts WHERE rowid=?", (changed,))
    db.execute(
        "INSERT INTO articles_fts(rowid, title, lead, body) VALUES (?, ?, '', ?)",
        (changed, "Rare earths", "Rare earths tariffs zzzunknownword everywhere."),
    )
    store.lexical.refresh([*gone, changed])
    assert store.lexical.postings.articles == 57
    same_as_fts5(filled)
    found = store.lexical_search("zzzunknownword", 5, Filters())
    assert [a for a, _ in found] == [changed]


def test_a_removed_newest_articles_id_given_again_is_read(filled: Corpus):
    """SQLite hands a removed last row's id to the next insert."""
    store = filled.store
    db = store._db
    db.execute("DELETE FROM articles_fts WHERE rowid=60")
    db.execute("DELETE FROM articles WHERE id=60")
    store.lexical.refresh([60])
    assert store.lexical.postings.articles == 59
    db.execute(
        "INSERT INTO articles (id, content_key, title, body, added, dated)"
        " VALUES (60, 'k', 'Zebra tariffs', 'Zebra.', '', '')"
    )
    db.execute(
        "INSERT INTO articles_fts(rowid, title, lead, body) VALUES (60, 'Zebra tariffs', '', 'x')"
    )
    assert [a for a, _ in store.lexical_search("zebra", 5, Filters())] == [60]
    same_as_fts5(filled)


def test_many_changes_compact_the_postings(filled: Corpus, tmp_path: Path, monkeypatch):
    from retrieval import postings

    monkeypatch.setattr(postings, "MERGE_SHARE", 0.01)  # merge at every batch
    store = filled.store
    for aid in range(1, 30, 2):
        store._db.execute("DELETE FROM articles_fts WHERE rowid=?", (aid,))
        store._db.execute("DELETE FROM articles WHERE id=?", (aid,))
    store.lexical.refresh(range(1, 30, 2))
    ingest(filled, tmp_path, records(10, start=200), "third")
    state = store.lexical.postings._state
    assert state.recent.size == 0 and state.alive.all()  # removed rows gone at the merge
    same_as_fts5(filled)


def test_saved_postings_are_reused_and_caught_up(filled: Corpus, settings, tmp_path: Path):
    path = settings.data_dir / LEXICAL_NAME
    filled.close()
    assert path.exists()
    with Corpus(settings, encoder=filled._encoder) as again:
        assert again.store.lexical.postings.articles == 60
        # Written by another process after the file: caught up on the next open.
        again.store.lexical.postings = None
        ingest(again, tmp_path, records(5, start=300), "later")
        again.save_index()
    with Corpus(settings, encoder=filled._encoder) as third:
        assert third.store.lexical.postings.articles == 65
        same_as_fts5(third)


@pytest.mark.parametrize("damage", ["removed", "garbage", "other format"])
def test_postings_that_disagree_with_the_store_are_rebuilt(
    filled: Corpus, settings, damage: str, caplog
):
    path = settings.data_dir / LEXICAL_NAME
    filled.close()
    if damage == "removed":  # a crash after a removal, before the postings were saved
        from retrieval.store import Store

        store = Store(settings.data_dir / "briefbot.sqlite3")
        store._db.execute("DELETE FROM articles_fts WHERE rowid=7")
        store._db.execute("DELETE FROM articles WHERE id=7")
        store.close()
    elif damage == "garbage":
        path.write_bytes(b"not an npz file")
    else:
        with np.load(path) as z:
            arrays = dict(z)
        arrays["meta"][0] = 999
        with path.open("wb") as fh:
            np.savez(fh, **arrays)
    with Corpus(settings, encoder=filled._encoder) as again:
        assert "rebuilding" in caplog.text
        assert again.store.lexical.postings.articles == (59 if damage == "removed" else 60)
        same_as_fts5(again)


def test_a_word_fts5_reads_as_a_phrase_is_left_to_fts5(filled: Corpus):
    """unicode61 splits some words Python's \\w keeps whole: FTS5 answers those."""
    word = "ab\u19b0cd"  # one word to `query_terms`, two tokens to FTS5
    postings = filled.store.lexical.postings
    assert postings.search([word], 5) is None
    assert filled.store.lexical_search(word + " tariffs", 5, Filters()) == fts5(filled).search(
        word + " tariffs", 5, Filters()
    )
