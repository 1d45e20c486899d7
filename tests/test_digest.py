"""Digest composition: grouping, summaries, windows and filters."""

from __future__ import annotations

import json
from pathlib import Path

from bot.cli import main
from retrieval import Corpus, Filters


def write(tmp_path: Path, name: str, rows: list[dict]) -> str:
    f = tmp_path / name
    f.write_text(json.dumps(rows))
    return str(f)


STEEL = (
    "Steel tariffs raised by Washington on Japanese imports. Tokyo officials protested the new"
    " duties on steel. Talks on the dispute will resume next month in Geneva."
)


def test_same_story_from_two_outlets_is_one_section(fake_corpus: Corpus, tmp_path: Path):
    fake_corpus.ingest(
        [
            write(
                tmp_path,
                "a.json",
                [
                    {
                        "title": "US raises steel tariffs on Japan",
                        "body": STEEL,
                        "source": "Wire A",
                    },
                    {
                        "title": "US raises tariffs on Japanese steel",
                        "body": STEEL + " Markets fell.",
                        "source": "Wire B",
                    },
                    {
                        "title": "Honduras recount delayed",
                        "body": "The election recount in Honduras was"
                        " delayed amid protests. Opposition leaders demanded a full count.",
                    },
                ],
            )
        ]
    )
    digest = fake_corpus.digest(Filters())
    sizes = sorted(len(s.articles) for s in digest.stories)
    assert sizes == [1, 2]
    steel = next(s for s in digest.stories if len(s.articles) == 2)
    assert steel.score > next(s for s in digest.stories if len(s.articles) == 1).score
    assert {a.source for a in steel.articles} == {"Wire A", "Wire B"}
    assert 1 <= len(steel.summary) <= 2
    assert all(s != steel.title and s in STEEL + " Markets fell." for s in steel.summary)


def test_periods_by_article_id_never_repeat_or_skip(fake_corpus: Corpus, tmp_path: Path):
    fake_corpus.ingest([write(tmp_path, "a.json", [{"title": "First story", "body": "One."}])])
    first = fake_corpus.digest(Filters())
    fake_corpus.ingest([write(tmp_path, "b.json", [{"title": "Second story", "body": "Two."}])])
    second = fake_corpus.digest(Filters(after_id=first.last_article_id))
    assert [s.title for s in first.stories] == ["First story"]
    assert [s.title for s in second.stories] == ["Second story"]
    third = fake_corpus.digest(Filters(after_id=second.last_article_id))
    assert third.stories == []


def test_seed_digest_lists_trade_and_geopolitics_and_country_filter(seed_dir: Path, capsys):
    assert main(["--data-dir", str(seed_dir), "digest", "--since", "3650d", "--json"]) == 0
    digest = json.loads(capsys.readouterr().out)
    titles = [s["title"] for s in digest["sections"]]
    assert any(t.startswith("Japan has called") for t in titles)
    assert any(t.startswith("U.S. Initiates $11.1 Billion Arms Sale") for t in titles)
    assert not any(t.startswith("Kennedy Center") for t in titles)  # neither trade nor geopolitics
    japan = next(s for s in digest["sections"] if s["title"].startswith("Japan has called"))
    assert japan["summary"] and japan["countries"][:2] == ["JP", "US"]
    assert {"title", "countries", "topics", "summary", "articles"} <= set(japan)
    assert main(["--data-dir", str(seed_dir), "digest", "--country", "JP", "--json"]) == 0
    only = json.loads(capsys.readouterr().out)
    assert [s["title"][:16] for s in only["sections"]] == ["Japan has called"]
