"""The `briefbot` command line, in-process (model loaded once) and once as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow  # embeds with auto: on a cold model cache that exports the model first
def test_ingest_json_reports_added_duplicates_skipped_and_notes(capsys, tmp_path: Path):
    data = tmp_path / "d"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.json").write_text(
        json.dumps(
            [
                {
                    "id": "1",
                    "title": "Tariff talks stall",
                    "body": "Japan and the U.S. failed to agree.",
                },
                {"title": "", "body": ""},
            ]
        )
    )
    (tmp_path / "in" / "b.txt").write_bytes(
        "Caf\xe9 owners protest\n\nPrices rose.".encode("latin-1")
    )
    code, out, _ = run(capsys, "--data-dir", str(data), "ingest", str(tmp_path / "in"), "--json")
    report = json.loads(out)
    assert code == 0
    assert (report["added"], report["duplicates"], report["articles"]) == (2, 0, 2)
    assert report["skipped"] == [
        {"source": f"{tmp_path / 'in' / 'a.json'}#1", "reason": "no title or body"}
    ]
    assert "UTF-8" in report["notes"][0]["note"]
    code, out, _ = run(capsys, "ingest", str(tmp_path / "in"), "--json", "--data-dir", str(data))
    assert json.loads(out)["duplicates"] == 2


@pytest.mark.slow  # embeds with auto: on a cold model cache that exports the model first
def test_ask_json_shape(capsys, seed_dir: Path):
    code, out, _ = run(
        capsys,
        "--data-dir",
        str(seed_dir),
        "--json",
        "ask",
        "Why is Japan objecting to US tariffs?",
    )
    result = json.loads(out)
    assert code == 0
    assert set(result) == {"id", "question", "abstained", "note", "answer", "articles"}
    assert result["note"] is None  # the question was searched as asked
    assert result["abstained"] is False and result["answer"]
    ids = [a["id"] for a in result["articles"]]
    assert all(s["article"] in ids for s in result["answer"])
    first = result["articles"][0]
    assert set(first) == {
        "id",
        "external_id",
        "title",
        "url",
        "source",
        "published",
        "countries",
        "groupings",
        "topics",
        "score",
    }
    scores = [a["score"] for a in result["articles"]]
    assert scores == sorted(scores, reverse=True) and len(scores) <= 5


@pytest.mark.slow  # embeds with auto: on a cold model cache that exports the model first
def test_ask_batch_keeps_order_ids_and_reports_bad_lines(capsys, seed_dir: Path, tmp_path: Path):
    batch = tmp_path / "q.jsonl"
    batch.write_text(
        '{"id": "q1", "question": "Why is Japan objecting to US tariffs?", "limit": 2}\n'
        "not json\n"
        '{"id": "q2", "question": "Who won the football world cup?"}\n'
        '{"id": "q3", "question": "tariffs", "since": "not a date"}\n'
    )
    code, out, _ = run(capsys, "--data-dir", str(seed_dir), "ask", "--batch", str(batch), "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(lines) == 4
    assert lines[0]["id"] == "q1" and not lines[0]["abstained"] and len(lines[0]["articles"]) <= 2
    assert "error" in lines[1]
    assert lines[2]["id"] == "q2" and lines[2]["abstained"] is True
    assert lines[3]["id"] == "q3" and "since" in lines[3]["error"]


def test_summarize_batch_and_file(capsys, seed_dir: Path, tmp_path: Path):
    batch = tmp_path / "s.jsonl"
    text = (
        "Tariff row deepens\n\nJapan asked the U.S. to drop car tariffs. Officials refused."
        " Talks will continue next month. Markets fell on the news."
    )
    batch.write_text(json.dumps({"id": "a", "text": text, "sentences": 2}) + "\n")
    code, out, _ = run(
        capsys, "--data-dir", str(seed_dir), "summarize", "--batch", str(batch), "--json"
    )
    (item,) = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and item["id"] == "a" and len(item["sentences"]) == 2
    assert all(s in text and "Tariff row deepens" not in s for s in item["sentences"])
    f = tmp_path / "a.txt"
    f.write_text(text)
    code, out, _ = run(
        capsys,
        "--data-dir",
        str(seed_dir),
        "summarize",
        "--file",
        str(f),
        "--sentences",
        "1",
        "--json",
    )
    assert code == 0 and len(json.loads(out)["sentences"]) == 1


def test_headlines_articles_stats_json(capsys, seed_dir: Path):
    code, out, _ = run(capsys, "--data-dir", str(seed_dir), "headlines", "--limit", "3", "--json")
    heads = json.loads(out)["articles"]
    assert code == 0 and len(heads) == 3 and "score" not in heads[0]
    code, out, _ = run(capsys, "--data-dir", str(seed_dir), "articles", "--json")
    arts = json.loads(out)["articles"]
    assert len(arts) == 18
    assert {"id", "external_id", "title", "published", "countries", "topics"} <= set(arts[0])
    code, out, _ = run(capsys, "--data-dir", str(seed_dir), "stats", "--json")
    stats = json.loads(out)
    assert stats["articles"] == 18 and stats["vectors"] >= 18
    assert {"articles", "vectors", "index", "model", "data_dir", "last_ingest"} <= set(stats)


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["headlines", "--since", "yesterday-ish"], 1, "cannot read --since"),
        (["ask"], 1, "give a QUESTION"),
        (["summarize", "999"], 1, "no article with id 999"),
        (["ask", "x", "--batch", "/nonexistent.jsonl"], 1, "cannot read"),
        (["--config", "/nonexistent.toml", "stats"], 1, "config file not found"),
    ],
)
def test_errors_are_one_line_with_exit_1(capsys, seed_dir: Path, argv, code, message):
    got, _, err = run(capsys, "--data-dir", str(seed_dir), *argv)
    assert got == code
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2


def test_summarize_without_an_input_is_a_usage_error(capsys, tmp_path: Path):
    """Issue 13: it exited 1 (bad input) although nothing was read; it is usage (2)."""
    with pytest.raises(SystemExit) as exc:
        main(["--data-dir", str(tmp_path), "summarize"])
    assert exc.value.code == 2
    assert "exactly one of" in capsys.readouterr().err


def test_every_command_has_help_and_is_in_the_readme():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    readme = (ROOT / "README.md").read_text()
    for name, p in sub.choices.items():
        assert p.description, name
        assert f"briefbot {name}" in readme, f"README does not document `briefbot {name}`"


@pytest.mark.slow  # embeds with auto: on a cold model cache that exports the model first
def test_fresh_process_answers_on_bundled_corpus(tmp_path: Path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "BRIEFBOT_DATA_DIR": str(tmp_path / "fresh")}
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "ask", "Why is Japan objecting to US tariffs?", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert not result["abstained"] and "Japan" in result["answer"][0]["text"]
    assert "ingested the bundled corpus" in proc.stderr


def test_subscriptions_and_sources_commands(capsys, tmp_path: Path):
    data = str(tmp_path / "d")
    code, out, _ = run(
        capsys,
        "--data-dir",
        data,
        "subscriptions",
        "add",
        "--channel",
        "5",
        "--time",
        "7:05",
        "--timezone",
        "Europe/Berlin",
        "--country",
        "Germany",
        "--json",
    )
    (sub,) = json.loads(out)["subscriptions"]
    assert code == 0 and (sub["time"], sub["countries"]) == ("07:05", ["DE"])
    code, _, err = run(
        capsys,
        "--data-dir",
        data,
        "subscriptions",
        "add",
        "--channel",
        "5",
        "--time",
        "7:05",
        "--timezone",
        "Mars/Olympus",
    )
    assert code == 1 and "unknown timezone" in err
    code, out, _ = run(capsys, "--data-dir", data, "subscriptions", "remove", str(sub["id"]))
    assert code == 0 and out.startswith("removed #")
    code, out, _ = run(
        capsys,
        "--data-dir",
        data,
        "sources",
        "add",
        "https://example.com/rss",
        "--name",
        "Ex",
        "--json",
    )
    assert json.loads(out)["sources"][0]["name"] == "Ex"
    code, _, err = run(capsys, "--data-dir", data, "sources", "add", "https://example.com/rss")
    assert code == 1 and "already" in err
    code, out, _ = run(capsys, "--data-dir", data, "sources", "remove", "Ex")
    assert code == 0 and out.startswith("stopped ")


@pytest.mark.slow  # embeds with auto: on a cold model cache that exports the model first
def test_chat_console_speaks_the_bot_commands_from_stdin(capsys, seed_dir: Path, monkeypatch):
    import io

    script = (
        "/ask Why is Japan objecting to US tariffs? country:Japan\n"
        "/headlines country:Canada\n"
        "/digest since:3650d\n"
        "/about\n"
        "/ask x country:Jpan\n"
        "/frobnicate\n"
    )
    monkeypatch.setattr("sys.stdin", io.StringIO(script))
    code, out, _ = run(capsys, "--data-dir", str(seed_dir), "chat")
    assert code == 0
    assert "Japan has called on the United States" in out and "[1]" in out
    assert "Canada Signals Delay in US Tariff Deal" in out
    assert "stories from" in out or "story from" in out
    assert "About briefbot" in out and "Articles: 18" in out
    assert "did you mean Japan (JP)?" in out
    assert "unknown command /frobnicate" in out
