"""Store and index: the storage interface on every engine, dedupe, incremental embedding,
crash recovery, filtered FAISS and BM25.

Tests of `ArticleStore` take the `store` fixture, parametrized over the engines
(`STORE_ENGINES`); a second engine is one more entry there. Vectors are random: no model.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from retrieval import ArticleStore, Corpus, Filters
from retrieval.identity import content_key
from retrieval.index import FLAT, HNSW, SentenceIndex, ids_path, meta_path
from retrieval.loaders import load
from retrieval.search import load_texts, retrieve, rows
from retrieval.storage import PreparedArticle, SentenceRow
from retrieval.store import SCHEMA_VERSION, Store

from .conftest import SEED


def sqlite_store(tmp_path: Path) -> ArticleStore:
    return Store(tmp_path / "store.sqlite3")


STORE_ENGINES = [pytest.param(sqlite_store, id="sqlite")]


@pytest.fixture(params=STORE_ENGINES)
def store(request, tmp_path: Path) -> Iterator[ArticleStore]:
    opened = request.param(tmp_path)
    assert isinstance(opened, ArticleStore)  # every method of the interface is there
    yield opened
    opened.close()


def dated(day: str | None) -> datetime | None:
    return datetime.fromisoformat(day).replace(tzinfo=UTC) if day else None


# title, countries (rank order), topics, published, source: a corpus whose filters are known.
ARTICLES = [
    ("Japan protests US tariffs on cars", ["JP", "US"], {"trade": 0.8}, "2025-01-10", "Wire"),
    (
        "China curbs rare earth exports",
        ["CN"],
        {"trade": 0.7, "geopolitics": 0.9},
        "2025-03-05",
        "Wire",
    ),
    ("Canada and the US review the USMCA", ["CA", "US"], {"trade": 0.9}, "2025-05-20", "Daily"),
    ("Oil prices rise on supply worries", [], {}, "2024-12-01", None),
    ("Japan heads to a snap election", ["JP"], {"geopolitics": 0.7}, None, "Daily"),
    ("China and Japan hold talks on trade", ["CN", "JP"], {"trade": 0.6}, "2025-04-15", "Wire"),
]
DIM = 8


def prepared(i: int, title: str, countries, topics, published, source) -> PreparedArticle:
    body = f"{title} today. Officials gave details of case {i}. More follows."
    return PreparedArticle(
        title=title,
        body=body,
        content_key=content_key(title, body),
        url=f"https://news.example/{i}",
        published=dated(published),
        source=source,
        external_id=f"id{i}",
        sentences=[
            SentenceRow(-1, None, None, title),
            SentenceRow(0, 0, len(title) + 7, f"{title} today."),
            SentenceRow(1, len(title) + 8, len(body) - 12, f"Officials gave details of case {i}."),
        ],
        countries=list(countries),
        topics=dict(topics),
    )


@pytest.fixture
def filled(store: ArticleStore) -> tuple[ArticleStore, list[int], np.ndarray]:
    """The store holding ARTICLES; their ids in table order, and the sentence vectors."""
    articles = [prepared(i, *row) for i, row in enumerate(ARTICLES)]
    vectors = clustered(3 * len(articles), DIM, seed=1)
    _, owners = store.add_batch(articles, vectors)
    ids = list(dict.fromkeys(owners.tolist()))
    return store, ids, vectors


def expected_ids(filters: Filters, ids: list[int], added: datetime) -> set[int]:
    """What `filters` admits among ARTICLES, worked out in Python: an undated article is
    in no date window, unless `filters.undated` lets its ingestion time (`added`) count."""
    out = set()
    for aid, (_, countries, topics, published, _) in zip(ids, ARTICLES, strict=True):
        when = dated(published) or (added if filters.undated else None)
        if when is None and (filters.since or filters.until):
            continue
        if filters.countries and not set(filters.countries) & set(countries):
            continue
        if filters.topics and not set(filters.topics) & set(topics):
            continue
        if filters.since and when < filters.since:
            continue
        if filters.until and when >= filters.until:
            continue
        if filters.after_id is not None and aid <= filters.after_id:
            continue
        out.add(aid)
    return out


FILTER_CASES = [
    Filters(),
    Filters(countries=("US",)),
    Filters(countries=("JP", "CN")),
    Filters(topics=("geopolitics",)),
    Filters(countries=("JP",), topics=("trade",)),
    Filters(since=dated("2025-03-01")),
    Filters(until=dated("2025-03-05")),  # exclusive
    Filters(since=dated("2025-01-10"), until=dated("2025-05-20")),
    Filters(countries=("JP",), since=dated("2025-01-01")),  # the undated one is not new
    Filters(countries=("JP",), since=dated("2025-01-01"), undated=True),  # unless asked
    Filters(until=dated("2025-03-05"), undated=True),  # ingested now: not before March
    Filters(after_id=3),
    Filters(countries=("CN", "US"), topics=("trade",), since=dated("2025-02-01"), after_id=2),
    Filters(countries=("ZZ",)),  # an unknown code admits nothing
]


@pytest.mark.parametrize("filters", FILTER_CASES, ids=repr)
def test_store_admits_what_the_filters_say(filled, filters: Filters):
    store, ids, _ = filled
    before = datetime.now(UTC)  # the undated article was added before this (by the fixture)
    want = expected_ids(filters, ids, before)
    assert list(store.admitted(filters)) == sorted(want)
    assert sorted(store.article_ids(filters)) == sorted(want)


def test_article_ids_are_newest_first_by_publication_undated_last(filled):
    store, ids, _ = filled
    by_date = [ids[i] for i in (2, 5, 1, 0, 3, 4)]  # undated last (README: headlines)
    assert store.article_ids(Filters()) == by_date
    assert store.article_ids(Filters(), newest_first=False) == by_date[::-1]
    assert store.article_ids(Filters(countries=("JP",)), limit=2) == [ids[5], ids[0]]


def test_store_reads_back_what_was_added(filled):
    store, ids, vectors = filled
    assert store.count_articles() == len(ARTICLES)
    assert store.max_article_id() == max(ids)
    got = store.articles([ids[1], ids[0], 10**9])
    assert set(got) == {ids[0], ids[1]}  # unknown ids are left out
    china = got[ids[1]]
    assert (china.title, china.source, china.url) == (
        ARTICLES[1][0],
        "Wire",
        "https://news.example/1",
    )
    assert china.countries == ["CN"] and china.topics == ["geopolitics", "trade"]  # by score
    assert got[ids[0]].countries == ["JP", "US"]  # in rank order
    assert got[ids[0]].published.startswith("2025-01-10")
    owners, positions, vecs, texts = store.sentence_vectors([ids[2]])
    assert owners.tolist() == [ids[2]] * 3 and positions.tolist() == [-1, 0, 1]
    np.testing.assert_array_equal(vecs, vectors[6:9])
    assert texts[0] == ARTICLES[2][0]
    # Ranking reads vectors alone; the texts come later, in the same order, for a few.
    lean = store.sentence_vectors([ids[2], ids[0]], texts=False)
    assert lean[3] == [] and lean[0].tolist() == sorted([ids[2]] * 3 + [ids[0]] * 3)
    assert store.sentence_texts([ids[2]]) == [
        (ids[2], p, t) for p, t in zip(positions.tolist(), texts, strict=True)
    ]
    sentence_ids, article_ids, stored = map(
        np.concatenate, zip(*store.iter_vectors(chunk=4), strict=True)
    )
    np.testing.assert_array_equal(stored, vectors)
    assert article_ids.tolist() == [a for a in ids for _ in range(3)]
    assert store.vector_summary() == (len(vectors), int(sentence_ids.sum()))
    later = np.concatenate([v for _, _, v in store.iter_vectors(after_id=int(sentence_ids[9]))])
    np.testing.assert_array_equal(later, vectors[10:])


def test_store_knows_a_duplicate_by_content_url_or_source_id(filled):
    store, _, _ = filled
    original = prepared(0, *ARTICLES[0])
    assert store.is_duplicate(original)
    other = prepared(99, "Something else entirely", [], {}, None, "Wire")
    assert not store.is_duplicate(other)
    for change in (
        {"content_key": original.content_key},
        {"url": original.url},
        {"external_id": original.external_id},  # same id from the same source
    ):
        assert store.is_duplicate(replace(other, **change)), change
    # The same id from another source is another article.
    assert not store.is_duplicate(replace(other, external_id=original.external_id, source="X"))


def test_store_rewrites_tags_and_serves_them_for_tagging(filled):
    store, ids, vectors = filled
    rows = [row for chunk in store.iter_for_tagging(chunk=4) for row in chunk]
    assert [r[0] for r in rows] == ids
    aid, title, body, _, derived, vecs = rows[3]
    assert aid == ids[3]
    assert (title, derived) == (ARTICLES[3][0], False) and body.startswith(title)
    np.testing.assert_array_equal(vecs, vectors[9:12])
    store.replace_tags([(ids[3], ["SA", "US"], {"energy": 0.8})])
    assert store.articles([ids[3]])[ids[3]].countries == ["SA", "US"]
    assert set(store.admitted(Filters(countries=("SA",)))) == {ids[3]}
    assert dict(store.topic_counts()) == {"trade": 4, "geopolitics": 2, "energy": 1}
    assert dict(store.country_counts()) == {"JP": 3, "US": 3, "CN": 2, "CA": 1, "SA": 1}


def test_store_summaries_and_metadata(filled):
    store, _, _ = filled
    assert store.date_range()[0].startswith("2024-12-01")
    assert store.date_range()[1].startswith("2025-05-20")
    assert store.sources() == [("Wire", 3), ("Daily", 2), ("(unnamed)", 1)]
    assert store.get_meta("model") is None
    store.set_meta("model", "m1")
    store.set_meta("model", "m2")
    assert store.get_meta("model") == "m2"


@pytest.mark.parametrize("filters", FILTER_CASES, ids=repr)
def test_store_lexical_search_is_restricted_by_filters(filled, filters: Filters):
    store, ids, _ = filled
    question = "Japan, China and US trade"
    everything = store.lexical_search(question, 100, Filters())
    assert everything[0][0] == ids[5]  # the only article with three of the words
    assert {a for a, _ in everything} == {ids[0], ids[1], ids[2], ids[4], ids[5]}
    admitted = set(store.admitted(filters).tolist())
    want = [(a, score) for a, score in everything if a in admitted]
    assert store.lexical_search(question, 100, filters) == want
    assert store.lexical_search("the of and", 10, filters) == []  # stopwords only


def write_records(path: Path, n: int, start: int = 0) -> Path:
    records = [
        {
            "id": f"r{i}",
            "title": f"Story number {i} about topic {i % 7}",
            "body": f"Sentence one of story {i} mentions item{i}. Sentence two adds detail {i}.",
        }
        for i in range(start, start + n)
    ]
    path.write_text(json.dumps(records))
    return path


def test_ranking_reads_only_the_best_articles_texts(fake_corpus: Corpus):
    """retrieve reads the texts of its best `texts` articles, None for the rest (the
    vectors rank them); load_texts fills in others, as ask does once it has reordered."""
    fake_corpus.ingest([str(SEED)])
    encode = fake_corpus.encoder.encode
    question = "Why is Japan objecting to US tariffs?"

    def run(texts: int):
        return retrieve(
            question, lambda t: encode([t])[0], fake_corpus.store, fake_corpus.index, Filters(),
            texts=texts,
        )  # fmt: skip

    full, lean = run(50), run(1)
    assert [c.article_id for c in full.ranked] == [c.article_id for c in lean.ranked]
    first, third = full.ranked[0].article_id, full.ranked[2].article_id
    t = lean.sentences
    assert all(t.texts[i] is not None for i in rows(t, first))
    assert all(t.texts[i] is None for i in rows(t, third))
    load_texts(fake_corpus.store, t, [third, first])
    assert [t.texts[i] for i in rows(t, third)] == [full.sentences.texts[i] for i in rows(t, third)]
    assert all(text is not None for text in full.sentences.texts)


def test_reingest_adds_nothing(fake_corpus: Corpus):
    first = fake_corpus.ingest([str(SEED)])
    again = fake_corpus.ingest([str(SEED)])
    assert (first.added, first.duplicates) == (18, 0)
    assert (again.added, again.duplicates, again.embedded) == (0, 18, 0)
    assert fake_corpus.store.count_articles() == 18


def test_dedupe_by_url_external_id_and_content(fake_corpus: Corpus, tmp_path: Path):
    f = tmp_path / "a.jsonl"
    rows = [
        {"id": "x1", "title": "A", "body": "Alpha body."},
        {"id": "x1", "title": "B", "body": "Different body, same id."},
        {"title": "C", "body": "Gamma body.", "url": "https://e.com/c"},
        {"title": "D", "body": "Delta body.", "url": "https://e.com/c"},
        {"title": "a", "body": "alpha   BODY"},
    ]
    f.write_text("\n".join(json.dumps(r) for r in rows))
    report = fake_corpus.ingest([str(f)])
    assert (report.added, report.duplicates) == (2, 3)


def test_duplicate_of_the_batch_being_embedded_is_caught(settings, fake_encoder, tmp_path):
    """Batch N is embedded while N+1 fills, so N is not in SQLite yet when N+1 is checked."""
    from dataclasses import replace

    small = replace(settings, index=replace(settings.index, batch_articles=2))
    f = tmp_path / "a.jsonl"
    rows = [
        {"id": "x1", "title": "A", "body": "Alpha body."},
        {"id": "x2", "title": "B", "body": "Beta body."},
        {"id": "x1", "title": "A again", "body": "Alpha body, resent."},
        {"title": "B", "body": "Beta  body."},
        {"id": "x3", "title": "D", "body": "Delta body."},
    ]
    f.write_text("\n".join(json.dumps(r) for r in rows))
    with Corpus(small, encoder=fake_encoder) as corpus:
        report = corpus.ingest([str(f)])
        assert (report.added, report.duplicates) == (3, 2)
        assert corpus.store.count_articles() == 3
        assert corpus.index.ntotal == corpus.store.vector_summary()[0]


def test_each_batch_joins_stories_before_the_next_is_stored(
    settings, fake_encoder, tmp_path, monkeypatch
):
    """Story assignment and BM25's postings run after every committed batch (beside the
    next one's embedding), so none is left for the end but the last batch's."""
    from retrieval import stories
    from retrieval.lexical import BM25Search

    small = replace(settings, index=replace(settings.index, batch_articles=10))
    unassigned: list[int] = []
    real = stories.assign_new

    def counting(store, params=None):  # type: ignore[no-untyped-def]
        unassigned.append(len(store.unassigned_articles(1000)))
        return real(store, params)

    held: list[int] = []
    real_catch_up = BM25Search.catch_up

    def catching_up(self):  # type: ignore[no-untyped-def]
        real_catch_up(self)
        held.append(self.postings.articles if self.postings is not None else -1)

    monkeypatch.setattr(stories, "assign_new", counting)
    monkeypatch.setattr(BM25Search, "catch_up", catching_up)
    with Corpus(small, encoder=fake_encoder) as corpus:
        report = corpus.ingest([str(write_records(tmp_path / "a.json", 25))])
        assert report.added == 25
        assert corpus.store.unassigned_articles(1000) == []
    assert unassigned == [10, 10, 5, 0]  # three batches, then the corpus's final check
    assert held == [10, 20, 25]


def test_incremental_ingest_embeds_only_new_articles(fake_corpus: Corpus, fake_encoder, tmp_path):
    fake_corpus.ingest([str(write_records(tmp_path / "a.json", 50))])
    fake_encoder.calls.clear()
    report = fake_corpus.ingest([str(write_records(tmp_path / "b.json", 60))])  # 50 old + 10 new
    assert (report.added, report.duplicates) == (10, 50)
    assert sum(fake_encoder.calls) == report.embedded == 10 * 3  # title + two sentences each


def test_long_sentences_are_windowed_not_truncated(fake_corpus: Corpus, tmp_path: Path):
    words = " ".join(f"w{i}" for i in range(100))
    f = tmp_path / "long.json"
    f.write_text(json.dumps([{"title": "Long", "body": words + "."}]))
    fake_corpus.ingest([str(f)])
    _, positions, _, texts = fake_corpus.store.sentence_vectors([1])
    body = [t for t, p in zip(texts, positions, strict=True) if p >= 0]
    assert len(body) == 3
    assert " ".join(body) == words + "."


def test_index_behind_store_is_repaired(settings, fake_encoder, tmp_path, caplog):
    with Corpus(settings, encoder=fake_encoder) as corpus:
        corpus.ingest([str(write_records(tmp_path / "a.json", 20))])
        files = [corpus.index_path, ids_path(corpus.index_path), meta_path(corpus.index_path)]
        saved = [f.read_bytes() for f in files]
        corpus.ingest([str(write_records(tmp_path / "b.json", 30))])
        expected = corpus.index.ntotal
    # Simulate a crash after the SQLite commit but before the index was saved.
    for f, content in zip(files, saved, strict=True):
        f.write_bytes(content)
    with caplog.at_level(logging.WARNING), Corpus(settings, encoder=fake_encoder) as corpus:
        assert corpus.index.ntotal == expected
        assert "repaired" in caplog.text
        assert sorted(corpus.index.ids()) == sorted(
            i for ids, _, _ in corpus.store.iter_vectors() for i in ids
        )


def test_corrupt_or_foreign_index_is_rebuilt(settings, fake_encoder, tmp_path, caplog):
    with Corpus(settings, encoder=fake_encoder) as corpus:
        corpus.ingest([str(SEED)])
        expected = corpus.index.ntotal
    corpus.index_path.write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING), Corpus(settings, encoder=fake_encoder) as corpus:
        assert corpus.index.ntotal == expected
    assert "rebuild" in caplog.text
    # An index with a vector SQLite does not know is never served.
    other = SentenceIndex(64, "fake-hash", "fake")
    other.add(np.array([999_999]), np.ones((1, 64), np.float32), np.array([1]))
    other.save(corpus.index_path)
    with Corpus(settings, encoder=fake_encoder) as corpus:
        assert 999_999 not in set(corpus.index.ids())
        assert corpus.index.ntotal == expected


class Boom(RuntimeError):
    pass


def test_crash_mid_ingest_loses_at_most_the_batch_in_flight(settings, fake_encoder, tmp_path):
    from dataclasses import replace

    small = replace(settings, index=replace(settings.index, batch_articles=10))
    corpus = Corpus(small, encoder=fake_encoder)
    corpus.tagger  # noqa: B018 - build the taggers (they encode topic examples) before the crash
    real_encode = fake_encoder.encode
    calls = {"n": 0}

    def flaky(texts):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Boom("killed")
        return real_encode(texts)

    fake_encoder.encode = flaky
    with pytest.raises(Boom):
        corpus.ingest([str(write_records(tmp_path / "a.json", 35))])
    corpus.close()
    fake_encoder.encode = real_encode
    with Corpus(small, encoder=fake_encoder) as corpus:
        assert corpus.store.count_articles() == 20  # two committed batches survive
        assert corpus.index.ntotal == corpus.store.vector_summary()[0]
        report = corpus.ingest([str(tmp_path / "a.json")])
        assert (report.added, report.duplicates) == (15, 20)


def clustered(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    """Unit vectors around 50 centres, like sentence embeddings of a few stories."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(50, dim))
    vecs = centres[rng.integers(0, 50, n)] + 0.6 * rng.normal(size=(n, dim))
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs.astype(np.float32)


def exact_top(vecs: np.ndarray, query: np.ndarray, k: int, rows: np.ndarray) -> list[int]:
    return [int(r) for r in rows[np.argsort(-(vecs[rows] @ query))[:k]]]


def test_filtered_search_restricts_inside_faiss():
    vecs = clustered(5000, 16)
    index = SentenceIndex(16)
    ids = np.arange(1, 5001)
    index.add(ids, vecs, ids // 2)  # two sentences per article
    articles = np.arange(2495, 2501)  # 0.2% of the index: the vectors of ids 4990-5000
    hits = index.search(vecs[0], 5, articles)
    allowed = np.flatnonzero(np.isin(ids // 2, articles))
    assert list(hits.ids) == [i + 1 for i in exact_top(vecs, vecs[0], 5, allowed)]
    assert set(hits.articles) <= set(articles)
    assert len(index.search(vecs[0], 5, np.array([99_999])).ids) == 0


def test_index_switches_to_hnsw_past_its_size_and_keeps_recall(tmp_path, caplog):
    vecs = clustered(6000)
    ids = np.arange(10, 6010)
    index = SentenceIndex(32, exact_max=4000)
    with caplog.at_level(logging.INFO, logger="retrieval.index"):
        for start in range(0, 6000, 1000):
            part = slice(start, start + 1000)
            index.add(ids[part], vecs[part], ids[part] // 3)
    assert index.kind == HNSW and index.ntotal == 6000
    assert "switching from exact search to HNSW" in caplog.text
    everything = np.arange(6000)
    recall = []
    for q in range(0, 6000, 60):
        got = index.search(vecs[q], 10).ids
        recall.append(len(set(got) & {i + 10 for i in exact_top(vecs, vecs[q], 10, everything)}))
    assert np.mean(recall) / 10 >= 0.95

    # A selective filter (1% of vectors) is answered exactly, inside the index: the
    # exhaustive order over the vectors it holds (8-bit codes), and all but a near tie
    # of exact float32 search's top ten.
    articles = np.arange(100, 120)
    allowed = np.flatnonzero(np.isin(ids // 3, articles))
    held = index._exact().reconstruct_n(0, index.ntotal)
    for q in (0, 1, 2):
        got = index.search(vecs[q], 10, articles)
        assert list(got.ids) == [i + 10 for i in exact_top(held, vecs[q], 10, allowed)]
        want = {i + 10 for i in exact_top(vecs, vecs[q], 10, allowed)}
        assert len(set(got.ids) & want) >= 9
        assert set(got.articles) <= set(articles)
    # A broad one (half the vectors) walks the graph wider and still keeps recall.
    half = np.arange(0, 2010, 2)
    allowed = np.flatnonzero(np.isin(ids // 3, half))
    recall = []
    for q in range(0, 6000, 60):
        got = index.search(vecs[q], 10, half)
        assert set(got.articles) <= set(half)
        want = {i + 10 for i in exact_top(vecs, vecs[q], 10, allowed)}
        recall.append(len(set(got.ids) & want))
    assert np.mean(recall) / 10 >= 0.95

    index.save(tmp_path / "i.faiss")
    loaded, meta = SentenceIndex.load(tmp_path / "i.faiss", exact_max=4000)
    assert meta.kind == HNSW and loaded.kind == HNSW
    assert list(loaded.search(vecs[5], 10).ids) == list(index.search(vecs[5], 10).ids)
    loaded.add(np.array([7000]), vecs[:1], np.array([5000]))
    assert 7000 in loaded.search(vecs[0], 2).ids


def test_small_index_stays_exact(tmp_path):
    vecs = clustered(300)
    index = SentenceIndex(32, exact_max=4000)
    index.add(np.arange(300), vecs, np.arange(300))
    assert index.kind == FLAT
    assert list(index.search(vecs[7], 10).ids) == exact_top(vecs, vecs[7], 10, np.arange(300))


def test_index_with_mismatched_ids_file_is_not_served(tmp_path):
    vecs = clustered(50)
    index = SentenceIndex(32)
    index.add(np.arange(50), vecs, np.arange(50))
    index.save(tmp_path / "i.faiss")
    np.save(ids_path(tmp_path / "i.faiss"), np.zeros((2, 3), np.int64))
    assert SentenceIndex.load(tmp_path / "i.faiss") is None


def test_background_preparation_keeps_order_and_reraises():
    from retrieval.ingest import in_background

    assert list(in_background(range(2000), depth=8)) == list(range(2000))

    def broken():
        yield 1
        raise Boom("bad file")

    got = []
    with pytest.raises(Boom):
        for x in in_background(broken()):
            got.append(x)
    assert got == [1]
    stream = in_background(iter(range(10**9)), depth=4)  # endless: closing must stop it
    assert next(stream) == 0
    stream.close()


def test_feed_polls_defer_writing_a_large_index(settings, fake_encoder, tmp_path, monkeypatch):
    import retrieval.corpus as corpus_module

    monkeypatch.setattr(corpus_module, "INDEX_ALWAYS_SAVE_BELOW", 0)  # every index is "large"
    with Corpus(settings, encoder=fake_encoder) as corpus:
        corpus.ingest([str(write_records(tmp_path / "a.json", 10))])  # explicit: saved now
        saved = corpus.index_path.stat().st_mtime_ns
        items = list(load([str(write_records(tmp_path / "b.json", 5, start=10))]))
        corpus.ingest_items(items, progress=False, save_index=False)
        assert corpus.index_path.stat().st_mtime_ns == saved
        expected = corpus.index.ntotal
    # close() wrote it: it opens without repair.
    assert SentenceIndex.load(corpus.index_path)[1].count == expected
    # A process killed before close(): the next start adds the missing vectors from SQLite.
    corpus = Corpus(settings, encoder=fake_encoder)
    items = list(load([str(write_records(tmp_path / "c.json", 5, start=20))]))
    corpus.ingest_items(items, progress=False, save_index=False)
    expected = corpus.index.ntotal
    corpus.store.close()  # no flush
    with Corpus(settings, encoder=fake_encoder) as reopened:
        assert reopened.index.ntotal == expected


@pytest.mark.parametrize(
    ("filters", "admits"),
    [
        (Filters(countries=("US",)), "some"),
        (Filters(countries=("JP", "CN")), "some"),
        (Filters(topics=("trade",)), "some"),
        (Filters(countries=("US",), topics=("trade",)), "some"),
        # The seed is undated: in no date window, unless its ingestion time may count.
        (Filters(since=datetime(2025, 1, 1, tzinfo=UTC)), "none"),
        (Filters(since=datetime(2025, 1, 1, tzinfo=UTC), undated=True), "all"),
        (
            Filters(
                countries=("CN",), since=datetime(2025, 1, 1, tzinfo=UTC), after_id=3, undated=True
            ),
            "some",
        ),
        (Filters(after_id=5), "some"),
        (Filters(countries=("ZZ",)), "none"),
    ],
)
def test_admitted_articles_match_the_sql_filter(seed_corpus: Corpus, filters: Filters, admits):
    """The fast path behind FAISS selectors agrees with the one-query SQL filter, and each
    filter admits as much of the real corpus as it should (an ignored condition admits all)."""
    store = seed_corpus.store
    admitted = list(store.admitted(filters))
    assert admitted == sorted(store.article_ids(filters))
    total = store.count_articles()
    assert {"none": 0, "all": total}.get(admits, len(admitted)) == len(admitted)
    assert admits != "some" or 0 < len(admitted) < total


def test_saved_index_follows_a_changed_size_limit(tmp_path, caplog):
    vecs = clustered(3000)
    index = SentenceIndex(32, exact_max=10_000)
    index.add(np.arange(3000), vecs, np.arange(3000))
    index.save(tmp_path / "i.faiss")
    lowered, _ = SentenceIndex.load(tmp_path / "i.faiss", exact_max=1000)
    with caplog.at_level(logging.INFO, logger="retrieval.index"):
        assert lowered.fit_size() and lowered.kind == HNSW
    assert "switching from exact search to HNSW" in caplog.text
    assert len(set(lowered.search(vecs[3], 10).ids) & set(index.search(vecs[3], 10).ids)) >= 8
    raised = lowered
    raised.exact_max = 10_000
    assert raised.fit_size() and raised.kind == FLAT
    # Back to exact search over what the graph held (8-bit codes): the same best hit
    # and all but a near tie of the top ten.
    back, before = raised.search(vecs[3], 10).ids, index.search(vecs[3], 10).ids
    assert back[0] == before[0] and len(set(back) & set(before)) >= 9
    assert not raised.fit_size()


@pytest.mark.parametrize(
    "filters",
    [
        Filters(countries=("US",)),
        Filters(countries=("JP", "CN"), topics=("trade",)),
        Filters(countries=("CN",), since=datetime(2025, 1, 1, tzinfo=UTC), after_id=3),
        Filters(since=datetime(2025, 4, 1, tzinfo=UTC), until=datetime(2025, 6, 1, tzinfo=UTC)),
    ],
)
def test_filtered_bm25_is_the_unfiltered_ranking_restricted(seed_corpus: Corpus, filters):
    store = seed_corpus.store
    admitted = set(store.admitted(filters).tolist())
    for question in ("tariffs on Japanese cars", "China export controls rare earths", "oil"):
        everything = store.lexical_search(question, 1000, Filters())
        assert everything
        want = [(a, s) for a, s in everything if a in admitted][:3]
        assert store.lexical_search(question, 3, filters) == want


def test_bm25_leaves_out_words_most_articles_contain(fake_corpus: Corpus, tmp_path, monkeypatch):
    """A word in over 10% of a large corpus is not scored, unless too few others remain."""
    from retrieval import lexical
    from retrieval.lexical import COMMON_TERM_SHARE

    monkeypatch.setattr(lexical, "COMMON_TERMS_FROM", 500)  # "large" for the test
    records = [
        {
            "id": f"m{i}",
            "title": f"Market report {i}" + (" on tariffs" if i % 100 == 0 else ""),
            "body": f"The market moved on item{i}. Steel output was {i} tonnes"
            + (" and steel tariffs rose." if i % 50 == 0 else "."),
        }
        for i in range(600)
    ]
    (tmp_path / "m.json").write_text(json.dumps(records))
    fake_corpus.ingest([str(tmp_path / "m.json")])
    store = fake_corpus.store
    informative = store.lexical._informative
    assert COMMON_TERM_SHARE < 1.0
    # "market" and "steel" are in every article: they are dropped when two rarer words remain.
    assert informative(["market", "steel", "tariffs", "item100"]) == ["tariffs", "item100"]
    assert informative(["market", "steel", "tariffs"]) == ["market", "steel", "tariffs"]
    assert informative(["market", "tariffs"]) == ["market", "tariffs"]
    with_common = store.lexical_search("market steel tariffs item100", 5, Filters())
    assert with_common == store.lexical_search("tariffs item100", 5, Filters())
    assert with_common[0][0] == store.lexical_search("item100", 1, Filters())[0][0]
    # Under a filter every word counts: corpus-wide frequency says little inside it.
    filtered = store.lexical_search("market steel tariffs item100", 5, Filters(after_id=0))
    monkeypatch.setattr(lexical, "COMMON_TERMS_FROM", 10**9)
    assert filtered == store.lexical_search("market steel tariffs item100", 5, Filters())
    assert filtered != with_common


def test_common_word_verdicts_are_reused_until_the_corpus_grows(
    fake_corpus: Corpus, tmp_path, monkeypatch
):
    """Counting a word's articles is a query of its own: once per word, not per ask."""
    from retrieval import lexical

    monkeypatch.setattr(lexical, "COMMON_TERMS_FROM", 100)
    records = [
        {"id": f"g{i}", "title": f"Grain report {i}", "body": f"Wheat item{i} rose."}
        for i in range(200)
    ]
    (tmp_path / "g.json").write_text(json.dumps(records))
    fake_corpus.ingest([str(tmp_path / "g.json")])
    store = fake_corpus.store
    counts: list[str] = []
    store._db.set_trace_callback(lambda sql: counts.append(sql) if "MATCH" in sql else None)
    terms = ["wheat", "item7", "item8"]
    assert store.lexical._informative(terms) == ["item7", "item8"]
    assert len(counts) == 3
    assert store.lexical._informative(terms) == ["item7", "item8"]
    assert len(counts) == 3  # remembered
    # Once the corpus has grown past the staleness share, each word is counted again.
    more = [{"id": f"h{i}", "title": f"Oil {i}", "body": f"Crude item{i}x fell."} for i in range(5)]
    (tmp_path / "h.json").write_text(json.dumps(more))
    fake_corpus.ingest([str(tmp_path / "h.json")])
    assert store.lexical._informative(terms) == ["item7", "item8"]
    assert len(counts) == 6
    store._db.set_trace_callback(None)


def test_bm25_keeps_every_word_in_a_small_corpus(seed_corpus: Corpus):
    store = seed_corpus.store
    terms = ["china", "tariffs", "japan", "trade"]
    assert store.lexical._informative(terms) == terms


# The articles table as schema version 1 wrote it (before date sources and locations).
V1_ARTICLES = """
CREATE TABLE articles (
    id INTEGER PRIMARY KEY, ext_key TEXT UNIQUE, external_id TEXT, url TEXT UNIQUE,
    content_key TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
    title_derived INTEGER NOT NULL DEFAULT 0, body TEXT NOT NULL, source TEXT, origin TEXT,
    dateline TEXT, published TEXT, added TEXT NOT NULL, dated TEXT NOT NULL
);
CREATE INDEX articles_dated ON articles(dated);
INSERT INTO articles (content_key, title, body, origin, published, added, dated) VALUES
    ('k1', 'Dated story', 'Body one.', 'news/a.txt', '1987-02-26T00:00:00+00:00',
     '2026-11-25T03:00:00+00:00', '1987-02-26T00:00:00+00:00'),
    ('k2', 'Undated story', 'Body two.', '/srv/news/b.txt', NULL,
     '2026-11-25T03:00:00+00:00', '2026-11-25T03:00:00+00:00');
PRAGMA user_version=1;
"""


def test_a_data_dir_of_schema_1_is_migrated(tmp_path: Path):
    """Version 1 stored an undated article's ingestion time as its date: after migrating
    it is undated (in no --since window, listed last), a dated one's source 'unrecorded'."""
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(V1_ARTICLES)
    db.close()
    store = Store(path)
    try:
        got = store.articles([1, 2])
        assert (got[1].date_source, got[2].date_source, got[2].published) == (
            "unrecorded",
            None,
            None,
        )
        assert (got[1].location, got[2].location) == (None, "/srv/news/b.txt")  # absolute only
        assert store.article_ids(Filters(since=dated("2026-01-01"))) == []
        assert store.article_ids(Filters()) == [1, 2]  # undated last
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        store.close()
    Store(path).close()  # opening a migrated store again changes nothing


@pytest.mark.parametrize("exact_max", [10_000, 100])  # exact, then HNSW
def test_index_remove_drops_those_ids_and_keeps_the_rest_searchable(exact_max: int):
    vecs = clustered(600)
    index = SentenceIndex(32, exact_max=exact_max)
    ids = np.arange(1, 601, dtype=np.int64)
    index.add(ids, vecs, ids // 10)
    assert index.kind == (FLAT if exact_max > 600 else HNSW)
    gone = ids[ids % 3 == 0]
    assert index.remove(np.append(gone, 10**9)) == len(gone)  # unknown ids are ignored
    assert index.remove(gone) == 0
    kept = ids[ids % 3 != 0]
    np.testing.assert_array_equal(index.ids(), kept)
    assert index.ntotal == len(kept)
    for i in (1, 2, 4, 599):  # each kept vector is still its own nearest, with its article
        hits = index.search(vecs[i - 1], 1)
        assert (hits.ids[0], hits.articles[0]) == (i, i // 10)
    hits = index.search(vecs[2], 5, articles=np.array([0]))  # the filter still maps right
    assert set(hits.ids) <= {1, 2, 4, 5, 7, 8}
