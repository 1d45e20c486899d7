"""Text analysis shared by lexical search, answers, summaries and digests.

Stopwords, the content words of a question, and the one stemmer the library uses
(Snowball English) for answers, summaries and digests. FTS5's own porter tokenizer
stems inside SQLite and is not this.
"""

from __future__ import annotations

import functools
import re
import threading

import snowballstemmer

from .text import words

# FTS5 query syntax is strict; questions become OR-ed plain terms.
_TERM = re.compile(r"[^\W_]+", re.UNICODE)
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "said",
        "says",
        "say",
        "new",
        "also",
        "mr",
        "mrs",
        "ms",
    ]
)


def query_terms(question: str) -> list[str]:
    """Distinct lower-case content words of a question, for FTS5."""
    seen: dict[str, None] = {}
    for term in _TERM.findall(question.lower()):
        if term not in STOPWORDS and (len(term) > 1 or term.isdigit()):
            seen.setdefault(term, None)
    return list(seen)


# A Snowball stemmer keeps the word being stemmed in its own fields, so each thread
# (asks and digests run on worker threads) gets its own.
_local = threading.local()


@functools.lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    """The Snowball English stem of a lower-case word.

    Cached: news vocabulary repeats. snowballstemmer hands out PyStemmer's C stemmer
    (a dependency) when it imports, its own pure-Python one otherwise: the same stems.
    """
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = snowballstemmer.stemmer("english")
    return stemmer.stemWord(word)


def content_stems(text: str) -> list[str]:
    """Stems of the words of `text` that are not stopwords, in order."""
    return [stem(w) for w in words(text) if w not in STOPWORDS]


class QuestionWords:
    """A question's words as stems, for counting them in sentences."""

    def __init__(self, text: str) -> None:
        tokens = [w for w in words(text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]
        self.stems = {stem(w) for w in tokens}
        self.prefixes = {s[:3] for s in self.stems}

    def marks(self, tokens: list[str]) -> list[bool]:
        """Whether each (lower-case) token is one of these words."""
        return [t[:3] in self.prefixes and stem(t) in self.stems for t in tokens]

    def share(self, found: set[str]) -> float:
        return len(self.stems & found) / len(self.stems) if self.stems else 0.0
