"""What replies tell the reader about themselves: an answer's note (the "no year"
fallback), "undated" for an article without a known date, what "new" means in a
digest, and Discord's `/show id:`.

Hand-made corpora with the fake encoder, except `/show` through the fake Discord
server on the seed corpus (as the other commands in tests/test_bot.py).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

from rich.console import Console

from bot import console, embeds, handlers
from bot.cli_json import ask_json
from bot.replies import Reply, Source
from bot.show import show_reply
from retrieval import Corpus, Filters
from tests.fake_discord import FakeDiscord
from tests.test_bot import answered, scenario

YEARS = "What did G7 leaders agree at the summit in 2015?"


def _summits(tmp_path: Path) -> Path:
    """The same story in two years, dated, and one undated article."""
    rows = [
        ("g7-2019", "2019-08-26", "G7 leaders agreed at the summit in Biarritz to study a tax."),
        ("g7-2022", "2022-06-28", "G7 leaders agreed at the summit in Elmau to cap oil prices."),
        ("steel", None, "Japan and the United States agreed to talk about steel tariffs."),
    ]
    path = tmp_path / "summits.jsonl"
    path.write_text(
        "\n".join(
            json.dumps({"id": i, "title": b.split(" agreed")[0], "body": b, "published": d})
            for i, d, b in rows
        )
    )
    return path


def _text(reply: Reply) -> str:
    buffer = StringIO()
    console.render(reply, Console(file=buffer, width=300, highlight=False))
    return buffer.getvalue()


def _description(reply: Reply) -> str:
    return "\n".join(e.description or "" for msg in embeds.render(reply) for e in msg)


def test_the_no_year_note_is_shown_everywhere(fake_corpus: Corpus, tmp_path: Path) -> None:
    fake_corpus.ingest([str(_summits(tmp_path))], progress=False)
    result = fake_corpus.ask(YEARS)
    assert result.answer.note and "2015" in result.answer.note
    reply = handlers.ask(fake_corpus, YEARS)
    assert reply.notes[0] == result.answer.note  # first, above the answer
    assert result.answer.note in _text(reply)  # the CLI's text output and the console
    assert _description(reply).startswith(result.answer.note)  # Discord
    assert ask_json(result, YEARS)["note"] == result.answer.note  # --json
    console_reply = console.dispatch(fake_corpus, f"/ask {YEARS}")
    assert console_reply is not None and result.answer.note in _text(console_reply)


def test_no_note_when_the_question_was_searched_as_asked(
    fake_corpus: Corpus, tmp_path: Path
) -> None:
    fake_corpus.ingest([str(_summits(tmp_path))], progress=False)
    question = "What did G7 leaders agree at the summit in 2019?"
    result = fake_corpus.ask(question)
    assert result.answer.note is None and ask_json(result, question)["note"] is None
    assert not any("2019" in n for n in handlers.ask(fake_corpus, question).notes)


def test_an_abstention_keeps_the_note(fake_corpus: Corpus, tmp_path: Path) -> None:
    fake_corpus.ingest([str(_summits(tmp_path))], progress=False)
    question = "Which recipe for banana bread won in 2015?"
    result = fake_corpus.ask(question)
    assert result.answer.abstained and result.answer.note
    reply = handlers.ask(fake_corpus, question)
    assert reply.kind == "abstain" and reply.notes[0] == result.answer.note
    assert result.answer.note in _description(reply)


def test_embeds_say_undated_for_an_article_without_a_date() -> None:
    undated = Source(number=1, title="Steel talks", outlet="Wire", countries=["JP"])
    dated = Source(number=2, title="Summit", published="2022-06-28T00:00:00+00:00")
    assert embeds.source_line(undated) == "`[1]` Steel talks — Wire · undated · 🇯🇵"
    assert embeds.source_line(dated) == "`[2]` Summit — 2022-06-28"


def test_digest_sections_cite_undated_articles_as_undated(
    fake_corpus: Corpus, tmp_path: Path
) -> None:
    fake_corpus.ingest([str(_summits(tmp_path))], progress=False)
    digest = fake_corpus.digest(Filters(since=datetime(2000, 1, 1, tzinfo=UTC)))
    reply = handlers.digest_reply(fake_corpus, digest)
    steel = next(s for s in reply.sources if s.title.startswith("Japan"))
    assert steel.published is None
    description = _description(reply)
    assert embeds.source_line(steel) in description and "undated" in embeds.source_line(steel)
    assert "2022-06-28" in description


def test_a_digest_says_what_new_means(fake_corpus: Corpus, tmp_path: Path) -> None:
    fake_corpus.ingest([str(_summits(tmp_path))], progress=False)
    window = handlers.digest_reply(
        fake_corpus, fake_corpus.digest(Filters(since=datetime.now(UTC) - timedelta(days=1)))
    )
    # A window: the dated articles are from other years, the undated one was just ingested.
    assert window.notes[0].startswith("1 story from 1 article since ")
    assert "by publication date; an undated article by when it was ingested" in window.notes[0]
    assert "new = published in the window, undated ones by ingestion time" in window.footer
    last = handlers.digest_reply(fake_corpus, fake_corpus.digest(Filters(after_id=1)))
    assert "new since the last digest (counted by ingestion time)" in last.notes[0]
    assert last.notes[0].startswith("2 stories from 2 articles")  # dated 2022, ingested now
    assert last.footer.endswith("new = ingested since the last digest")
    drawn = embeds.render(last)[-1][-1]
    assert drawn.footer.text == last.footer  # the embed footer says it too
    assert "counted by ingestion time" in _text(last)  # and the text digest's header
    empty = handlers.digest_reply(fake_corpus, fake_corpus.digest(Filters(after_id=99)))
    assert empty.footer.endswith("new = ingested since the last digest")


def test_show_reply_fits_one_embed_and_says_where_the_rest_is(
    fake_corpus: Corpus, tmp_path: Path
) -> None:
    body = "\n\n".join(
        f"Paragraph {n} on **tariffs** and [steel](http://x.example) quotas @everyone. " * 12
        for n in range(30)
    )
    path = tmp_path / "long.json"
    path.write_text(
        json.dumps(
            {
                "title": "Steel *quotas*",
                "body": body,
                "url": "https://news.example/steel",
                "source": "Wire_Service",
                "published": "2025-04-18",
            }
        )
    )
    fake_corpus.ingest([str(path)], progress=False)
    reply = show_reply(fake_corpus, 1)
    (message,) = embeds.render(reply)
    (embed,) = message
    assert embed.title == "Steel *quotas*"
    assert len(embed.description) <= embeds.DESCRIPTION_LIMIT
    assert "**Outlet** Wire\\_Service" in embed.description
    assert "**Published** 2025-04-18 (from the record's date field)" in embed.description
    assert "**Link** <https://news.example/steel>" in embed.description
    assert "Paragraph 0 on \\*\\*tariffs\\*\\*" in embed.description  # inert
    assert "@everyone" not in embed.description
    assert "Paragraph 29" not in embed.description  # cut
    assert "of 27,509 characters" in embed.footer.text or "the whole text" in embed.footer.text
    assert "briefbot show 1" in embed.footer.text


def test_show_reply_of_a_short_undated_article_is_whole(fake_corpus: Corpus, tmp_path) -> None:
    fake_corpus.ingest([str(_summits(tmp_path))], progress=False)
    article = next(a for a in fake_corpus.headlines(None, None) if not a.published)
    reply = show_reply(fake_corpus, article.id)
    description = _description(reply)
    assert "**Published** undated (no publication date found)" in description
    assert description.endswith(article.body.strip())
    assert "the whole text" not in (reply.footer or "")


def test_show_and_undated_through_the_fake_discord(seed_corpus: Corpus) -> None:
    async def body(server: FakeDiscord, bot) -> None:
        inter = server.send_interaction("show", {"id": 5})
        (embed,) = await answered(server, inter)
        assert inter.callback_type == 5  # deferred, then answered
        assert (
            embed["title"]
            == "Canada Signals Delay in US Tariff Deal as Talks Shift to USMCA Review"
        )
        description = embed["description"]
        assert "**Published** undated" in description
        assert "🇨🇦 CA" in description and "**Topics** trade" in description
        assert embed["footer"]["text"].startswith("article #5 · ingested ")
        assert inter.followups[0]["allowed_mentions"] == {"parse": []}
        asked = server.send_interaction("ask", {"question": "Is the US selling arms to Taiwan?"})
        (embed,) = await answered(server, asked)
        assert "Taiwan Amid Rising China Tensions — undated · " in embed["description"]
        digest = server.send_interaction("digest", {"since": "3650d"})
        embed = (await answered(server, digest))[-1]
        assert embed["footer"]["text"].endswith("undated ones by ingestion time")
        missing = server.send_interaction("show", {"id": 999})
        await server.wait_for(lambda: missing.followups or missing.contents, timeout=20)
        assert "999" in " ".join(missing.contents)  # the one-line error, not an apology

    scenario(seed_corpus, body)
