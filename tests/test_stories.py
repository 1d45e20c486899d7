"""Stories: clustering, stored ids assigned incrementally, and digests made of them."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from bot.cli_json import digest_json
from bot.console import render
from bot.handlers import _ordinal, digest_reply
from retrieval import Corpus, Filters
from retrieval.digest import clean_title
from retrieval.stories import SAME_TEXT, Features, Params, StoryState, cluster, terms_of


def unit(seed: int, near: np.ndarray | None = None, noise: float = 0.0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=32).astype(np.float32)
    if near is not None:
        v = near + noise * v / np.linalg.norm(v)
    return v / np.linalg.norm(v)


def test_cluster_joins_close_articles_and_starts_stories_for_others():
    base = unit(1)
    arts = [
        Features(1, base, {"navalny", "@RU"}, 0.0),
        Features(2, unit(2, base, 0.3), {"navalny", "@RU"}, 0.1),
        Features(3, unit(3), {"honduras"}, 0.2),
    ]
    stories = cluster(arts, [])
    assert sorted(sorted(s.members) for s in stories) == [[1, 2], [3]]


def test_shared_names_decide_between_look_alike_articles():
    """Two templated items read alike to the embedding; their names tell them apart."""
    base = unit(1)
    arts = [
        Features(1, base, {"acme", "#4.5%"}, 0.0),
        Features(2, unit(2, base, 1.0), {"globex", "#7.1%"}, 0.0),
        Features(3, unit(3, base, 1.0), {"acme", "#4.5%"}, 0.0),
    ]
    # Both below the threshold by vector, 3 even further than 2; names bring 3 in.
    assert arts[2].lead @ base < arts[1].lead @ base < 0.85
    stories = cluster(arts, [], Params(threshold=0.85, name_weight=0.4))
    assert sorted(sorted(s.members) for s in stories) == [[1, 3], [2]]


def test_follow_up_days_later_continues_a_stored_story_but_not_past_the_window():
    base = unit(1)
    stored = StoryState(7, base * 2, first=0.0, last=0.0, size=2)
    stored.terms.update({"navalny": 2, "@RU": 2})
    follow = Features(10, unit(4, base, 0.2), {"navalny", "@RU"}, 3.0)
    late = Features(11, unit(5, base, 0.2), {"navalny", "@RU"}, 30.0)
    stories = cluster([follow, late], [stored])
    assert stored.members == [10] and stored.size == 3 and stored.id == 7
    assert [s.members for s in stories if s.id is None] == [[11]]


def test_terms_are_names_figures_countries_and_headline_words():
    terms = terms_of(
        "Navalny moved to prison hospital",
        "Russian officials moved Alexei Navalny on Monday. He lost 15 kg since 2021.",
        ["RU"],
    )
    assert {"navalny", "alexei", "#15", "#2021", "@RU", "~hospit"} <= terms
    assert "he" not in terms and "#1" not in terms
    # Capitals say nothing by case: only the wire headline's stems count.
    assert "prison" not in terms_of("NAVALNY MOVED TO PRISON HOSPITAL", "", [])


@pytest.mark.parametrize(
    "title, clean",
    [
        ("# Chip talks resume", "Chip talks resume"),
        ("## **Chip talks** resume", "**Chip talks** resume"),
        ("**Chip talks resume**", "Chip talks resume"),
        ("Chip talks resume", "Chip talks resume"),
        ("#1 seed loses", "#1 seed loses"),
    ],
)
def test_clean_title(title: str, clean: str):
    assert clean_title(title) == clean


@pytest.mark.parametrize(
    "n, text", [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"),
                (13, "13th"), (21, "21st"), (22, "22nd"), (101, "101st"), (111, "111th")],
)  # fmt: skip
def test_ordinal(n: int, text: str):
    assert _ordinal(n) == text


def write(tmp_path: Path, name: str, rows: list[dict]) -> str:
    f = tmp_path / name
    f.write_text(json.dumps(rows))
    return str(f)


NAVALNY = (
    "Russian prison officials moved Alexei Navalny to a prison hospital in Vladimir. "
    "Navalny has been on hunger strike for three weeks. "
)
DAY1 = [
    {
        "title": "Navalny moved to prison hospital",
        "body": NAVALNY + "His doctors warned his life was at risk.",
        "source": "Outlet A",
        "published": "2021-04-19T09:00:00+00:00",
        "url": "https://a.example/navalny",
    },
    {
        "title": "Navalny transferred to prison hospital",
        "body": NAVALNY + "Allies called for protests across Russia.",
        "source": "Outlet B",
        "published": "2021-04-19T11:00:00+00:00",
        "url": "https://b.example/navalny",
    },
    {
        "title": "Honduras recount delayed",
        "body": "The election recount in Honduras was delayed amid protests in Tegucigalpa.",
        "source": "Outlet C",
        "published": "2021-04-19T12:00:00+00:00",
    },
]
DAY2 = [
    {
        "title": "Navalny ends hunger strike in prison hospital",
        "body": NAVALNY + "Navalny said on Friday he would end his hunger strike after doctors"
        " examined him.",
        "source": "Outlet C",
        "published": "2021-04-23T10:00:00+00:00",
        "url": "https://c.example/navalny-ends",
    }
]


def test_stories_are_stored_at_ingest_and_follow_ups_join_them(fake_corpus: Corpus, tmp_path: Path):
    fake_corpus.ingest([write(tmp_path, "day1.json", DAY1)])
    store = fake_corpus.store
    assert store.unassigned_articles(10) == []
    first = store.story_of([1, 2, 3])
    assert first[1] == first[2] != first[3]
    fake_corpus.ingest([write(tmp_path, "day2.json", DAY2)])
    assert store.story_of([1, 2, 3]) == first  # ids are for life
    assert store.story_of([4])[4] == first[1]
    assert [a for a, _ in store.story_articles([first[1]])[first[1]]] == [1, 2, 4]


def test_an_older_data_dir_gets_its_stories_at_the_next_digest(fake_corpus: Corpus, tmp_path: Path):
    fake_corpus.ingest([write(tmp_path, "day1.json", DAY1)])
    db = fake_corpus.store._db
    db.execute("DELETE FROM article_stories")
    db.execute("DELETE FROM stories")
    assert len(fake_corpus.store.unassigned_articles(10)) == 3
    digest = fake_corpus.digest(Filters(topics=()))
    assert sorted(len(s.articles) for s in digest.stories) == [1, 2]
    assert fake_corpus.store.unassigned_articles(10) == []


def test_a_continuing_story_is_one_developing_section_with_only_new_sentences(
    fake_corpus: Corpus, tmp_path: Path
):
    fake_corpus.ingest([write(tmp_path, "day1.json", DAY1)])
    first = fake_corpus.digest(Filters())
    assert not any(s.developing for s in first.stories)
    fake_corpus.ingest([write(tmp_path, "day2.json", DAY2)])
    second = fake_corpus.digest(Filters(after_id=first.last_article_id))
    (story,) = second.stories
    assert story.developing and (story.days, story.total, story.earlier) == (2, 3, 2)
    # What the day-1 articles said is not news again; the headline is not a summary.
    assert story.summary and all(s not in NAVALNY for s in story.summary)
    assert any("end his hunger strike" in s for s in story.summary)
    assert story.title not in story.summary
    reply = digest_reply(fake_corpus, second)
    assert reply.sections[0].note == "developing: 2nd day, 3 articles"


def test_text_digest_lists_each_sections_sources_and_clean_titles(
    fake_corpus: Corpus, tmp_path: Path
):
    md = tmp_path / "chips.md"
    md.write_text(
        "# Chip talks resume in Geneva\n\nJapan and the United States resumed talks on chip"
        " tariffs in Geneva on Monday. Officials said progress was slow.\n"
    )
    fake_corpus.ingest([write(tmp_path, "day1.json", DAY1), str(md)])
    digest = fake_corpus.digest(Filters())
    chips = next(s for s in digest.stories if "Chip" in s.title)
    assert chips.title == "Chip talks resume in Geneva"
    assert chips.summary and not any("Chip talks resume" in s for s in chips.summary)
    console = Console(record=True, width=200, highlight=False)
    render(digest_reply(fake_corpus, digest), console)
    text = console.export_text()
    assert "# Chip" not in text
    navalny = text[text.index("Navalny") :]
    # Source numbers follow the sections' order (the undated chips story counts from
    # when it was ingested); each source line names outlet, date and link.
    assert re.search(
        r"\[\d\] Navalny moved to prison hospital — Outlet A — 2021-04-19 <https://a\.ex", navalny
    )
    assert re.search(
        r"\[\d\] Navalny transferred to prison hospital — Outlet B — 2021-04-19", navalny
    )
    assert "<https://b.example/navalny>" in navalny


def test_digest_json_gains_story_fields(fake_corpus: Corpus, tmp_path: Path):
    fake_corpus.ingest([write(tmp_path, "day1.json", DAY1)])
    first = fake_corpus.digest(Filters())
    fake_corpus.ingest([write(tmp_path, "day2.json", DAY2)])
    out = digest_json(fake_corpus.digest(Filters(after_id=first.last_article_id)))
    (section,) = out["sections"]
    assert {"title", "countries", "topics", "summary", "articles"} <= set(section)
    assert section["story"] == fake_corpus.store.story_of([1])[1]
    assert section["developing"] is True
    assert (section["days"], section["story_articles"]) == (2, 3)
    assert section["first_dated"].startswith("2021-04-19")


def test_templated_items_without_a_rare_term_in_common_stay_apart():
    """A day's earnings reports read alike; only the company would make two one story."""
    base = unit(1)
    arts = [
        Features(i, unit(i, base, 1.5), {"~qtr", "~loss", f"~ticker{i}"}, 0.0) for i in range(2, 12)
    ]
    assert max(float(a.lead @ base) for a in arts) < SAME_TEXT
    assert len(cluster(arts, [], Params(threshold=0.5, rare_share=0.0))) < 10
    assert len(cluster(arts, [], Params(threshold=0.5, rare_share=0.02))) == 10


def test_different_events_in_one_country_stay_apart():
    """A country in common is not an event in common: two Russian stories, two stories."""
    base = unit(1)
    arts = [
        Features(1, base, {"@RU", "navalny", "~hunger", "~strike"}, 0.0),
        Features(2, unit(2, base, 0.3), {"@RU", "navalny", "~hospit"}, 0.2),
        Features(3, unit(3, base, 1.2), {"@RU", "gazprom", "~pipelin", "#2021"}, 0.3),
    ]
    stories = cluster(arts, [])
    assert sorted(sorted(s.members) for s in stories) == [[1, 2], [3]]


def test_a_follow_up_the_next_day_joins_its_story():
    base = unit(1)
    arts = [
        Features(1, base, {"@RU", "navalny", "~hunger"}, 0.0),
        Features(2, unit(2, base, 0.4), {"@RU", "navalny", "~hunger", "~end"}, 1.1),
        Features(3, unit(3), {"@HN", "honduras", "~recount"}, 1.2),
    ]
    stories = cluster(arts, [])
    assert sorted(sorted(s.members) for s in stories) == [[1, 2], [3]]


def test_assigning_again_changes_nothing(fake_corpus: Corpus, tmp_path: Path):
    """Incremental: a second pass finds nothing unassigned, and ids stay as they were."""
    from retrieval.stories import assign_new

    fake_corpus.ingest([write(tmp_path, "day1.json", DAY1)])
    store = fake_corpus.store
    before = store.story_of([1, 2, 3])
    assert assign_new(store) == 0
    assert store.story_of([1, 2, 3]) == before


def test_whole_text_tfidf_joins_articles_the_lead_vectors_keep_apart():
    """Two reports of one event worded differently at the top share their body's words."""
    base = unit(1)
    body = {"vaccin": 1.0, "pfizer": 1.7, "patent": 1.7, "waiver": 2.0, "wto": 1.0}
    arts = [
        Features(1, base, {"@US", "pfizer"}, 0.0, body),
        Features(2, unit(2, base, 1.2), {"@US", "pfizer"}, 0.1, dict(body, tai=1.0)),
        Features(3, unit(3, base, 1.2), {"@US", "boeing"}, 0.1, {"boe": 1.0, "jet": 1.7}),
        Features(4, unit(4), {"@IN"}, 0.2, {"monsoon": 1.0, "rain": 1.0}),
    ]
    alone = cluster(arts, [], Params(threshold=0.8, name_weight=0.0, rare_share=0.0))
    assert len(alone) == 4
    both = cluster(
        arts, [], Params(threshold=0.8, name_weight=0.0, text_weight=1.0, rare_share=0.0)
    )
    assert sorted(sorted(s.members) for s in both) == [[1, 2], [3], [4]]


def test_a_stored_story_keeps_its_text_profile():
    from retrieval.stories import _row, _state

    story = StoryState(None, unit(1), Counter({"navalny": 2}), {"hunger": 1.25}, 0.0, 1.0, 2)
    again = _state(_row(story))
    assert again.terms == story.terms and again.text == story.text and again.size == 2


def test_an_article_first_in_its_batch_moves_to_the_story_its_event_starts_after_it():
    """The single pass put A in an older story (nothing else was there yet); once B and
    C, its own event, have started a story, A moves to it and the old story is as stored."""
    base, other = unit(1), unit(2)
    event = other - (other @ base) * base
    event /= np.linalg.norm(event)  # orthogonal to the old story
    stored = StoryState(7, base * 2, Counter({"cdc": 2, "@US": 2}), first=0.0, last=0.0, size=2)
    a = (base + 1.2 * event) / np.linalg.norm(base + 1.2 * event)
    arts = [
        Features(1, a.astype(np.float32), {"cdc", "@US", "mask"}, 2.0),
        Features(2, unit(3, event, 0.1), {"cdc", "@US", "mask"}, 2.0),
        Features(3, unit(4, event, 0.1), {"cdc", "@US", "mask"}, 2.0),
    ]
    assert float(arts[0].lead @ base) - 0.1 >= 0.5  # A alone would join the old story
    knobs = dict(threshold=0.5, name_weight=0.0, day_penalty=0.1, rare_share=0.0)

    def copy() -> StoryState:
        return StoryState(7, stored.centroid.copy(), Counter(stored.terms), {}, 0.0, 0.0, 2)

    single = cluster(arts, [copy()], Params(**knobs, refine_rounds=0))
    assert sorted(sorted(s.members) for s in single) == [[1], [2, 3]]
    old, *new = cluster(arts, [copy()], Params(**knobs, refine_rounds=2))
    assert [sorted(s.members) for s in new] == [[1, 2, 3]]
    assert (old.id, old.members, old.size, old.last, old.terms) == (7, [], 2, 0.0, stored.terms)
    assert np.allclose(old.centroid, stored.centroid, atol=1e-6)


def test_a_small_batch_still_finds_the_name_three_outlets_share_rare():
    """Polled feeds bring a few articles at a time: one event's name in three of a dozen
    documents is still particular to it."""
    base = unit(1)
    event = [
        Features(i, unit(i, base, 0.8), {"newsom", "~recal", f"~own{i}"}, 0.0) for i in (1, 2, 3)
    ]
    others = [Features(i, unit(i), {f"~topic{i}"}, 0.0) for i in range(4, 13)]
    assert max(float(a.lead @ b.lead) for a in event for b in event if a is not b) < SAME_TEXT
    knobs = dict(threshold=0.5, rare_share=0.02)
    stories = cluster(event + others, [], Params(**knobs))
    assert sorted(s.members for s in stories if len(s.members) > 1) == [[1, 2, 3]]
    floor = cluster(event + others, [], Params(**knobs, rare_min=2.0))
    assert not any(len(s.members) == 3 for s in floor)
