"""Pairs ("Japan and the US": `JP+US`, `--with US`) and grouping filters through every
surface: the filter parser, the CLI, the console, stored subscriptions and the fake
Discord server."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import console
from bot.cli import main
from bot.commands import country_choices
from bot.handlers import parse_filters
from bot.subscriptions import SubscriptionStore, decode_countries, encode_countries
from retrieval import Corpus, Filters, InputError
from retrieval.filters import FilterSQL
from tests.fake_discord import FakeDiscord
from tests.test_bot import answered, running, scenario

JAPAN = "Japan has called on the United States"
CANADA = "Canada Signals Delay in US Tariff Deal"


def titles(corpus: Corpus, filters: Filters) -> list[str]:
    return [a.title for a in corpus.headlines(filters, None)]


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("countries", "with_countries", "anyof", "required"),
    [
        ("JP+US", None, ("JP",), ("US",)),
        ("Japan + United States", None, ("JP",), ("US",)),
        (["JP", "KR"], "US", ("JP", "KR"), ("US",)),
        ("JP", ["US", "CN"], ("JP",), ("US", "CN")),
        ("JP+US+CN", None, ("JP",), ("US", "CN")),
        (None, "US", ("US",), ()),
        ("EU+China", None, ("EU",), ("CN",)),
        ("JP+JP", None, ("JP",), ()),
    ],
)
def test_pairs_parse(countries, with_countries, anyof, required):
    filters = parse_filters(countries, with_countries=with_countries)
    assert (filters.countries, filters.with_countries) == (anyof, required)


@pytest.mark.parametrize("value", ["JP+", "+US", "JP++US", "JP+Jpan", " + "])
def test_a_broken_pair_is_an_error(value: str):
    with pytest.raises(InputError, match=r"country|empty side"):
        parse_filters(value)


def test_an_empty_side_is_named():
    with pytest.raises(InputError, match=r"the pair 'JP\+' has an empty side: .* like JP\+US"):
        parse_filters("JP+")


def test_pair_is_two_id_sets():
    sql = FilterSQL.of(parse_filters("JP+US"))
    assert [args for _, args in sql.tag_sets] == [["JP"], ["US"]]


codes = st.lists(st.sampled_from(["JP", "US", "EU", "CN", "OPEC", "G7"]), max_size=3, unique=True)


@given(codes, codes, st.booleans())
def test_stored_country_filter_round_trips(countries, with_countries, members):
    countries, with_countries = tuple(countries), tuple(with_countries)
    text = encode_countries(countries, with_countries, members)
    if countries:
        assert decode_countries(text) == (countries, with_countries, members)
    else:
        assert text == "" and decode_countries(text) == ((), (), False)


def test_old_subscription_rows_still_read():
    assert decode_countries("JP,KR") == (("JP", "KR"), (), False)
    assert decode_countries("") == ((), (), False)


# --------------------------------------------------------------------------- library


def test_pair_filter_in_headlines_and_ask(seed_corpus: Corpus):
    assert titles(seed_corpus, parse_filters("JP+US")) == [
        t for t in titles(seed_corpus, Filters()) if t.startswith(JAPAN)
    ]
    both = titles(seed_corpus, parse_filters("US", with_countries="China"))
    assert both and all("China" in t or "Taiwan" in t for t in both)
    assert titles(seed_corpus, parse_filters("JP+CA")) == []
    result = seed_corpus.ask("tariffs on cars", parse_filters("Japan+U.S."))
    assert [r.article.title[: len(JAPAN)] for r in result.articles] == [JAPAN]


def test_grouping_filter_on_seed(seed_corpus: Corpus):
    (only,) = titles(seed_corpus, parse_filters("USMCA"))
    assert only.startswith(CANADA)
    (only,) = titles(seed_corpus, parse_filters("NAFTA+Canada"))
    assert only.startswith(CANADA)


# --------------------------------------------------------------------------- CLI


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_pair_and_grouping_filters(capsys, seed_dir: Path):
    data = ("--data-dir", str(seed_dir))
    code, out, _ = run(capsys, *data, "headlines", "--country", "JP+US", "--json")
    (art,) = json.loads(out)["articles"]
    assert code == 0 and art["title"].startswith(JAPAN)
    assert art["countries"] == ["JP", "US"] and art["groupings"] == []
    code, out, _ = run(capsys, *data, "articles", "--country", "JP", "--with", "US", "--json")
    assert [a["title"][: len(JAPAN)] for a in json.loads(out)["articles"]] == [JAPAN]
    code, out, _ = run(capsys, *data, "headlines", "--country", "USMCA", "--json")
    (art,) = json.loads(out)["articles"]
    assert art["countries"] == ["CA", "US"] and art["groupings"] == ["USMCA"]
    code, out, err = run(capsys, *data, "headlines", "--country", "EC", "--json")
    assert code == 0 and json.loads(out) == {"articles": []}
    assert err.strip() == "EC is Ecuador (EC); did you mean the European Union (EU)?"
    code, out, _ = run(capsys, *data, "headlines", "--country", "JP+US")
    assert code == 0 and JAPAN in out and CANADA not in out
    code, _, err = run(capsys, *data, "headlines", "--country", "JP+")
    assert code == 1 and err.count("\n") == 1


def test_cli_subscription_stores_the_pair(capsys, tmp_path: Path):
    data = ("--data-dir", str(tmp_path / "d"))
    add = ("subscriptions", "add", "--channel", "5", "--time", "7:05", "--timezone", "UTC")
    code, out, _ = run(capsys, *data, *add, "--country", "EU+US", "--members", "--json")
    (sub,) = json.loads(out)["subscriptions"]
    assert code == 0
    assert (sub["countries"], sub["with"], sub["members"]) == (["EU"], ["US"], True)
    code, out, _ = run(capsys, *data, *add, "--country", "EU", "--with", "US", "--json")
    assert code == 0  # without --members it is another subscription
    code, out, _ = run(capsys, *data, "subscriptions", "list")
    assert "(EU+US with members)" in out and "(EU+US)" in out


def test_subscription_filters_are_the_stored_ones(tmp_path: Path):
    store = SubscriptionStore(tmp_path / "s.sqlite3")
    sub = store.add(1, "08:00", "UTC", ("JP",), ("trade",), with_countries=("US",))
    (again,) = store.list()
    assert again.filters(after_id=3) == Filters(
        countries=("JP",), with_countries=("US",), topics=("trade",), after_id=3
    )
    assert "JP+US" in sub.describe()
    with pytest.raises(InputError):
        store.add(1, "08:00", "UTC", ("JP",), ("trade",), with_countries=("US",))


# --------------------------------------------------------------------------- console


def test_console_pairs_and_hints(seed_corpus: Corpus):
    reply = console.dispatch(seed_corpus, '/headlines country:"JP+US"')
    assert [line.text[: len(JAPAN)] for line in reply.lines] == [JAPAN]
    reply = console.dispatch(seed_corpus, "/headlines --country Japan --with US")
    assert [line.text[: len(JAPAN)] for line in reply.lines] == [JAPAN]
    reply = console.dispatch(seed_corpus, "/headlines country:EC")
    assert reply.notes[0].startswith("EC is Ecuador (EC); did you mean the European Union")
    words, opts = console.parse_options("tariffs --members country:EU")
    assert words == ["tariffs"] and opts == {"members": ["yes"], "country": ["EU"]}
    assert console.dispatch(seed_corpus, "/headlines country:EU members:yes").kind == "headlines"


def test_pair_autocomplete_completes_the_last_part():
    counts = {"US": 12, "JP": 1}
    choices = country_choices(counts, "JP+u")
    assert choices[0].value == "JP+US"
    assert choices[0].name.startswith("Japan + United States (JP+US)")
    assert all(str(c.value).startswith("JP+") for c in choices)
    assert country_choices(counts, "Jpan+U") == []
    assert country_choices(counts, "eu")[0].value == "EU"


# --------------------------------------------------------------------------- Discord


def test_discord_pairs_groupings_and_hints(seed_corpus: Corpus):
    async def body(server: FakeDiscord, bot) -> None:
        pair = server.send_interaction("headlines", {"country": "JP+US"})
        (embed,) = await answered(server, pair)
        assert JAPAN in embed["description"] and CANADA not in embed["description"]
        with_ = server.send_interaction("headlines", {"country": "Canada", "with": "USMCA"})
        (embed,) = await answered(server, with_)
        assert CANADA in embed["description"] and JAPAN not in embed["description"]
        ask = server.send_interaction(
            "ask", {"question": "Why is Japan objecting to tariffs?", "country": "JP+US"}
        )
        (embed,) = await answered(server, ask)
        assert "Japan" in embed["description"] and "Canada" not in embed["description"]
        hint = server.send_interaction("headlines", {"country": "EC"})
        (embed,) = await answered(server, hint)
        assert "did you mean the European Union (EU)?" in embed["description"]
        digest = server.send_interaction(
            "digest", {"country": "EU", "members": True, "since": "3650d"}
        )
        await answered(server, digest)
        auto = server.send_autocomplete("headlines", {"country": "JP+uni"}, focused="country")
        choices = await server.wait_for(lambda: auto.choices)
        assert choices[0]["value"] == "JP+US"
        auto = server.send_autocomplete("ask", {"question": "x", "with": "opec"}, focused="with")
        choices = await server.wait_for(lambda: auto.choices)
        assert choices[0]["value"] == "OPEC"

    scenario(seed_corpus, body)


def test_discord_subscription_keeps_the_pair(seed_corpus: Corpus):
    async def main() -> None:
        async with FakeDiscord() as server, running(server, seed_corpus) as bot:
            inter = server.send_interaction(
                "subscribe", {"time": "06:45", "timezone": "UTC", "country": "JP+US"}
            )
            await server.wait_for(lambda: inter.callbacks)
            assert "JP+US" in inter.contents[0]
            (sub,) = [s for s in bot.subscriptions.list() if s.time == "06:45"]
            try:
                assert (sub.countries, sub.with_countries) == (("JP",), ("US",))
                assert await bot.poster(sub.id, datetime.now(UTC)) is True
                desc = server.posted[-1].body["embeds"][0]["description"]
                assert JAPAN[:30] in desc and "Taiwan" not in desc
            finally:
                bot.subscriptions.remove(sub.id)

    asyncio.run(main())


@given(st.text(max_size=40), st.text(max_size=20))
def test_any_country_text_is_a_filter_or_one_input_error(country: str, with_: str):
    try:
        filters = parse_filters(country, with_countries=with_ or None)
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    assert filters.countries and not set(filters.countries) & set(filters.with_countries)


def test_subscribe_autocomplete_completes_the_last_of_a_list(seed_corpus: Corpus):
    async def body(server: FakeDiscord, bot) -> None:
        auto = server.send_autocomplete(
            "subscribe",
            {"time": "08:00", "timezone": "UTC", "country": "Japan,opec"},
            focused="country",
        )
        choices = await server.wait_for(lambda: auto.choices)
        assert choices[0]["value"] == "Japan,OPEC"
        auto = server.send_autocomplete(
            "subscribe",
            {"time": "08:00", "timezone": "UTC", "country": "JP+united st"},
            focused="country",
        )
        assert (await server.wait_for(lambda: auto.choices))[0]["value"] == "JP+US"

    scenario(seed_corpus, body)


def test_grouping_tags_show_their_code_where_countries_show_flags():
    from bot.embeds import source_line
    from bot.replies import Source

    line = source_line(Source(number=1, title="OPEC holds output", countries=["SA", "OPEC"]))
    assert line.endswith("🇸🇦 OPEC")
