"""Extractive summary quality on BBC News Summary (issue 2).

For each article, `summarize` picks N sentences, N = the reference summary's
sentence count; ROUGE-1/2/L F1 against the human extractive reference, side
by side with Lead-N and sumy's LexRank and TextRank computed in the same run
over the same sentences (sumy gets our sentence splitter through its document
model, since NLTK's punkt data cannot be downloaded here).

    python bench/summaries.py --limit 600
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from data import DEFAULT_DATA, bbc_pairs

from retrieval import Corpus, load_settings
from retrieval.loaders import RawArticle, parse_plain_text
from retrieval.text import split_sentences, words


class OurTokenizer:
    """What sumy needs from a tokenizer, backed by our splitter (no NLTK data)."""

    language = "english"

    def to_sentences(self, text: str) -> list[str]:
        return [text[s:e] for s, e in split_sentences(text)]

    def to_words(self, sentence: str) -> list[str]:
        return words(sentence)


def sumy_pick(kind: str, sentences: list[str], n: int) -> list[str]:
    from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence
    from sumy.nlp.stemmers import Stemmer
    from sumy.summarizers.lex_rank import LexRankSummarizer
    from sumy.summarizers.text_rank import TextRankSummarizer
    from sumy.utils import get_stop_words

    tok = OurTokenizer()
    doc = ObjectDocumentModel([Paragraph([Sentence(s, tok) for s in sentences])])
    cls = LexRankSummarizer if kind == "lexrank" else TextRankSummarizer
    summarizer = cls(Stemmer("english"))
    summarizer.stop_words = get_stop_words("english")
    chosen = {str(s) for s in summarizer(doc, n)}
    return [s for s in sentences if s in chosen]


def body_sentences(text: str) -> list[str]:
    item = next(i for i in parse_plain_text(text, "bbc") if isinstance(i, RawArticle))
    return [item.body[s:e] for s, e in split_sentences(item.body)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--limit", type=int, default=0, help="articles (0 = all)")
    ap.add_argument("--every", type=int, default=1, help="take every k-th article")
    ap.add_argument("--out", type=Path, default=Path("bench/out/summaries.json"))
    args = ap.parse_args()
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    corpus = Corpus(load_settings(data_dir=Path(tempfile.mkdtemp()) / "d"))
    pairs = list(bbc_pairs(args.data / "bbc-news-summary-dev"))[:: args.every]
    if args.limit:
        pairs = pairs[: args.limit]
    methods = ("briefbot", "lead-n", "lexrank", "textrank")
    scores: dict[str, list[tuple[float, float, float]]] = {m: [] for m in methods}
    t0 = time.perf_counter()
    for pair in pairs:
        sents = body_sentences(pair["text"])
        reference = pair["summary"]
        n = sum(1 for s in sents if s in reference) or 1
        picks = {
            "briefbot": corpus.summarize_text(pair["text"], n),
            "lead-n": sents[:n],
            "lexrank": sumy_pick("lexrank", sents, n),
            "textrank": sumy_pick("textrank", sents, n),
        }
        for m, chosen in picks.items():
            s = scorer.score(reference, " ".join(chosen))
            scores[m].append((s["rouge1"].fmeasure, s["rouge2"].fmeasure, s["rougeL"].fmeasure))
    elapsed = time.perf_counter() - t0
    table = {
        m: dict(zip(("rouge1", "rouge2", "rougeL"), np.mean(v, axis=0).tolist(), strict=True))
        for m, v in scores.items()
    }
    print(f"{len(pairs)} BBC articles ({elapsed:.0f}s)")
    print(f"{'method':<10}{'R-1':>8}{'R-2':>8}{'R-L':>8}")
    for m, v in table.items():
        print(f"{m:<10}{v['rouge1']:>8.4f}{v['rouge2']:>8.4f}{v['rougeL']:>8.4f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"articles": len(pairs), "rouge": table}, indent=1))


if __name__ == "__main__":
    main()
