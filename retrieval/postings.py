"""FTS5's BM25 computed from postings held in memory (numpy), kept in step with SQLite.

FTS5 finds and scores matches one row at a time in its own B-tree; at 100k articles
that is most of an ask (bench/lexical.py). These postings give the same scores, from
the same tokens, with a few vector operations per question word:

- **The same tokens.** Nothing here re-implements FTS5's tokenizer. Postings are read
  from FTS5 itself (`fts5vocab` rows of the store's table, or of an in-memory table with
  the same tokenizer for new rows), and a question word is turned into its token the
  same way (remembered per word).
- **The same formula.** `bm25()` of `sqlite3/ext/fts5/fts5_aux.c`: per question word
  idf * f (k1 + 1) / (f + k1 (1 - b + b D / avgdl)), f the column-weighted count of the
  token in the row, D the row's tokens in all columns, idf = ln((N - n + 0.5) /
  (n + 0.5)) (1e-6 where not positive), N, n and avgdl over the whole table even under a
  filter; words are summed in question order, so scores match FTS5's to the last bit
  (tests/test_postings.py).
- **In step with SQLite**, the source of truth: a search first reads any articles added
  since (ids above the newest held); `refresh(ids)` re-reads or drops changed and removed
  articles. The saved file names the articles it holds (count, id sum, newest id); on
  load, one that disagrees with the store is rebuilt, one that is only behind catches up.

Postings live in two CSR blocks by token: a large one and a small one for recent rows,
merged when the small one grows. Removed rows are masked until the next merge.
Readers take an immutable `_State`; writers build the next one and swap it in.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sqlite3
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import wording
from .atomic import replacing
from .npzmap import mapped_npz, read_ahead
from .progress import StepProgress

log = logging.getLogger(__name__)

K1, B = 1.2, 0.75  # FTS5's bm25() constants
FORMAT = 1  # of the saved file; another value is rebuilt
MERGE_SHARE = 0.125  # the recent block is merged into the large one past this share of it
CHUNK = 2_000  # rows tokenized at a time when catching up
MASKS_KEPT = 4  # filters whose row masks are kept

TOKENIZER = "porter unicode61"  # the store's articles_fts tokenizer
COLUMNS = ("title", "lead", "body")


@dataclass(frozen=True)
class _Block:
    """Postings by token: token t's rows are rows[offsets[t]:offsets[t + 1]]."""

    offsets: np.ndarray  # int64, one more than the tokens it covers
    rows: np.ndarray  # int32 positions into _State's per-row arrays
    freqs: np.ndarray  # float32 column-weighted counts

    @classmethod
    def empty(cls) -> _Block:
        return cls(np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32))

    def of(self, token: int) -> tuple[np.ndarray, np.ndarray]:
        if token + 1 >= len(self.offsets):
            return self.rows[:0], self.freqs[:0]
        a, b = self.offsets[token], self.offsets[token + 1]
        return self.rows[a:b], self.freqs[a:b]

    @property
    def size(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class _State:
    articles: np.ndarray  # int64 article id of each row position
    lengths: np.ndarray  # float64 tokens in all columns
    alive: np.ndarray  # bool; False once removed (dropped at the next merge)
    large: _Block
    recent: _Block
    rows_alive: int
    tokens_alive: float
    newest: int  # the largest article id ever held


def _empty_state() -> _State:
    z = np.zeros(0, np.int64)
    return _State(z, z.astype(np.float64), z.astype(bool), _Block.empty(), _Block.empty(), 0, 0, 0)


class Postings:
    """BM25 over the store's `articles_fts`, from postings in memory."""

    def __init__(self, connection: Callable[[], sqlite3.Connection], weights: Sequence[float]):
        self._connection = connection  # this thread's connection to the store
        self.weights = tuple(float(w) for w in weights)
        self._vocab: dict[str, int] = {}  # token -> token number; grows only
        self._words: dict[str, int | None] = {}  # question word -> token number (None: phrase)
        self._state = _empty_state()
        self._masks: list[tuple[np.ndarray, _State, np.ndarray]] = []  # see _admits
        self._write = threading.Lock()
        self.dirty = False

    # --- searching -------------------------------------------------------------------------
    def search(
        self, words: list[str], limit: int, admitted: np.ndarray | None = None
    ) -> list[tuple[int, float]] | None:
        """(article id, BM25 score) best first, as FTS5 ranks `"w1" OR "w2" ...`; None when a
        word is more than one token (a phrase, which FTS5 must match)."""
        self.catch_up()
        tokens = [self._token(w) for w in words]
        if any(t is None for t in tokens):
            return None
        s = self._state
        if s.rows_alive == 0 or limit <= 0:
            return []
        n, avgdl = float(s.rows_alive), s.tokens_alive / s.rows_alive
        mask = s.alive if admitted is None else s.alive & self._admits(s, admitted)
        parts_rows, parts_scores = [], []
        for t in tokens:
            if t < 0:  # a token no row holds
                continue
            rows, freqs = _concat(s.large.of(t), s.recent.of(t))
            live = s.alive[rows]
            hits = int(np.count_nonzero(live))
            if hits == 0:
                continue
            idf = math.log((n - hits + 0.5) / (hits + 0.5))
            if idf <= 0.0:
                idf = 1e-6
            keep = mask[rows]
            rows, f = rows[keep], freqs[keep].astype(np.float64)
            d = s.lengths[rows]
            parts_rows.append(rows)
            parts_scores.append(idf * ((f * (K1 + 1.0)) / (f + K1 * (1 - B + B * d / avgdl))))
        if not parts_rows:
            return []
        rows = np.concatenate(parts_rows)
        # bincount adds each row's contributions in question-word order, as FTS5 does.
        scores = np.bincount(rows, weights=np.concatenate(parts_scores), minlength=len(s.alive))
        found = np.flatnonzero(scores)  # every contribution is positive
        if len(found) > limit:
            cut = np.argpartition(-scores[found], limit - 1)[:limit]
            top = scores[found[cut]]
            # ties at the cut: keep every row scoring the limit's score, then order.
            found = found[scores[found] >= top.min()]
        ids = s.articles[found]
        order = np.lexsort((ids, -scores[found]))[:limit]
        return [(int(ids[i]), float(scores[found[i]])) for i in order]

    def document_frequency(self, word: str) -> int | None:
        """Articles holding `word`'s token (None when it is a phrase)."""
        self.catch_up()
        t = self._token(word)
        if t is None:
            return None
        if t < 0:
            return 0
        s = self._state
        rows, _ = _concat(s.large.of(t), s.recent.of(t))
        return int(np.count_nonzero(s.alive[rows]))

    @property
    def articles(self) -> int:
        """How many articles the postings hold (after catching up with the store)."""
        self.catch_up()
        return self._state.rows_alive

    def _admits(self, s: _State, admitted: np.ndarray) -> np.ndarray:
        """Bool per row position: is its article in `admitted`? The last few answers are
        kept: the store hands out the same read-only array while a filter's ids stand."""
        for kept in self._masks:
            if kept[0] is admitted and kept[1] is s:
                return kept[2]
        top = int(s.articles.max()) if len(s.articles) else 0
        lookup = np.zeros(top + 1, bool)
        wanted = np.asarray(admitted, dtype=np.int64)
        lookup[wanted[(wanted >= 0) & (wanted <= top)]] = True
        mask = lookup[s.articles]
        if not wanted.flags.writeable:  # a caller's array could change under us
            self._masks = [*self._masks[-(MASKS_KEPT - 1) :], (admitted, s, mask)]
        return mask

    def _token(self, word: str) -> int | None:
        """The token number of a question word (-1: no row holds it; None: several tokens)."""
        if word in self._words:
            t = self._words[word]
        else:
            toks = self._tokens_of(word)
            t = self._vocab.get(toks[0], -2) if len(toks) == 1 else None
            if len(self._words) > 100_000:
                self._words = {}
            if t != -2:  # a token unknown today may arrive with the next article
                self._words[word] = t
        if t is None:
            return None
        return t if t >= 0 else -1

    # --- keeping in step with the store ----------------------------------------------------
    def catch_up(self) -> int:
        """Read the articles added to the store since the newest held; how many were read."""
        db = self._connection()
        newest = db.execute("SELECT coalesce(max(id), 0) FROM articles").fetchone()[0]
        if newest <= self._state.newest:
            return 0
        with self._write:
            added, shown = 0, None
            try:
                while True:
                    rows = db.execute(
                        "SELECT rowid, title, lead, body FROM articles_fts WHERE rowid > ?"
                        " ORDER BY rowid LIMIT ?",
                        (self._state.newest, CHUNK),
                    ).fetchall()
                    if not rows:
                        return added
                    if shown is None and len(rows) == CHUNK:  # more than one chunk: a build
                        shown = StepProgress(_postings_line, self._pending(db, added))
                    self._add(rows)
                    added += len(rows)
                    if shown is not None:
                        shown.update(added)
                    if rows[-1][0] >= newest:
                        return added
            finally:
                if shown is not None:
                    shown.close()

    def _pending(self, db: sqlite3.Connection, read: int) -> int:
        """Articles to read in this catch-up (`read` so far): a progress line's total."""
        q = "SELECT count(*) FROM articles WHERE id > ?"
        return read + db.execute(q, (self._state.newest,)).fetchone()[0]

    def refresh(self, article_ids: Iterable[int]) -> None:
        """Drop these articles and read again those still in the store: what the store's
        writer calls after updating or removing articles (ids above the newest held are
        read by `catch_up` anyway)."""
        ids = np.unique(np.fromiter((int(a) for a in article_ids), np.int64))
        if not len(ids):
            return
        with self._write:
            s = self._state
            gone = np.isin(s.articles, ids) & s.alive
            if gone.any():
                alive = s.alive & ~gone
                self._state = replace(
                    s,
                    alive=alive,
                    rows_alive=int(alive.sum()),
                    tokens_alive=float(s.lengths[alive].sum()),
                )
                self.dirty = True
            old = [int(a) for a in ids if a <= s.newest]
            db = self._connection()
            for k in range(0, len(old), 500):
                keys = old[k : k + 500]
                rows = db.execute(
                    "SELECT rowid, title, lead, body FROM articles_fts WHERE rowid IN"
                    f" ({','.join('?' * len(keys))}) ORDER BY rowid",
                    keys,
                ).fetchall()
                if rows:
                    self._add(rows, newest=self._state.newest)
            # Only the newest held counts as seen: SQLite gives a removed newest article's
            # id to the next one added, which `catch_up` must then read.
            s = self._state
            held = s.articles[s.alive]
            self._state = replace(s, newest=int(held.max()) if len(held) else 0)

    def _add(self, rows: list[tuple], newest: int | None = None) -> None:
        """Tokenize FTS rows (rowid, title, lead, body) and add them (under the write lock)."""
        s = self._state
        rowids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        terms, docs, counts, weighted = self._counts(rows)
        vocab = self._vocab
        tokens = np.fromiter((vocab.setdefault(t, len(vocab)) for t in terms), np.int64, len(terms))
        positions = np.searchsorted(rowids, docs)  # FTS rows come in rowid order
        lengths = np.bincount(positions, weights=counts, minlength=len(rows))
        new = _block(tokens, (positions + len(s.articles)).astype(np.int32), weighted, len(vocab))
        state = replace(
            s,
            articles=np.concatenate([s.articles, rowids]),
            lengths=np.concatenate([s.lengths, lengths]),
            alive=np.concatenate([s.alive, np.ones(len(rows), bool)]),
            recent=_merge(s.recent, new, len(vocab)),
            rows_alive=s.rows_alive + len(rows),
            tokens_alive=s.tokens_alive + float(lengths.sum()),
            newest=max(s.newest, int(rowids[-1])) if newest is None else newest,
        )
        if state.recent.size > MERGE_SHARE * max(state.large.size, 1):
            state = _compacted(state, len(vocab))
        self._state = state
        self.dirty = True

    def _counts(self, rows: list[tuple]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """Each (token, row) pair of `rows`: the token, the rowid, its count in all columns
        and its column-weighted count; tokenized by a fresh in-memory FTS5 table with the
        store's tokenizer."""
        db = sqlite3.connect(":memory:", isolation_level=None)
        try:
            _create_scratch(db)
            db.executemany("INSERT INTO t(rowid, title, lead, body) VALUES (?,?,?,?)", rows)
            w = self.weights
            out = db.execute(
                "SELECT term, doc, count(*),"
                f" sum(CASE col WHEN 'title' THEN {w[0]} WHEN 'lead' THEN {w[1]} ELSE {w[2]} END)"
                " FROM v GROUP BY term, doc"
            ).fetchall()
        finally:
            db.close()
        if not out:
            z = np.zeros(0)
            return [], z.astype(np.int64), z, z.astype(np.float32)
        terms, docs, counts, weighted = zip(*out, strict=True)
        return (
            list(terms),
            np.array(docs, np.int64),
            np.array(counts, np.float64),
            np.array(weighted, np.float32),
        )

    def _tokens_of(self, word: str) -> list[str]:
        """FTS5's tokens of one question word, in order."""
        with _scratch() as db:
            db.execute("INSERT INTO t(rowid, title, lead, body) VALUES (1, ?, '', '')", (word,))
            out = db.execute('SELECT term FROM v ORDER BY "offset"').fetchall()
            db.execute("DELETE FROM t")
        return [r[0] for r in out]

    # --- the saved file --------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Catch up with the store, then write the postings atomically (`replacing`); the
        file names the articles it holds, for `load` to check."""
        self.catch_up()
        with self._write:
            s = self._state
            arrays = {
                "articles": s.articles,
                "lengths": s.lengths,
                "alive": s.alive,
                "large_offsets": s.large.offsets,
                "large_rows": s.large.rows,
                "large_freqs": s.large.freqs,
                "recent_offsets": s.recent.offsets,
                "recent_rows": s.recent.rows,
                "recent_freqs": s.recent.freqs,
                "vocab": np.frombuffer("\n".join(self._vocab).encode(), np.uint8),
                "meta": np.array([FORMAT, s.newest, *_summary(s)], np.int64),
                "weights": np.array(self.weights, np.float64),
            }
            with replacing(path) as tmp, tmp.open("wb") as fh:
                np.savez(fh, **arrays)
            self.dirty = False

    def load(self, path: Path) -> bool:
        """Take the saved postings if they agree with the store (then catch up); False when
        missing, unreadable, from another format or not the store's articles."""
        if not path.exists():
            return False
        try:
            z = mapped_npz(path)  # paged in as searches touch it, read ahead meanwhile
            read_ahead(path)
            fmt, newest, count, id_sum = (int(x) for x in z["meta"])
            weights = tuple(float(w) for w in z["weights"])
            if fmt != FORMAT or weights != self.weights:
                raise ValueError("written by another version")
            vocab = bytes(z["vocab"]).decode().split("\n") if len(z["vocab"]) else []
            blocks = [
                _Block(z[f"{b}_offsets"], z[f"{b}_rows"], z[f"{b}_freqs"])
                for b in ("large", "recent")
            ]
            alive = z["alive"]
            state = _State(
                z["articles"],
                z["lengths"],
                alive,
                *blocks,
                int(alive.sum()),
                float(z["lengths"][alive].sum()),
                newest,
            )
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            log.warning("lexical postings at %s are unreadable (%s): rebuilding", path, exc)
            return False
        if _summary(state) != (count, id_sum):
            log.warning("lexical postings at %s are damaged: rebuilding", path)
            return False
        have = (
            self._connection()
            .execute("SELECT count(*), coalesce(sum(id), 0) FROM articles WHERE id <= ?", (newest,))
            .fetchone()
        )
        if tuple(have) != (count, id_sum):
            log.warning("lexical postings at %s do not match the store: rebuilding", path)
            return False
        with self._write:
            self._vocab = {t: i for i, t in enumerate(vocab)}
            self._words = {}
            self._state = state
            self.dirty = False
        return True


def _postings_line(done: int, total: int, seconds: float) -> str:
    return wording.text("cli.progress.postings", done=done, total=total, seconds=seconds)


def _summary(s: _State) -> tuple[int, int]:
    """(count, id sum) of the articles held, to check the saved file against the store."""
    return int(s.alive.sum()), int(s.articles[s.alive].sum())


def _concat(*parts: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    if not len(parts[1][0]):
        return parts[0]
    if not len(parts[0][0]):
        return parts[1]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _block(tokens: np.ndarray, rows: np.ndarray, freqs: np.ndarray, vocab: int) -> _Block:
    """Postings grouped by token, rows in the order given within each token."""
    order = np.argsort(tokens, kind="stable")
    offsets = np.zeros(vocab + 1, np.int64)
    np.cumsum(np.bincount(tokens, minlength=vocab), out=offsets[1:])
    return _Block(offsets, rows[order], freqs[order])


def _tokens(b: _Block) -> np.ndarray:
    return np.repeat(np.arange(len(b.offsets) - 1, dtype=np.int64), np.diff(b.offsets))


def _merge(a: _Block, b: _Block, vocab: int) -> _Block:
    """One block of both (a's rows first within a token)."""
    return _block(
        np.concatenate([_tokens(a), _tokens(b)]),
        np.concatenate([a.rows, b.rows]),
        np.concatenate([a.freqs, b.freqs]),
        vocab,
    )


def _compacted(s: _State, vocab: int) -> _State:
    """Every posting in the large block, removed rows dropped and positions renumbered."""
    both = _merge(s.large, s.recent, vocab)
    keep = s.alive[both.rows]
    renumber = np.cumsum(s.alive, dtype=np.int64) - 1
    tokens = _tokens(both)[keep]
    rows = renumber[both.rows[keep]].astype(np.int32)
    large = _block(tokens, rows, both.freqs[keep], vocab)
    return replace(
        s,
        articles=s.articles[s.alive],
        lengths=s.lengths[s.alive],
        alive=np.ones(int(s.alive.sum()), bool),
        large=large,
        recent=_Block.empty(),
    )


_scratch_lock = threading.Lock()
_scratch_db: list[sqlite3.Connection] = []


def _create_scratch(db: sqlite3.Connection) -> None:
    db.execute(f"CREATE VIRTUAL TABLE t USING fts5({', '.join(COLUMNS)}, tokenize='{TOKENIZER}')")
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")


@contextlib.contextmanager
def _scratch() -> Iterator[sqlite3.Connection]:
    """An in-memory FTS5 table with the store's tokenizer, for one question word at a time:
    a word is tokenized exactly as the store's table does it. One per process."""
    with _scratch_lock:
        if not _scratch_db:
            db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            _create_scratch(db)
            _scratch_db.append(db)
        yield _scratch_db[0]
