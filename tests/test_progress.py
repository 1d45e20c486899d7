"""Ingest progress tells the truth, and Ctrl-C stops at once keeping what was committed."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import retrieval.progress as progress_module
from retrieval.corpus import DB_NAME
from retrieval.progress import IngestProgress

ROOT = Path(__file__).resolve().parent.parent


def write_records(path: Path, n: int) -> Path:
    rows = (
        {"id": f"r{i}", "title": f"Story {i} on tariffs", "body": f"Talks on case {i} went on."}
        for i in range(n)
    )
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def test_plain_lines_count_parsed_embedded_and_stored(fake_corpus, tmp_path, monkeypatch, capsys):
    """Not a terminal: plain lines (here one per event), counting every article, and a
    last line with the final counts."""
    monkeypatch.setattr(progress_module, "PLAIN_INTERVAL", 0.0)
    fake_corpus.ingest([str(write_records(tmp_path / "a.jsonl", 30))], progress=None)
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("ingest:")]
    assert lines[0].startswith("ingest: 1 articles parsed, 0 embedded, 0 stored")
    assert lines[-1].startswith("ingest: 30 articles parsed, 30 embedded, 30 stored")


def test_progress_is_silent_when_off_and_for_a_quick_run():
    stream = io.StringIO()
    shown = IngestProgress(False, stream=stream, interval=0.0)
    shown.parsed_one()
    shown.add_stored(1)
    shown.close()
    quick = IngestProgress(None, stream=stream)  # plain, but nothing lasted 10 s
    quick.parsed_one()
    quick.close()
    assert stream.getvalue() == ""


SLOW_CLI = textwrap.dedent(
    """
    import os, signal, sys, time
    import retrieval
    from tests.conftest import FakeEncoder

    # Started as a background job of a non-interactive shell, a process inherits SIGINT
    # ignored and Python keeps it so; Ctrl-C at a terminal is what this test is about.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    class Slow(FakeEncoder):
        calls = 0

        def encode(self, texts):
            Slow.calls += 1
            time.sleep(0.3)  # a real model takes seconds per batch
            if Slow.calls > 8 and os.environ.get("BRIEFBOT_TEST_STALL"):
                # A long batch being embedded when Ctrl-C comes: the ingest cannot
                # finish first, however loaded the machine is.
                time.sleep(45)
            return super().encode(texts)

    real = retrieval.Corpus
    retrieval.Corpus = lambda settings, **kw: real(settings, encoder=Slow(), **kw)
    from bot.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def test_ctrl_c_stops_ingest_keeping_what_was_committed(tmp_path: Path):
    """SIGINT mid-ingest: exit 130 promptly (no wait for the batch being embedded, no
    native-code abort), the message counts exactly what SQLite holds, and the same command
    run again adds the rest."""
    export = write_records(tmp_path / "wire.jsonl", 400)
    config = tmp_path / "small.toml"
    config.write_text("[index]\nbatch_articles = 10\n")
    script = tmp_path / "slow_cli.py"
    script.write_text(SLOW_CLI)
    data = tmp_path / "data"
    argv = [sys.executable, str(script), "--data-dir", str(data), "--config", str(config)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [*argv, "ingest", str(export)],
        cwd=ROOT,
        env={**env, "BRIEFBOT_TEST_STALL": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    db = data / DB_NAME
    deadline = time.monotonic() + 120  # a hang guard, not a timing assertion
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists() and _count(db) >= 20:
            break
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    interrupted = time.monotonic()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    print(f"stopped {time.monotonic() - interrupted:.2f} s after SIGINT")  # seen with -s
    assert "FATAL" not in err and "Traceback" not in err
    kept = _count(db)
    assert 20 <= kept < 400
    assert f"kept {kept:,} articles (corpus now {kept:,})" in err
    assert "run the same command again to add the rest" in err

    again = subprocess.run(
        [*argv, "ingest", str(export), "--json"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    report = json.loads(again.stdout)
    assert (report["added"], report["duplicates"], report["articles"]) == (400 - kept, kept, 400)


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    except sqlite3.Error:  # created but not yet set up
        return 0


def test_a_notice_comes_before_the_one_time_model_preparation(settings, monkeypatch):
    """One line, before the slow step starts, and only when the model is not prepared."""
    import retrieval.corpus as corpus_module
    from retrieval import Corpus
    from tests.conftest import FakeEncoder

    told: list[str] = []
    monkeypatch.setattr(
        corpus_module, "load_encoder", lambda *a, **k: told.append("loaded") or FakeEncoder()
    )
    for prepared in (False, True):
        monkeypatch.setattr(corpus_module, "is_prepared", lambda *a, p=prepared, **k: p)
        with Corpus(settings) as corpus:
            corpus.notice = told.append
            corpus.encoder  # noqa: B018 - loading it is the point
    assert told[0].startswith("briefbot: preparing the embedding model") and told[1:] == [
        "loaded",
        "loaded",
    ]
