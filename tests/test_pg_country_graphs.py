"""Per-country vector graphs on PostgreSQL (`retrieval.postgres.country_graphs`): built
for countries past the threshold, used by a one-country question, kept in step with the
articles' tags, copied by a migration and added to an older database."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from retrieval import Corpus, Filters
from retrieval.store import Store

from .conftest import FakeEncoder
from .test_store_index import ARTICLES, DIM, clustered, prepared

pytest.importorskip("psycopg")


@pytest.fixture
def pg(pg_url, tmp_path: Path, monkeypatch):
    from retrieval.postgres import PgStore, country_graphs

    monkeypatch.setattr(country_graphs, "MIN_ARTICLES", 2)
    store = PgStore(pg_url, tmp_path / "store.sqlite3")
    articles = [prepared(i, *row) for i, row in enumerate(ARTICLES)]
    vectors = clustered(3 * len(articles), DIM, seed=1)
    _, owners = store.add_batch(articles, vectors)
    yield store, np.asarray(owners), vectors
    store.close()


def _exact(vectors, owners, allowed, query, k):
    rows = np.flatnonzero(np.isin(owners, list(allowed)))
    return owners[rows[np.argsort(-(vectors[rows] @ query), kind="stable")][:k]].tolist()


def test_saving_builds_a_graph_for_each_country_past_the_threshold(pg):
    from retrieval.postgres import country_graphs

    store, _, _ = pg
    index = store.vector_index()
    assert index.country_graphs() == frozenset()
    memory = store.db.execute("SHOW maintenance_work_mem").fetchone()[0]
    index.save(Path("unused"))
    # The builds' memory was the session's for them only (they ran outside a transaction).
    assert store.db.execute("SHOW maintenance_work_mem").fetchone()[0] == memory
    tagged = {code for code, n in store.country_counts() if n >= 2}
    assert tagged and index.country_graphs() == tagged  # seen at once: a new generation
    assert country_graphs.ensure(store.db, DIM, concurrently=True) == []  # nothing due


def test_a_one_country_question_walks_that_countrys_graph_and_finds_the_exact_top(pg):
    store, owners, vectors = pg
    index = store.vector_index()
    index.save(Path("unused"))
    query = vectors[4] + 0.01
    query = query / np.linalg.norm(query)
    filters = Filters(countries=("JP",))
    admitted = store.admitted(filters)
    hits = index.search(query, 5, admitted)
    assert hits.articles.tolist() == _exact(vectors, owners, list(admitted), query, 5)
    store.db.execute("SET enable_seqscan = off")  # 18 rows: the planner would scan them
    assert "sentences_hnsw_country_jp" in index.explain(query, 5, admitted)
    # Anything more than the one country is not that graph's to answer.
    dated = Filters(countries=("JP",), since=prepared(0, *ARTICLES[0]).published)
    assert "sentences_hnsw_country_jp" not in index.explain(query, 5, store.admitted(dated))


def test_sentences_keep_their_articles_countries_through_a_retag(pg):
    store, owners, vectors = pg
    index = store.vector_index()
    index.save(Path("unused"))
    oil = int(owners[9])  # "Oil prices rise on supply worries": no country
    store.replace_tags([(oil, ["JP", "SA"], {})])
    rows = store.db.execute(
        "SELECT DISTINCT countries FROM sentences WHERE article_id = %s", (oil,)
    ).fetchall()
    assert rows == [(["JP", "SA"],)]
    query = vectors[9]
    admitted = store.admitted(Filters(countries=("JP",)))
    assert oil in list(admitted)
    assert index.search(query, 1, admitted).articles.tolist() == [oil]
    # An article stored after the graph was built is in it: its row says its countries.
    fresh = prepared(30, "Japan lifts rice quotas", ["JP"], {}, None, None)
    _, new_owners = store.add_batch([fresh], clustered(3, DIM, seed=9))
    near = clustered(3, DIM, seed=9)[1]
    assert (
        index.search(near, 1, store.admitted(Filters(countries=("JP",)))).articles[0]
        == (new_owners[0])
    )


def test_a_migration_copies_each_sentences_countries_and_builds_the_graphs(
    settings, pg_url, monkeypatch
):
    from retrieval.postgres import PgStore, country_graphs
    from retrieval.postgres.migrate import copy_corpus

    monkeypatch.setattr(country_graphs, "MIN_ARTICLES", 3)
    with Corpus(settings, encoder=FakeEncoder()) as corpus:
        corpus.ensure_bundled()
        copy_corpus(corpus.store, pg_url)
        assert isinstance(corpus.store, Store)
        want = dict(_sqlite_sentence_countries(corpus.store.path))
        counts = dict(corpus.store.country_counts())
    store = PgStore(pg_url)
    try:
        got = dict(store.db.execute("SELECT id, countries FROM sentences").fetchall())
        assert got == want
        assert store.vector_index().country_graphs() == {c for c, n in counts.items() if n >= 3}
    finally:
        store.close()


def _sqlite_sentence_countries(path: Path) -> list[tuple[int, list[str]]]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        rows = conn.execute(
            "SELECT s.id, c.code FROM sentences s LEFT JOIN article_countries c"
            " ON c.article_id = s.article_id ORDER BY s.id, c.rank"
        ).fetchall()
    out: dict[int, list[str]] = {}
    for sid, code in rows:
        out.setdefault(sid, [])
        if code is not None:
            out[sid].append(code)
    return list(out.items())


def test_an_older_database_gets_its_sentences_countries_on_opening(pg):
    from retrieval.postgres import PgStore
    from retrieval.postgres.schema import VECTOR_INDEX

    store, owners, _ = pg
    url = store.url
    db = store.db
    db.execute("ALTER TABLE sentences DROP COLUMN countries")
    db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    store.close()
    reopened = PgStore(url)
    try:
        reopened.count_articles()  # opening runs the upgrade
        rows = reopened.db.execute(
            "SELECT DISTINCT article_id, countries FROM sentences"
        ).fetchall()
        tags = {a.id: a.countries for a in reopened.articles(owners.tolist()).values()}
        assert dict(rows) == tags and any(tags.values())
        assert reopened.db.execute("SELECT to_regclass(%s)", (VECTOR_INDEX,)).fetchone()[0]
    finally:
        reopened.close()


@pytest.mark.parametrize(
    "filters, code",
    [
        (Filters(countries=("JP",)), "JP"),
        (Filters(countries=("JP", "CN")), None),
        (Filters(countries=("JP",), with_countries=("US",)), None),
        (Filters(countries=("JP",), topics=("trade",)), None),
        (Filters(countries=("JP",), after_id=3), None),
        (Filters(countries=("EU",), members=True), None),
        (Filters(countries=("JP",), members=True), "JP"),
        (Filters(), None),
    ],
    ids=repr,
)
def test_only_a_filter_that_is_one_countrys_tag_takes_its_graph(filters, code):
    from retrieval.postgres.vectors import _one_country

    assert _one_country(filters) == code
