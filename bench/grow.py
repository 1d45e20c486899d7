"""Grow a data directory to ~100k articles from a real one, for the scale benchmarks.

`build` copies a source data dir's SQLite store (made by `bench/latency.py`) and
replicates its articles until `articles`: each copy gets new ids, distinct keys (`#copyN`
suffix), the same tags and FTS row, publication dates shifted back by `SHIFT_DAYS` per
copy (date windows stay selective), and its sentences with their vectors perturbed to a
mean cosine of `TARGET_COSINE` to the source (near-duplicates, as wire stories are).
`rebuild` deletes the index files and times the rebuild from SQLite that opening a
`Corpus` does. Used by `bench/scale.py` and `bench/postgres.py`.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, os.environ.get("BRIEFBOT_CODE") or str(Path(__file__).resolve().parent.parent))

from tqdm import tqdm

from retrieval import Corpus, load_settings
from retrieval.corpus import DB_NAME, INDEX_NAME
from retrieval.dates import isoformat
from retrieval.index import ids_path, meta_path

TARGET_COSINE = 0.9  # mean cosine between a source vector and its perturbed copy
SHIFT_DAYS = 45  # each copy is published this many days before the previous one
CHUNK_ARTICLES = 1000  # source articles per transaction
BUILD_INFO = "scale-build.json"

ARTICLE_COLUMNS = (
    "id, ext_key, external_id, url, content_key, title, title_derived, body,"
    " source, origin, dateline, published, added, dated"
)


def sigma_for(cosine: float, dim: int) -> float:
    """Per-dimension noise giving unit vectors this expected cosine to their noisy copy:
    |noise|^2 ~ dim * sigma^2, and cos = 1 / sqrt(1 + dim * sigma^2)."""
    return float(np.sqrt((1 / cosine**2 - 1) / dim))


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def index_files(data_dir: Path) -> list[Path]:
    path = data_dir / INDEX_NAME
    return [path, ids_path(path), meta_path(path)]


def shifted(value: str | None, days: int) -> str | None:
    if not value:  # None, or '' (an undated article's `dated`)
        return value
    return isoformat(datetime.fromisoformat(value) - timedelta(days=days))


def suffixed(value: str | None, copy: int) -> str | None:
    return None if value is None else f"{value}#copy{copy}"


def copied(row: tuple, copy: int, id_offset: int, days: int) -> tuple:
    """An `ARTICLE_COLUMNS` row as copy number `copy`: new id and keys, dates moved on."""
    aid, ext_key, external_id, url, content_key, *text_and_source, published, added, dated = row
    keys = (suffixed(v, copy) for v in (ext_key, external_id, url, content_key))
    return (
        aid + id_offset,
        *keys,
        *text_and_source,  # title, title_derived, body, source, origin, dateline
        shifted(published, days),
        added,
        shifted(dated, days),
    )


def build(source: Path, out: Path, articles: int, seed: int) -> dict:
    """Copy `source`'s store into `out` and replicate its articles up to `articles`."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / DB_NAME
    tmp = out / (DB_NAME + ".building")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
        leftover.unlink(missing_ok=True)
    t0 = time.perf_counter()
    # Read-only, and immutable when no WAL is pending: SQLite then creates no -wal/-shm
    # files beside the source (opening a WAL database read-only otherwise does).
    wal = source / f"{DB_NAME}-wal"
    immutable = "&immutable=1" if not wal.exists() or wal.stat().st_size == 0 else ""
    src = sqlite3.connect(f"file:{source / DB_NAME}?mode=ro{immutable}", uri=True)
    db = sqlite3.connect(tmp, isolation_level=None)
    src.backup(db)
    src.close()
    copy_s = time.perf_counter() - t0
    # A scratch file renamed into place only when complete: no journal needed meanwhile.
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-262144")  # 256 MB

    base_ids = [r[0] for r in db.execute("SELECT id FROM articles ORDER BY id")]
    art_stride = db.execute("SELECT max(id) FROM articles").fetchone()[0]
    sent_stride = db.execute("SELECT max(id) FROM sentences").fetchone()[0]
    base_sentences = db.execute("SELECT count(*) FROM sentences").fetchone()[0]
    dim = int(db.execute("SELECT value FROM meta WHERE key='dim'").fetchone()[0])
    sigma = sigma_for(TARGET_COSINE, dim)
    rng = np.random.default_rng(seed)

    plan: list[tuple[int, list[int]]] = []  # (copy number, source article ids)
    remaining, copy = articles - len(base_ids), 0
    while remaining > 0:
        copy += 1
        if remaining >= len(base_ids):
            chosen = base_ids
        else:  # the last, partial copy: a random sample, so the Reuters/BBC mix holds
            chosen = sorted(rng.choice(base_ids, remaining, replace=False).tolist())
        plan.append((copy, chosen))
        remaining -= len(chosen)

    cos_sum, cos_n, added_sentences = 0.0, 0, 0
    t1 = time.perf_counter()
    with tqdm(total=sum(len(c) for _, c in plan), desc="replicate", unit=" articles") as bar:
        for copy, chosen in plan:
            a_off, s_off, days = copy * art_stride, copy * sent_stride, copy * SHIFT_DAYS
            for start in range(0, len(chosen), CHUNK_ARTICLES):
                ids = chosen[start : start + CHUNK_ARTICLES]
                marks = ",".join("?" * len(ids))
                db.execute("BEGIN")
                rows = db.execute(
                    f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE id IN ({marks})", ids
                ).fetchall()
                db.executemany(
                    f"INSERT INTO articles ({ARTICLE_COLUMNS}) VALUES ({','.join('?' * 14)})",
                    [copied(row, copy, a_off, days) for row in rows],
                )
                db.execute(
                    "INSERT INTO articles_fts(rowid, title, lead, body)"
                    f" SELECT rowid + ?, title, lead, body FROM articles_fts"
                    f" WHERE rowid IN ({marks})",
                    [a_off, *ids],
                )
                for table, cols in (
                    ("article_countries", "code, rank"),
                    ("article_topics", "topic, score"),
                ):
                    db.execute(
                        f"INSERT INTO {table} SELECT article_id + ?, {cols} FROM {table}"
                        f" WHERE article_id IN ({marks})",
                        [a_off, *ids],
                    )
                sents = db.execute(
                    "SELECT id, article_id, position, start, end, text, vector FROM sentences"
                    f" WHERE article_id IN ({marks}) ORDER BY id",
                    ids,
                ).fetchall()
                if sents:
                    v = np.frombuffer(b"".join(r[6] for r in sents), np.float32)
                    v = v.reshape(len(sents), dim)
                    w = v + sigma * rng.standard_normal(v.shape, dtype=np.float32)
                    w /= np.linalg.norm(w, axis=1, keepdims=True)
                    cos_sum += float(np.einsum("ij,ij->", v, w))
                    cos_n += len(sents)
                    db.executemany(
                        "INSERT INTO sentences (id, article_id, position, start, end, text,"
                        " vector) VALUES (?,?,?,?,?,?,?)",
                        [
                            (r[0] + s_off, r[1] + a_off, r[2], r[3], r[4], r[5], vec.tobytes())
                            for r, vec in zip(sents, w, strict=True)
                        ],
                    )
                    added_sentences += len(sents)
                db.execute("COMMIT")
                bar.update(len(ids))
    replicate_s = time.perf_counter() - t1
    db.execute("PRAGMA journal_mode=WAL")  # what the store runs in
    total_articles = db.execute("SELECT count(*) FROM articles").fetchone()[0]
    total_sentences = db.execute("SELECT count(*) FROM sentences").fetchone()[0]
    db.close()
    os.replace(tmp, target)
    return {
        "source": str(source),
        "source_articles": len(base_ids),
        "source_sentences": base_sentences,
        "articles": total_articles,
        "sentences": total_sentences,
        "copies": len(plan),
        "last_copy_articles": len(plan[-1][1]) if plan else 0,
        "sigma": sigma,
        "mean_cosine_copy_to_source": cos_sum / max(cos_n, 1),
        "shift_days_per_copy": SHIFT_DAYS,
        "sqlite_copy_seconds": copy_s,
        "replicate_seconds": replicate_s,
        "build_seconds": time.perf_counter() - t0,
        "added_sentences": added_sentences,
        "load_avg_after": load_avg(),
    }


def rebuild(out: Path) -> dict:
    """Delete the index files and time the rebuild from SQLite that opening a Corpus does."""
    for path in index_files(out):
        path.unlink(missing_ok=True)
    before = load_avg()
    t = time.perf_counter()
    with Corpus(load_settings(data_dir=out)) as corpus:
        seconds = time.perf_counter() - t
        kind, vectors = corpus.index.kind, corpus.index.ntotal
    return {
        "seconds": seconds,
        "kind": kind,
        "vectors": vectors,
        "index_bytes": sum(p.stat().st_size for p in index_files(out)),
        "load_avg_before": before,
        "load_avg_after": load_avg(),
    }
