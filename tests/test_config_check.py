"""Issue 13: the configuration is checked whole when it is loaded. Every mistake is one
ConfigError naming the file, the key and what is allowed; nothing reaches a TypeError or
a C++ assertion later. And `briefbot config` says where each value came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.settings import BotSettings
from retrieval import ConfigError, load_settings


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[answr]\nmax_sentences = 3\n", "unknown section [answr]; did you mean answer?"),
        ("stray = 1\n", "unknown section [stray]"),
        ("answer = 5\n", "must be a [answer] table"),
        ("[answer]\nmax_sentence = 3\n", "unknown setting [answer] max_sentence; did you mean"),
        ('[answer]\nmax_sentences = "5"\n', "[answer] max_sentences must be a whole number"),
        ("[answer]\nmax_sentences = 2.5\n", "must be a whole number"),
        ("[answer]\nmax_sentences = true\n", "must be a whole number"),
        (
            "[answer]\nmax_sentences = -1\n",
            "max_sentences = -1 is out of range: it must be at least 1",
        ),
        ("[answer]\nanswer_articles = 0\n", "answer_articles = 0 is out of range"),
        ("[answer]\nabstain_below = 5\n", "abstain_below = 5.0 is out of range: it must be from 0"),
        ("[answer]\nabstain_below = -0.1\n", "abstain_below"),
        ("[answer]\nmmr_lambda = nan\n", "mmr_lambda = nan is out of range"),
        ("[answer]\nmin_sentences = 6\n", "min_sentences (6) is more than max_sentences (5)"),
        (
            "[answer]\nlexical_weight = -1\n",
            "lexical_weight = -1.0 is out of range: it must be at least 0",
        ),
        ("[embedding]\nthreads = -4\n", "threads = -4 is out of range: it must be from 0 to 1024"),
        ('[embedding]\nbackend = "openvno"\n', "'openvno' is not allowed; did you mean openvino?"),
        (
            "[summary]\nratio = 0\n",
            "ratio = 0.0 is out of range: it must be more than 0 and at most 1",
        ),
        ("[summary]\nratio = 1.5\n", "ratio = 1.5 is out of range"),
        ('[digest]\ntopics = ["trade", "sprots"]\n', "[digest] topics: 'sprots' is not allowed"),
        ('[digest]\ntopics = "trade"\n', "[digest] topics must be a list of texts"),
        ("[digest]\ntopics = [1]\n", "must be a list of texts"),
        ('[digest]\nwhen_empty = "never"\n', "choose from: post, skip"),
        ('[digest]\nsince = "soon"\n', "[digest] since: cannot read --since 'soon'"),
        ('[digest]\nsince = "99999999d"\n', "[digest] since: that reaches back"),
        ("[corpus]\nauto_ingest = 1\n", "[corpus] auto_ingest must be true or false"),
        ("[data]\ndir = 5\n", "[data] dir must be text"),
        ("[index]\nexact_max_vectors = 99999999999999999999\n", "from 0 to 9223372036854775807"),
    ],
)
def test_a_bad_setting_is_one_error_naming_file_key_and_what_is_allowed(
    tmp_path: Path, toml: str, message: str
):
    path = tmp_path / "my.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as exc:
        load_settings(path, tmp_path)
    assert message in str(exc.value) and str(path) in str(exc.value)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            "[discord]\ndev_guild = 1\n",
            "unknown setting [discord] dev_guild; did you mean dev_guild_id?",
        ),
        ('[discord]\nmax_concurrent_queries = "4"\n', "must be a whole number"),
        ("[discord]\nmax_concurrent_queries = 0\n", "max_concurrent_queries = 0 is out of range"),
        ("[discord]\nask_cooldown_seconds = -5\n", "ask_cooldown_seconds = -5.0 is out of range"),
    ],
)
def test_the_discord_section_is_checked_by_every_command(capsys, tmp_path: Path, toml, message):
    path = tmp_path / "bot.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match="discord"):
        settings = load_settings(path, tmp_path)
        BotSettings.from_raw(settings.raw, settings.origins)
    assert main(["--config", str(path), "--data-dir", str(tmp_path), "config"]) == 1
    err = capsys.readouterr().err
    assert message in err and str(path) in err


def test_an_int_is_a_fine_float():
    """TOML writes `ask_cooldown_seconds = 5`: a float setting takes a whole number."""
    assert BotSettings.from_raw({"discord": {"ask_cooldown_seconds": 5}}).ask_cooldown_seconds == 5


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "utf-32"])
def test_a_config_saved_with_a_byte_order_mark_is_read(tmp_path: Path, encoding: str):
    path = tmp_path / "win.toml"
    path.write_bytes("# café\n[answer]\nmax_sentences = 3\n".encode(encoding))
    assert load_settings(path, tmp_path).answer.max_sentences == 3


def test_a_config_not_in_utf8_says_so(tmp_path: Path):
    path = tmp_path / "latin.toml"
    path.write_bytes("# café\n[answer]\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 0xe9 at offset 5\)"):
        load_settings(path, tmp_path)


def test_a_config_that_is_a_folder_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path, tmp_path)


def test_briefbot_config_shows_values_and_where_they_came_from(capsys, tmp_path, monkeypatch):
    path = tmp_path / "my.toml"
    path.write_text("[answer]\nmax_sentences = 3\n[discord]\ndev_guild_id = 7\n")
    monkeypatch.setenv("BRIEFBOT_MODEL_CACHE", str(tmp_path / "models"))
    monkeypatch.setenv("BRIEFBOT_DISCORD_GATEWAY", "ws://127.0.0.1:1")
    monkeypatch.delenv("BRIEFBOT_DATA_DIR", raising=False)
    assert main(["--config", str(path), "--data-dir", str(tmp_path / "d"), "config", "--json"]) == 0
    rows = {(r["section"], r["key"]): r for r in json.loads(capsys.readouterr().out)["settings"]}
    assert rows[("answer", "max_sentences")] | {} == {
        "section": "answer",
        "key": "max_sentences",
        "value": 3,
        "origin": str(path),
    }
    assert rows[("answer", "min_sentences")]["origin"].endswith("default.toml")
    assert rows[("embedding", "cache_dir")]["origin"] == "$BRIEFBOT_MODEL_CACHE"
    assert rows[("discord", "gateway")] | {} == {
        "section": "discord",
        "key": "gateway",
        "value": "ws://127.0.0.1:1",
        "origin": "$BRIEFBOT_DISCORD_GATEWAY",
    }
    assert rows[("discord", "dev_guild_id")]["value"] == 7
    assert rows[("data", "dir")] == {
        "section": "data",
        "key": "dir",
        "value": str(tmp_path / "d"),
        "origin": "--data-dir",
    }
    assert rows[("digest", "topics")]["value"] == ["trade", "geopolitics"]
    assert main(["--config", str(path), "--data-dir", str(tmp_path / "d"), "config"]) == 0
    assert f"[answer] max_sentences = 3    # {path}" in capsys.readouterr().out.splitlines()


def test_the_shipped_defaults_pass_the_checks(tmp_path: Path):
    settings = load_settings(data_dir=tmp_path)
    BotSettings.from_raw(settings.raw, settings.origins)


def test_shard_ids_are_read_as_whole_numbers(tmp_path):
    """`shard_ids = [0]`, as README "Scaling out" writes it, is read from a config file."""
    path = tmp_path / "shard.toml"
    path.write_text("[discord]\nshard_count = 2\nshard_ids = [1]\n")
    settings = load_settings(path, data_dir=tmp_path)
    assert BotSettings.from_raw(settings.raw, settings.origins).shard_ids == (1,)
    path.write_text('[discord]\nshard_ids = ["1"]\n')
    settings = load_settings(path, data_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"shard_ids must be a list of whole numbers"):
        BotSettings.from_raw(settings.raw, settings.origins)
