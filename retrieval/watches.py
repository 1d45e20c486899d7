"""Standing watches: a description in words matched against every new article.

A watch is embedded once (its vector is stored with it) and keeps its description's
words, each weighted by how rare it is in the corpus when the watch was made (a
country the description names, "Japanese", is a word satisfied by the article's
country tag too). An article matches when

    dense + LEXICAL_WEIGHT * coverage >= THRESHOLD

where `dense` is the best cosine between the description and the article's title or
lead sentences, and `coverage` the rarity-weighted share of the description's words
the article contains; and, when the description has words other than countries, the
article shares at least one of them. So "Japanese auto tariffs" needs more than a
Japan story: a country alone never makes a match. The threshold, the weight and the
word rule were chosen on public data with gold stories (AllSides roundup headlines as
watches, `bench/watches.py`; figures in bench/RESULTS.md).

All watches are scored against an article at once (`WatchMatcher`); an article whose
cosines leave every watch short of the threshold is out before its words are read.
No Discord here: the bot stores watches and posts what `WatchMatcher` finds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from . import wording
from .analysis import content_stems, query_terms, stem
from .countries import CountryTagger, resolve_country
from .embed import Encoder
from .errors import InputError
from .filters import Filters
from .search import article_slices
from .storage import Article, ArticleStore

# Chosen by bench/watches.py (see the module docstring); change them only with a new run.
THRESHOLD = 0.81
LEXICAL_WEIGHT = 0.40
# Whether an article must share a word of the description that is not a country.
WORD_GATE = True
# Title and the first two body sentences: where news puts the story.
LEAD_POSITIONS = 1
# Document counts stop here (a word in more articles than this is common: its weight floors).
COUNT_CAP = 5_000
MAX_DESCRIPTION = 200  # characters
COUNTRY = "country:"  # the prefix of a term satisfied by the article's country tag


@dataclass(frozen=True)
class WatchQuery:
    """What one watch looks for: its vector, its weighted words, and its filters.

    `terms` maps a Snowball stem, or `country:XX` for a country the description
    names, to its weight (inverse document frequency when the watch was made).
    `filters` holds the watch's country/topic filters and `after_id`, the newest
    article when it was made (it never fires on older ones).
    """

    id: int
    vector: np.ndarray
    terms: dict[str, float]
    filters: Filters = field(default_factory=Filters)


@dataclass(frozen=True)
class WatchMatch:
    watch_id: int
    article_id: int
    score: float
    dense: float
    coverage: float
    sentence: str  # the article's sentence closest to the description (its title if none)


def check_description(description: str) -> str:
    """The description on one line; refused when it has no content words or is too long."""
    text = " ".join(description.split())
    if not query_terms(text):
        raise InputError(wording.text("watches.errors.empty"))
    if len(text) > MAX_DESCRIPTION:
        raise InputError(wording.text("watches.errors.too_long", most=MAX_DESCRIPTION))
    return text


def description_terms(description: str) -> tuple[list[str], list[str]]:
    """(stems of its words, the countries it names), countries' words left out of the stems."""
    codes = [code for code, _ in CountryTagger().scores(description, "")]
    words = query_terms(description)
    country_words: set[str] = set()
    for n in (2, 1):  # "South Korean" before "Korean"
        for i in range(len(words) - n + 1):
            phrase = " ".join(words[i : i + n])
            try:
                if resolve_country(phrase) in codes:
                    country_words.update(words[i : i + n])
            except InputError:
                continue
    stems = list(dict.fromkeys(stem(w) for w in words if w not in country_words))
    return stems, codes


def term_weights(description: str, store: ArticleStore) -> dict[str, float]:
    """Each word of the description (and each country it names) weighted by its rarity in
    the corpus now: log((N + 1) / (df + 1)) + 1, so even a word in every article counts a
    little and an unseen one most."""
    stems, codes = description_terms(description)
    total = store.count_articles()
    cap = min(COUNT_CAP, max(total, 1))
    words = {w: w for w in query_terms(description)}
    by_stem: dict[str, str] = {}
    for w in words:
        by_stem.setdefault(stem(w), w)
    weights: dict[str, float] = {}
    for s in stems:
        df = len(store.lexical_search(by_stem.get(s, s), cap, Filters()))
        weights[s] = math.log((total + 1) / (df + 1)) + 1.0
    for code in codes:
        df = len(store.admitted(Filters(countries=(code,))))
        weights[COUNTRY + code] = math.log((total + 1) / (df + 1)) + 1.0
    return weights


def prepare(description: str, encoder: Encoder, store: ArticleStore) -> tuple[np.ndarray, dict]:
    """A new watch's (vector, term weights): embedded and weighed once, then stored."""
    text = check_description(description)
    vector = np.asarray(encoder.encode([text])[0], np.float32)
    return vector / (np.linalg.norm(vector) or 1.0), term_weights(text, store)


class WatchMatcher:
    """Every watch, scored against an article at once.

    The dense scores are one product of the watches' matrix with each lead sentence. The
    words are one pass over the article's words: each word the watches use points at
    the watches that have it and their weights, and `np.bincount` adds them up per
    watch, so 1,000 watches cost little more than one.
    """

    def __init__(
        self,
        queries: Sequence[WatchQuery],
        *,
        threshold: float = THRESHOLD,
        lexical_weight: float = LEXICAL_WEIGHT,
        word_gate: bool = WORD_GATE,
    ) -> None:
        self.queries = list(queries)
        self.threshold = threshold
        self.lexical_weight = lexical_weight
        self.word_gate = word_gate
        dim = self.queries[0].vector.shape[0] if self.queries else 0
        self.matrix = (
            np.stack([q.vector for q in self.queries]).astype(np.float32)
            if self.queries
            else np.zeros((0, dim), np.float32)
        )
        postings: dict[str, tuple[list[int], list[float]]] = {}
        for i, q in enumerate(self.queries):
            for term, weight in q.terms.items():
                rows, weights = postings.setdefault(term, ([], []))
                rows.append(i)
                weights.append(weight)
        self._postings = {
            t: (np.array(r, np.int64), np.array(w, np.float64)) for t, (r, w) in postings.items()
        }
        self._totals = np.array([sum(q.terms.values()) or 1.0 for q in self.queries])
        self._wordless = np.array(
            [not any(not t.startswith(COUNTRY) for t in q.terms) for q in self.queries], bool
        )

    def __len__(self) -> int:
        return len(self.queries)

    def match(self, store: ArticleStore, article_ids: Sequence[int]) -> list[WatchMatch]:
        """Every (watch, article) match among these articles, in article order."""
        if not self.queries or not article_ids:
            return []
        articles = store.articles(article_ids)
        owners, positions, vectors, texts = store.sentence_vectors(list(articles))
        slices = article_slices(owners)
        out: list[WatchMatch] = []
        for aid in sorted(articles):
            start, end = slices.get(aid, (0, 0))
            out += self.match_article(
                articles[aid], positions[start:end], vectors[start:end], texts[start:end]
            )
        return out

    def dense(self, positions: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """Per watch, the best cosine to the article's title or lead sentences."""
        lead = vectors[positions <= LEAD_POSITIONS]
        if not len(lead):
            lead = vectors
        best = np.full(len(self.queries), -1.0, np.float32)
        # One matrix-vector product per lead sentence (there are about three): OpenBLAS
        # runs these on the calling thread, where a matrix-matrix product of the same size
        # would start its threads and, on a busy machine, wait for them (bench/RESULTS.md).
        for row in lead:
            np.maximum(best, self.matrix @ row, out=best)
        return best if len(lead) else np.zeros(len(self.queries), np.float32)

    def lexical(self, stems: set[str], countries: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per watch: the weighted share of its words the article has (`coverage`), and
        whether it shares one that is not a country (or the watch names only countries)."""
        n = len(self.queries)
        found = [self._postings[t] for t in stems if t in self._postings]
        named = [
            self._postings[c] for c in (COUNTRY + code for code in countries) if c in self._postings
        ]
        if not found and not named:
            return np.zeros(n), self._wordless.copy()
        rows = np.concatenate([r for r, _ in found + named])
        weights = np.concatenate([w for _, w in found + named])
        cover = np.bincount(rows, weights=weights, minlength=n) / self._totals
        shared = self._wordless.copy()
        if found:
            shared |= np.bincount(np.concatenate([r for r, _ in found]), minlength=n) > 0
        return cover, shared

    def match_article(
        self, article: Article, positions: np.ndarray, vectors: np.ndarray, texts: list[str]
    ) -> list[WatchMatch]:
        dense = self.dense(positions, vectors)
        if not (dense + self.lexical_weight >= self.threshold).any():
            return []  # most articles: out on the dense score alone, no words read
        stems = set(content_stems(f"{article.title}\n{article.body}"))
        cover, shared = self.lexical(stems, article.countries)
        fires = dense + self.lexical_weight * cover >= self.threshold
        if self.word_gate:
            fires &= shared
        out = []
        for i in np.flatnonzero(fires):
            query = self.queries[int(i)]
            if admits(query.filters, article):
                sentence = best_sentence(query.vector, positions, vectors, texts, article.title)
                score = float(dense[i] + self.lexical_weight * cover[i])
                out.append(
                    WatchMatch(
                        query.id, article.id, score, float(dense[i]), float(cover[i]), sentence
                    )
                )
        return out


def admits(filters: Filters, article: Article) -> bool:
    """The watch's own country/topic filters (any of each) and its article floor."""
    if filters.after_id is not None and article.id <= filters.after_id:
        return False
    if filters.countries and not set(filters.countries) & set(article.countries):
        return False
    return not filters.topics or bool(set(filters.topics) & set(article.topics))


def best_sentence(
    vector: np.ndarray, positions: np.ndarray, vectors: np.ndarray, texts: list[str], title: str
) -> str:
    """The body sentence closest to the description: what the alert quotes."""
    body = np.flatnonzero(positions >= 0)
    if not len(body):
        return title
    return texts[int(body[np.argmax(vectors[body] @ vector)])]


__all__ = [
    "LEXICAL_WEIGHT",
    "THRESHOLD",
    "WatchMatch",
    "WatchMatcher",
    "WatchQuery",
    "description_terms",
    "prepare",
    "term_weights",
]
