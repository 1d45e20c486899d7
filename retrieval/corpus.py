"""The composition root of the library: a store, its index and an encoder, opened together.

`Corpus` wires the one-way layers (loaders -> store/index -> search -> answer/summary)
and holds no logic of its own beyond opening, checking and closing them. The
CLI and the Discord bot both drive the library through it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from . import answer as answering
from . import stories as storying
from . import summarize as summarizing
from . import wording
from .blas import one_blas_thread
from .config import Settings
from .digest import Digest, DigestBuilder
from .embed import Encoder, is_prepared, load_encoder
from .engines import open_store, own_index
from .errors import BriefbotError, InputError, StoreError
from .filters import Filters
from .index import SentenceIndex
from .index import describe as describe_index
from .ingest import IngestReport, ingest, rebuild_index
from .lifecycle import Removal, remove_articles
from .loaders import Item, RawArticle, Skipped, load, parse_plain_text
from .lock import WriterLock, writing_if_free
from .question import analyse
from .scope import question_countries, weigh
from .script import foreign_script
from .search import RERANKED, Retrieval, load_texts, retrieve
from .storage import Article, Selection
from .tagging import ArticleTagger
from .text import split_sentences
from .timeframe import Timeframe, parse_published, reorder, timeframe

log = logging.getLogger(__name__)

DB_NAME = "briefbot.sqlite3"
INDEX_NAME = "sentences.faiss"
LEXICAL_NAME = "lexical.npz"  # BM25 postings in memory (`postings`), rebuilt from FTS5
# Feed polls rewrite the index file every time only while it is small; a large one is
# rewritten every INDEX_SAVE_INTERVAL (a crash is repaired from SQLite at the next start).
INDEX_ALWAYS_SAVE_BELOW = 100_000  # vectors
INDEX_SAVE_INTERVAL = 600.0  # seconds


@dataclass
class RankedArticle:
    article: Article
    score: float


@dataclass
class AskResult:
    answer: answering.Answer
    articles: list[RankedArticle]


@dataclass
class Stats:
    articles: int
    vectors: int
    index: str
    model: str | None
    backend: str | None
    data_dir: str
    last_ingest: str | None
    first_published: str | None
    last_published: str | None


class Corpus:
    def __init__(
        self,
        settings: Settings,
        encoder: Encoder | None = None,
        *,
        writer: WriterLock | None = None,
    ) -> None:
        """`writer`: the data dir's writer lock, held by a command that writes (see
        `retrieval.lock`); without it the corpus reads, and saves a repaired index only
        while no writer runs."""
        one_blas_thread()
        self.settings = settings
        self.data_dir = Path(settings.data_dir)
        self.writer = writer
        self.store = open_store(settings, self.data_dir / DB_NAME)
        self._encoder = encoder
        # Told (one line) before a slow one-time step, such as preparing the model.
        self.notice: Callable[[str], None] | None = None
        self._tagger: ArticleTagger | None = None
        self.index_path = self.data_dir / INDEX_NAME
        self.index = own_index(self.store) or self._open_index()
        self.store.lexical.use_postings(self.data_dir / LEXICAL_NAME)
        self._index_unsaved, self._saved_at = False, time.monotonic()

    # --- lifecycle ------------------------------------------------------------------------
    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            emb = self.settings.embedding
            if self.notice is not None and not is_prepared(emb.backend, cache_dir=self.model_cache):
                self.notice(wording.text("cli.model.preparing"))
            self._encoder = load_encoder(
                emb.backend, emb.batch_size, emb.threads, cache_dir=self.model_cache
            )
        return self._encoder

    @property
    def model_cache(self) -> Path:
        """Where the ONNX export and fidelity verdicts live: [embedding] cache_dir, or the
        user's cache directory, so the model is prepared once per machine, not per data dir."""
        from .embed import default_cache_dir

        configured = self.settings.embedding.cache_dir
        return Path(configured).expanduser() if configured else default_cache_dir()

    @property
    def tagger(self) -> ArticleTagger:
        if self._tagger is None:
            self._tagger = ArticleTagger(self.encoder)
        return self._tagger

    def flush(self) -> None:
        """Write the index if feed polls left it unsaved."""
        if self._index_unsaved:
            self.save_index()

    def close(self) -> None:
        try:
            self.flush()
            self.store.close()
        finally:
            if self.writer is not None:
                self.writer.release()

    def __enter__(self) -> Corpus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open_index(self) -> SentenceIndex:
        """Load the saved index and check it against SQLite; repair or rebuild when they differ."""
        model = self.store.get_meta("model") or ""
        backend = self.store.get_meta("backend") or ""
        dim = int(self.store.get_meta("dim") or 384)
        count, id_sum = self.store.vector_summary()
        exact_max = self.settings.index.exact_max_vectors
        # Mapped: a command that only reads pages in what its searches touch (`load`).
        loaded = SentenceIndex.load(self.index_path, exact_max=exact_max, mapped=True)
        if loaded is not None:
            index, meta = loaded
            same_model = (meta.model, meta.dim) == (model, dim)
            if same_model and index.ntotal == count and meta.id_sum == id_sum:
                if index.fit_size():
                    self._save_if_free(index)
                return index
            ids = index.ids()
            if same_model and index.ntotal < count and len(ids) and int(ids.sum()) == meta.id_sum:
                added = rebuild_index(self.store, index, after_id=int(ids.max()))
                if index.ntotal == count and int(index.ids().sum()) == id_sum:
                    log.warning("index was behind the store by %d vectors: repaired", added)
                    self._save_if_free(index)
                    return index
            log.warning(
                "index does not match the store (%d vectors vs %d): rebuilding from SQLite",
                index.ntotal,
                count,
            )
        elif count:
            log.warning("index missing or unreadable: rebuilding %d vectors from SQLite", count)
        index = SentenceIndex(dim, model, backend, exact_max=exact_max)
        if count:
            with index.filling(count):
                rebuild_index(self.store, index)
            self._save_if_free(index)
        return index

    def _save_if_free(self, index: SentenceIndex) -> None:
        """Save an index repaired at open, unless another process is writing: that writer
        saves its own (a reader's copy would miss what it adds), and a read-only data
        dir keeps the repair in memory."""
        with writing_if_free(self.data_dir, self.writer) as free:
            if free:
                index.save(self.index_path)

    # --- writing --------------------------------------------------------------------------
    def ingest(self, targets: list[str], progress: bool | None = None) -> IngestReport:
        """Add the articles found in files, folders and URLs."""
        items = load(
            targets, allow_private=self.settings.fetch.allow_private, exclude=self.data_dir
        )
        return self.ingest_items(items, progress)

    def ingest_items(
        self, items: Iterable[Item], progress: bool | None = None, *, save_index: bool = True
    ) -> IngestReport:
        """Add already-parsed items (e.g. from a feed poller); new ones are tagged and indexed.

        `save_index=False` (the bot's feed polls) writes the index file at most every
        `INDEX_SAVE_INTERVAL` seconds once it is large, and at `close()`: rewriting
        hundreds of MB for a few new headlines a minute is waste, and an index left
        behind by a crash is repaired from SQLite at the next start (only the missing
        vectors are added).
        """
        encoder = self.encoder
        self._check_model(encoder)
        before = self.index.ntotal
        try:
            report = self._ingest(items, encoder, progress)
        except BaseException:
            if self.index.ntotal != before:  # the batches committed before the failure
                self._save_after_failure()
            raise
        if report.added:
            storying.assign_new(self.store)  # any left (each batch's were assigned after it)
        if report.added or report.updated:
            self._index_unsaved = True
            large = self.index.ntotal > INDEX_ALWAYS_SAVE_BELOW
            if save_index or not large or time.monotonic() - self._saved_at > INDEX_SAVE_INTERVAL:
                self.save_index()
        return report

    def _ingest(
        self, items: Iterable[Item], encoder: Encoder, progress: bool | None
    ) -> IngestReport:
        return ingest(
            items,
            self.store,
            self.index,
            encoder,
            batch_articles=self.settings.index.batch_articles,
            tagger=lambda article, vectors: self.tagger(article, vectors),
            after_batch=self._after_batch,
            # The tagger embeds the topic examples: built on the embedding thread while
            # the first batch is parsed, not by the first store, behind the second batch.
            warm_up=lambda: self.tagger,
            progress=progress,
        )

    def _after_batch(self) -> None:
        """A batch is committed: its articles join stories or start them, and BM25 reads
        them, while the next batch is embedded."""
        storying.assign_new(self.store)
        self.store.lexical.catch_up()

    def _save_after_failure(self) -> None:
        """Save the vectors of the batches an interrupted ingest committed, so no command
        finds the index behind the store; if the disk refuses this too, the next writer
        repairs it from SQLite."""
        try:
            self.save_index()
        except (OSError, BriefbotError) as exc:
            log.warning("could not save the index after a failed ingest: %s", exc)

    def select(self, selection: Selection) -> list[Article]:
        """The articles `remove` would delete for `selection`, in id order."""
        ids = self.store.select_ids(selection)
        found = self.store.articles(ids)
        return [found[i] for i in ids if i in found]

    def remove(self, article_ids: list[int]) -> Removal:
        """Delete these articles from SQLite and their vectors from the index, and save it."""
        removal = remove_articles(self.store, self.index, article_ids)
        if removal.articles:
            self.save_index()
        return removal

    def save_index(self) -> None:
        self.index.save(self.index_path)
        self.store.lexical.save()
        self._index_unsaved, self._saved_at = False, time.monotonic()

    def retag(self, progress: bool | None = None) -> int:
        """Recompute every article's countries and topics (after editing topics or aliases)."""
        from tqdm import tqdm

        tagger = self.tagger
        done = 0
        with tqdm(
            total=self.store.count_articles(),
            desc="retag",
            unit=" articles",
            disable=None if progress is None else not progress,
        ) as bar:
            for chunk in self.store.iter_for_tagging():
                tags = []
                for aid, title, body, dateline, derived, vectors in chunk:
                    countries, topics = tagger.tags(title, body, dateline, derived, vectors)
                    tags.append((aid, countries, topics))
                self.store.replace_tags(tags)
                done += len(tags)
                bar.update(len(tags))
        return done

    def _check_model(self, encoder: Encoder) -> None:
        """Vectors of one store come from one model. Backends may mix: every selectable
        backend passed the fidelity check against the fp32 reference (cosine >= 0.999),
        so their vectors are interchangeable; which ones wrote is recorded and logged."""
        model, backends = self.store.get_meta("model"), self.store.get_meta("backend")
        if model is None:
            self.store.set_meta("model", encoder.name)
            self.store.set_meta("backend", encoder.backend)
            self.store.set_meta("dim", str(encoder.dim))
            self.index = own_index(self.store) or SentenceIndex(
                encoder.dim,
                encoder.name,
                encoder.backend,
                exact_max=self.settings.index.exact_max_vectors,
            )
            return
        if (model, int(self.store.get_meta("dim") or 0)) != (encoder.name, encoder.dim):
            raise StoreError(
                f"{self.data_dir} was embedded with {model}, not {encoder.name}:"
                " use another --data-dir for another model"
            )
        known = (backends or "").split(",")
        if encoder.backend not in known:
            log.warning(
                "mixing embedding backends in %s: %s, now also %s (all faithful to fp32)",
                self.data_dir,
                backends,
                encoder.backend,
            )
            mixed = ",".join([*known, encoder.backend])
            self.store.set_meta("backend", mixed)
            self.index.backend = mixed

    def ensure_bundled(self) -> IngestReport | None:
        """Ingest the bundled corpus the first time a read finds an empty store."""
        if not self.settings.corpus.auto_ingest or self.store.count_articles():
            return None
        if self.store.get_meta("bundled_ingested"):
            return None
        paths = [str(p) for p in self.settings.corpus.bundled_paths() if p.exists()]
        if not paths:
            return None
        with writing_if_free(self.data_dir, self.writer) as free:
            if not free:  # another process writes (or the dir is read-only): read what is there
                return None
            log.info("first use: ingesting the bundled corpus (%s)", ", ".join(paths))
            report = self.ingest(paths, progress=False)
            self.store.set_meta("bundled_ingested", datetime.now(UTC).isoformat())
        return report

    # --- reading --------------------------------------------------------------------------
    def ask(
        self,
        question: str,
        filters: Filters | None = None,
        limit: int = 5,
        now: datetime | None = None,
    ) -> AskResult:
        """`now`: the date relative words ("this week", "yesterday") count from; by
        default the newest publication date in the corpus (`retrieval.timeframe`)."""
        question = question.strip()
        if not question:
            raise InputError(wording.text("errors.ask.empty"))
        cfg = self.settings.answer
        filters = filters or Filters()
        asked = analyse(question)
        reference = now or self._newest()
        frame = timeframe(asked, reference)
        note = None
        if (script := foreign_script(question)) is not None:
            note = wording.text("replies.answer.not_english", script=script)
        retrieval = self._retrieve(question, filters, frame)
        if frame is not None and frame.restrict and not retrieval.ranked:
            # Nothing from that year: the whole corpus, and the answer says so.
            note = " ".join(
                filter(None, (note, wording.text("replies.answer.no_year", year=frame.label)))
            )
            retrieval = self._retrieve(question, filters, None)
        answer_articles = min(cfg.answer_articles, max(1, limit))
        # A country the question names weighs its articles (a filter admits only those).
        named = set() if filters.countries else question_countries(asked)
        # One read serves the reordering, the answer's years and the cited articles; only
        # an explicit year's search is not reordered by time (it kept only that year).
        reorders = named or frame is None or not frame.restrict
        wanted = retrieval.ranked[: max(limit, answer_articles, RERANKED if reorders else 0)]
        records = self.store.articles([c.article_id for c in wanted])
        if named:
            tags = {a.id: a.countries for a in records.values()}
            retrieval.ranked = weigh(retrieval.ranked, tags, named)
        published = {a.id: when for a in records.values() if (when := parse_published(a.published))}
        retrieval.ranked, in_window = reorder(
            retrieval.ranked, published, frame, reference, asked.history
        )
        dated = [a for a in records.values() if a.published and a.published[:4].isdigit()]
        years = {a.id: int(a.published[:4]) for a in dated}
        best = [c.article_id for c in retrieval.ranked[: max(2, answer_articles)]]
        load_texts(self.store, retrieval.sentences, best)  # what answer and confidence read
        result = answering.compose(
            retrieval,
            years=years,
            max_sentences=cfg.max_sentences,
            min_sentences=cfg.min_sentences,
            answer_articles=answer_articles,
            abstain_below=cfg.abstain_below,
            mmr_lambda=cfg.mmr_lambda,
            max_words=cfg.max_words,
            countries=filters.countries,
            in_window=in_window,
        )
        result.note = note
        top = result.ranked[: max(limit, 0)]
        articles = [RankedArticle(records[a], s) for a, s in top if a in records]
        return AskResult(result, articles)

    def _retrieve(self, question: str, filters: Filters, frame: Timeframe | None) -> Retrieval:
        """Candidates for `question`; an explicit year narrows `filters` to that year."""
        cfg = self.settings.answer
        if frame is not None and frame.restrict:
            since = max(filters.since, frame.start) if filters.since else frame.start
            until = min(filters.until, frame.end) if filters.until else frame.end
            filters = dataclasses.replace(filters, since=since, until=until)
        encoder = self.encoder
        return retrieve(
            question,
            lambda text: encoder.encode([text])[0],
            self.store,
            self.index,
            filters,
            candidate_sentences=cfg.candidate_sentences,
            lexical_weight=cfg.lexical_weight,
            texts=0,  # `ask` reads its best articles' once it has reordered them
        )

    def _newest(self) -> datetime | None:
        """The newest publication date in the corpus: what "this week" counts from."""
        return parse_published(self.store.date_range()[1])

    def headlines(self, filters: Filters | None = None, limit: int | None = 20) -> list[Article]:
        ids = self.store.article_ids(filters or Filters(), newest_first=True, limit=limit)
        records = self.store.articles(ids)
        return [records[i] for i in ids]

    def article(self, article_id: int) -> Article:
        found = self.store.articles([article_id])
        if article_id not in found:
            raise InputError(wording.text("errors.article.unknown", article_id=article_id))
        return found[article_id]

    def summarize_article(self, article_id: int, sentences: int | None = None) -> list[str]:
        self.article(article_id)
        _, positions, _, texts = self.store.sentence_vectors([article_id])
        return self._summarize(
            [t for t, p in zip(texts, positions, strict=True) if p >= 0], sentences
        )

    def summarize_text(self, text: str, sentences: int | None = None) -> list[str]:
        """Summarise text read as a plain-text file: a headline line is never a summary sentence."""
        items = list(parse_plain_text(text, "<text>"))
        article = next((i for i in items if isinstance(i, RawArticle)), None)
        if article is None:
            reason = next((i.reason for i in items if isinstance(i, Skipped)), "no text")
            raise InputError(wording.text("errors.summary.nothing", reason=reason))
        body = [article.body[s:e] for s, e in split_sentences(article.body)] or [article.title]
        return self._summarize(body, sentences)

    def _summarize(self, texts: list[str], sentences: int | None) -> list[str]:
        cfg = self.settings.summary
        if sentences is not None and sentences < 1:
            raise InputError(wording.text("errors.summary.sentences"))
        n = sentences or summarizing.summary_length(
            len(texts), cfg.ratio, cfg.min_sentences, cfg.max_sentences
        )
        return [texts[i] for i in summarizing.summarize(texts, n)]

    def digest(self, filters: Filters, max_stories: int | None = None) -> Digest:
        """The stories in `filters`' window, near-duplicates grouped, ranked, summarised.

        A digest tells what is new, so an undated article counts from when it was ingested
        (`Filters.undated`); everywhere else an undated article is in no date window."""
        limit = max_stories or self.settings.digest.max_stories
        filters = replace(filters, undated=True)
        return DigestBuilder(self.store, max_stories=limit).build(filters)

    def stats(self) -> Stats:
        first, last = self.store.date_range()
        return Stats(
            articles=self.store.count_articles(),
            vectors=self.index.ntotal,
            index=getattr(self.index, "description", None) or describe_index(self.index.kind),
            model=self.store.get_meta("model"),
            backend=self.store.get_meta("backend"),
            data_dir=str(self.data_dir),
            last_ingest=self.store.get_meta("last_ingest"),
            first_published=first,
            last_published=last,
        )
