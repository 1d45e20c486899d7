"""The ingest's schedule: a small first batch, the warm-up on the embedding thread, and
the input's last articles in shrinking pieces (`retrieval.ingest`). Fake encoder only."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retrieval import Corpus
from retrieval import ingest as ingest_module
from retrieval.ingest import TAIL_PIECE, ingest, tail_pieces
from retrieval.loaders import load

from .test_progress import write_records


@pytest.fixture
def embedded(monkeypatch) -> list[int]:
    """The size of every batch handed to the embedding thread, in order."""
    sizes: list[int] = []
    real = ingest_module._embed

    def recording(encoder, articles, shown):  # type: ignore[no-untyped-def]
        sizes.append(len(articles))
        return real(encoder, articles, shown)

    monkeypatch.setattr(ingest_module, "_embed", recording)
    return sizes


@given(st.integers(min_value=0, max_value=20_000))
def test_tail_pieces_keep_every_article_in_order_and_shrink(n: int):
    articles = list(range(n))
    pieces = tail_pieces(articles)  # type: ignore[arg-type]
    assert [a for piece in pieces for a in piece] == articles
    assert all(pieces)
    sizes = [len(p) for p in pieces]
    assert sizes == sorted(sizes, reverse=True)
    if n:
        assert sizes[-1] <= 2 * TAIL_PIECE
    if n > 2 * TAIL_PIECE:  # each piece is three quarters of what was left
        assert sizes[0] == n - n // 4


def test_first_batch_is_small_and_the_rest_ends_in_shrinking_pieces(
    settings, fake_encoder, tmp_path, monkeypatch, embedded
):
    monkeypatch.setattr(ingest_module, "FIRST_BATCH", 4)
    monkeypatch.setattr(ingest_module, "TAIL_PIECE", 2)
    small = replace(settings, index=replace(settings.index, batch_articles=10))
    with Corpus(small, encoder=fake_encoder) as corpus:
        report = corpus.ingest([str(write_records(tmp_path / "a.jsonl", 31))])
        assert report.added == 31
        assert corpus.store.count_articles() == 31
        assert corpus.index.ntotal == corpus.store.vector_summary()[0]
        assert corpus.store.unassigned_articles(100) == []
    # 4 first, two full batches, then the 7 left: 6 (three quarters, rounded up) and 1.
    assert embedded == [4, 10, 10, 6, 1]


def test_every_tail_piece_is_queued_before_the_first_of_them_is_stored(
    settings, fake_encoder, tmp_path, monkeypatch
):
    """The encoder must not wait for a store to be handed the next piece."""
    monkeypatch.setattr(ingest_module, "FIRST_BATCH", 100)
    monkeypatch.setattr(ingest_module, "TAIL_PIECE", 2)
    queued: list[int] = []  # sizes of the batches submitted for embedding, in order

    class Recording(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def,override]
            if fn is ingest_module._embed:
                queued.append(len(args[1]))
            return super().submit(fn, *args, **kwargs)

    monkeypatch.setattr(ingest_module, "ThreadPoolExecutor", Recording)
    queued_at_store: list[list[int]] = []
    with Corpus(settings, encoder=fake_encoder) as corpus:
        real_add = corpus.store.add_batch

        def adding(articles, vectors):  # type: ignore[no-untyped-def]
            queued_at_store.append(list(queued))
            return real_add(articles, vectors)

        monkeypatch.setattr(corpus.store, "add_batch", adding)
        report = corpus.ingest([str(write_records(tmp_path / "a.jsonl", 20))])
        assert report.added == 20
    # 20 left at the end (fewer than the first batch): 15, 4 and 1, all queued at once.
    assert queued == [15, 4, 1]
    assert queued_at_store == [[15, 4, 1]] * 3


def test_the_tagger_is_built_on_the_embedding_thread_before_the_first_batch(
    settings, fake_encoder, tmp_path, monkeypatch, embedded
):
    """The corpus's warm-up builds the tagger (it embeds the topic examples) beside the
    first batch's parsing; an ingest with nothing new builds nothing."""
    from retrieval import tagging

    built: list[tuple[str, int]] = []
    real_init = tagging.ArticleTagger.__init__

    def init(self, encoder):  # type: ignore[no-untyped-def]
        built.append((threading.current_thread().name, len(embedded)))
        real_init(self, encoder)

    monkeypatch.setattr(tagging.ArticleTagger, "__init__", init)
    path = write_records(tmp_path / "a.jsonl", 12)
    with Corpus(settings, encoder=fake_encoder) as corpus:
        assert corpus.ingest([str(path)]).added == 12
    assert len(built) == 1
    thread, batches_before = built[0]
    assert thread.startswith("ingest-embed") and batches_before == 0
    built.clear()
    with Corpus(settings, encoder=fake_encoder) as corpus:  # a new process, nothing new
        report = corpus.ingest([str(path)])
    assert (report.added, report.duplicates) == (0, 12)
    assert built == []


def test_a_failing_warm_up_fails_the_ingest_before_anything_is_stored(
    settings, fake_encoder, tmp_path
):
    class Broken(RuntimeError):
        pass

    def warm_up() -> None:
        raise Broken("the topic examples could not be embedded")

    with Corpus(settings, encoder=fake_encoder) as corpus:
        items = list(load([str(write_records(tmp_path / "a.jsonl", 5))]))
        with pytest.raises(Broken):
            ingest(items, corpus.store, corpus.index, fake_encoder, warm_up=warm_up)
        assert corpus.store.count_articles() == 0
