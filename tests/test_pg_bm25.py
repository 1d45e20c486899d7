"""PostgreSQL's BM25 postings (`retrieval.postgres.bm25`): the same scores as SQLite's
FTS5 bm25() for the same articles, kept in step through updates and removals, and filled
in for a database written before the postings existed. The server is `conftest`'s."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from retrieval import Filters
from retrieval.store import Store

from .test_store_index import ARTICLES, DIM, clustered, prepared

QUESTIONS = [
    "Japan, China and US trade",
    "tariffs on cars",
    "rare earth exports",
    "talks on trade between China and Japan",
    "officials gave details",
]


def both(tmp_path: Path, pg_url: str, rows=ARTICLES):
    from retrieval.postgres import PgStore

    stores = {"sqlite": Store(tmp_path / "s.sqlite3"), "postgres": PgStore(pg_url)}
    vectors = clustered(3 * len(rows), DIM, seed=1)
    for store in stores.values():
        store.add_batch([prepared(i, *row) for i, row in enumerate(rows)], vectors)
    return stores


def titled(store, found: list[tuple[int, float]]) -> list[tuple[str, float]]:
    arts = store.articles([a for a, _ in found])
    return [(arts[a].title, s) for a, s in found]


@pytest.mark.parametrize("question", QUESTIONS)
def test_postgres_scores_as_fts5_does(tmp_path, pg_url, question):
    stores = both(tmp_path, pg_url)
    want = titled(stores["sqlite"], stores["sqlite"].lexical_search(question, 10, Filters()))
    got = titled(stores["postgres"], stores["postgres"].lexical_search(question, 10, Filters()))
    assert want  # every question matches something
    assert [t for t, _ in got] == [t for t, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-6)
    for s in stores.values():
        s.close()


def test_postings_follow_updates_and_removals(tmp_path, pg_url):
    from retrieval.postgres import PgStore

    store = PgStore(pg_url)
    arts = [prepared(i, *row) for i, row in enumerate(ARTICLES)]
    _, owners = store.add_batch(arts, clustered(3 * len(arts), DIM, seed=1))
    ids = list(dict.fromkeys(owners.tolist()))
    edited = replace(prepared(0, "Brazil cuts coffee tariffs", [], {}, None, "W"), replaces=ids[0])
    store.add_batch([edited], clustered(3, DIM, seed=2))
    assert store.lexical_search("coffee", 5, Filters())[0][0] == ids[0]
    assert ids[0] not in [a for a, _ in store.lexical_search("Japan cars", 10, Filters())]
    store.remove_articles([ids[0]])
    assert store.lexical_search("coffee", 5, Filters()) == []
    db = store.db
    assert (
        db.execute("SELECT count(*) FROM postings WHERE article_id = %s", (ids[0],)).fetchone()[0]
        == 0
    )
    store.close()


@pytest.mark.parametrize("rebuild_from", [0, 10_000], ids=["index rebuilt", "index kept"])
def test_a_database_from_before_the_postings_gets_them_on_open(
    tmp_path, pg_url, monkeypatch, rebuild_from
):
    from retrieval.postgres import PgStore, bm25
    from retrieval.postgres.schema import SCHEMA_VERSION

    monkeypatch.setattr(bm25, "REBUILD_FROM", rebuild_from)

    store = PgStore(pg_url)
    arts = [prepared(i, *row) for i, row in enumerate(ARTICLES)]
    store.add_batch(arts, clustered(3 * len(arts), DIM, seed=1))
    want = store.lexical_search(QUESTIONS[0], 10, Filters())
    # What a version 1 database holds: no postings tables.
    store.db.execute("DROP TABLE postings, lexical_docs")
    store.db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    store.close()
    reopened = PgStore(pg_url)
    version = reopened.get_meta("schema_version")
    assert version == str(SCHEMA_VERSION)
    got = reopened.lexical_search(QUESTIONS[0], 10, Filters())
    assert [a for a, _ in got] == [a for a, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-9)
    index = reopened.db.execute("SELECT to_regclass('postings_by_term')").fetchone()[0]
    assert index is not None  # searches read it
    reopened.close()
