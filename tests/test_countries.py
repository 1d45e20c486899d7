"""Country resolution (user input) and country tagging (what an article is about)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retrieval.countries import (
    CountryTagger,
    country_name,
    resolve_country,
    search_countries,
    suggest_countries,
)
from retrieval.errors import InputError


@pytest.fixture(scope="module")
def tagger() -> CountryTagger:
    return CountryTagger()


# --------------------------------------------------------------------------- resolve


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Japan", "JP"),
        ("JP", "JP"),
        ("jpn", "JP"),
        ("Japanese", "JP"),
        ("Tokyo", "JP"),
        ("U.S.", "US"),
        ("USA", "US"),
        ("us", "US"),
        ("America", "US"),
        ("Washington", "US"),
        ("United States of America", "US"),
        ("UK", "GB"),
        ("Britain", "GB"),
        ("british", "GB"),
        ("London", "GB"),
        ("West Germany", "DE"),
        ("Bonn", "DE"),
        ("USSR", "RU"),
        ("Soviet Union", "RU"),
        ("the Kremlin", "RU"),
        ("Ottawa", "CA"),
        ("Canadian", "CA"),
        ("the Netherlands", "NL"),
        ("Holland", "NL"),
        ("  south   korea ", "KR"),
        ("Korea", "KR"),
        ("North Korea", "KP"),
        ("Peking", "CN"),
        ("Hong Kong", "HK"),
        ("Taiwan", "TW"),
        ("Burma", "MM"),
        ("Zaire", "CD"),
        ("Ceylon", "LK"),
        ("Czechoslovakia", "CZ"),
        ("Czech Republic", "CZ"),
        ("Yugoslavia", "RS"),
        ("Ivory Coast", "CI"),
        ("Côte d’Ivoire", "CI"),
        ("cote d'ivoire", "CI"),
        ("Türkiye", "TR"),
        ("Turkey", "TR"),
        ("Republic of Korea", "KR"),
        ("Viet Nam", "VN"),
        ("Georgia", "GE"),
        ("Guinea-Bissau", "GW"),
        ("Papua New Guinea", "PG"),
    ],
)
def test_resolve_country(text: str, code: str) -> None:
    assert resolve_country(text) == code


def test_unknown_country_suggests_the_closest_name() -> None:
    with pytest.raises(InputError) as err:
        resolve_country("Jpan")
    assert "unknown country 'Jpan'" in str(err.value)
    assert "Japan (JP)" in str(err.value)


@pytest.mark.parametrize(("typo", "code"), [("Germny", "DE"), ("Brazl", "BR"), ("Rusia", "RU")])
def test_suggest_countries(typo: str, code: str) -> None:
    assert suggest_countries(typo)[0] == code


@pytest.mark.parametrize("text", ["", "   ", "xqzzy", "Latin America"])
def test_not_a_country(text: str) -> None:
    with pytest.raises(InputError):
        resolve_country(text)


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("US", "United States"),
        ("RU", "Russia"),
        ("KR", "South Korea"),
        ("kp", "North Korea"),
        ("TW", "Taiwan"),
        ("IR", "Iran"),
        ("VN", "Vietnam"),
        ("GB", "United Kingdom"),
        ("BO", "Bolivia"),
    ],
)
def test_country_name(code: str, name: str) -> None:
    assert country_name(code) == name


@pytest.mark.parametrize("code", ["XX", "", "USA"])
def test_country_name_rejects_unknown_codes(code: str) -> None:
    with pytest.raises(InputError):
        country_name(code)


@pytest.mark.parametrize(
    ("prefix", "first"),
    [("ja", "JM"), ("jap", "JP"), ("us", "US"), ("germ", "DE"), ("kor", "KR"), ("brit", "GB")],
)
def test_search_countries(prefix: str, first: str) -> None:
    results = search_countries(prefix)
    assert results[0][0] == first
    assert len({code for code, _ in results}) == len(results)


def test_search_countries_limit_and_empty() -> None:
    assert len(search_countries("a", limit=5)) == 5
    assert len(search_countries("", limit=10)) == 10


@given(st.text(max_size=40))
def test_resolve_country_returns_a_code_or_raises_input_error(text: str) -> None:
    try:
        code = resolve_country(text)
    except InputError:
        return
    assert len(code) == 2 and code.isupper()
    assert country_name(code)


# --------------------------------------------------------------------------- tagging


def test_tag_lead_sentence(tagger: CountryTagger) -> None:
    body = (
        "Japan has called on the United States to reconsider its tariffs on automobiles "
        "and steel, saying the measures would hurt both economies."
    )
    tags = tagger.tag("", body)
    assert tags[0] == "JP"
    assert "US" in tags


@pytest.mark.parametrize(
    ("title", "top_two"),
    [
        (
            "U.S. Initiates $11.1 Billion Arms Sale to Taiwan Amid Rising China Tensions",
            ["US", "TW"],
        ),
        ("Canada Signals Delay in US Tariff Deal as Talks Shift to USMCA Review", ["CA", "US"]),
        ("JAPAN TO CUT CHIP OUTPUT, TALKS WITH U.S.", ["JP", "US"]),
    ],
)
def test_tag_headline_only(tagger: CountryTagger, title: str, top_two: list[str]) -> None:
    assert tagger.tag(title, "")[:2] == top_two


def test_tag_reuters_dateline(tagger: CountryTagger) -> None:
    body = (
        "TOKYO, March 3 - The government will ask chipmakers to cut output further, "
        "officials at the trade ministry said. Exports fell for a third month."
    )
    assert tagger.tag("CHIP OUTPUT TO BE CUT", body)[0] == "JP"


@pytest.mark.parametrize(
    "body",
    [
        "LONDON (Reuters) - The pound rose on Tuesday as traders bet on lower rates.",
        "WASHINGTON, March 3 - The Treasury sold bills at higher yields, dealers said.",
    ],
)
def test_tag_dateline_alone_is_enough(tagger: CountryTagger, body: str) -> None:
    assert len(tagger.tag("", body)) == 1


def test_passing_mention_deep_in_text_is_dropped(tagger: CountryTagger) -> None:
    filler = " ".join(
        f"Factory orders rose {n} pct in the month, the ministry said in its report."
        for n in range(8)
    )
    body = (
        "BERLIN, March 3 - German industrial output rose more than expected in January, "
        f"the economy ministry said. {filler} Exports to Peru also edged higher."
    )
    tags = tagger.tag("German output rises", body)
    assert tags == ["DE"]


def test_tag_limit_and_empty(tagger: CountryTagger) -> None:
    title = "France, Italy, Spain, Portugal, Greece and Malta sign Mediterranean pact"
    assert len(tagger.tag(title, "", limit=3)) == 3
    assert tagger.tag("", "") == []
    assert tagger.tag("Shares rise on hopes of rate cut", "Stocks rose on Tuesday.") == []


def test_company_legal_form_is_a_last_resort(tagger: CountryTagger) -> None:
    assert tagger.tag("ACME SETS DIVIDEND", "Acme Inc said it raised its dividend.") == ["US"]
    body = "Acme Inc said it would build a plant in Japan, Tokyo officials said."
    assert tagger.tag("ACME TO BUILD PLANT IN JAPAN", body) == ["JP"]


# Each trap: (title, body, must include, must not include)
TRAPS = [
    # Washington the state and the capital are both the United States.
    ("", "Seattle, Washington-based Amazon said it would hire 5,000 people.", "US", "GB"),
    ("", "Washington has urged Tokyo to open its rice market, officials said.", "US", ""),
    # Georgia the US state.
    ("", "Gov. Brian Kemp of Georgia signed the bill in Atlanta on Tuesday.", "US", "GE"),
    ("", "The state of Georgia will hold a runoff election in January.", "US", "GE"),
    ("Georgia Power raises rates", "Georgia Power said it would raise rates.", "US", "GE"),
    ("", "Researchers in Athens, Georgia said the trial was a success.", "US", "GE"),
    ("Georgia accuses Russia", "Georgia accused Russia of provocations, Tbilisi said.", "GE", ""),
    # turkey the bird.
    ("", "Families bought a Thanksgiving turkey as prices fell in America.", "US", "TR"),
    ("", "Shoppers said the Turkey Dinner special sold out in Ohio stores.", "US", "TR"),
    ("Turkey raises rates", "Turkey's central bank raised rates in Ankara.", "TR", ""),
    # Jordan the person.
    ("", "Michael Jordan said he would sell his stake in the team.", "", "JO"),
    ("", "Former guard Anthony Jordan said the team would improve.", "", "JO"),
    ("", "Jordan said it would reopen its border with Syria, Amman said.", "JO", ""),
    ("", "King Hussein of Jordan met the Iraqi foreign minister.", "JO", ""),
    # Chad the first name.
    ("", "Chad Smith said the new album would be released in May.", "", "TD"),
    ("", "Chad and Niger agreed to cooperate on security, N'Djamena said.", "TD", ""),
    # South China Sea is about China.
    ("China warns ships in South China Sea", "", "CN", ""),
    # Longest match wins.
    ("", "Papua New Guinea signed a gas deal in Port Moresby.", "PG", "GN"),
    ("", "Equatorial Guinea and Guinea-Bissau joined the talks.", "GQ", "GN"),
    ("", "Equatorial Guinea and Guinea-Bissau joined the talks.", "GW", "GN"),
    ("", "Voters in New Mexico went to the polls on Tuesday.", "US", "MX"),
    ("", "Voters in New Jersey went to the polls on Tuesday.", "US", "JE"),
    ("", "First Jersey Securities withdrew as underwriter, the company said.", "", "JE"),
    ("", "Nigeria signed a pipeline deal with Morocco.", "NG", "NE"),
    ("", "The Dominican Republic signed a fisheries pact.", "DO", "DM"),
    ("", "South Sudan agreed to resume oil exports through the pipeline.", "SS", "SD"),
    ("", "Northern Ireland's assembly met in Belfast on Monday.", "GB", "IE"),
    ("", "The Democratic Republic of Congo signed a mining deal.", "CD", "CG"),
    ("", "Congo-Brazzaville signed an oil deal.", "CG", "CD"),
    # Korea alone is South Korea.
    ("Korea's exports rise", "Korea's exports rose sharply in March.", "KR", "KP"),
    ("North Korea fires missile", "", "KP", "KR"),
    # The European Community and Union are not countries.
    ("EC ministers meet", "The EC and the European Union said the EU would respond.", "", "EC"),
    # "City, State" is an address in the state's country.
    ("", "The plant in Lebanon, Pennsylvania, will close next year.", "US", "LB"),
    ("", "The plant in London, Ontario, will close next year.", "CA", "GB"),
    ("", "PARIS, Texas, March 3 - The town council approved the budget.", "US", "FR"),
    # Upper-case headlines: "US" the country, and "US" the pronoun.
    ("US TARIFFS HIT JAPANESE CARS", "", "US", ""),
    ("THEY TOLD US TO WAIT, SAYS FARMER", "", "", "US"),
    ("", "He told us the plan would work.", "", "US"),
    ("UNION CARBIDE <UK> SAYS DEBT ROSE", "", "", "GB"),
    # Not country words.
    ("", "Delegates discussed the Uruguay Round of trade talks.", "", "UY"),
    ("", "Latin American debtor nations want more time.", "", "US"),
    ("", "The family reunion was held in the park.", "", "RE"),
    ("", "The Sofia Coppola film was released on Friday.", "", "BG"),
]


@pytest.mark.parametrize(("title", "body", "present", "absent"), TRAPS)
def test_traps(tagger: CountryTagger, title: str, body: str, present: str, absent: str) -> None:
    tags = tagger.tag(title, body)
    if present:
        assert present in tags
    if absent:
        assert absent not in tags


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Prime Minister Shigeru Ishiba met Ryosei Akazawa in Tokyo.", "JP"),
        ("Mark Carney said Ottawa would respond.", "CA"),
        ("The Bundesbank held rates, Frankfurt dealers said.", "DE"),
        ("MITI officials said chip exports would be cut.", "JP"),
        ("Downing Street said the talks would continue.", "GB"),
        ("The Kremlin said Putin would attend.", "RU"),
        ("Zelensky said Kyiv needed more air defence.", "UA"),
        ("Netanyahu said the cabinet would meet.", "IL"),
        ("The Elysee said Macron would travel to Africa.", "FR"),
        ("Seoul said the talks were productive.", "KR"),
        ("Mulroney and Reagan met to discuss free trade.", "CA"),
    ],
)
def test_tag_metonyms_and_leaders(tagger: CountryTagger, text: str, code: str) -> None:
    assert tagger.tag("", text)[0] == code


def test_taggers_share_one_matcher() -> None:
    assert CountryTagger()._matcher is CountryTagger(min_score=2.0)._matcher


@given(st.text(max_size=300), st.text(max_size=300))
def test_tag_never_fails(title: str, body: str) -> None:
    tags = CountryTagger().tag(title, body)
    assert len(tags) <= 4
    assert all(country_name(code) for code in tags)


def test_every_trap_guards_a_known_alias() -> None:
    from retrieval.mentions import matcher as _matcher

    matcher = _matcher()
    for key, traps in matcher.traps.items():
        codes = {alias.code for alias in matcher.by_key.get(key, [])}
        for trap in traps:
            assert trap.code in codes, key
