"""What the library needs from a store of articles, and the records it stores and returns.

`ArticleStore` is the seam between the library and a storage engine: ingest writes
through it, search, answers and digests read through it. `store.Store` implements it
on SQLite (with FTS5 for lexical search); a second engine implements the same methods
and runs the same tests (`tests/test_store_index.py`, fixture `store`).

Sentence vectors live in the store, so the FAISS index can always be rebuilt from it.
Ids are the store's: a sentence id is its FAISS id, an article id is what filters and
citations name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

import numpy as np

from .filters import Filters
from .identity import ext_key

# How `loaders` name a record or a headline inside a file, after the file's path.
_RECORD_PLACE = re.compile(r"#(?:\d+|headline-\d+)$")
# Body sentences that form an article's lead: news puts the story there.
LEAD_SENTENCES = 2


@dataclass
class SentenceRow:
    position: int  # -1 for the title, then 0, 1, ... for body sentences
    start: int | None
    end: int | None
    text: str


@dataclass
class PreparedArticle:
    """An article ready to commit: cleaned fields, its embeddable units and their vectors."""

    title: str
    body: str
    content_key: str
    title_derived: bool = False
    url: str | None = None
    published: datetime | None = None
    source: str | None = None
    origin: str | None = None
    external_id: str | None = None
    dateline: str | None = None
    date_source: str | None = None  # see `records.DATE_SOURCES`; None when undated
    location: str | None = None  # the file (and record in it) it was read from
    replaces: int | None = None  # the id of the stored article this one updates
    sentences: list[SentenceRow] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    topics: dict[str, float] = field(default_factory=dict)

    @property
    def lead(self) -> str:
        """The first two body sentences: news puts the story there, so BM25 weights them up."""
        return " ".join(s.text for s in self.sentences if 0 <= s.position < LEAD_SENTENCES)

    @property
    def ext_key(self) -> str | None:
        return ext_key(self.source, self.external_id)

    @property
    def file_key(self) -> str | None:
        """The location that identifies this article when its file comes again: only a
        whole file's (a .txt, .html, .docx, PDF that is one article). A record's or a
        headline's place in a file (`#17`, `#headline-3`) is not its identity: a record
        inserted above it would shift every later one onto its neighbour's article."""
        if self.location is None or _RECORD_PLACE.search(self.location):
            return None
        return self.location


@dataclass
class Article:
    id: int
    title: str
    body: str
    external_id: str | None
    url: str | None
    source: str | None
    published: str | None
    countries: list[str]
    topics: list[str]
    title_derived: bool = False
    date_source: str | None = None  # where `published` came from; None when undated
    added: str | None = None  # when it was first ingested (never its publication date)
    updated: str | None = None  # when re-ingesting changed content replaced it
    origin: str | None = None  # the file, record or URL it was read from, as shown
    location: str | None = None
    dateline: str | None = None


def match_verdict(same_content: int | None, same_place: Iterable[int]) -> tuple[str, int] | None:
    """`ArticleStore.match`'s rule, one for both engines: an article with the same content
    is a duplicate; else the one stored article with its URL, ext key or file key is the
    one it updates; several (its URL is one article's, its id another's) leave which to
    replace unknown, so it counts as a duplicate of the lowest id."""
    if same_content is not None:
        return "duplicate", same_content
    ids = sorted(same_place)
    if len(ids) == 1:
        return "update", ids[0]
    return ("duplicate", ids[0]) if ids else None


# The order both engines select an article's columns in (`article_from_row` reads it).
ARTICLE_COLUMNS = (
    "id, title, body, external_id, url, source, published, title_derived, date_source, added,"
    " updated, origin, location, dateline"
)


def article_from_row(row: Sequence, countries: list[str], topics: list[str]) -> Article:
    """An `Article` from a row of `ARTICLE_COLUMNS`: one reading for both engines."""
    return Article(
        id=row[0],
        title=row[1],
        body=row[2],
        external_id=row[3],
        url=row[4],
        source=row[5],
        published=row[6],
        countries=countries,
        topics=topics,
        title_derived=bool(row[7]),
        date_source=row[8],
        added=row[9],
        updated=row[10],
        origin=row[11],
        location=row[12],
        dateline=row[13],
    )


@dataclass(frozen=True)
class Selection:
    """Which articles `remove` means: every criterion given must hold."""

    ids: tuple[int, ...] = ()
    source: str | None = None  # the outlet, as stored (case-insensitive)
    path: str | None = None  # an absolute file or folder path, or a URL (see `select_ids`)
    before: datetime | None = None  # published before this; undated articles never match

    @property
    def empty(self) -> bool:
        return not (self.ids or self.source or self.path or self.before)


@dataclass
class StoryRow:
    """A stored story: what incremental clustering needs to let new articles join it."""

    id: int | None  # None until stored
    first_dated: str  # ISO dates of its first and latest article
    last_dated: str
    size: int
    centroid: bytes  # float32 sum of its articles' lead vectors
    terms: str  # JSON {term: articles naming it}


# (article ids, positions, vectors, texts) of sentences, in article then position order.
SentenceRows = tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]
# (id, title, body, dateline, title_derived, sentence vectors) of one article.
TaggingRow = tuple[int, str, str, str | None, bool, np.ndarray]


@runtime_checkable  # so the store tests can check an engine has every method
class ArticleStore(Protocol):
    """Articles, their sentences with vectors, their tags, and lexical search over them.

    Writes are atomic per call: a crash loses at most the batch being added.
    """

    def close(self) -> None: ...

    # --- metadata (model name, dimensions, ingest times) ---------------------------------
    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    # --- writing --------------------------------------------------------------------------
    def is_duplicate(self, article: PreparedArticle) -> bool:
        """Whether a stored article has its content key, URL or ext key."""
        ...

    def match(self, article: PreparedArticle) -> tuple[str, int] | None:
        """("duplicate", id) when a stored article has its content; ("update", id) when one
        stored article has its URL, ext key or file key but other content; else None."""
        ...

    def add_batch(
        self, articles: Sequence[PreparedArticle], vectors: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Store articles with their sentences (one vector row each, in order) and tags.

        An article with `replaces` set rewrites that stored article in place (same id; its
        old sentences, vectors, tags and full-text row replaced).
        Returns the new sentence ids and each one's article id, in that order.
        """
        ...

    def sentence_ids(self, article_ids: Sequence[int]) -> np.ndarray:
        """The sentence (FAISS) ids of these articles."""
        ...

    def remove_articles(self, article_ids: Sequence[int]) -> np.ndarray:
        """Delete these articles with everything they own, in one transaction; returns the
        sentence ids removed (to remove from the index)."""
        ...

    def select_ids(self, selection: Selection) -> list[int]:
        """Ids of the articles matching every criterion of `selection`, in id order."""
        ...

    def replace_tags(self, tags: list[tuple[int, list[str], dict[str, float]]]) -> None:
        """Rewrite the (countries, topic scores) of many articles at once."""
        ...

    # --- vectors --------------------------------------------------------------------------
    def vector_summary(self) -> tuple[int, int]:
        """(count, sum of ids) of stored sentence vectors, to check the index against."""
        ...

    def iter_vectors(
        self, after_id: int = 0, chunk: int = 20000
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(sentence ids, article ids, vectors) above `after_id`, in id order, in chunks."""
        ...

    def sentence_vectors(
        self, article_ids: Sequence[int], texts: bool = True, through: int | None = None
    ) -> SentenceRows:
        """Every sentence of these articles, by article and position. `texts=False` leaves
        the texts out (an empty list): ranking needs only the vectors, and reading every
        candidate's texts was a fifth of an ask on long articles. `through` keeps only
        positions up to it (the title is -1): story leads need three rows of an article,
        not all of a long one's."""
        ...

    def sentence_texts(self, article_ids: Sequence[int]) -> list[tuple[int, int, str]]:
        """(article id, position, text) of every sentence of these articles, in the order
        of `sentence_vectors`."""
        ...

    def iter_for_tagging(self, chunk: int = 500) -> Iterator[list[TaggingRow]]:
        """Every article with its sentence vectors, in id order, in chunks."""
        ...

    # --- articles -------------------------------------------------------------------------
    def count_articles(self) -> int: ...

    def max_article_id(self) -> int:
        """The newest article's id, 0 when empty: where the next digest period starts."""
        ...

    def articles(self, ids: Sequence[int]) -> dict[int, Article]:
        """The articles with these ids (unknown ids are left out), tags in rank order."""
        ...

    def article_ids(
        self, filters: Filters, newest_first: bool = True, limit: int | None = None
    ) -> list[int]:
        """Ids of the articles `filters` admits, by date (published, else ingested)."""
        ...

    def admitted(self, filters: Filters) -> np.ndarray:
        """Sorted ids of the articles `filters` admits, for the FAISS selector."""
        ...

    def lexical_search(
        self, question: str, limit: int, filters: Filters, admitted: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """(article id, lexical score, higher is better), best first, among those admitted.

        `admitted` is what `admitted(filters)` returned, when the caller has it (search
        does, for FAISS); an engine that filters otherwise may ignore it.
        """
        ...

    # --- summaries ------------------------------------------------------------------------
    def date_range(self) -> tuple[str | None, str | None]:
        """(oldest, newest) publication date."""
        ...

    def sources(self) -> list[tuple[str, int]]:
        """(source, article count), most first."""
        ...

    def country_counts(self) -> list[tuple[str, int]]:
        """(country code, article count), most first."""
        ...

    def topic_counts(self) -> list[tuple[str, int]]:
        """(topic, article count), most first."""
        ...

    # --- stories (retrieval.stories) -------------------------------------------------------
    def unassigned_articles(self, limit: int) -> list[tuple[int, str]]:
        """(id, dated) of up to `limit` articles with no story yet, oldest first."""
        ...

    def stories_between(self, start: str, end: str) -> list[StoryRow]:
        """Stories whose articles' dates overlap [start, end] (ISO dates)."""
        ...

    def save_stories(self, stories: Sequence[tuple[StoryRow, Sequence[int]]]) -> None:
        """Insert or update stories and assign them their new articles, in one transaction;
        a story stored with id None gets one."""
        ...

    def story_of(self, article_ids: Sequence[int]) -> dict[int, int]:
        """article id -> story id, for those of these articles that have one."""
        ...

    def story_articles(self, story_ids: Sequence[int]) -> dict[int, list[tuple[int, str]]]:
        """story id -> (article id, dated) of all its articles, oldest first."""
        ...
