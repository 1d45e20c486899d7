"""Groupings (EU, OPEC, G7, ...): the data, tagging "about the grouping", the resolver's
codes and hints, people, and grouping filters with and without their members."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.handlers import parse_filters
from retrieval import Corpus, Filters, InputError
from retrieval.countries import (
    CountryTagger,
    country_name,
    grouping_hint,
    question_countries,
    resolve_country,
    search_countries,
)
from retrieval.filters import expand_members
from retrieval.groupings import Membership, groupings, is_grouping, parse_member

# One story per grouping, about the grouping and naming no member country.
STORIES = {
    "EU": ("EC sets anti-dumping duties on printers", "The European Commission imposed duties."),
    "ASEAN": ("ASEAN leaders meet", "The ASEAN summit opened with a call for unity."),
    "OPEC": ("Opec keeps output ceiling", "OPEC oil ministers agreed to hold production."),
    "G7": ("G7 finance ministers meet", "The Group of Seven discussed currencies."),
    "G20": ("G20 summit opens", "Leaders of the Group of 20 debated debt relief."),
    "NATO": ("NATO raises spending goal", "The North Atlantic Treaty Organization agreed."),
    "WTO": ("GATT panel rules on subsidies", "A GATT panel found the subsidies unfair."),
    "MERCOSUR": ("Mercosur talks resume", "The Mercosur trade bloc met on tariffs."),
    "AFU": ("African Union sends envoys", "The African Union Commission named mediators."),
    "GCC": ("GCC ministers meet on oil", "The Gulf Cooperation Council discussed prices."),
    "BRICS": ("BRICS summit opens", "BRICS leaders discussed a common payment system."),
    "USMCA": ("USMCA review begins", "Negotiators opened the USMCA joint review."),
    "IMF": ("IMF approves loan", "The International Monetary Fund board approved it."),
    "WBG": ("World Bank lends for roads", "The World Bank approved a road programme."),
    "OECD": ("OECD cuts growth forecast", "The OECD said growth would slow."),
}


def test_no_spelling_names_both_a_country_and_a_grouping():
    from retrieval.aliases import tables

    owners: dict[str, set[str]] = {}
    for alias in tables().aliases:
        if alias.code and alias.kind not in ("code", "name", "derived"):
            owners.setdefault(alias.text.lower(), set()).add(alias.code)
    both = {text: codes for text, codes in owners.items() if len(codes) > 1}
    assert not {t: c for t, c in both.items() if any(is_grouping(x) for x in c)}


def test_every_grouping_has_a_story_and_a_name():
    assert set(STORIES) == set(groupings())
    for code, grouping in groupings().items():
        assert country_name(code) == grouping.name
        assert is_grouping(code) and not is_grouping("DE")


@pytest.mark.parametrize("code", sorted(STORIES))
def test_story_about_the_grouping_is_tagged_with_it(code: str):
    title, body = STORIES[code]
    tags = CountryTagger().tag(title, body)
    assert code in tags
    assert [c for c in tags if is_grouping(c)] == [code]


@pytest.mark.parametrize(
    ("title", "body", "absent"),
    [
        ("Germany raises taxes", "BERLIN - Germany raised taxes, Chancellor Merz said.", "EU"),
        ("Saudi output steady", "RIYADH - Saudi Arabia kept its crude output steady.", "OPEC"),
        ("Japan and U.S. talk", "TOKYO - Japan and the United States held trade talks.", "G7"),
    ],
)
def test_a_member_alone_is_not_the_grouping(title: str, body: str, absent: str):
    tags = CountryTagger().tag(title, body)
    assert absent not in tags and not any(is_grouping(c) for c in tags)


def test_commission_story_from_brussels_is_the_eu_not_belgium():
    tags = CountryTagger().tag(
        "EC SETS ANTI-DUMPING DUTIES ON JAPANESE PRINTERS",
        "BRUSSELS, March 3 - The European Community Commission imposed provisional"
        " anti-dumping duties on printers from Japan, EC officials said.",
    )
    assert tags == ["JP", "EU"]
    # Belgium named for itself stays Belgium.
    tags = CountryTagger().tag(
        "Belgian government falls",
        "BRUSSELS - Belgium's coalition collapsed; the EC Commission declined comment.",
    )
    assert "BE" in tags
    # Without the grouping, Brussels is Belgium as before.
    assert CountryTagger().tag("", "BRUSSELS - Police closed the city centre.") == ["BE"]


@pytest.mark.parametrize(
    ("title", "body", "tags"),
    [
        (
            "Sefcovic meets Greer on steel",
            "EU trade commissioner Maros Sefcovic met U.S. Trade Representative Jamieson Greer.",
            ["US", "EU"],
        ),
        (
            "Okonjo-Iweala warns on tariffs",
            "Ngozi Okonjo-Iweala said tariffs would slow world trade growth.",
            ["WTO"],
        ),
        (
            "De Clercq rejects U.S. demands",
            "Willy De Clercq said the Community would not accept U.S. demands on farm trade.",
            ["US", "EU"],
        ),
        (
            "Akazawa Ryosei heads to Washington",
            "Akazawa Ryosei will meet Howard Lutnick on tariffs.",
            ["JP", "US"],
        ),
    ],
)
def test_officials_tag_who_they_act_for(title: str, body: str, tags: list[str]):
    assert CountryTagger().tag(title, body) == tags


def test_ticker_ec_is_not_the_community():
    assert "EU" not in CountryTagger().tag("ENGELHARD CORP <EC> SETS STOCK SPLIT", "")


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("EU", "EU"),
        ("eu", "EU"),
        ("European Union", "EU"),
        ("European Community", "EU"),
        ("EEC", "EU"),
        ("European Commission", "EU"),
        ("OPEC", "OPEC"),
        ("GATT", "WTO"),
        ("World Trade Organization", "WTO"),
        ("NAFTA", "USMCA"),
        ("G-7", "G7"),
        ("Group of 20", "G20"),
        ("African Union", "AFU"),
        ("Gulf Cooperation Council", "GCC"),
        ("World Bank", "WBG"),
        ("Mercosur", "MERCOSUR"),
        # people resolve to their country or grouping
        ("Nakasone", "JP"),
        ("Akazawa Ryosei", "JP"),
        ("Ishiba Shigeru", "JP"),
        ("Jamieson Greer", "US"),
        ("Mark Carney", "CA"),
        ("Maros Sefcovic", "EU"),
        ("Okonjo-Iweala", "WTO"),
        ("Kristalina Georgieva", "IMF"),
        ("Mark Rutte", "NATO"),
        ("Willy De Clercq", "EU"),
    ],
)
def test_resolve_groupings_and_people(typed: str, code: str):
    assert resolve_country(typed) == code


@pytest.mark.parametrize(
    ("typed", "country", "grouping"),
    [("EC", "EC", "European Union (EU)"), ("au", "AU", "African Union (AFU)")],
)
def test_an_iso_code_keeps_its_country_with_a_hint(typed: str, country: str, grouping: str):
    assert resolve_country(typed) == country
    hint = grouping_hint(typed, country)
    assert hint is not None and f"did you mean the {grouping}?" in hint
    assert country_name(country) in hint
    assert parse_filters(typed).hints == (hint,)


def test_no_hint_for_plain_names():
    assert grouping_hint("Ecuador", "EC") is None
    assert grouping_hint("JP", "JP") is None
    assert parse_filters("Japan").hints == ()


def test_autocomplete_offers_groupings():
    assert search_countries("EU")[0][0] == "EU"
    assert search_countries("opec")[0][0] == "OPEC"
    assert "EU" in [code for code, _ in search_countries("European")]


def test_questions_naming_people_resolve_to_countries():
    assert question_countries("what did nakasone say about chips?") == ["JP"]
    assert question_countries("Did Akazawa Ryosei meet Greer?") == ["JP", "US"]
    assert question_countries("What did the EC Commission decide?") == ["EU"]
    assert question_countries("banana bread") == []


# --------------------------------------------------------------------------- members


def test_membership_dates():
    eu = groupings()["EU"]
    assert "GB" in eu.member_codes(date(2019, 6, 1))
    assert "GB" not in eu.member_codes(date(2021, 1, 1))
    assert "HR" not in eu.member_codes(date(1987, 3, 1))
    assert "DE" in eu.member_codes(date(1987, 3, 1))
    assert "GB" in eu.member_codes()  # ever a member
    assert "ID" not in groupings()["OPEC"].member_codes(date(2012, 1, 1))
    assert "ID" in groupings()["OPEC"].member_codes(date(1987, 1, 1))


@pytest.mark.parametrize(
    ("text", "member"),
    [
        ("DE", Membership("DE")),
        ("GB 1973..2020-02-01", Membership("GB", date(1973, 1, 1), date(2020, 2, 1))),
        ("QA 1961..2019", Membership("QA", date(1961, 1, 1), date(2020, 1, 1))),
        ("SE 2024-03-07..", Membership("SE", date(2024, 3, 7))),
        ("XX ..2000", None),
        ("GB 2020..1973", None),
        ("gb", None),
        ("GB 1973", None),
    ],
)
def test_parse_member(text: str, member: Membership | None):
    if member is None:
        with pytest.raises(ValueError, match="bad member"):
            parse_member(text)
    else:
        assert parse_member(text) == member


@given(st.text(max_size=40))
def test_parse_member_reads_or_refuses(text: str):
    try:
        member = parse_member(text)
    except ValueError:
        return
    assert len(member.code) == 2 and member.code.isupper()
    if member.since and member.until:
        assert member.since < member.until


@given(
    st.sampled_from(["GB", "DE", "FR"]),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1)),
    st.integers(min_value=1, max_value=20000),
)
def test_parsed_membership_covers_its_window(code: str, since: date, days: int):
    until = date.fromordinal(min(since.toordinal() + days, date(9999, 1, 1).toordinal()))
    member = parse_member(f"{code} {since.isoformat()}..{until.isoformat()}")
    assert member.covers(since) and not member.covers(until)


def test_expand_members_groups_by_window():
    plain, windows = expand_members(("EU", "JP"))
    assert plain == ["EU", "JP"]
    assert windows[(date(1973, 1, 1), date(2020, 2, 1))] == ["GB"]
    plain, windows = expand_members(("G20",))
    assert "AR" in plain and not windows  # undated members join the code list


# --------------------------------------------------------------------------- filtering


@pytest.fixture
def grouping_corpus(fake_corpus: Corpus, tmp_path: Path) -> Corpus:
    rows = [
        {"id": code, "title": title, "body": body, "published": "2024-05-01"}
        for code, (title, body) in STORIES.items()
    ]
    rows += [
        {
            "id": "de",
            "title": "Germany raises taxes",
            "body": "BERLIN - Germany raised taxes.",
            "published": "2024-05-01",
        },
        {
            "id": "uk-old",
            "title": "Britain raises duties",
            "body": "LONDON - Britain raised duties.",
            "published": "2015-05-01",
        },
        {
            "id": "uk-new",
            "title": "Britain cuts duties",
            "body": "LONDON - Britain cut duties.",
            "published": "2024-05-01",
        },
    ]
    path = tmp_path / "groupings.json"
    path.write_text(json.dumps(rows))
    fake_corpus.ingest([str(path)], progress=False)
    return fake_corpus


def _ids(corpus: Corpus, filters: Filters) -> set[str]:
    return {a.external_id for a in corpus.headlines(filters, None)}


@pytest.mark.parametrize("code", sorted(STORIES))
def test_filter_by_grouping(grouping_corpus: Corpus, code: str):
    assert _ids(grouping_corpus, parse_filters(code)) == {code}


def test_members_widen_a_grouping_by_membership_dates(grouping_corpus: Corpus):
    assert _ids(grouping_corpus, parse_filters("EU")) == {"EU"}
    widened = _ids(grouping_corpus, parse_filters("EU", members=True))
    # Germany is a member; Britain was in 2015 and is not in 2024.
    assert widened == {"EU", "de", "uk-old"}
    # Search sees the same sets.
    result = grouping_corpus.ask("duties", parse_filters("EU", members="yes"))
    assert {r.article.external_id for r in result.articles} <= widened


def test_members_flag_text():
    assert parse_filters("EU", members="no").members is False
    with pytest.raises(InputError, match="members is yes or no"):
        parse_filters("EU", members="perhaps")
