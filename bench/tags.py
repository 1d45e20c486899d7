"""Country and topic tags through the real ingest pipeline, against Reuters labels (issue 3).

Ingests Reuters stories (title, body, date, dateline: the fields a Reuters JSON
file carries) with `Corpus.ingest`, then compares the stored tags with the human
labels: country micro-P/R/F1 against `places` (Reuters codes mapped to ISO),
and the `trade` topic against `topics: trade`, beside a plain keyword baseline
(any of tariff/trade/import/export/dumping/quota in title or body) computed on
the same stories. Also reports how much tagging adds to ingest time.

    python bench/tags.py --files 7-13 --stories 3000
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from countries import place_to_iso
from data import DEFAULT_DATA, reuters_stories, write_reuters_jsonl
from retrieval_bench import parse_range

from retrieval import Corpus, load_settings
from retrieval.embed import load_encoder
from retrieval.groupings import split_codes

BASELINE = re.compile(r"\b(tariff|trade|import|export|dumping|quota)s?\b", re.IGNORECASE)


def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--files", type=parse_range, default=parse_range("7-13"))
    ap.add_argument("--stories", type=int, default=3000)
    ap.add_argument("--out", type=Path, default=Path("bench/out/tags.json"))
    args = ap.parse_args()

    stories = []
    for s in reuters_stories(args.data / "reuters21578-dev", args.files):
        if s.get("title") or s.get("body"):
            stories.append(s)
        if len(stories) >= args.stories:
            break
    tmp = Path(tempfile.mkdtemp(prefix="briefbot-tags-"))
    export = write_reuters_jsonl(stories, tmp / "reuters.jsonl")
    encoder = load_encoder()
    encoder.encode(["warm up"])
    corpus = Corpus(load_settings(data_dir=tmp / "data"), encoder=encoder)
    corpus.tagger  # noqa: B018 - build the taggers before timing
    t = time.perf_counter()
    corpus.ingest([str(export)], progress=True)
    ingest_s = time.perf_counter() - t
    t = time.perf_counter()
    corpus.retag(progress=False)
    retag_s = time.perf_counter() - t

    rows = corpus.store._db.execute("SELECT id, external_id FROM articles").fetchall()
    articles = corpus.store.articles([r[0] for r in rows])
    by_ext = {a.external_id: a for a in articles.values()}
    ctp = cfp = cfn = 0
    ttp = tfp = tfn = 0
    btp = bfp = bfn = 0
    scored = 0
    for s in stories:
        art = by_ext.get(s["attrs"]["newid"])
        if art is None:  # a duplicate of an earlier story
            continue
        scored += 1
        gold = {place_to_iso(p) for p in s.get("places") or []} - {""}
        if gold:
            got = set(split_codes(art.countries)[0])  # groupings: bench/groupings.py
            ctp += len(got & gold)
            cfp += len(got - gold)
            cfn += len(gold - got)
        is_trade = "trade" in (s.get("topics") or [])
        ours = "trade" in art.topics
        base = bool(BASELINE.search(f"{s.get('title') or ''} {s.get('body') or ''}"))
        ttp += ours and is_trade
        tfp += ours and not is_trade
        tfn += is_trade and not ours
        btp += base and is_trade
        bfp += base and not is_trade
        bfn += is_trade and not base
    result = {
        "stories": scored,
        "files": f"{args.files.start}-{args.files.stop - 1}",
        "countries": prf(ctp, cfp, cfn),
        "trade": prf(ttp, tfp, tfn),
        "trade_keyword_baseline": prf(btp, bfp, bfn),
        "trade_labelled": ttp + tfn,
        "ingest_seconds": ingest_s,
        "tagging_seconds_retag_all": retag_s,
        "tagging_share_of_ingest": retag_s / ingest_s,
        "topic_counts": dict(corpus.store.topic_counts()),
    }
    print(f"{scored} Reuters stories (files {result['files']}), {result['trade_labelled']} trade")
    for name in ("countries", "trade", "trade_keyword_baseline"):
        m = result[name]
        print(f"{name:<24} P {m['precision']:.3f}  R {m['recall']:.3f}  F1 {m['f1']:.3f}")
    print(
        f"tagging (retag of all) {retag_s:.1f}s = {100 * retag_s / ingest_s:.1f}% of ingest"
        f" {ingest_s:.1f}s"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
