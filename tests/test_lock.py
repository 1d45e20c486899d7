"""One writer per data directory (issue 17, item 4): real processes on one data dir,
readers beside a writer, a dead writer's lock taken over, a full disk and a read-only
data dir each reported in one line with the store left consistent."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import retrieval.corpus
from bot.cli import main
from retrieval import Corpus, StoreError, load_settings
from retrieval.lock import LOCK_NAME, DataDirBusy, WriterLock, read_holder
from tests.conftest import FakeEncoder

ROOT = Path(__file__).resolve().parent.parent
HOLD = """
import sys, time
from pathlib import Path
from retrieval.lock import WriterLock
lock = WriterLock(Path(sys.argv[1]), command="briefbot ingest a-long-one")
lock.acquire(30)
print("held", flush=True)
time.sleep(120)
"""


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}


def hold(data_dir: Path) -> subprocess.Popen:
    """Another process holding `data_dir`'s writer lock (as a long ingest would)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(data_dir)],
        cwd=ROOT,
        env=env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    proc.send_signal(sig)
    proc.wait(timeout=30)


def articles_file(tmp_path: Path, name: str, n: int, word: str = "tariffs") -> Path:
    path = tmp_path / name
    records = [
        {
            "id": f"{name}-{i}",
            "title": f"{word.title()} story {i} from {name}",
            "body": f"Officials discussed {word} number {i} on steel. Talks resume next week.",
        }
        for i in range(n)
    ]
    path.write_text(json.dumps(records))
    return path


def briefbot(data: Path, config: Path) -> list[str]:
    return [sys.executable, "-m", "bot.cli", "--data-dir", str(data), "--config", str(config)]


def wait_config(tmp_path: Path, seconds: float) -> Path:
    cfg = tmp_path / f"wait-{seconds}.toml"
    cfg.write_text(f"[data]\nwriter_wait_seconds = {seconds}\n[corpus]\nauto_ingest = false\n")
    return cfg


@pytest.fixture
def fake_model(monkeypatch):
    """The CLI's corpus embeds with the fake encoder (no model load)."""
    monkeypatch.setattr(retrieval.corpus, "load_encoder", lambda *a, **k: FakeEncoder())


@pytest.mark.parametrize(
    "command",
    [["ingest", "IN"], ["retag"], ["sources", "poll"]],
    ids=["ingest", "retag", "sources-poll"],
)
def test_second_writer_waits_then_names_the_holder(tmp_path: Path, command: list[str]):
    data = tmp_path / "data"
    holder = hold(data)
    try:
        argv = [str(articles_file(tmp_path, "in.json", 2)) if a == "IN" else a for a in command]
        proc = subprocess.run(
            [*briefbot(data, wait_config(tmp_path, 0.3)), *argv],
            cwd=ROOT,
            env=env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        stop(holder)
    assert proc.returncode == 1, proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.strip()]
    assert f"pid {holder.pid} (briefbot ingest a-long-one)" in line
    assert "another briefbot process is writing to" in line and "Traceback" not in proc.stderr


def test_bot_run_is_a_writer_too(tmp_path: Path):
    data = tmp_path / "data"
    holder = hold(data)
    try:
        proc = subprocess.run(
            [*briefbot(data, wait_config(tmp_path, 0.2)), "run"],
            cwd=ROOT,
            env={**env(), "DISCORD_TOKEN": "not-used"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        stop(holder)
    assert proc.returncode == 1 and f"pid {holder.pid}" in proc.stderr


def test_a_dead_writers_lock_is_taken_over(tmp_path: Path):
    data = tmp_path / "data"
    holder = hold(data)
    assert read_holder(data).pid == holder.pid
    with pytest.raises(DataDirBusy, match=f"pid {holder.pid}"):
        WriterLock(data).acquire(0.2)
    stop(holder, signal.SIGKILL)  # no clean-up ran: its pid is still in the file
    assert str(holder.pid) in (data / LOCK_NAME).read_text()
    assert read_holder(data) is None
    with WriterLock(data, command="next") as lock:
        lock.acquire(0)
        assert read_holder(data).pid == os.getpid()
    assert read_holder(data) is None


def test_readers_work_during_a_write_and_never_save_the_index(tmp_path: Path, fake_encoder):
    settings = load_settings(data_dir=tmp_path / "data")
    index_files = lambda: sorted(settings.data_dir.glob("sentences.*"))  # noqa: E731
    with Corpus(settings, encoder=fake_encoder) as corpus:
        corpus.ingest([str(articles_file(tmp_path, "a.json", 5))])
        saved = {p: p.read_bytes() for p in index_files()}
        corpus.ingest([str(articles_file(tmp_path, "b.json", 3, "sanctions"))])
    for p, data in saved.items():  # as mid-ingest: SQLite has a batch the index file lacks
        p.write_bytes(data)
    index_file = settings.data_dir / retrieval.corpus.INDEX_NAME
    before = index_file.read_bytes()
    holder = hold(settings.data_dir)
    try:
        with Corpus(settings, encoder=FakeEncoder()) as reader:
            assert reader.index.ntotal == reader.store.vector_summary()[0]  # repaired in memory
            result = reader.ask("sanctions story")
            assert result.articles and "Sanctions" in result.articles[0].article.title
            assert reader.headlines() and reader.stats().articles == 8
        assert index_file.read_bytes() == before  # a reader never writes beside a writer
    finally:
        stop(holder)
    with Corpus(settings, encoder=FakeEncoder()):
        pass  # no writer now: the reader that repairs it saves it
    assert index_file.read_bytes() != before
    with Corpus(settings, encoder=FakeEncoder()) as again:
        assert again.index.ntotal == again.store.vector_summary()[0]


@pytest.mark.slow  # two real ingests with the real model, in two processes
def test_two_real_ingests_on_one_data_dir_leave_a_whole_index(tmp_path: Path):
    data = tmp_path / "data"
    cfg = wait_config(tmp_path, 300)
    files = [articles_file(tmp_path, f"{n}.json", 40, n) for n in ("tariffs", "sanctions")]
    procs = [
        subprocess.Popen(
            [*briefbot(data, cfg), "ingest", str(f)],
            cwd=ROOT,
            env=env(),
            stderr=subprocess.PIPE,
            text=True,
        )
        for f in files
    ]
    errors = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--data-dir", str(data), "stats", "--json"],
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "rebuilding" not in proc.stderr and "repaired" not in proc.stderr, proc.stderr
    assert json.loads(proc.stdout)["articles"] == 80


def test_full_disk_is_one_line_and_the_store_stays_consistent(
    tmp_path: Path, fake_encoder, capsys, fake_model
):
    settings = load_settings(data_dir=tmp_path / "data")
    with Corpus(settings, encoder=fake_encoder) as corpus:
        corpus.ingest([str(articles_file(tmp_path, "a.json", 3))])
        db = corpus.store._connections.get()
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count={pages + 1}")  # SQLite's own "disk full"
        big = articles_file(tmp_path, "big.json", 400, "sanctions")
        with pytest.raises(StoreError, match=r"disk full while writing .*briefbot\.sqlite3"):
            corpus.ingest([str(big)])
        assert corpus.store.count_articles() == 3
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert corpus.index.ntotal == corpus.store.vector_summary()[0]
    # The index file too: ENOSPC while saving it is one line naming the cause, exit 1.
    real_save = retrieval.corpus.SentenceIndex.save

    def full(self, path):
        raise OSError(28, "No space left on device", str(path))

    retrieval.corpus.SentenceIndex.save = full
    try:
        code = main(["--data-dir", str(settings.data_dir), "ingest", str(big)])
    finally:
        retrieval.corpus.SentenceIndex.save = real_save
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err[-1].startswith("briefbot: error: disk full while writing")
    assert "unexpected" not in "\n".join(err)


def test_a_failed_commit_reports_its_cause_not_cannot_rollback(tmp_path: Path):
    from retrieval.sqlite import ThreadConnections

    conns = ThreadConnections(tmp_path / "x.sqlite3")
    conns.get().execute("CREATE TABLE t (a)")
    conns.get().execute("PRAGMA max_page_count=3")
    with pytest.raises(StoreError, match="disk full"), conns.transaction() as db:
        db.execute("INSERT INTO t VALUES (zeroblob(100000))")
    with conns.transaction() as db:  # the connection is usable again
        db.execute("INSERT INTO t VALUES (1)")
    assert conns.get().execute("SELECT count(*) FROM t").fetchone()[0] == 1


def _read_only_copy(seed_dir: Path, tmp_path: Path, monkeypatch) -> Path:
    """A copy of the seed data dir that this process cannot write. As root, chmod does not
    stop writes, so the check every writer and the store consult says read-only (and
    SQLite then opens the store immutable, refusing writes whoever we are)."""
    data = tmp_path / "ro"
    shutil.copytree(seed_dir, data, ignore=shutil.ignore_patterns(LOCK_NAME, "*.log*"))
    from bot.subscriptions import SUBSCRIPTIONS_FILE, SubscriptionStore

    SubscriptionStore(data / SUBSCRIPTIONS_FILE)._connections.close()  # WAL checkpointed
    import retrieval.lock

    real = retrieval.lock.data_dir_writable
    monkeypatch.setattr(
        retrieval.lock,
        "data_dir_writable",
        lambda p: Path(p).resolve() != data.resolve() and real(p),
    )
    return data


def _snapshot(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def test_a_read_only_data_dir_can_be_read_not_written(
    seed_dir: Path, tmp_path: Path, monkeypatch, capsys
):
    data = _read_only_copy(seed_dir, tmp_path, monkeypatch)
    before = _snapshot(data)
    capsys.readouterr()
    assert main(["--data-dir", str(data), "stats", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["articles"] == 18
    assert main(["--data-dir", str(data), "ask", "--json", "Japan tariffs on cars"]) == 0
    assert json.loads(capsys.readouterr().out)["answer"]
    assert main(["--data-dir", str(data), "subscriptions", "list"]) == 0
    capsys.readouterr()
    for argv in (["ingest", str(articles_file(tmp_path, "n.json", 2))], ["retag"]):
        assert main(["--data-dir", str(data), *argv]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [
            f"briefbot: error: the data directory is read-only: {data}"
            " (reading still works: ask, headlines, stats)"
        ], err
    assert _snapshot(data) == before


def test_the_store_itself_refuses_writes_in_a_read_only_dir(
    seed_dir: Path, tmp_path: Path, monkeypatch
):
    data = _read_only_copy(seed_dir, tmp_path, monkeypatch)
    from retrieval.store import Store

    store = Store(data / retrieval.corpus.DB_NAME)
    try:
        assert store.count_articles() == 18
        with pytest.raises(StoreError, match="the data directory is read-only"):
            store.set_meta("x", "y")
    finally:
        store.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod; the test above injects")
def test_a_chmod_read_only_data_dir(seed_dir: Path, tmp_path: Path, capsys):
    data = tmp_path / "ro"
    shutil.copytree(seed_dir, data, ignore=shutil.ignore_patterns(LOCK_NAME, "*.log*"))
    for p in [data, *data.iterdir()]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        assert main(["--data-dir", str(data), "stats"]) == 0
        assert main(["--data-dir", str(data), "retag"]) == 1
        assert "the data directory is read-only" in capsys.readouterr().err
    finally:
        for p in [data, *data.iterdir()]:
            p.chmod(0o755 if p.is_dir() else 0o644)


CRASH = """
import faulthandler, sys
import numpy as np
import retrieval.corpus
from tests.conftest import FakeEncoder

class Crashing(FakeEncoder):
    def encode(self, texts):
        if len(texts) > 1:
            faulthandler._sigsegv()  # what a native crash in the encoder does
        return super().encode(texts)

retrieval.corpus.load_encoder = lambda *a, **k: Crashing()
from bot import cli
sys.argv = ["briefbot", "--data-dir", sys.argv[1], "ingest", sys.argv[2]]
cli.main()
"""


def test_a_native_crash_is_reported_with_its_batch(tmp_path: Path):
    data = tmp_path / "data"
    src = articles_file(tmp_path, "day.json", 3)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CRASH), str(data), str(src)],
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGSEGV
    assert "Fatal Python error: Segmentation fault" in proc.stderr
    assert "encode" in proc.stderr  # the stack of the thread that crashed
    log = (data / "briefbot.log").read_text()
    assert "embedding batch of 3 articles" in log and "day.json" in log
    assert log.index("embedding batch") < log.index("Fatal Python error: Segmentation fault")
    with sqlite3.connect(data / retrieval.corpus.DB_NAME) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
