"""Known-item retrieval, abstention and ingest overhead on Reuters-21578 (issue 2).

Reuters bodies are ingested WITHOUT titles; each story's title, in sentence
case, is asked as a question. We report MRR@10 / recall@1 / recall@10 of
`ask`'s ranked articles against three baselines computed in the same run:
BM25 (bm25s), plain MiniLM + exact FAISS over whole bodies, and their
reciprocal-rank fusion. Abstention: BBC sport/entertainment/tech headlines
(off-corpus) should abstain, the Reuters titles (on-corpus) should not.
Ingest overhead: time of the whole ingest divided by raw `model.encode` on
exactly the texts the pipeline embedded.

    python bench/retrieval_bench.py --stories 3000 --files 7-13
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from data import DEFAULT_DATA, bbc_headline, bbc_pairs, reuters_stories, sentence_case

from retrieval import Corpus, load_settings
from retrieval.embed import load_encoder
from retrieval.identity import content_key
from retrieval.text import clean_body


def parse_range(text: str) -> range:
    lo, _, hi = text.partition("-")
    return range(int(lo), int(hi or lo) + 1)


def pick_stories(folder: Path, files: range, limit: int) -> list[dict]:
    seen, out = set(), []
    for story in reuters_stories(folder, files):
        title, body = (story.get("title") or "").strip(), (story.get("body") or "").strip()
        if not title or len(body) < 80:
            continue
        key = content_key("", clean_body(body))
        if key in seen:
            continue
        seen.add(key)
        out.append(
            {"id": story["attrs"]["newid"], "title": title, "body": body, "date": story.get("date")}
        )
        if len(out) >= limit:
            break
    return out


def mrr_at_10(ranked: list[list[str]], gold: list[str]) -> dict[str, float]:
    rr, r1, r10 = [], [], []
    for ranks, g in zip(ranked, gold, strict=True):
        top = ranks[:10]
        pos = top.index(g) + 1 if g in top else 0
        rr.append(1 / pos if pos else 0.0)
        r1.append(pos == 1)
        r10.append(pos > 0)
    return {
        "mrr@10": float(np.mean(rr)),
        "recall@1": float(np.mean(r1)),
        "recall@10": float(np.mean(r10)),
    }


def rrf(*rankings: list[list[str]], k: int = 60) -> list[list[str]]:
    fused = []
    for lists in zip(*rankings, strict=True):
        score: dict[str, float] = {}
        for ranks in lists:
            for r, doc in enumerate(ranks):
                score[doc] = score.get(doc, 0.0) + 1.0 / (k + r + 1)
        fused.append(sorted(score, key=lambda d: -score[d]))
    return fused


def baselines(stories: list[dict], questions: list[str], reference) -> dict[str, list[list[str]]]:
    import bm25s
    import faiss

    ids = [s["id"] for s in stories]
    bodies = [clean_body(s["body"]) for s in stories]
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(bodies, stopwords="en", show_progress=False), show_progress=False
    )
    docs, _ = retriever.retrieve(
        bm25s.tokenize(questions, stopwords="en", show_progress=False), k=100, show_progress=False
    )
    bm25 = [[ids[j] for j in row] for row in docs]
    model = reference._model  # plain sentence-transformers fp32: whole bodies, truncated
    t = time.perf_counter()
    dvec = model.encode(bodies, batch_size=32, normalize_embeddings=True)
    print(f"  baseline body encoding: {time.perf_counter() - t:.1f}s", file=sys.stderr)
    index = faiss.IndexFlatIP(dvec.shape[1])
    index.add(np.ascontiguousarray(dvec, dtype=np.float32))
    qvec = model.encode(questions, batch_size=64, normalize_embeddings=True)
    _, hits = index.search(np.ascontiguousarray(qvec, dtype=np.float32), 100)
    dense = [[ids[j] for j in row] for row in hits]
    return {"bm25s": bm25, "minilm-faiss": dense, "rrf(bm25s, minilm)": rrf(bm25, dense)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument(
        "--files",
        type=parse_range,
        default=parse_range("0-13"),
        help="reut2 file numbers, e.g. 7-13",
    )
    ap.add_argument("--stories", type=int, default=3000)
    ap.add_argument("--off-corpus", type=int, default=600, help="BBC headlines to ask")
    ap.add_argument("--out", type=Path, default=Path("bench/out/retrieval.json"))
    args = ap.parse_args()

    stories = pick_stories(args.data / "reuters21578-dev", args.files, args.stories)
    questions = [sentence_case(s["title"]) for s in stories]
    gold = [s["id"] for s in stories]
    print(
        f"{len(stories)} Reuters stories (files {args.files.start}-{args.files.stop - 1})",
        file=sys.stderr,
    )

    tmp = Path(tempfile.mkdtemp(prefix="briefbot-bench-"))
    export = tmp / "reuters.jsonl"
    with export.open("w") as fh:
        for s in stories:  # bodies only: titles are the questions
            fh.write(json.dumps({"id": s["id"], "body": s["body"], "date": s["date"]}) + "\n")
    settings = load_settings(data_dir=tmp / "data")
    encoder = load_encoder(
        settings.embedding.backend, settings.embedding.batch_size, cache_dir=tmp / "models"
    )
    encoder.encode(["warm up"])
    corpus = Corpus(settings, encoder=encoder)

    t = time.perf_counter()
    report = corpus.ingest([str(export)], progress=True)
    ingest_s = time.perf_counter() - t
    texts = [r[0] for r in corpus.store._db.execute("SELECT text FROM sentences ORDER BY id")]
    t = time.perf_counter()
    encoder.encode(texts)
    raw_s = time.perf_counter() - t  # the pipeline's own encoder, alone, on the same texts
    reference = load_encoder("sentence-transformers", settings.embedding.batch_size)
    t = time.perf_counter()
    reference._model.encode(
        texts, batch_size=settings.embedding.batch_size, normalize_embeddings=True
    )
    st_fp32_s = time.perf_counter() - t
    print(f"  ingest {ingest_s:.1f}s, raw encode {raw_s:.1f}s", file=sys.stderr)

    ext_of = {}
    for aid, ext in corpus.store._db.execute("SELECT id, external_id FROM articles"):
        ext_of[aid] = ext
    ours, answered, latencies, on_rel = [], [], [], []
    for q in questions:
        t = time.perf_counter()
        result = corpus.ask(q, limit=10)
        latencies.append(time.perf_counter() - t)
        ours.append([ext_of[r.article.id] for r in result.articles])
        answered.append(not result.answer.abstained)
        on_rel.append(result.answer.relevance)

    off = [
        bbc_headline(p["text"])
        for p in bbc_pairs(args.data / "bbc-news-summary-dev", ("sport", "entertainment", "tech"))
    ]
    rng = np.random.default_rng(0)
    off = [off[i] for i in rng.permutation(len(off))[: args.off_corpus]]
    off_results = [corpus.ask(q, limit=5).answer for q in off]
    off_abstained = [a.abstained for a in off_results]
    off_rel = [a.relevance for a in off_results]

    table = {"briefbot ask": mrr_at_10(ours, gold)}
    for name, ranked in baselines(stories, questions, reference).items():
        table[name] = mrr_at_10(ranked, gold)
    bar = table["rrf(bm25s, minilm)"]["mrr@10"]
    result = {
        "stories": len(stories),
        "files": f"{args.files.start}-{args.files.stop - 1}",
        "retrieval": table,
        "ours_vs_fusion": table["briefbot ask"]["mrr@10"] - bar,
        "on_corpus_answered": float(np.mean(answered)),
        "off_corpus_abstained": float(np.mean(off_abstained)),
        "off_corpus_questions": len(off),
        "ingest_seconds": ingest_s,
        "raw_encode_seconds": raw_s,
        "ingest_over_raw_encode": ingest_s / raw_s,
        "encoder": encoder.backend,
        "st_fp32_encode_seconds": st_fp32_s,
        "ingest_speedup_vs_st_fp32": st_fp32_s / ingest_s,
        "embedded_texts": len(texts),
        "added": report.added,
        "warm_ask_ms_p50": 1000 * statistics.median(latencies),
        "warm_ask_ms_p95": 1000 * float(np.percentile(latencies, 95)),
        "abstain_sweep": {  # threshold: [on-corpus answered, off-corpus abstained]
            f"{t:.3f}": [
                float(np.mean(np.array(on_rel) >= t)),
                float(np.mean(np.array(off_rel) < t)),
            ]
            for t in np.arange(0.30, 0.66, 0.025)
        },
        "relevance": {"on": on_rel, "off": off_rel},
    }
    print(f"\n{'method':<22}{'MRR@10':>8}{'R@1':>8}{'R@10':>8}")
    for name, m in table.items():
        print(f"{name:<22}{m['mrr@10']:>8.4f}{m['recall@1']:>8.4f}{m['recall@10']:>8.4f}")
    print(f"\nours - fusion: {result['ours_vs_fusion']:+.4f}")
    print(
        f"on-corpus answered {result['on_corpus_answered']:.3f}, off-corpus abstained"
        f" {result['off_corpus_abstained']:.3f} ({len(off)} BBC headlines)"
    )
    print(
        f"ingest {ingest_s:.1f}s vs raw encode {raw_s:.1f}s of the same {len(texts)} texts:"
        f" ratio {result['ingest_over_raw_encode']:.3f} ({encoder.backend});"
        f" sentence-transformers fp32 on the same texts {st_fp32_s:.1f}s:"
        f" ingest is {result['ingest_speedup_vs_st_fp32']:.2f}x faster"
    )
    print(
        f"warm ask p50 {result['warm_ask_ms_p50']:.1f} ms, p95 {result['warm_ask_ms_p95']:.1f} ms"
        f" ({len(stories)} articles)"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
