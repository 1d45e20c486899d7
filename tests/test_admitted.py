"""`Store.admitted` keeps recent filters' ids until the store changes: never stale."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from retrieval import Corpus, Filters


def ingest(corpus: Corpus, tmp_path: Path, name: str, n: int) -> None:
    recs = [
        {"id": f"{name}{i}", "title": f"Tokyo talks {name} {i}", "body": f"Japan said {name}{i}."}
        for i in range(n)
    ]
    (tmp_path / f"{name}.json").write_text(json.dumps(recs))
    corpus.ingest([str(tmp_path / f"{name}.json")])


def test_kept_ids_are_handed_out_again_read_only(fake_corpus: Corpus, tmp_path: Path):
    ingest(fake_corpus, tmp_path, "a", 5)
    store, jp = fake_corpus.store, Filters(countries=("JP",))
    first = store.admitted(jp)
    assert len(first) == 5
    assert store.admitted(jp) is first
    with pytest.raises(ValueError):
        first[0] = 0


def test_a_write_on_this_or_another_connection_renews_the_ids(fake_corpus: Corpus, tmp_path: Path):
    ingest(fake_corpus, tmp_path, "a", 5)
    store, jp = fake_corpus.store, Filters(countries=("JP",))
    before = store.admitted(jp)
    ingest(fake_corpus, tmp_path, "b", 3)  # this thread's connection
    after = store.admitted(jp)
    assert len(after) == 8
    seen: list[int] = []
    worker = threading.Thread(target=lambda: seen.append(len(store.admitted(jp))))
    worker.start()
    worker.join()
    # another thread (another connection) deletes a tag: this thread sees it at once
    done = threading.Event()

    def untag() -> None:
        store._db.execute("DELETE FROM article_countries WHERE article_id=?", (int(after[0]),))
        done.set()

    threading.Thread(target=untag).start()
    done.wait(5)
    assert len(store.admitted(jp)) == 7
    assert seen == [8] and len(before) == 5
