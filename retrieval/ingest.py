"""The ingest pipeline: loaders -> dedupe -> sentences -> vectors -> store + index.

Deduplication happens before embedding, so re-ingesting or adding a few
articles to a large corpus embeds only what is new. Each batch is embedded,
then committed to SQLite in one transaction, then added to the FAISS index.
Three stages overlap: a worker thread parses and splits, another embeds batch
N+1, and the caller's thread tags and stores batch N (SQLite stays on it), then
runs `after_batch` (the corpus's story assignment and BM25 postings for it). The
ends of a run are where a core sits idle, so the first batch is small (the encoder
starts while the rest is parsed) and the last articles go in shrinking pieces, all
queued at once (the one store nothing overlaps is a small one).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from queue import Full, Queue
from typing import TypeVar

import numpy as np

from .embed import Encoder
from .identity import content_key, dedupe_keys
from .index import SentenceIndex
from .progress import IngestProgress
from .records import Item, Note, RawArticle, Skipped
from .storage import ArticleStore, PreparedArticle, SentenceRow
from .text import split_sentences

log = logging.getLogger(__name__)
# Vectors one article may add. A 1 M-character body (the loaders' cap) is ~10,000
# sentences; one such file would crowd every search with near-identical hits and cost the
# embedding time of a thousand articles. 2,000 is past the longest news features (a
# 20,000-word long read is ~1,000 sentences); the rest of a longer body is dropped.
MAX_SENTENCES = 2_000
# A batch is embedded in chunks of this many texts, so progress counts embedded articles
# as they go (a 1,024-article batch is ~20,000 texts); large enough that the encoder's
# own batching by length still fills its batches.
EMBED_CHUNK = 4096
# The first batch is small, so the encoder starts while the rest is still parsed.
FIRST_BATCH = 128
# When the input ends, what is left is embedded in shrinking pieces (a quarter of the
# rest each time, down to about this many articles): storing one piece overlaps
# embedding the next, so the store that nothing overlaps, at the very end, is short.
TAIL_PIECE = 64

Tagger = Callable[[PreparedArticle, np.ndarray], None]
T = TypeVar("T")


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0  # stored articles whose file, URL or id came again with new content
    duplicates: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    articles: int = 0
    embedded: int = 0

    def to_json(self) -> dict:
        return {
            "added": self.added,
            "updated": self.updated,
            "duplicates": self.duplicates,
            "skipped": [{"source": s.source, "reason": s.reason} for s in self.skipped],
            "notes": [{"source": n.source, "note": n.note} for n in self.notes],
            "articles": self.articles,
            "embedded_texts": self.embedded,
        }


class IngestInterrupted(KeyboardInterrupt):
    """Ctrl-C during ingest: what was committed stays; `report` says how much."""

    def __init__(self, report: IngestReport, kept: int) -> None:
        super().__init__()
        self.report = report
        self.kept = kept  # articles added or updated before the interrupt


def prepare(raw: RawArticle, encoder: Encoder) -> PreparedArticle:
    """Split into the units we embed: the title (unless derived) and every body sentence.

    A sentence longer than the model's token window is cut into windows at
    token boundaries, so no text is silently dropped by truncation. Past
    `MAX_SENTENCES` units the body is cut after the last sentence kept, so the
    stored body is what was embedded (`_prepared` notes the cut).
    """
    rows: list[SentenceRow] = []
    if not raw.title_derived:
        rows.append(SentenceRow(-1, None, None, raw.title))
    position, body = 0, raw.body
    for start, end in split_sentences(raw.body):
        windows = encoder.windows(raw.body[start:end])
        if position + len(windows) > MAX_SENTENCES:
            body = raw.body[: rows[-1].end] if position else ""
            break
        for w_start, w_end in windows:
            s, e = start + w_start, start + w_end
            rows.append(SentenceRow(position, s, e, raw.body[s:e]))
            position += 1
    if not rows:  # a derived title with an unsplittable body: embed the title anyway
        rows.append(SentenceRow(-1, None, None, raw.title))
    return PreparedArticle(
        title=raw.title,
        body=body,
        content_key=content_key(raw.title, body),
        title_derived=raw.title_derived,
        url=raw.url,
        published=raw.published,
        source=raw.source,
        origin=raw.origin,
        external_id=raw.external_id,
        dateline=raw.dateline,
        date_source=raw.date_source,
        location=raw.location,
        sentences=rows,
    )


class _Batch:
    """Articles waiting to be embedded, with dedupe keys for them and the batch in flight.

    The batch being embedded is not in SQLite yet, so `store.is_duplicate` cannot see it.
    """

    def __init__(self) -> None:
        self.articles: list[PreparedArticle] = []
        self.keys: set[str] = set()
        self.in_flight: set[str] = set()

    def seen(self, art: PreparedArticle) -> bool:
        keys = dedupe_keys(art.content_key, art.url, art.ext_key)
        if art.location:
            keys.add(f"l:{art.location}")
        if art.replaces is not None:  # one new version per stored article and run
            keys.add(f"r:{art.replaces}")
        if keys & self.keys or keys & self.in_flight:
            return True
        self.keys |= keys
        return False

    def take(self) -> list[PreparedArticle]:
        """Hand the articles over for embedding; their keys stay until the next take."""
        articles, self.articles = self.articles, []
        self.in_flight, self.keys = self.keys, set()
        return articles


def ingest(
    items: Iterable[Item],
    store: ArticleStore,
    index: SentenceIndex,
    encoder: Encoder,
    *,
    batch_articles: int = 1024,
    tagger: Tagger | None = None,
    after_batch: Callable[[], None] | None = None,
    warm_up: Callable[[], object] | None = None,
    progress: bool | None = None,
) -> IngestReport:
    """Add every new article among `items` (from `loaders.load` or a feed poller).

    `after_batch` runs on this thread after each batch is committed, while the next one
    is embedded (the corpus assigns the new articles to stories there): work left for
    the end would run on one core after the encoder is done with both. `warm_up` runs on
    the embedding thread once the first new article is found, before its batch (the
    corpus builds its topic tagger there, which compiles and runs the encoder), so it
    overlaps parsing that batch instead of holding up the first store.

    Bad items are reported, never fatal. Ctrl-C raises `IngestInterrupted` at once,
    without waiting for the batch being embedded: the batches committed before it stay,
    those in flight are dropped (a re-run adds them).
    """
    report = IngestReport()
    batch = _Batch()
    shown = IngestProgress(progress)
    embedding = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-embed")
    # Batches handed to the embedding thread, oldest first, with their vectors to come.
    pending: deque[tuple[list[PreparedArticle], Future[np.ndarray]]] = deque()
    warmed: Future[object] | None = None
    before = store.count_articles()

    def store_pending() -> None:
        """Tag and store the oldest batch in flight once its vectors are ready."""
        articles, future = pending.popleft()
        vectors = future.result()
        if warmed is not None:
            warmed.result()  # done before the vectors (one thread, in order); raises its error
        # Named before SQLite and FAISS touch it: a native crash is traced to its batch.
        log.info("storing batch %s", _describe(articles))
        if tagger is not None:
            row = 0
            for art in articles:
                tagger(art, vectors[row : row + len(art.sentences)])
                row += len(art.sentences)
        replaced = store.sentence_ids([a.replaces for a in articles if a.replaces is not None])
        ids, owners = store.add_batch(articles, vectors)
        updates = sum(a.replaces is not None for a in articles)
        report.added += len(articles) - updates  # counted as soon as committed
        report.updated += updates
        report.embedded += len(vectors)
        index.remove(replaced)
        index.add(ids, vectors, owners)
        shown.add_stored(len(articles))
        if after_batch is not None:
            after_batch()

    def submit(articles: list[PreparedArticle]) -> None:
        log.info("embedding batch %s", _describe(articles))  # before the encoder's native code
        pending.append((articles, embedding.submit(_embed, encoder, articles, shown)))

    try:
        limit = min(batch_articles, FIRST_BATCH)
        for item in in_background(_prepared(items, encoder)):
            if isinstance(item, Skipped):
                log.info("skipped %s: %s", item.source, item.reason)
                report.skipped.append(item)
                continue
            if isinstance(item, Note):
                log.info("%s: %s", item.source, item.note)
                report.notes.append(item)
                continue
            art = item
            shown.parsed_one()
            found = store.match(art)
            if found is not None and found[0] == "update":
                art.replaces = found[1]
            if (found is not None and found[0] == "duplicate") or batch.seen(art):
                report.duplicates += 1
                continue
            if warm_up is not None and warmed is None:
                warmed = embedding.submit(warm_up)
            batch.articles.append(art)
            if len(batch.articles) >= limit:
                submit(batch.take())
                limit = batch_articles
                while len(pending) > 1:  # the batch before, stored while this one is embedded
                    store_pending()
        # All queued at once: the encoder never waits for a store to hand it the next one.
        for piece in tail_pieces(batch.take()):
            submit(piece)
        while pending:
            store_pending()
    except KeyboardInterrupt:
        embedding.shutdown(wait=False, cancel_futures=True)  # the encoder cannot be stopped
        shown.close()
        report.articles = store.count_articles()
        # The count, not `report.added`: a batch may have committed just before the signal.
        kept = report.articles - before + report.updated
        raise IngestInterrupted(report, kept) from None
    embedding.shutdown(wait=True)
    shown.close()
    report.articles = store.count_articles()
    return report


def tail_pieces(articles: list[PreparedArticle]) -> list[list[PreparedArticle]]:
    """The input's last articles as shrinking pieces: three quarters of what is left,
    then three quarters of the rest, until about `TAIL_PIECE` remain.

    Embedding a piece takes a few times longer than storing as many (story assignment
    included), so each piece covers the store of the one before it.
    """
    pieces = []
    while len(articles) > 2 * TAIL_PIECE:
        cut = len(articles) - len(articles) // 4
        pieces.append(articles[:cut])
        articles = articles[cut:]
    if articles:
        pieces.append(articles)
    return pieces


def _embed(encoder: Encoder, articles: list[PreparedArticle], shown: IngestProgress) -> np.ndarray:
    """The vectors of a batch's texts, in `EMBED_CHUNK`s, counting embedded articles."""
    texts = [row.text for art in articles for row in art.sentences]
    ends = np.cumsum([len(art.sentences) for art in articles])
    done = shown.embedded
    parts = []
    for start in range(0, len(texts), EMBED_CHUNK):
        parts.append(encode_unique(encoder, texts[start : start + EMBED_CHUNK]))
        finished = int(np.searchsorted(ends, start + len(parts[-1]), side="right"))
        shown.set_embedded(done + finished)
    return np.concatenate(parts) if parts else np.zeros((0, encoder.dim), np.float32)


def _describe(articles: list[PreparedArticle]) -> str:
    """A batch as the log names it: its size and its first and last article's origin."""
    first, last = articles[0], articles[-1]
    sentences = sum(len(a.sentences) for a in articles)
    return (
        f"of {len(articles)} articles, {sentences} sentences:"
        f" {first.origin or first.title[:60]!r} … {last.origin or last.title[:60]!r}"
    )


def encode_unique(encoder: Encoder, texts: list[str]) -> np.ndarray:
    """Encode each distinct text once: news repeats boilerplate sentences."""
    position: dict[str, int] = {}
    rows = [position.setdefault(text, len(position)) for text in texts]
    if len(position) == len(texts):
        return encoder.encode(texts)
    return encoder.encode(list(position))[rows]


def _prepared(
    items: Iterable[Item], encoder: Encoder
) -> Iterator[PreparedArticle | Skipped | Note]:
    for item in items:
        if not isinstance(item, RawArticle):
            yield item
            continue
        for text in item.notes:  # those `loaders.load` has not reported (the feed poller's)
            yield Note(item.origin, text)
        art = prepare(item, encoder)
        if len(art.body) < len(item.body):
            kept = sum(row.position >= 0 for row in art.sentences)
            limit = f"the limit is {MAX_SENTENCES:,}"
            yield Note(item.origin, f"body cut after {kept:,} sentences ({limit})")
        yield art


def in_background(items: Iterable[T], depth: int = 512) -> Iterator[T]:
    """Produce `items` in a worker thread, `depth` ahead of the consumer.

    Parsing and sentence splitting are pure Python; the encoder releases the GIL while it
    runs, so preparing the next batch overlaps embedding this one instead of leaving the
    CPU idle between batches. Errors in the worker are re-raised here; closing the
    generator stops the worker.
    """
    done = object()
    queue: Queue = Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        queue.put(item, timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(done)
        except BaseException as exc:  # handed to the consumer
            queue.put(exc)

    worker = threading.Thread(target=work, name="ingest-prepare", daemon=True)
    worker.start()
    try:
        while True:
            item = queue.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def rebuild_index(store: ArticleStore, index: SentenceIndex, after_id: int = 0) -> int:
    """Add the store's vectors with ids above `after_id` to `index`; returns how many."""
    added = 0
    for ids, owners, vectors in store.iter_vectors(after_id):
        index.add(ids, vectors, owners)
        added += len(ids)
    return added
