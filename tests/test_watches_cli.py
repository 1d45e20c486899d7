"""`briefbot watches list|add|remove` and the console's `/watch …`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.console import answer_line
from retrieval import Settings


@pytest.fixture
def cli(tmp_path: Path, seed_settings: Settings, capsys):
    """Run `briefbot --data-dir … COMMAND`; (exit code, stdout, stderr)."""
    config = tmp_path / "model.toml"  # the model backend the seed corpus uses, ready here
    config.write_text(f'[embedding]\nbackend = "{seed_settings.embedding.backend}"\n')

    def run(*argv: str) -> tuple[int, str, str]:
        base = ["--data-dir", str(tmp_path / "data"), "--config", str(config)]
        code = main([*base, *argv])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_cli_adds_lists_and_removes(cli):
    code, out, _ = cli(
        "watches", "add", "Japanese auto tariffs", "--channel", "123", "--role", "456",
        "--country", "Japanese",
    )  # fmt: skip
    assert code == 0
    assert out == "added #1: “Japanese auto tariffs” in <#123> (JP), mentions <@&456>\n"
    code, out, _ = cli("watches", "list", "--json")
    (watch,) = json.loads(out)["watches"]
    assert watch == {
        "id": 1,
        "guild_id": None,
        "channel_id": 123,
        "role_id": 456,
        "description": "Japanese auto tariffs",
        "countries": ["JP"],
        "topics": [],
    }
    code, _, err = cli("watches", "add", "Japanese auto tariffs", "--channel", "123",
                       "--country", "JP")  # fmt: skip
    assert code == 1 and err.strip() == "briefbot: error: that channel already has this watch"
    assert cli("watches", "remove", "1")[1].startswith("removed #1")
    assert cli("watches", "list")[1] == "no watches\n"
    code, _, err = cli("watches", "remove", "1")
    assert code == 1 and "no watch #1" in err and "Traceback" not in err


def test_cli_usage_errors_exit_2(cli):
    with pytest.raises(SystemExit) as exc:
        cli("watches", "add", "tariffs")  # no --channel
    assert exc.value.code == 2


def test_console_watch_commands(fake_corpus):
    added = answer_line(fake_corpus, "/watch add EU anti-dumping on Chinese EVs channel:99 role:7")
    assert added.notes == ["added #1: “EU anti-dumping on Chinese EVs” in <#99>, mentions <@&7>"]
    assert answer_line(fake_corpus, "/watch list").notes[0].startswith("#1: “EU anti-dumping")
    assert answer_line(fake_corpus, "/watch remove 1").notes[0].startswith("removed #1")
    assert answer_line(fake_corpus, "/watch list").notes == ["no watches"]
    usage = answer_line(fake_corpus, "/watch add no channel given")
    assert usage.kind == "error" and usage.title.startswith("usage: /watch")
    bad = answer_line(fake_corpus, "/watch add tariffs channel:abc")
    assert bad.kind == "error" and "channel must be a whole number" in bad.title


def test_try_shows_what_a_description_would_match(cli):
    code, out, _ = cli("watches", "try", "US arms sales to Taiwan", "--json")
    assert code == 0
    matches = json.loads(out)["matches"]
    assert matches and "Arms Sale to Taiwan" in matches[0]["article"]["title"]
    assert all("Taiwan" in m["article"]["title"] or "Taiwan" in m["sentence"] for m in matches)
    code, out, _ = cli("watches", "try", "banana bread recipes")
    assert code == 0 and out.startswith("none of the 18 newest articles matches")
    assert cli("watches", "list")[1] == "no watches\n"  # trying stores nothing
