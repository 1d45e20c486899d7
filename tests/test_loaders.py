from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from retrieval.loaders import Note, RawArticle, Skipped, load, parse_plain_text

from .conftest import SEED


def articles(items) -> list[RawArticle]:
    return [i for i in items if isinstance(i, RawArticle)]


def test_seed_format_is_one_untitled_article_then_headline_items():
    items = articles(load([str(SEED)]))
    assert len(items) == 18
    article, headlines = items[0], items[1:]
    assert article.title_derived and article.title.startswith(
        "Japan has called on the United States"
    )
    assert "Prime Minister Ishiba Shigeru" in article.body
    assert all(h.body == "" and not h.title_derived for h in headlines)
    titles = [h.title for h in headlines]
    assert "U.S. Initiates $11.1 Billion Arms Sale to Taiwan Amid Rising China Tensions" in titles
    assert titles[-1] == "U.S. House Advances GOP Healthcare Bill as ACA Subsidies Near Expiration"


def test_headline_first_line_is_the_title(tmp_path: Path):
    f = tmp_path / "bbc.txt"
    f.write_text(
        "Ad sales boost Time Warner profit\n\nQuarterly profits rose 76%.\n\nMore text here."
    )
    (item,) = articles(load([str(f)]))
    assert item.title == "Ad sales boost Time Warner profit"
    assert item.body == "Quarterly profits rose 76%.\n\nMore text here."


def test_non_utf8_file_is_read_with_a_note(tmp_path: Path):
    f = tmp_path / "latin.txt"
    f.write_bytes("Chelsea sack Mutu\n\nThe striker’s club said: café closed.".encode("cp1252"))
    items = list(load([str(f)]))
    notes = [i for i in items if isinstance(i, Note)]
    (item,) = articles(items)
    assert notes and "UTF-8" in notes[0].note
    assert "striker’s" in item.body and "café" in item.body


def test_json_list_with_field_aliases_and_reuters_dates(tmp_path: Path):
    records = [
        {
            "title": "JAPAN CUTS CHIP OUTPUT",
            "body": "Tokyo said it would cut output.",
            "date": "26-FEB-1987 15:01:01.79",
            "id": "r1",
        },
        {
            "headline": "Second",
            "text": "Body two.",
            "published_at": "2025-04-18T09:00:00Z",
            "link": "https://example.com/2",
            "source": "Wire",
        },
        {"title": "", "body": ""},
    ]
    f = tmp_path / "a.json"
    f.write_text(json.dumps(records))
    items = list(load([str(f)]))
    arts = articles(items)
    assert [a.title for a in arts] == ["JAPAN CUTS CHIP OUTPUT", "Second"]
    assert arts[0].published.isoformat() == "1987-02-26T15:01:01.790000+00:00"
    assert arts[0].external_id == "r1"
    assert arts[1].url == "https://example.com/2" and arts[1].source == "Wire"
    assert Skipped(f"{f}#2", "no title or body") in items


def test_jsonl_bad_line_is_skipped_rest_kept(tmp_path: Path):
    f = tmp_path / "a.jsonl"
    f.write_text('{"title": "One", "body": "First."}\nnot json\n{"title": "Two"}\n')
    items = list(load([str(f)]))
    assert [a.title for a in articles(items)] == ["One", "Two"]
    assert any(isinstance(i, Skipped) and i.source.endswith("#2") for i in items)


def test_csv_records(tmp_path: Path):
    f = tmp_path / "a.csv"
    f.write_text("Title,Body,Date\nHello,World body.,2024-01-02\n")
    (item,) = articles(load([str(f)]))
    assert item.title == "Hello" and item.published.year == 2024


def test_rss_file(tmp_path: Path):
    f = tmp_path / "feed.xml"
    f.write_text(
        """<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>
        <item><title>Tariffs rise</title><link>https://e.com/1</link><guid>g1</guid>
        <description>&lt;p&gt;Duties went up on steel.&lt;/p&gt;</description>
        <pubDate>Tue, 10 Jun 2025 04:00:00 GMT</pubDate></item></channel></rss>"""
    )
    (item,) = articles(load([str(f)]))
    assert item.title == "Tariffs rise" and item.source == "Wire" and item.external_id == "g1"
    assert "Duties went up on steel." in item.body and "<p>" not in item.body


def test_html_page(tmp_path: Path):
    f = tmp_path / "page.html"
    para = "Canada said on Monday it would delay the tariff deal with the United States. " * 4
    f.write_text(
        f"<html><head><title>Canada delays deal</title></head><body><nav>menu</nav>"
        f"<article><h1>Canada delays deal</h1><p>{para}</p><p>{para}</p></article></body></html>"
    )
    (item,) = articles(load([str(f)]))
    assert "Canada" in item.title and "delay the tariff deal" in item.body


def test_missing_path_and_empty_folder_are_reported(tmp_path: Path):
    items = list(load([str(tmp_path / "nope.txt"), str(tmp_path)]))
    reasons = {i.reason for i in items if isinstance(i, Skipped)}
    assert reasons == {"no such file or folder", "folder holds no supported files"}


@given(st.text(max_size=600))
def test_plain_text_parser_never_raises_and_yields_clean_items(text):
    for item in parse_plain_text(text, "x.txt"):
        assert isinstance(item, RawArticle | Skipped)
        if isinstance(item, RawArticle):
            assert item.title.strip() == item.title and item.title
            assert "\r" not in item.body


def test_word_lists_beside_a_corpus_are_skipped(tmp_path: Path):
    f = tmp_path / "all-places-strings.lc.txt"
    f.write_text("\n".join(["afghanistan", "albania", "west-germany", "usa"] * 10))
    assert list(load([str(f)])) == [
        Skipped(str(f), "a list of words (one or two per line), not an article")
    ]
    headlines = tmp_path / "heads.txt"
    headlines.write_text("\n".join(f"Tariff Talks Stall Round {i}" for i in range(25)))
    assert len(articles(load([str(headlines)]))) == 25


def test_label_lists_are_not_headline_items(tmp_path: Path):
    f = tmp_path / "notes.txt"
    f.write_text(
        "Notes on the categories\n\nThe list follows.\n\nCOCOA\nCOFFEE\nCrude Oil (CRUDE)\n"
    )
    items = articles(load([str(f)]))
    assert len(items) == 1 and "COCOA" in items[0].body
