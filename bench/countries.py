"""Benchmark CountryTagger against the human `places` labels of Reuters-21578.

For every story with labels, tag title + body and compare with the labels (micro
precision / recall / F1 over (story, country) pairs), side by side with the geotext
library on the same text. Files reut2-000..006 are the development split the
thresholds were tuned on; reut2-007..013 are held out.

Each system runs twice: on title + body as stored, and with Reuters' separate
`dateline` field put back in front of the body ("TOKYO, March 3 - ..."), as the
original wire text carried it.

    python bench/countries.py [--data ../shared/data/reuters21578-dev] [--limit N]
    python bench/countries.py --tune      # small grid search on the dev split

Not a test: it needs the data set, which is not part of the repository.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pycountry

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from retrieval.countries import CountryTagger  # noqa: E402
from retrieval.groupings import split_codes  # noqa: E402
from retrieval.text import clean_body, clean_line  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "reuters21578-dev"
DEV = range(0, 7)
HELD_OUT = range(7, 14)

# Reuters place codes pycountry cannot look up by name (1987 names, abbreviations).
REUTERS_CODES = {
    "usa": "US",
    "uk": "GB",
    "ussr": "RU",
    "west-germany": "DE",
    "east-germany": "DE",
    "czechoslovakia": "CZ",
    "yugoslavia": "RS",
    "burma": "MM",
    "zaire": "CD",
    "congo": "CG",
    "kampuchea": "KH",
    "uae": "AE",
    "ivory-coast": "CI",
    "cape-verde": "CV",
    "swaziland": "SZ",
    "vatican": "VA",
    "macao": "MO",
    "antigua": "AG",
    "trinidad-tobago": "TT",
    "netherlands-antilles": "CW",
    "western-samoa": "WS",
    "yemen-arab-republic": "YE",
    "yemen-demo-republic": "YE",
    "us-virgin-islands": "VI",
    "british-virgin-islands": "VG",
    "south-korea": "KR",
    "north-korea": "KP",
    "turkey": "TR",
    "brunei": "BN",
    "guinea-bissau": "GW",
}


def place_to_iso(place: str) -> str:
    """ISO alpha-2 for a Reuters place code such as "hong-kong" or "west-germany"."""
    if place in REUTERS_CODES:
        return REUTERS_CODES[place]
    return pycountry.countries.lookup(place.replace("-", " ")).alpha_2


@dataclass(frozen=True)
class Story:
    title: str
    body: str
    dateline: str
    labels: frozenset[str]


def load(data: Path, files: range, limit: int | None) -> list[Story]:
    stories: list[Story] = []
    for number in files:
        for raw in json.loads((data / f"reut2-{number:03d}.json").read_text(encoding="utf-8")):
            places = raw.get("places") or []
            if not places:
                continue
            stories.append(
                Story(
                    title=clean_line(raw.get("title") or ""),
                    body=clean_body(raw.get("body") or ""),
                    dateline=clean_line(raw.get("dateline") or ""),
                    labels=frozenset(place_to_iso(p) for p in places),
                )
            )
            if limit and len(stories) >= limit:
                return stories
    return stories


def with_dateline(story: Story) -> str:
    return f"{story.dateline} {story.body}".strip() if story.dateline else story.body


def micro(pairs: Sequence[tuple[frozenset[str], Sequence[str]]]) -> tuple[float, float, float]:
    hit = sum(len(gold & set(found)) for gold, found in pairs)
    found_n = sum(len(set(found)) for _, found in pairs)
    gold_n = sum(len(gold) for gold, _ in pairs)
    p = hit / found_n if found_n else 0.0
    r = hit / gold_n if gold_n else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


Tagger = Callable[[str, str], Sequence[str]]


def run(stories: list[Story], tagger: Tagger, dateline: bool) -> tuple[float, ...]:
    pairs = []
    start = time.perf_counter()
    for story in stories:
        body = with_dateline(story) if dateline else story.body
        pairs.append((story.labels, tagger(story.title, body)))
    ms = (time.perf_counter() - start) * 1000 / max(1, len(stories))
    return (*micro(pairs), ms)


def geotext_taggers() -> list[tuple[str, Tagger]]:
    """geotext two ways: all its country mentions (names plus the countries of the
    cities it finds), and country names only."""
    try:
        from geotext import GeoText
    except ImportError:
        return []

    def mentions(title: str, body: str) -> list[str]:
        return list(GeoText(f"{title}\n{body}").country_mentions)

    def names(title: str, body: str) -> list[str]:
        codes = []
        for name in GeoText(f"{title}\n{body}").countries:
            try:
                code = pycountry.countries.lookup(name).alpha_2
            except LookupError:
                continue
            if code not in codes:
                codes.append(code)
        return codes

    return [("geotext", mentions), ("geotext names", names)]


def report(data: Path, limit: int | None) -> None:
    tagger = CountryTagger()

    def ours(title: str, body: str) -> list[str]:  # countries only: groupings are not places
        return split_codes(tagger.tag(title, body))[0]

    systems: list[tuple[str, Tagger]] = [("ours", ours), *geotext_taggers()]
    if len(systems) == 1:
        print("geotext is not installed (pip install geotext): its rows are skipped")
    print(f"{'split':9} {'system':24} {'P':>6} {'R':>6} {'F1':>6} {'ms/art':>7} {'stories':>8}")
    for split, files in (("dev", DEV), ("held-out", HELD_OUT)):
        stories = load(data, files, limit)
        for name, tag in systems:
            for dateline in (False, True):
                label = name + (" +dateline" if dateline else "")
                p, r, f1, ms = run(stories, tag, dateline)
                print(
                    f"{split:9} {label:24} {p:6.3f} {r:6.3f} {f1:6.3f} {ms:7.3f} {len(stories):8}"
                )


def tune(data: Path, limit: int | None) -> None:
    """Grid search on the dev split only; prints the best settings for both variants."""
    stories = load(data, DEV, limit)
    base = CountryTagger()
    evidence = {
        dateline: [
            (s.labels, base.evidence(s.title, with_dateline(s) if dateline else s.body))
            for s in stories
        ]
        for dateline in (False, True)
    }
    grid = {
        "dateline_weight": (2.0, 3.0),
        "lead_weight": (1.0, 1.5, 2.0),
        "rest_weight": (0.2, 0.4, 0.6),
        "rest_cap": (2.0, 4.0),
        "min_score": (1.0, 1.2, 1.5),
        "min_ratio": (0.2, 0.3, 0.4),
    }
    results = []
    for values in itertools.product(*grid.values()):
        settings = dict(zip(grid, values, strict=True))
        tagger = CountryTagger(**settings)
        f1s = [
            micro([(gold, tagger.select(found)) for gold, found in evidence[dateline]])[2]
            for dateline in (False, True)
        ]
        results.append((sum(f1s) / 2, f1s, settings))
    results.sort(key=lambda item: -item[0])
    for mean, (plain, dated), settings in results[:10]:
        print(f"mean {mean:.4f}  plain {plain:.4f}  +dateline {dated:.4f}  {settings}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="reuters21578-dev folder")
    parser.add_argument("--limit", type=int, default=None, help="at most N stories per split")
    parser.add_argument("--tune", action="store_true", help="grid search on the dev split")
    args = parser.parse_args(argv)
    if not (args.data / "reut2-000.json").exists():
        parser.error(f"no reut2-000.json in {args.data}")
    places = (args.data / "all-places-strings.lc.txt").read_text().split()
    unmapped = []
    for place in places:
        try:
            place_to_iso(place)
        except LookupError:
            unmapped.append(place)
    if unmapped:
        parser.error(f"Reuters places without an ISO code: {unmapped}")
    if args.tune:
        tune(args.data, args.limit)
    else:
        report(args.data, args.limit)


if __name__ == "__main__":
    main()
