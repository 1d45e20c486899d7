"""Issue 13: every failure of the command line and the console is an exit code and one
line a script can trust (and, with --json, an error document), never "unexpected error".

Commands run in-process on a data dir embedded with the fake encoder (no model).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import retrieval
from bot import console, handlers
from bot.cli import main
from tests.conftest import FakeEncoder


@pytest.fixture
def fake_cli(monkeypatch, tmp_path: Path) -> Path:
    """Commands open their corpus with the fake encoder; the data dir they use."""
    real = retrieval.Corpus
    monkeypatch.setattr(
        retrieval, "Corpus", lambda settings, **kw: real(settings, encoder=FakeEncoder(), **kw)
    )
    monkeypatch.setenv("BRIEFBOT_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def usage(capsys, *argv: str) -> tuple[str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    assert exc.value.code == 2
    return capsys.readouterr()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ask", "x", "--limit", "0"], "argument --limit: expected a whole number from 1"),
        (["ask", "x", "--limit", "-1"], "not '-1'"),
        (["ask", "x", "--limit", "99999999999999999999"], "from 1 to 1000000"),
        (["headlines", "--limit", "-1"], "argument --limit"),
        (["headlines", "--limit", "abc"], "argument --limit"),
        (["summarize", "--file", "x.txt", "--sentences", "0"], "argument --sentences"),
        (["summarize", "99999999999999999999"], "article_id"),
        (["subscriptions", "remove", "-3"], "argument id"),
        (["summarize"], "exactly one of ARTICLE_ID"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2_and_are_json_with_json(capsys, argv, message):
    out, err = usage(capsys, *argv)
    assert message in err and out == ""
    out, err = usage(capsys, "--json", *argv)
    assert json.loads(out)["error"]["kind"] == "usage"
    assert message in json.loads(out)["error"]["message"]


@pytest.mark.parametrize(
    ("argv", "kind", "message"),
    [
        (["headlines", "--since", "99999999d"], "input", "reaches back more than 100 years"),
        (["ask", "x", "--since", "1800-01-01"], "input", "more than 100 years"),
        (["headlines", "--country", ""], "input", "the country is empty"),
        (["articles", "--topic", " "], "input", "the topic is empty"),
        (["digest", "--since", "9" * 400 + "d"], "input", "more than 100 years"),
    ],
)
def test_input_errors_exit_1_in_one_line_and_as_json(capsys, fake_cli, argv, kind, message):
    code, out, err = run(capsys, *argv)
    assert code == 1 and message in err and err.count("\n") == 1 and out == ""
    code, out, err = run(capsys, "--json", *argv)
    assert code == 1 and json.loads(out) == {
        "error": {"kind": kind, "message": json.loads(out)["error"]["message"]}
    }
    assert message in json.loads(out)["error"]["message"] and "unexpected" not in err


def test_a_data_dir_that_is_a_file_is_a_store_error(capsys, tmp_path: Path):
    (tmp_path / "f").write_text("")
    code, out, err = run(capsys, "--data-dir", str(tmp_path / "f"), "stats", "--json")
    assert code == 1 and "is a file, not a folder" in err
    assert json.loads(out)["error"]["kind"] == "store"


def test_a_bad_config_value_is_a_config_error(capsys, tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[answer]\nmax_sentences = "5"\n')
    code, out, err = run(
        capsys, "--config", str(bad), "--data-dir", str(tmp_path), "stats", "--json"
    )
    assert code == 1 and "[answer] max_sentences must be a whole number" in err
    assert json.loads(out)["error"]["kind"] == "config" and str(bad) in err


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("briefbot ") and out.split()[1][0].isdigit()


def _article(path: Path, title: str) -> Path:
    path.write_text(f"{title}\n\nJapan and the U.S. failed to agree on car tariffs on {title}.")
    return path


def test_ingest_exit_code_rule(capsys, fake_cli, tmp_path: Path):
    good = _article(tmp_path / "good.txt", "Tariff talks stall")
    code, out, _ = run(capsys, "ingest", str(good), "--json")
    assert code == 0 and json.loads(out)["added"] == 1 and "error" not in json.loads(out)
    code, out, _ = run(capsys, "ingest", str(good), "--json")  # all duplicates: still ok
    assert code == 0 and json.loads(out)["duplicates"] == 1
    other = _article(tmp_path / "other.txt", "Steel duties rise")
    code, out, err = run(capsys, "ingest", str(other), str(tmp_path / "missing.txt"), "--json")
    report = json.loads(out)
    assert code == 1 and report["added"] == 1  # what could be read is kept
    assert report["error"]["kind"] == "input"
    assert "missing.txt (no such file or folder)" in report["error"]["message"]
    assert err.count("briefbot: error:") == 1


def _missing(d: Path) -> str:
    return str(d / "nope")


def _unsupported_folder(d: Path) -> str:
    (d / "bin").mkdir()
    (d / "bin" / "x.bin").write_bytes(b"\0")
    return str(d / "bin")


def _empty_file(d: Path) -> str:
    (d / "e.txt").write_text("")
    return str(d / "e.txt")


def _refused_url(d: Path) -> str:
    return "http://127.0.0.1:9/feed.xml"  # port 9 (discard): nothing listens


def _internal_url(d: Path) -> str:
    return "http://127.0.0.1:9/feed.xml"  # the same, without allowing private addresses


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_missing, "no such file or folder"),
        (_unsupported_folder, "folder holds no supported files"),
        (_empty_file, "empty file"),
        (_refused_url, "cannot fetch"),
    ],
)
def test_ingest_that_reads_nothing_exits_1(capsys, fake_cli, tmp_path: Path, make, reason):
    target = make(tmp_path)
    local = tmp_path / "local.toml"  # an unreachable URL, not one the SSRF guard refuses
    local.write_text("[fetch]\nallow_private = true\n")
    code, out, err = run(capsys, "--config", str(local), "ingest", target)
    assert code == 1 and "nothing could be read from 1 target" in err and reason in err
    assert out.startswith("added 0")


def test_ingest_of_an_internal_url_is_refused_before_reading(capsys, fake_cli, tmp_path: Path):
    code, _, err = run(capsys, "ingest", _internal_url(tmp_path))
    assert code == 1 and "is a loopback address" in err


def test_ask_batch_reports_each_bad_line_and_goes_on(capsys, fake_cli, tmp_path: Path):
    lines = [
        {"id": "a", "question": "tariffs", "limit": 0},
        {"id": "b", "question": "tariffs", "limit": "abc"},
        {"id": "c", "question": "tariffs", "since": 5},
        {"id": "d", "question": "tariffs", "since": "99999999d"},
        {"id": "e", "question": ["tariffs"]},
        {"id": "f", "question": "tariffs", "country": {"JP": 1}},
        {"id": "g", "question": "tariffs", "limit": True},
        {"id": "h"},
        {"id": "ok", "question": "Why is Japan objecting to US tariffs?", "limit": 2},
    ]
    batch = tmp_path / "q.jsonl"
    batch.write_text("".join(json.dumps(line) + "\n" for line in lines))
    code, out, _ = run(capsys, "ask", "--batch", str(batch), "--json")
    results = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["id"] for r in results] == [line["id"] for line in lines]
    assert all(r["error_kind"] == "input" for r in results[:-1])
    assert "limit must be a whole number" in results[0]["error"]
    assert "since must be text" in results[2]["error"]
    assert "no question" in results[7]["error"]
    assert "error" not in results[-1] and len(results[-1]["articles"]) <= 2


def test_summarize_batch_bad_sentences_is_that_lines_error(capsys, fake_cli, tmp_path: Path):
    batch = tmp_path / "s.jsonl"
    text = "Tariffs rise\n\nJapan objected. The U.S. refused. Talks go on."
    batch.write_text(
        json.dumps({"id": 1, "text": text, "sentences": -2})
        + "\n"
        + json.dumps({"id": 2, "text": text, "sentences": 1})
        + "\n"
    )
    code, out, _ = run(capsys, "summarize", "--batch", str(batch), "--json")
    first, second = (json.loads(line) for line in out.splitlines())
    assert code == 0 and "sentences must be a whole number" in first["error"]
    assert second == {"id": 2, "sentences": second["sentences"]} and len(second["sentences"]) == 1


# --- the console ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "/ask tariffs since:99999999d",
        "/headlines limit:99999999999999999999999",
        "/headlines limit:abc",
        "/headlines --limit -1",
        "/headlines country:",
        "/ask tariffs limit:0",
    ],
)
def test_console_option_errors_are_error_replies(fake_corpus, line):
    reply = console.answer_line(fake_corpus, line)
    assert reply is not None and reply.kind == "error" and reply.title.startswith("error: ")


def test_console_goes_on_after_a_bad_line(capsys, fake_cli, monkeypatch):
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return handlers.help_reply()

    monkeypatch.setattr(handlers, "headlines", broken)
    raw = b"/headlines\n\xff\xfe not utf-8\n/ask tariffs since:99999999d\n/headlines\n/help\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8"))
    code, out, _ = run(capsys, "chat")
    assert code == 0 and len(calls) == 2  # the line after the crash ran
    assert "unexpected error: RuntimeError: boom" in out
    assert "more than 100 years" in out


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_interactive_console_ctrl_c_cancels_a_line_and_keeps_history(
    fake_corpus, monkeypatch, tmp_path: Path, capsys
):
    events = iter([KeyboardInterrupt, "/help", KeyboardInterrupt, "/quit"])

    def fake_input(prompt: str) -> str:
        event = next(events)
        if event is KeyboardInterrupt:
            raise KeyboardInterrupt
        import readline

        readline.add_history(event)  # what input() does with readline loaded
        return event

    monkeypatch.setattr("builtins.input", fake_input)
    history = tmp_path / "history"
    assert console.run_console(fake_corpus, _Terminal(), history) == 0
    out = capsys.readouterr().out
    assert out.count("(cancelled)") == 2 and "/ask" in out  # help was answered
    assert "/help" in history.read_text()


def test_interactive_console_leaves_on_ctrl_d(fake_corpus, monkeypatch, tmp_path: Path):
    def eof(prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr("builtins.input", eof)
    assert console.run_console(fake_corpus, _Terminal(), tmp_path / "h") == 0
