"""The storage interface on both engines (SQLite + FAISS, PostgreSQL + pgvector), the
corpus on PostgreSQL, and the copy of an SQLite corpus into PostgreSQL.

Tests of `ArticleStore` take the `engine_store` fixture, parametrized over the engines;
the case tables are `test_store_index`'s, so both engines answer the same questions.
The PostgreSQL server is the private one of `conftest.pg_server` (skipped, with the
reason, where it cannot run). Vectors are random or from the fake encoder: no model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from retrieval import ArticleStore, Corpus, Filters
from retrieval.index import SentenceIndex
from retrieval.storage import Selection, SentenceRow, StoryRow
from retrieval.store import Store

from .conftest import SEED, FakeEncoder
from .test_store_index import (
    ARTICLES,
    DIM,
    FILTER_CASES,
    clustered,
    dated,
    expected_ids,
    prepared,
)

ENGINES = ["sqlite", "postgres"]


def open_engine(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> ArticleStore:
    if engine == "sqlite":
        return Store(tmp_path / "store.sqlite3")
    from retrieval.postgres import PgStore

    return PgStore(request.getfixturevalue("pg_url"), tmp_path / "store.sqlite3")


@pytest.fixture(params=ENGINES)
def engine_store(request, tmp_path: Path) -> Iterator[ArticleStore]:
    opened = open_engine(request.param, tmp_path, request)
    assert isinstance(opened, ArticleStore)  # every method of the interface is there
    yield opened
    opened.close()


@pytest.fixture
def filled(engine_store: ArticleStore):
    articles = [prepared(i, *row) for i, row in enumerate(ARTICLES)]
    vectors = clustered(3 * len(articles), DIM, seed=1)
    _, owners = engine_store.add_batch(articles, vectors)
    return engine_store, list(dict.fromkeys(owners.tolist())), vectors


def engine_index(store: ArticleStore) -> object:
    """The index the corpus would search: the engine's own, or FAISS built from the store."""
    own = getattr(store, "vector_index", None)
    if own is not None:
        return own()
    index = SentenceIndex(DIM)
    for ids, owners, vectors in store.iter_vectors():
        index.add(ids, vectors, owners)
    return index


@pytest.mark.parametrize("filters", FILTER_CASES, ids=repr)
def test_both_engines_admit_what_the_filters_say(filled, filters: Filters):
    store, ids, _ = filled
    want = expected_ids(filters, ids, datetime.now(UTC))
    assert list(store.admitted(filters)) == sorted(want)
    assert len(store.admitted(filters)) == len(want)
    assert sorted(store.article_ids(filters)) == sorted(want)


def test_both_engines_widen_a_grouping_to_its_members_while_they_were_members(engine_store):
    store = engine_store
    rows = [
        ("France and Italy talk", ["FR"], {}, "2020-03-01", "W"),
        ("Britain before leaving", ["GB"], {}, "2018-06-01", "W"),
        ("Britain after leaving", ["GB"], {}, "2023-06-01", "W"),
        ("The EU itself", ["EU"], {}, "2024-01-01", "W"),
    ]
    _, owners = store.add_batch(
        [prepared(i, *row) for i, row in enumerate(rows)], clustered(12, DIM)
    )
    ids = list(dict.fromkeys(owners.tolist()))
    assert list(store.admitted(Filters(countries=("EU",)))) == [ids[3]]
    widened = list(store.admitted(Filters(countries=("EU",), members=True)))
    assert widened == [ids[0], ids[1], ids[3]]  # Britain only while a member


@pytest.mark.parametrize("filters", FILTER_CASES, ids=repr)
def test_both_engines_restrict_lexical_search_by_filters(filled, filters: Filters):
    store, ids, _ = filled
    question = "Japan, China and US trade"
    everything = store.lexical_search(question, 100, Filters())
    assert everything[0][0] == ids[5]  # the only article with three of the words
    assert {a for a, _ in everything} == {ids[0], ids[1], ids[2], ids[4], ids[5]}
    admitted = set(store.admitted(filters).tolist())
    want = [(a, score) for a, score in everything if a in admitted]
    assert store.lexical_search(question, 100, filters) == want
    assert store.lexical_search("the of and", 10, filters) == []


def test_lexical_search_ranks_the_title_above_the_body(engine_store):
    store = engine_store
    rows = [
        ("Quarterly results", [], {}, "2025-01-01", "W"),
        ("Semiconductor export curbs", [], {}, "2025-01-02", "W"),
    ]
    arts = [prepared(i, *row) for i, row in enumerate(rows)]
    arts[0] = replace(arts[0], body=arts[0].body + " Semiconductor makers were mentioned.")
    _, owners = store.add_batch(arts, clustered(6, DIM))
    ids = list(dict.fromkeys(owners.tolist()))
    assert [a for a, _ in store.lexical_search("semiconductor", 10, Filters())] == ids[::-1]


@pytest.mark.parametrize(
    "filters",
    [None, Filters(countries=("JP",)), Filters(topics=("trade",)), Filters(countries=("ZZ",))],
    ids=repr,
)
def test_both_engines_find_the_nearest_sentences_inside_the_filter(filled, filters):
    store, ids, vectors = filled
    index = engine_index(store)
    query = vectors[4] + 0.01
    query = query / np.linalg.norm(query)
    admitted = store.admitted(filters) if filters else None
    hits = index.search(query, 5, admitted)
    allowed = set(ids) if filters is None else set(np.asarray(admitted).tolist())
    owners = np.repeat(ids, 3)
    rows = np.flatnonzero(np.isin(owners, list(allowed)))
    want = rows[np.argsort(-(vectors[rows] @ query))][:5]
    assert hits.articles.tolist() == owners[want].tolist()
    sims = vectors[want] @ query
    np.testing.assert_allclose(hits.scores, sims, atol=2e-3)  # fp16 in both engines


def test_an_exact_search_over_listed_articles_is_the_exact_ranking(filled):
    """An explicit id list is searched exactly (PostgreSQL: by inner product, its vectors
    being normalised), down to the last sentence."""
    store, ids, vectors = filled
    index = engine_index(store)
    query = vectors[7] - 0.02
    query = query / np.linalg.norm(query)
    owners = np.repeat(ids, 3)
    hits = index.search(query, len(owners) - 1, np.asarray(ids))
    want = np.argsort(-(vectors @ query), kind="stable")[: len(owners) - 1]
    assert hits.articles.tolist() == owners[want].tolist()
    np.testing.assert_allclose(hits.scores, vectors[want] @ query, atol=2e-3)


def test_both_engines_update_in_place_and_remove(filled):
    store, ids, _ = filled
    original = prepared(0, *ARTICLES[0])
    assert store.match(original) == ("duplicate", ids[0])
    edited = replace(original, body=original.body + " An update.", content_key="changed")
    assert store.match(edited) == ("update", ids[0])
    edited.replaces = ids[0]
    edited.sentences = [SentenceRow(-1, None, None, edited.title), SentenceRow(0, 0, 5, "New.")]
    old = store.sentence_ids([ids[0]])
    new, owners = store.add_batch([edited], clustered(2, DIM, seed=7))
    assert owners.tolist() == [ids[0], ids[0]] and not set(new) & set(old)
    got = store.articles([ids[0]])[ids[0]]
    assert got.body.endswith("An update.") and got.updated is not None
    assert store.count_articles() == len(ARTICLES)
    assert store.lexical_search("update", 5, Filters())[0][0] == ids[0]
    # Removal takes its sentences, tags and full-text document with it.
    before = store.vector_summary()[0]
    owned = sorted([*new.tolist(), *store.sentence_ids([ids[1]]).tolist()])
    removed = store.remove_articles([ids[0], ids[1]])
    assert sorted(removed.tolist()) == owned
    assert store.vector_summary()[0] == before - 2 - 3
    assert store.articles([ids[0], ids[1]]) == {}
    assert ids[0] not in [a for a, _ in store.lexical_search("Japan tariffs", 10, Filters())]
    assert ("JP", 3) not in store.country_counts()
    # Ids are never handed out again, even the newest's.
    store.remove_articles([ids[-1]])
    _, again = store.add_batch([prepared(50, "Fresh news", [], {}, None, None)], clustered(3, DIM))
    assert int(again[0]) > max(ids)


def test_both_engines_select_by_source_path_and_date(filled):
    store, ids, _ = filled
    assert store.select_ids(Selection(source="wire")) == [ids[0], ids[1], ids[5]]
    assert store.select_ids(Selection(before=dated("2025-01-11"))) == [ids[0], ids[3]]
    assert store.select_ids(Selection(path="https://news.example/2")) == [ids[2]]
    assert store.select_ids(Selection(ids=(ids[4], 10**9), source="Daily")) == [ids[4]]


def test_both_engines_keep_stories(filled):
    store, ids, _ = filled
    assert [a for a, _ in store.unassigned_articles(10)][:2] == [ids[3], ids[0]]
    first = StoryRow(None, "2025-01-10", "2025-04-15", 2, np.ones(DIM, np.float32).tobytes(), "{}")
    store.save_stories([(first, [ids[0], ids[5]])])
    sid = store.story_of([ids[0], ids[5], ids[1]])
    assert sid[ids[0]] == sid[ids[5]] and ids[1] not in sid
    (row,) = store.stories_between("2025-02-01", "2025-02-02")
    assert (row.id, row.size, row.centroid) == (sid[ids[0]], 2, first.centroid)
    assert store.stories_between("2026-01-01", "2026-02-01") == []
    store.save_stories([(replace(row, size=3, terms='{"x": 1}'), [ids[1]])])
    members = store.story_articles([row.id])[row.id]
    assert [a for a, _ in members] == [ids[0], ids[1], ids[5]]  # oldest first
    assert len(store.unassigned_articles(10)) == len(ARTICLES) - 3


def test_both_engines_read_sentences_whole_lean_or_leads_only(filled):
    store, ids, vectors = filled
    owners, positions, vecs, texts = store.sentence_vectors([ids[2], ids[0]])
    assert owners.tolist() == sorted([ids[2]] * 3 + [ids[0]] * 3)
    np.testing.assert_allclose(vecs[owners == ids[2]], vectors[6:9], atol=1e-6)
    # Ranking reads the vectors alone; their texts come later, in the same order.
    lean = store.sentence_vectors([ids[2], ids[0]], texts=False)
    assert lean[3] == [] and lean[0].tolist() == owners.tolist()
    rows = list(zip(owners.tolist(), positions.tolist(), texts, strict=True))
    assert [tuple(r) for r in store.sentence_texts([ids[2], ids[0]])] == rows
    # Story leads read an article's first rows only (the title is position -1).
    head = store.sentence_vectors([ids[2], ids[0]], through=0)
    assert list(zip(head[0].tolist(), head[1].tolist(), head[3], strict=True)) == [
        r for r in rows if r[1] <= 0
    ]
    np.testing.assert_allclose(head[2][head[0] == ids[2]], vectors[6:8], atol=1e-6)


def test_both_engines_rewrite_tags(filled):
    store, ids, _ = filled
    store.replace_tags([(ids[3], ["SA", "US"], {"energy": 0.8})])
    assert store.articles([ids[3]])[ids[3]].countries == ["SA", "US"]
    assert list(store.admitted(Filters(countries=("SA",)))) == [ids[3]]
    assert dict(store.topic_counts()) == {"trade": 4, "geopolitics": 2, "energy": 1}
    rows = [r for chunk in store.iter_for_tagging(chunk=4) for r in chunk]
    assert [r[0] for r in rows] == ids


# --- the corpus on PostgreSQL ------------------------------------------------------------


@pytest.fixture
def pg_settings(settings, pg_url):
    return replace(settings, store=replace(settings.store, url=pg_url))


def test_corpus_on_postgres_ingests_answers_updates_and_removes(pg_settings, tmp_path):
    with Corpus(pg_settings, encoder=FakeEncoder()) as corpus:
        report = corpus.ensure_bundled()
        assert report is not None and report.added == 18
        assert not (Path(pg_settings.data_dir) / "sentences.faiss").exists()  # in PostgreSQL
        top = corpus.ask("Why is Japan objecting to US tariffs?", Filters(countries=("JP",)))
        assert top.articles and "JP" in top.articles[0].article.countries
        assert corpus.ingest([str(SEED)]).duplicates == 18
        stats = corpus.stats()
        assert (stats.articles, stats.vectors) == (18, corpus.store.vector_summary()[0])
        assert "pgvector" in stats.index
        gone = corpus.remove([top.articles[0].article.id])
        assert gone.articles == 1 and corpus.stats().vectors == stats.vectors - gone.sentences


def test_another_process_sees_what_one_ingested_without_a_restart(pg_settings):
    reader = Corpus(pg_settings, encoder=FakeEncoder())
    try:
        assert reader.ask("tariffs").articles == []
        with Corpus(pg_settings, encoder=FakeEncoder()) as writer:
            writer.ensure_bundled()
        assert reader.ask("Why is Japan objecting to US tariffs?").articles
        assert reader.stats().vectors == 28 - 0 and reader.store.count_articles() == 18
    finally:
        reader.close()


def test_a_bad_store_url_is_one_clear_error(settings):
    from retrieval.errors import StoreError

    bad = replace(
        settings, store=replace(settings.store, url="postgresql://nobody@/x?host=/nonexistent")
    )
    with pytest.raises(StoreError, match="cannot open the store at postgresql://nobody@"):
        Corpus(bad, encoder=FakeEncoder())


# --- copying an SQLite corpus ------------------------------------------------------------


def test_copy_corpus_copies_everything_without_embedding_and_answers_alike(
    settings, pg_settings, pg_url
):
    from retrieval.errors import StoreError
    from retrieval.postgres.migrate import copy_corpus

    encoder = FakeEncoder()
    seen: list[tuple[str, int, int]] = []
    with Corpus(settings, encoder=encoder) as sqlite_corpus:
        sqlite_corpus.ensure_bundled()
        sqlite_corpus.remove([18])  # the newest: its id must never come back
        question = "Why is Japan objecting to US tariffs?"
        want = [a.article.id for a in sqlite_corpus.ask(question).articles]
        counts = copy_corpus(
            sqlite_corpus.store, pg_url, batch=4, progress=lambda *a: seen.append(a)
        )
        with pytest.raises(StoreError, match="not empty"):
            copy_corpus(sqlite_corpus.store, pg_url)
    assert counts["articles"] == 17 and counts["sentences"] == 27
    assert counts["article_stories"] == 17 and counts["stories"] >= 1
    assert ("articles", 4, 17) in seen and seen[-1][0] == "vector index"
    calls = len(encoder.calls)
    with Corpus(pg_settings, encoder=encoder) as pg_corpus:
        assert [a.article.id for a in pg_corpus.ask(question).articles] == want
        assert len(encoder.calls) == calls + 1  # the question only: nothing re-embedded
        assert pg_corpus.store.get_meta("model") == "fake-hash"
        extra = pg_corpus.ingest_items(
            [_raw("A new article about steel quotas", "Steel quotas were raised today.")]
        )
        assert extra.added == 1 and pg_corpus.store.max_article_id() == 19


def _raw(title: str, body: str):
    from retrieval.loaders import RawArticle

    return RawArticle(title=title, body=body, origin="test", source="Test")


# --- the command line on PostgreSQL ------------------------------------------------------


def test_cli_ingests_into_postgres_and_answers(
    capsys, monkeypatch, tmp_path, pg_url, seed_settings
):
    from bot.cli import main

    monkeypatch.setenv("BRIEFBOT_STORE_URL", pg_url)
    config = tmp_path / "engine.toml"
    config.write_text(f'[embedding]\nbackend = "{seed_settings.embedding.backend}"\n')
    common = ["--data-dir", str(tmp_path / "d"), "--config", str(config)]
    assert main([*common, "ingest", str(SEED), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["added"] == 18
    assert main([*common, "ask", "Why is Japan objecting to US tariffs?", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert not result["abstained"] and "JP" in result["articles"][0]["countries"]
    assert "tariff" in " ".join(a["text"] for a in result["answer"]).lower()
    assert not (tmp_path / "d" / "sentences.faiss").exists()


def test_two_writers_of_one_database_never_collide(pg_url, tmp_path):
    """Two stores (as two processes would hold) adding at once, each from its own thread:
    every batch commits whole, ids are never shared, and each sees the other's rows."""
    import threading

    from retrieval.postgres import PgStore

    stores = [PgStore(pg_url, tmp_path / "a"), PgStore(pg_url, tmp_path / "b")]
    owners: list[list[int]] = [[], []]

    def write(n: int) -> None:
        for b in range(10):
            arts = [
                prepared(1000 * n + 10 * b + i, f"Writer {n} batch {b} item {i}", [], {}, None, "W")
                for i in range(3)
            ]
            _, got = stores[n].add_batch(arts, clustered(9, DIM, seed=b))
            owners[n] += sorted(set(got.tolist()))

    threads = [threading.Thread(target=write, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert len(owners[0]) == len(owners[1]) == 30
        assert not set(owners[0]) & set(owners[1])
        assert stores[0].count_articles() == stores[1].count_articles() == 60
        assert stores[1].vector_summary()[0] == 180
    finally:
        for s in stores:
            s.close()
