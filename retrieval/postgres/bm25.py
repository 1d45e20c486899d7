"""BM25 postings in PostgreSQL: FTS5's tokens and formula, as `retrieval.postings` has them.

`ts_rank` reads every matching row's document, so ranking costs grow with the matches
(at 100k articles one question ranked ~19k documents: most of an ask). Here each
article's tokens are counted once, when it is written, into `postings` rows (term,
article, column-weighted count, the article's token count), and a search reads only
its words' rows through the covering index on (term, article_id): a few thousand index
entries, summed per article in one query.

- **The same tokens as the embedded engine.** Articles and question words are tokenized
  by an in-memory SQLite FTS5 table with the store's tokenizer (`postings.TOKENIZER`):
  not PostgreSQL's parser, so both engines match the same words.
- **The same formula.** FTS5's bm25() (see `retrieval.postings`): per word idf * f (k1 +
  1) / (f + k1 (1 - b + b D / avgdl)), f weighted title 2, lead 1, body 1
  (`lexical.BM25_WEIGHTS`), N, n and avgdl over every article even under a filter. Both
  engines therefore rank alike (up to the last bits of the sums' order).
- **Kept in the article's transaction**: `write` in `add_batch` (an update deletes the
  old rows first); removing an article cascades to its rows. `lexical_docs` holds each
  article's token count and says which articles have postings: `fill_missing` adds them
  for the others (a copied corpus, a database from before the postings).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence

import psycopg

from ..lexical import BM25_WEIGHTS
from ..postings import COLUMNS, K1, TOKENIZER, B
from ..storage import LEAD_SENTENCES

log = logging.getLogger(__name__)

FILL_CHUNK = 2_000  # articles tokenized per round when filling in postings
REBUILD_FROM = 20_000  # filling in more articles than this rebuilds the term index after
TERM_INDEX = (
    "CREATE INDEX IF NOT EXISTS postings_by_term ON postings(term, article_id)"
    " INCLUDE (freq, tokens)"
)
Document = tuple[int, str, str, str]  # article id, title ('' when derived), lead, body


def document_terms(docs: Sequence[Document]) -> tuple[list[tuple], list[tuple[int, int]]]:
    """Postings rows (term, article id, weighted count, article tokens) and (article id,
    tokens) of `docs`, tokenized as the SQLite store's FTS5 table does."""
    if not docs:
        return [], []
    w = BM25_WEIGHTS
    with _fresh_scratch() as db:
        db.executemany("INSERT INTO t(rowid, title, lead, body) VALUES (?,?,?,?)", docs)
        counts = db.execute(
            "SELECT term, doc, count(*),"
            f" sum(CASE col WHEN 'title' THEN {w[0]} WHEN 'lead' THEN {w[1]} ELSE {w[2]} END)"
            " FROM v GROUP BY term, doc"
        ).fetchall()
    lengths: dict[int, int] = {int(d[0]): 0 for d in docs}
    for _, doc, count, _ in counts:
        lengths[doc] += count
    rows = [(term, doc, float(f), lengths[doc]) for term, doc, _, f in counts]
    return rows, list(lengths.items())


def write(db: psycopg.Connection, docs: Sequence[Document], *, replace: bool = False) -> None:
    """The postings of `docs`, in the caller's transaction (`replace`: drop theirs first)."""
    if not docs:
        return
    if replace:
        ids = [int(d[0]) for d in docs]
        db.execute("DELETE FROM lexical_docs WHERE article_id = ANY(%s)", (ids,))
        db.execute("DELETE FROM postings WHERE article_id = ANY(%s)", (ids,))
    rows, lengths = document_terms(docs)
    with db.cursor().copy(
        "COPY lexical_docs (article_id, tokens) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["int8", "int4"])
        for row in lengths:
            copy.write_row(row)
    with db.cursor().copy(
        "COPY postings (term, article_id, freq, tokens) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["text", "int8", "float4", "int4"])
        for row in rows:
            copy.write_row(row)


def fill_missing(db: psycopg.Connection, progress: Callable[[int, int], None] | None = None) -> int:
    """Postings for every article without them, from its stored title, lead (its first
    body sentences, as ingest joined them) and body; in the caller's transaction."""
    missing = "NOT EXISTS (SELECT 1 FROM lexical_docs d WHERE d.article_id = a.id)"
    total = int(db.execute(f"SELECT count(*) FROM articles a WHERE {missing}").fetchone()[0])
    done, last = 0, 0
    rebuild = total > REBUILD_FROM
    if rebuild:  # one sort after the load: inserting millions of rows in term order is slower
        db.execute("DROP INDEX IF EXISTS postings_by_term")
    while done < total:
        docs = db.execute(
            "SELECT a.id, CASE WHEN a.title_derived THEN '' ELSE a.title END,"
            " coalesce((SELECT string_agg(s.text, ' ' ORDER BY s.position) FROM sentences s"
            "  WHERE s.article_id = a.id AND s.position >= 0 AND s.position < %s), ''), a.body"
            f" FROM articles a WHERE a.id > %s AND {missing} ORDER BY a.id LIMIT %s",
            (LEAD_SENTENCES, last, FILL_CHUNK),
        ).fetchall()
        if not docs:
            break
        write(db, docs)
        done += len(docs)
        last = int(docs[-1][0])
        if progress is not None:
            progress(done, total)
    if rebuild:
        db.execute("SET LOCAL maintenance_work_mem = '512MB'")
        db.execute(TERM_INDEX)
    if done:
        log.info("lexical postings filled in for %d articles", done)
    return done


def question_tokens(words: Sequence[str]) -> list[str]:
    """FTS5's tokens of the question's words, each once, in order."""
    out: list[str] = []
    with _shared_scratch() as db:
        for word in words:
            db.execute("INSERT INTO t(rowid, title, lead, body) VALUES (1, ?, '', '')", (word,))
            out += [r[0] for r in db.execute('SELECT term FROM v ORDER BY "offset"')]
            db.execute("DELETE FROM t")
    return list(dict.fromkeys(out))


def search_sql(admitted_sql: str | None, *, broad: bool = False) -> str:
    """The query ranking articles by BM25 over the postings of some tokens.

    Parameters: tokens (text[]), N, avgdl, [the admitted query's arguments], limit. Each
    token's n is counted over all its rows (index only). Under a filter, `broad` (it
    admits most articles) scores every match and then checks the best ones, in order,
    until `limit` are admitted; otherwise the admitted ids are listed once and hashed.
    (Inlined either way, the filter ran once per posting.)
    """
    head = (
        # MATERIALIZED: each word's n is counted once, not again for each of its rows.
        "WITH q AS MATERIALIZED (SELECT t.term,"
        "  (SELECT count(*) FROM postings c WHERE c.term = t.term)::float8 n"
        "  FROM unnest(%s::text[]) t(term)),"
        " w AS MATERIALIZED (SELECT term, CASE WHEN x <= 0 THEN 1e-6 ELSE x END AS idf FROM"
        "  (SELECT term, ln((%s::float8 - n + 0.5) / (n + 0.5)) x FROM q WHERE n > 0) i),"
        " k AS (SELECT %s::float8 AS avgdl)"
    )
    score = (
        f"SELECT p.article_id, sum(w.idf * (p.freq * {K1 + 1.0!r}) / (p.freq + {K1!r}"
        f"  * ({1.0 - B!r} + {B!r} * p.tokens / k.avgdl))) AS s"
        " FROM w JOIN postings p ON p.term = w.term CROSS JOIN k"
    )
    order = " GROUP BY p.article_id ORDER BY s DESC, p.article_id"
    if admitted_sql is None:
        return f"{head} {score}{order} LIMIT %s"
    if broad:
        # A materialized CTE is read in its order, and a scalar subquery stays a check per
        # row (a join would not keep the order), so the LIMIT stops the checks early.
        return (
            f"{head}, ranked AS MATERIALIZED ({score}{order})"
            f" SELECT article_id, s FROM ranked WHERE (SELECT 1 FROM ({admitted_sql}) f"
            "  WHERE f.id = ranked.article_id LIMIT 1) = 1 LIMIT %s"
        )
    return (
        f"{head}, f(id) AS MATERIALIZED ({admitted_sql})"
        f" {score} WHERE p.article_id IN (SELECT id FROM f){order} LIMIT %s"
    )


def search_args(tokens: list[str], n: int, avgdl: float) -> list[object]:
    """The leading parameters of `search_sql` (then the admitted query's, then the limit)."""
    return [tokens, float(n), float(avgdl)]


# --- the FTS5 scratch tables ------------------------------------------------------------
_scratch_lock = threading.Lock()
_scratch_db: list[sqlite3.Connection] = []


def _create_scratch(db: sqlite3.Connection) -> None:
    db.execute(f"CREATE VIRTUAL TABLE t USING fts5({', '.join(COLUMNS)}, tokenize='{TOKENIZER}')")
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")


@contextlib.contextmanager
def _fresh_scratch() -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        _create_scratch(db)
        yield db
    finally:
        db.close()


@contextlib.contextmanager
def _shared_scratch() -> Iterator[sqlite3.Connection]:
    """One in-memory FTS5 table per process for question words (a few per ask)."""
    with _scratch_lock:
        if not _scratch_db:
            db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            _create_scratch(db)
            _scratch_db.append(db)
        yield _scratch_db[0]
