"""The clustering behind stories: which story each new article joins (no store here).

`cluster` places a batch of new articles among the stored stories near them: a single
pass in date order, then `REFINE_ROUNDS` rounds in which each new article moves to a
story that now fits it better than its own does without it. The single pass alone
depends on order: an article that arrives first joins an older story of the same
subject, and the articles of its own event, arriving after it, start a story without
it (the busiest dev day's CDC mask story was split this way). Only articles of this
batch move; a stored article keeps its story, so stored ids stay ids for life.

An article's score for a story is

    cosine(lead vector, story centroid)
      + name_weight * TF-IDF cosine of terms (names, figures, countries, words of the lead)
      + text_weight * cosine(whole-text TF-IDF vector, story's term profile)
      - day_penalty * min(1, days to the story's latest article / day_scale)

and it may join when that is at least `threshold`, the story's latest article is at
most `window_days` away, and they share a rare term or read almost the same
(`retrieval.stories` says why each part is there).
"""

from __future__ import annotations

import itertools
import math
import operator
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .analysis import STOPWORDS, content_stems

THRESHOLD = 0.5
NAME_WEIGHT = 0.4
TEXT_WEIGHT = 0.0
DAY_PENALTY = 0.2
DAY_SCALE = 1.0
WINDOW_DAYS = 7.0
# An article joins a story only if they share a rare term (in at most RARE_SHARE of
# the articles and stories compared, or in RARE_MIN of them when they are few, but
# never in a quarter of them) or read almost the same (lead cosine SAME_TEXT). The
# floor is for small ingest batches: one event's three outlets arriving together put
# its names in three of a few dozen documents.
RARE_SHARE = 0.02
RARE_MIN = 4.0
SAME_TEXT = 0.9
# Candidate stories per article checked for shared names: the most similar by vector.
CANDIDATES = 20
# Rounds of moving this batch's articles to the story that fits them best (0: none).
REFINE_ROUNDS = 2

_NAME = re.compile(r"\b[A-Z][\w'’&.-]*[\w]|\b[A-Z]\b")
_NUMBER = re.compile(r"[$€£]?\d[\d,.]*\d%?|[$€£]?\d%?")


@dataclass
class Params:
    """The clustering's knobs (the module constants are the chosen defaults)."""

    threshold: float = THRESHOLD
    name_weight: float = NAME_WEIGHT
    text_weight: float = TEXT_WEIGHT
    day_penalty: float = DAY_PENALTY
    day_scale: float = DAY_SCALE  # days at which the full day penalty is reached
    window_days: float = WINDOW_DAYS
    rare_share: float = RARE_SHARE  # 0: no rare term required
    rare_min: float = RARE_MIN  # documents a rare term may be in, however few compared
    refine_rounds: int = REFINE_ROUNDS


@dataclass
class Features:
    """What clustering knows of one article."""

    id: int
    lead: np.ndarray  # unit vector
    terms: set[str]
    day: float  # days since the epoch (its dated column)
    # Stems of the whole text -> sublinear term frequency (1 + log count).
    text: dict[str, float] = field(default_factory=dict)


@dataclass
class StoryState:
    """A story as clustering sees it; `id` is None until it is stored."""

    id: int | None
    centroid: np.ndarray  # sum of members' lead vectors
    terms: Counter[str] = field(default_factory=Counter)
    # Sum of its members' unit TF-IDF vectors of the whole text (IDF of the batch
    # each joined in), stem -> weight: the story's term profile.
    text: dict[str, float] = field(default_factory=dict)
    first: float = 0.0
    last: float = 0.0
    size: int = 0
    members: list[int] = field(default_factory=list)  # articles added in this run

    def add(self, art: Features, text: dict[str, float] | None = None) -> None:
        """Count `art` in; `text` is its unit TF-IDF vector, if any."""
        self.centroid = self.centroid + art.lead
        self.terms.update(art.terms)
        for t, w in (text or {}).items():
            self.text[t] = self.text.get(t, 0.0) + w
        self.first = min(self.first, art.day) if self.size else art.day
        self.last = max(self.last, art.day)
        self.size += 1
        self.members.append(art.id)

    def remove(self, art: Features, text: dict[str, float], span: tuple[float, float]) -> None:
        """Take back `art`, one of this run's members; `span` is (first, last) of the
        story's other articles ((inf, -inf) if none): what the dates shrink back to."""
        self.centroid = self.centroid - art.lead
        self.terms.subtract(art.terms)
        self.terms += Counter()  # drops the zero counts
        for t, w in text.items():
            left = self.text.get(t, 0.0) - w
            if abs(left) > 1e-9:
                self.text[t] = left
            else:
                self.text.pop(t, None)
        self.first, self.last = span
        self.size -= 1
        self.members.remove(art.id)


def terms_of(title: str, lead: str, countries: Sequence[str]) -> set[str]:
    """Names, figures, countries, and the words of headline and lead: the evidence of a
    particular event.

    Capitalised words (not stopwords) stand in for named entities: a tagger would
    need another model, and IDF weighting already makes "President" weigh less than
    "Navalny". An all-capitals headline (the wire's style) says nothing by case, so
    only its words count. (Treating Title Case the same lost F1 on the dev set.)
    """
    out = {"@" + c for c in countries}
    out |= {"~" + s for s in content_stems(title + " " + lead)}
    texts = [lead] if title.isupper() else [title, lead]
    for text in texts:
        for m in _NAME.finditer(text):
            word = m.group(0).rstrip(".").lower()
            if word not in STOPWORDS and len(word) > 1:
                out.add(word)
        for m in _NUMBER.finditer(text):
            number = m.group(0).replace(",", "")
            if len(number) > 1:  # one digit is every other sentence
                out.add("#" + number)
    return out


def _idf(articles: Sequence[Features], stories: Sequence[StoryState]) -> dict[str, float]:
    """Document frequency over the new articles and the stories they may join (each once),
    of name terms and of whole-text stems alike (whole-text stems are keyed "=stem")."""
    df: Counter[str] = Counter()
    for art in articles:
        df.update(art.terms)
        df.update("=" + t for t in art.text)
    for story in stories:
        df.update(story.terms.keys())
        df.update("=" + t for t in story.text)
    n = len(articles) + len(stories) + 1
    return {t: math.log(n / c) for t, c in df.items()}


def shared(weights: dict[str, float], story: Counter[str], norm2: float) -> float:
    """TF-IDF cosine of an article's terms (`weights`: idf squared) and a story's term
    counts (`norm2`: its squared TF-IDF norm), 0..1.

    A cosine, not the share of the article's terms the story has: a big story has
    most words, and would swallow every article near it.
    """
    mine = sum(weights.values())
    if not mine or not norm2:
        return 0.0
    # map() keeps the loop in C: this runs for every story in reach of every article.
    counts = map(story.get, weights.keys(), itertools.repeat(0))
    dot = sum(map(operator.mul, weights.values(), counts))
    return dot / math.sqrt(mine * norm2)


def unit_tfidf(text: dict[str, float], idf: dict[str, float]) -> dict[str, float]:
    """An article's whole-text TF-IDF vector (sublinear tf), scaled to unit length."""
    vec = {t: tf * idf.get("=" + t, 0.0) for t, tf in text.items()}
    norm = math.sqrt(sum(v * v for v in vec.values()))
    return {t: v / norm for t, v in vec.items() if v} if norm else {}


def _dot(a: dict[str, float], b: dict[str, float]) -> float:
    return sum(v * b[t] for t, v in a.items() if t in b)


class _Batch:
    """One run of `cluster`: the stories, their unit centroids and norms kept in step."""

    def __init__(self, articles: Sequence[Features], stories: list[StoryState], p: Params) -> None:
        self.p, self.stories = p, stories
        self.idf = idf = _idf(articles, stories)
        self.dim = len(articles[0].lead) if articles else 0
        capacity = len(stories) + len(articles)
        self.centroids = np.zeros((capacity, self.dim), np.float32)  # unit rows
        self.last = np.full(capacity, -np.inf)
        self.norm2 = np.zeros(capacity)  # squared TF-IDF norm of each story's term counts
        self.tnorm2 = np.zeros(capacity)  # squared norm of each story's whole-text profile
        # Dates of each stored story before this batch: what removing a member leaves.
        self.span = [(s.first, s.last) if s.size else (math.inf, -math.inf) for s in stories]
        for i in range(len(stories)):
            self.refresh(i)
        total = len(articles) + len(stories) + 1
        share = p.rare_share
        floor = max(2.0, min(p.rare_min, total / 4))  # never a quarter of them
        self.rare_idf = math.log(total / max(floor, share * total)) if share else -math.inf
        self.weights = {a.id: {t: idf.get(t, 0.0) ** 2 for t in a.terms} for a in articles}
        self.vecs = {a.id: unit_tfidf(a.text, idf) if p.text_weight else {} for a in articles}
        self.rare = {
            a.id: [t for t in a.terms if idf.get(t, 0.0) >= self.rare_idf] for a in articles
        }

    def refresh(self, i: int, norms: bool = True) -> None:
        """Recompute story i's unit centroid and latest date from its state, and (a full
        scan of its terms) its norms."""
        s, idf = self.stories[i], self.idf
        if norms:
            self.norm2[i] = sum((idf.get(t, 0.0) * c) ** 2 for t, c in s.terms.items())
            self.tnorm2[i] = sum(v * v for v in s.text.values())
        self.centroids[i] = s.centroid / (np.linalg.norm(s.centroid) or 1.0)
        self.last[i] = s.last if s.size else -np.inf

    def _norms(self, art: Features, g: int, sign: int) -> None:
        """Follow story g's norms as `art` joins (+1) or leaves (-1), before the change:
        (c+1)^2 - c^2 = 2c+1 for a count c, and |T+v|^2 - |T|^2 = 2 T.v + |v|^2."""
        story, vec = self.stories[g], self.vecs[art.id]
        terms = story.terms
        self.norm2[g] += sign * sum(
            w * (2 * terms[t] + sign) for t, w in self.weights[art.id].items()
        )
        if vec:
            self.tnorm2[g] += sign * 2 * _dot(vec, story.text) + 1.0

    def best(self, art: Features, skip: int = -1) -> tuple[int, float]:
        """(story index, score) of the best story for `art` at or above the threshold
        (-1 if none), `skip` aside."""
        p, n = self.p, len(self.stories)
        best, best_score = -1, p.threshold
        if not n:
            return best, best_score
        gap = np.abs(art.day - self.last[:n])
        # Time decays linearly to the full penalty at `day_scale` days, then stays:
        # follow-ups continue stories for days.
        raw = self.centroids[:n] @ art.lead
        sims = raw - p.day_penalty * np.minimum(gap / (p.day_scale or 1.0), 1.0)
        sims[gap > p.window_days] = -np.inf
        if 0 <= skip < n:
            sims[skip] = -np.inf
        # Names and text can add at most their weights: only stories that close can pass.
        bonus = p.name_weight + p.text_weight
        reach = np.flatnonzero(sims >= p.threshold - bonus)
        near = reach[np.argsort(-sims[reach])][:CANDIDATES]
        # As Python floats and ints: numpy scalars cost more than the tests on them.
        for g, sim, r in zip(near.tolist(), sims[near].tolist(), raw[near].tolist(), strict=True):
            if sim + bonus < best_score:
                break  # sorted: no later story can reach the best one
            # The cheap test first: most stories in reach share nothing particular.
            if not self.particular(art, g, r):
                continue
            score = self.score(art, g, sim)
            if score >= best_score:
                best, best_score = g, score
        return best, best_score

    def particular(self, art: Features, g: int, raw: float) -> bool:
        """Whether `art` and story g share a rare term, or read almost the same: else they
        are look-alike wording (a template) with nothing particular in common."""
        story = self.stories[g]
        terms, need = story.terms, story.size / 3
        # The rare term must be the story's own (in a third of its articles): a big
        # story has some article with nearly any term.
        if raw >= SAME_TEXT:
            return True
        rare = self.rare[art.id]
        return bool(rare) and max(map(terms.get, rare, itertools.repeat(0))) >= need

    def score(self, art: Features, g: int, sim: float) -> float:
        """`sim` (vector and days) plus names and text."""
        story, p = self.stories[g], self.p
        terms = story.terms
        score = sim + p.name_weight * shared(self.weights[art.id], terms, self.norm2[g])
        vec = self.vecs[art.id]
        if vec and self.tnorm2[g] > 0:
            score += p.text_weight * _dot(vec, story.text) / math.sqrt(self.tnorm2[g])
        return score

    def own(self, art: Features, g: int, days: dict[int, float]) -> float:
        """The score of `art` for its own story g without it (-inf if it is alone there)."""
        story = self.stories[g]
        if story.size <= 1:
            return -math.inf
        self.take(art, g, days)
        try:
            raw = float(self.centroids[g] @ art.lead)
            gap = abs(art.day - self.last[g])
            sim = raw - self.p.day_penalty * min(gap / (self.p.day_scale or 1.0), 1.0)
            if gap > self.p.window_days or not self.particular(art, g, raw):
                return -math.inf
            return self.score(art, g, sim)
        finally:
            self.put(art, g)

    def take(self, art: Features, g: int, days: dict[int, float]) -> None:
        story = self.stories[g]
        first, last = self.span[g]
        others = [days[m] for m in story.members if m != art.id]
        span = (min([first, *others]), max([last, *others]))
        self._norms(art, g, -1)
        story.remove(art, self.vecs[art.id], span)
        self.refresh(g, norms=False)

    def put(self, art: Features, g: int) -> None:
        self._norms(art, g, +1)
        self.stories[g].add(art, self.vecs[art.id])
        self.refresh(g, norms=False)

    def new_story(self) -> int:
        self.stories.append(StoryState(None, np.zeros(self.dim, np.float32)))
        self.span.append((math.inf, -math.inf))
        return len(self.stories) - 1


def cluster(
    articles: Sequence[Features], stories: list[StoryState], params: Params | None = None
) -> list[StoryState]:
    """Place new articles: a single pass in date order (each joins its best story or
    starts one), then rounds in which each moves to a story that now fits it better.

    `stories` are the stored stories the articles may continue; it is extended with
    the new ones and returned (a new story its articles all left is dropped). Each
    story's `members` lists the articles added now; stored members never move, so
    ids stay for life.
    """
    p = params or Params()
    batch = _Batch(articles, stories, p)
    order = sorted(articles, key=lambda a: (a.day, a.id))
    where: dict[int, int] = {}
    for art in order:
        g, _ = batch.best(art)
        where[art.id] = g if g >= 0 else batch.new_story()
        batch.put(art, where[art.id])
    days = {a.id: a.day for a in articles}
    for _ in range(p.refine_rounds):
        moved = 0
        for art in order:
            here = where[art.id]
            g, score = batch.best(art, skip=here)
            if g >= 0 and score > batch.own(art, here, days):
                batch.take(art, here, days)
                batch.put(art, g)
                where[art.id] = g
                moved += 1
        if not moved:
            break
    return [s for s in stories if s.id is not None or s.members]
