"""Grouping tags (EU, OPEC, GATT, IMF, World Bank, ...) against Reuters `orgs` labels (issue 16).

For every story, tag title + dateline + body as ingest does (retrieval/tagging.py)
and compare the grouping tags with the human `orgs` labels mapped to grouping codes
(micro P/R/F1 over (story, grouping) pairs, on every story: no label means "not about
it"), beside an acronym-match baseline on the same stories: a grouping is tagged when
its acronym ("EC", "EEC", "OPEC", "GATT", "IMF", "World Bank", ...) appears anywhere.
Only the groupings Reuters labels are scored.

Country micro-F1 against `places` is reported on the same stories three times: with
the grouping logic off (no grouping tags, no seat rule: what tagging did before
groupings), on, and on without the seat rule (a grouping's seat, "BRUSSELS -", still
counting for the host country), so a loss and its cause are visible.

    python bench/groupings.py --files 0-6          # dev split (thresholds tuned here)
    python bench/groupings.py --files 7-13         # held out
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from countries import place_to_iso
from data import DEFAULT_DATA, reuters_stories
from retrieval_bench import parse_range

from retrieval.countries import CountryTagger
from retrieval.groupings import is_grouping
from retrieval.text import clean_body, clean_line

ORGS = {
    "ec": "EU",
    "opec": "OPEC",
    "gatt": "WTO",
    "imf": "IMF",
    "worldbank": "WBG",
    "gcc": "GCC",
    "asean": "ASEAN",
    "oecd": "OECD",
}
ACRONYMS = {
    "EU": r"EC|EEC|EU",
    "OPEC": r"OPEC",
    "WTO": r"GATT|WTO",
    "IMF": r"IMF",
    "WBG": r"World Bank",
    "GCC": r"GCC",
    "ASEAN": r"ASEAN",
    "OECD": r"OECD",
}
BASELINE = {code: re.compile(rf"\b(?:{pattern})\b") for code, pattern in ACRONYMS.items()}


class Counts:
    def __init__(self) -> None:
        self.tp = self.fp = self.fn = 0

    def add(self, got: set[str], gold: set[str]) -> None:
        self.tp += len(got & gold)
        self.fp += len(got - gold)
        self.fn += len(gold - got)

    def prf(self) -> dict[str, float]:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def story_text(s: dict) -> tuple[str, str]:
    """(headline, body) as ingest hands them to the tagger: the dateline before the body."""
    title = clean_line(s.get("title") or "")
    body = clean_body(s.get("body") or "")
    dateline = clean_line(s.get("dateline") or "").rstrip(" -")
    return title, f"{dateline} - {body}" if dateline else body


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--files", type=parse_range, default=parse_range("0-6"))
    ap.add_argument("--out", type=Path, default=Path("bench/out/groupings.json"))
    ap.add_argument("--errors", type=int, default=0, help="print this many misses")
    args = ap.parse_args()

    on, off, no_seats = CountryTagger(), CountryTagger(groupings=False), CountryTagger(seats=False)
    ours, base = Counts(), Counts()
    countries_on, countries_off, countries_no_seats = Counts(), Counts(), Counts()
    per: dict[str, tuple[Counts, Counts]] = {code: (Counts(), Counts()) for code in ACRONYMS}
    stories = labelled = 0
    shown = 0
    for s in reuters_stories(args.data / "reuters21578-dev", args.files):
        title, body = story_text(s)
        if not title and not body:
            continue
        stories += 1
        gold = {ORGS[o] for o in s.get("orgs") or [] if o in ORGS}
        labelled += bool(gold)
        tags = on.tag(title, body)
        got = {c for c in tags if c in ACRONYMS}
        text = f"{title}\n{body}"
        guessed = {code for code, rx in BASELINE.items() if rx.search(text)}
        ours.add(got, gold)
        base.add(guessed, gold)
        for code, (mine, theirs) in per.items():
            mine.add(got & {code}, gold & {code})
            theirs.add(guessed & {code}, gold & {code})
        places = {place_to_iso(p) for p in s.get("places") or []} - {""}
        if places:
            countries_on.add({c for c in tags if not is_grouping(c)}, places)
            countries_off.add(set(off.tag(title, body)), places)
            countries_no_seats.add(
                {c for c in no_seats.tag(title, body) if not is_grouping(c)}, places
            )
        if args.errors and got != gold and shown < args.errors:
            shown += 1
            print(f"--- gold {sorted(gold)} got {sorted(got)}: {title[:90]}")
    result = {
        "files": f"{args.files.start}-{args.files.stop - 1}",
        "stories": stories,
        "stories_with_grouping_labels": labelled,
        "groupings": ours.prf(),
        "groupings_acronym_baseline": base.prf(),
        "per_grouping": {
            code: {"ours": mine.prf(), "baseline": theirs.prf(), "labels": mine.tp + mine.fn}
            for code, (mine, theirs) in per.items()
        },
        "countries_groupings_off": countries_off.prf(),
        "countries_groupings_on": countries_on.prf(),
        "countries_groupings_on_no_seat_rule": countries_no_seats.prf(),
    }
    print(f"{stories} Reuters stories (files {result['files']}), {labelled} with grouping labels")
    for name in (
        "groupings",
        "groupings_acronym_baseline",
        "countries_groupings_off",
        "countries_groupings_on",
        "countries_groupings_on_no_seat_rule",
    ):
        m = result[name]
        print(f"{name:<36} P {m['precision']:.3f}  R {m['recall']:.3f}  F1 {m['f1']:.3f}")
    for code, row in result["per_grouping"].items():
        print(
            f"  {code:<6} labels {row['labels']:>4}  F1 {row['ours']['f1']:.3f}"
            f"  baseline {row['baseline']['f1']:.3f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
