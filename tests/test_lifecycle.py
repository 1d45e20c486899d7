"""Articles have a lifecycle: re-ingesting changed content replaces an article in place,
`show` prints one in full, `remove` deletes from SQLite and the index together."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import retrieval
from bot.cli import main
from retrieval import Corpus, Filters, Selection
from retrieval.corpus import DB_NAME
from tests.conftest import FakeEncoder

BODY = (
    "Japan and the United States failed to agree on car tariffs on Tuesday.\n\n"
    "Officials in Tokyo said talks would resume next month."
)
EDITED = (
    "Japan and the United States agreed on steel quotas on Friday.\n\n"
    "Officials in Tokyo welcomed the surprise breakthrough."
)


def consistent(corpus: Corpus) -> None:
    """The index holds exactly the store's sentence ids, owned by the right articles."""
    stored = np.sort(np.concatenate([ids for ids, _, _ in corpus.store.iter_vectors()] or [[]]))
    assert np.array_equal(np.sort(corpus.index.ids()), stored.astype(np.int64))
    assert corpus.index.ntotal == corpus.store.vector_summary()[0]


def test_reingesting_an_edited_file_replaces_the_article_in_place(fake_corpus, tmp_path: Path):
    path = tmp_path / "news" / "japan.txt"
    path.parent.mkdir()
    path.write_text("Tariff talks stall\n\n" + BODY)
    first = fake_corpus.ingest([str(path)])
    assert (first.added, first.updated) == (1, 0)
    (aid,) = fake_corpus.store.article_ids(Filters())
    old_sentences = fake_corpus.store.sentence_ids([aid])

    path.write_text("Steel deal reached\n\n" + EDITED)
    again = fake_corpus.ingest([str(path)])
    assert (again.added, again.updated, again.duplicates, again.articles) == (0, 1, 0, 1)
    article = fake_corpus.article(aid)
    assert (article.title, article.body) == ("Steel deal reached", EDITED)
    assert article.updated is not None
    assert not set(old_sentences) & set(fake_corpus.index.ids())
    consistent(fake_corpus)
    words = [aid for aid, _ in fake_corpus.store.lexical_search("breakthrough", 5, Filters())]
    assert words == [aid]
    assert fake_corpus.store.lexical_search("resume", 5, Filters()) == []

    # The same content again, from a relative path elsewhere: nothing changes.
    assert fake_corpus.ingest([str(path)]).duplicates == 1


def test_a_record_whose_id_comes_again_with_new_content_is_updated(fake_corpus, tmp_path: Path):
    export = tmp_path / "wire.jsonl"
    rows = [{"id": "a1", "title": "Tariff talks stall", "body": BODY, "source": "Wire"}]
    export.write_text("\n".join(json.dumps(r) for r in rows))
    fake_corpus.ingest([str(export)])
    moved = tmp_path / "elsewhere.jsonl"  # another file: the id (per source) still matches
    moved.write_text(json.dumps({**rows[0], "body": EDITED}))
    report = fake_corpus.ingest([str(moved)])
    assert (report.added, report.updated) == (0, 1)
    assert fake_corpus.store.count_articles() == 1
    consistent(fake_corpus)


def test_remove_keeps_store_and_index_consistent_and_reopens_cleanly(
    settings, tmp_path: Path, caplog
):
    folder = tmp_path / "news"
    folder.mkdir()
    for n in range(4):
        (folder / f"{n}.txt").write_text(f"Story number {n} here\n\n{BODY} Item {n}.")
    with Corpus(settings, encoder=FakeEncoder()) as corpus:
        corpus.ingest([str(folder)])
        ids = corpus.store.article_ids(Filters(), newest_first=False)
        removal = corpus.remove(ids[:2])
        assert (removal.articles, removal.remaining) == (2, 2)
        assert removal.sentences > 0
        consistent(corpus)
        assert set(corpus.store.articles(ids)) == set(ids[2:])
    with caplog.at_level("WARNING"), Corpus(settings, encoder=FakeEncoder()) as corpus:
        consistent(corpus)
    assert not [r for r in caplog.records if "index" in r.getMessage()]  # no rebuild needed


def test_selection_by_folder_file_source_and_date(fake_corpus, tmp_path: Path):
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "a.txt").write_text("Story A is here\n\n" + BODY)
    (folder / "sub").mkdir()
    (folder / "sub" / "b.txt").write_text("Story B is here\n\n" + EDITED)
    rows = [
        {"title": "Old wire story", "body": "Old news.", "date": "1987-02-26", "source": "Wire"},
        {"title": "New wire story", "body": "New news.", "date": "2025-04-18", "source": "wire"},
    ]
    (tmp_path / "wire.json").write_text(json.dumps(rows))
    fake_corpus.ingest([str(folder), str(tmp_path / "wire.json")])

    def titles(**given) -> list[str]:
        return sorted(a.title for a in fake_corpus.select(Selection(**given)))

    assert titles(path=str(folder)) == ["Story A is here", "Story B is here"]
    assert titles(path=str(folder / "sub" / "b.txt")) == ["Story B is here"]
    assert titles(path=str(tmp_path / "wire.json")) == ["New wire story", "Old wire story"]
    assert titles(source="WIRE") == ["New wire story", "Old wire story"]
    before = retrieval.parse_since("2000-01-01")
    assert titles(before=before) == ["Old wire story"]  # undated files never match
    assert titles(source="Wire", before=before, ids=(999,)) == []


@pytest.fixture
def fake_cli(monkeypatch, tmp_path: Path) -> Path:
    real = retrieval.Corpus
    monkeypatch.setattr(
        retrieval, "Corpus", lambda settings, **kw: real(settings, encoder=FakeEncoder(), **kw)
    )
    monkeypatch.setenv("BRIEFBOT_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # usage errors exit 2 as argparse does
        code = int(exc.code)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_show_remove_and_updated(capsys, fake_cli, tmp_path: Path, monkeypatch):
    path = tmp_path / "japan.txt"
    path.write_text("Tariff talks stall\n\n" + BODY)
    assert run(capsys, "ingest", str(path))[0] == 0
    path.write_text("Tariff talks stall\n\n" + EDITED)
    code, out, _ = run(capsys, "ingest", str(path))
    assert code == 0 and "added 0, updated 1," in out

    code, out, _ = run(capsys, "show", "1")
    assert code == 0
    assert "published    undated" in out and str(path.resolve()) in out and EDITED in out
    code, out, _ = run(capsys, "show", "1", "--json")
    shown = json.loads(out)
    assert (shown["id"], shown["body"], shown["date_source"]) == (1, EDITED, None)
    assert run(capsys, "show", "7")[0] == 1

    # Not a terminal and no --yes: refused as a usage error, nothing removed.
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    code, _, err = run(capsys, "remove", "1")
    assert code == 2 and "--yes" in err
    assert run(capsys, "remove")[0] == 2  # no criterion
    code, out, _ = run(capsys, "remove", "--source", "nobody", "--yes", "--json")
    assert code == 1 and json.loads(out)["error"]["kind"] == "input"
    code, out, _ = run(capsys, "remove", "--path", str(path), "--yes", "--json")
    assert code == 0 and json.loads(out)["removed"] == [1]
    assert json.loads(out)["articles"] == 0


def test_remove_asks_on_a_terminal(capsys, fake_cli, tmp_path: Path, monkeypatch):
    path = tmp_path / "japan.txt"
    path.write_text("Tariff talks stall\n\n" + BODY)
    run(capsys, "ingest", str(path))
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    answers = iter(["n", "yes"])
    monkeypatch.setattr("builtins.input", lambda *a: next(answers))
    code, _, err = run(capsys, "remove", "1")
    assert code == 0 and "remove 1 article?" in err and "nothing removed" in err
    code, out, _ = run(capsys, "remove", "1")
    assert code == 0 and out.startswith("  #1 Tariff talks stall\nremoved 1 article")
    db = sqlite3.connect(fake_cli / DB_NAME)
    assert db.execute("SELECT count(*) FROM articles_fts").fetchone()[0] == 0


def test_console_show(fake_corpus, tmp_path: Path):
    from bot.console import answer_line

    path = tmp_path / "japan.txt"
    path.write_text("Tariff talks stall\n\n" + BODY)
    fake_corpus.ingest([str(path)])
    reply = answer_line(fake_corpus, "/show 1")
    assert reply.title == "Article #1"
    assert "published    undated" in "\n".join(reply.notes) and reply.notes[-1].startswith(
        "Officials"
    )
    assert answer_line(fake_corpus, "/show").kind == "error"
    assert answer_line(fake_corpus, "/show abc").kind == "error"
    assert "no article with id 9" in answer_line(fake_corpus, "/show 9").title


def test_a_record_inserted_above_others_loses_nothing(fake_corpus, tmp_path: Path):
    """Records without an id or URL are not identified by their place in the file: a
    record added at the top must not overwrite the one that was first."""
    export = tmp_path / "wire.jsonl"
    first = {"title": "Tariff talks stall", "body": BODY}
    export.write_text(json.dumps(first))
    fake_corpus.ingest([str(export)])
    added = {"title": "Steel deal reached", "body": EDITED}
    export.write_text(json.dumps(added) + "\n" + json.dumps(first))
    report = fake_corpus.ingest([str(export)])
    assert (report.added, report.updated, report.duplicates) == (1, 0, 1)
    titles = {a.title for a in fake_corpus.headlines(limit=None)}
    assert titles == {"Tariff talks stall", "Steel deal reached"}
