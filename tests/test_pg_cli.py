"""`briefbot subscriptions|watches|sources` with `[store] url`: the CLI shows and changes
the PostgreSQL rows the bot processes share, not SQLite files in the data directory.

Run through `bot.cli.main` against the test server (`conftest.pg_server`, skipped with
the reason where it cannot run); the test's own store objects read the rows back.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.cli import main
from bot.subscriptions import SUBSCRIPTIONS_FILE
from retrieval import Settings
from retrieval.corpus import DB_NAME

pytest.importorskip("psycopg")


@pytest.fixture
def cli(tmp_path: Path, pg_url: str, seed_settings: Settings, capsys, monkeypatch):
    """Run `briefbot --data-dir … --config (store url) COMMAND --json`; (exit code, JSON)."""
    monkeypatch.delenv("BRIEFBOT_STORE_URL", raising=False)
    config = tmp_path / "pg.toml"  # the database, and the model backend ready here
    config.write_text(
        f'[store]\nurl = "{pg_url}"\n[embedding]\nbackend = "{seed_settings.embedding.backend}"\n'
    )

    def run(*argv: str) -> tuple[int, dict]:
        base = ["--data-dir", str(tmp_path / "data"), "--config", str(config)]
        code = main([*base, *argv, "--json"])
        out = capsys.readouterr().out
        return code, json.loads(out) if out.strip() else {}

    return run


def test_subscriptions_cli_changes_the_postgres_rows(cli, pg_url, tmp_path):
    from bot.subscriptions_pg import PgSubscriptionStore

    code, out = cli("subscriptions", "add", "--channel", "5", "--time", "7:05",
                    "--timezone", "Europe/Berlin", "--country", "Germany")  # fmt: skip
    assert code == 0
    (added,) = out["subscriptions"]
    shared = PgSubscriptionStore(pg_url)  # what every bot process reads
    try:
        (row,) = shared.list()
        assert (row.id, row.channel_id, row.time) == (added["id"], 5, "07:05")
        assert row.countries == ("DE",)
        other = shared.add(6, "08:00", "UTC", topics=("trade",))  # as a bot's /subscribe would
        code, out = cli("subscriptions", "list")
        assert [s["id"] for s in out["subscriptions"]] == [row.id, other.id]
        assert cli("subscriptions", "remove", str(row.id))[0] == 0
        assert [s.id for s in shared.list()] == [other.id]
    finally:
        shared.close()
    assert not (tmp_path / "data" / SUBSCRIPTIONS_FILE).exists()


def test_watches_cli_changes_the_postgres_rows(cli, pg_url, tmp_path):
    from bot.watches_pg import PgWatchStore

    code, out = cli("watches", "add", "Japanese auto tariffs", "--channel", "123",
                    "--role", "456", "--country", "JP")  # fmt: skip
    assert code == 0
    (added,) = out["watches"]
    shared = PgWatchStore(pg_url)
    try:
        (watch,) = shared.list()
        assert (watch.id, watch.description, watch.countries) == (
            added["id"],
            "Japanese auto tariffs",
            ("JP",),
        )
        (query,) = shared.queries()
        assert query.vector.shape == (384,) and np.isclose(np.linalg.norm(query.vector), 1)
        other = shared.add("steel", query.vector, {"steel": 1.0}, 7, after_article_id=0)
        code, out = cli("watches", "list")
        assert [w["id"] for w in out["watches"]] == [watch.id, other.id]
        assert cli("watches", "remove", str(watch.id))[0] == 0
        assert [w.id for w in shared.list()] == [other.id]
    finally:
        shared.close()
    assert not (tmp_path / "data" / SUBSCRIPTIONS_FILE).exists()


def test_sources_cli_changes_the_postgres_rows(cli, pg_url, tmp_path):
    from retrieval.feeds.registry_pg import PgFeedRegistry

    code, out = cli("sources", "add", "https://example.com/rss", "--name", "Ex")
    assert code == 0
    shared = PgFeedRegistry(pg_url)
    try:
        (feed,) = shared.list()
        assert (feed.id, feed.name) == (out["sources"][0]["id"], "Ex")
        assert [f["name"] for f in cli("sources", "list")[1]["sources"]] == ["Ex"]
        assert cli("sources", "remove", "Ex")[0] == 0
        assert shared.list() == []
    finally:
        shared.close()
    corpus_file = tmp_path / "data" / DB_NAME
    assert not corpus_file.exists() or "feeds" not in _tables(corpus_file)


def _tables(path: Path) -> set[str]:
    import sqlite3

    with sqlite3.connect(path) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_console_watch_commands_use_the_postgres_rows(pg_url, tmp_path):
    from bot.console import answer_line
    from bot.watches_pg import PgWatchStore
    from tests.test_multiprocess_pg import pg_corpus

    corpus = pg_corpus(tmp_path, "console", pg_url)
    shared = PgWatchStore(pg_url)
    try:
        added = answer_line(corpus, "/watch add EU anti-dumping on Chinese EVs channel:99")
        assert added.notes[0].startswith("added #1: ")
        assert [w.description for w in shared.list()] == ["EU anti-dumping on Chinese EVs"]
        assert answer_line(corpus, "/watch remove 1").notes[0].startswith("removed #1")
        assert shared.list() == []
    finally:
        shared.close()
        corpus.close()
