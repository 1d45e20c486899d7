"""Stories: articles about one real-world event, grouped across outlets and days.

Each article gets a stored story id when it arrives (`assign_new`, run after every
ingest and before every digest; it only ever looks at articles without one), so
digests, answers and per-story threads all share the same stories and nothing is
regrouped from scratch. An article joins the story it is closest to, when

    cosine(lead vector, story centroid)
      + NAME_WEIGHT * TF-IDF cosine of terms (names, figures, countries, words of the lead)
      + TEXT_WEIGHT * cosine(whole-text TF-IDF vector, story's term profile)
      - DAY_PENALTY * min(1, days to the story's latest article / DAY_SCALE)
    >= THRESHOLD

the story's latest article is at most WINDOW_DAYS old, and they share a rare term
(or read almost the same); otherwise it starts a new story. The lead vector is the
mean of the stored title and first two sentence vectors; the whole-text vector is the
sublinear TF-IDF of every stem of the article (unit length), and a story's term profile
is the sum of its members' such vectors, grown as they join and stored with the story
(so nothing is recomputed per digest: IDF is that of the batch an article joined in,
over the batch and the stored stories near it). The whole text says what the top of an
article may word differently (outlets of different leanings headline one event
differently). Embeddings alone merge
look-alike items (two earnings tables, two livestock reports): the rare terms they
share - the company, the person, the figure - are what make two articles the same
event. Articles DAY_SCALE days or more apart pay one fixed penalty, however many days: a
follow-up must be clearly the same story, but may come days later. The weights are
the best setting on the AllSides dev roundups (`bench/stories.py`, which reports
every method leave-one-week-out: each week scored at the setting best on the other
weeks, beside TF-IDF single-pass with and without time and embedding agglomerative
baselines of the same run); the rare-term rule was also read on busy Reuters days,
where without it a day's earnings reports become one story.

A story keeps its id for life: the id a digest section, a watch alert or a Discord
thread is keyed on. No Discord here.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from .analysis import STOPWORDS, content_stems
from .errors import StoreError
from .search import article_slices
from .storage import ArticleStore, StoryRow

log = logging.getLogger(__name__)

THRESHOLD = 0.5
NAME_WEIGHT = 0.4
TEXT_WEIGHT = 0.0
DAY_PENALTY = 0.2
DAY_SCALE = 1.0
WINDOW_DAYS = 7.0
# An article joins a story only if they share a rare term (in at most this share of
# the articles and stories compared) or read almost the same (lead cosine SAME_TEXT).
RARE_SHARE = 0.02
SAME_TEXT = 0.9
# Candidate stories per article checked for shared names: the most similar by vector.
CANDIDATES = 20
# Articles assigned per read of the store, so a backfill of a large corpus stays bounded.
CHUNK = 2000

_NAME = re.compile(r"\b[A-Z][\w'’&.-]*[\w]|\b[A-Z]\b")
_NUMBER = re.compile(r"[$€£]?\d[\d,.]*\d%?|[$€£]?\d%?")
_SECONDS_PER_DAY = 86400.0


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


def lead_vectors(
    owners: np.ndarray, positions: np.ndarray, vectors: np.ndarray
) -> dict[int, np.ndarray]:
    """article id -> normalised mean of its title and first two sentence vectors."""
    out = {}
    for aid, (start, end) in article_slices(owners).items():
        rows = vectors[start:end][positions[start:end] <= 1]
        if not len(rows):
            rows = vectors[start:end]
        v = rows.mean(axis=0)
        out[aid] = v / (np.linalg.norm(v) or 1.0)
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
    dot = sum(w * story[t] for t, w in weights.items() if t in story)
    return dot / math.sqrt(mine * norm2)


def unit_tfidf(text: dict[str, float], idf: dict[str, float]) -> dict[str, float]:
    """An article's whole-text TF-IDF vector (sublinear tf), scaled to unit length."""
    vec = {t: tf * idf.get("=" + t, 0.0) for t, tf in text.items()}
    norm = math.sqrt(sum(v * v for v in vec.values()))
    return {t: v / norm for t, v in vec.items() if v} if norm else {}


def _dot(a: dict[str, float], b: dict[str, float]) -> float:
    return sum(v * b[t] for t, v in a.items() if t in b)


def cluster(
    articles: Sequence[Features], stories: list[StoryState], params: Params | None = None
) -> list[StoryState]:
    """Single pass in date order: each article joins its best story or starts one.

    `stories` are the stored stories the articles may continue; it is extended with
    the new ones and returned. Each story's `members` lists the articles added now.
    A single pass (not a re-clustering of the window) is what keeps ids for life:
    an article, once placed, is never moved by what comes after it.
    """
    p = params or Params()
    idf = _idf(articles, stories)
    dim = len(articles[0].lead) if articles else 0
    capacity = len(stories) + len(articles)
    centroids = np.zeros((capacity, dim), np.float32)  # unit rows, one per story
    last = np.full(capacity, -np.inf)
    norm2 = np.zeros(capacity)  # squared TF-IDF norm of each story's term counts
    tnorm2 = np.zeros(capacity)  # squared norm of each story's whole-text profile
    for i, s in enumerate(stories):
        norm2[i] = sum((idf.get(t, 0.0) * c) ** 2 for t, c in s.terms.items())
        tnorm2[i] = sum(v * v for v in s.text.values())
        centroids[i] = s.centroid / (np.linalg.norm(s.centroid) or 1.0)
        last[i] = s.last
    total = len(articles) + len(stories) + 1
    rare_idf = math.log(total / max(2.0, p.rare_share * total)) if p.rare_share else -math.inf
    scale = p.day_scale or 1.0
    for art in sorted(articles, key=lambda a: (a.day, a.id)):
        weights = {t: idf.get(t, 0.0) ** 2 for t in art.terms}
        vec = unit_tfidf(art.text, idf) if p.text_weight else {}
        rare = [t for t in art.terms if idf.get(t, 0.0) >= rare_idf]
        n = len(stories)
        best, best_score, best_dot = -1, p.threshold, 0.0
        if n:
            gap = np.abs(art.day - last[:n])
            # Time decays linearly to the full penalty at `day_scale` days, then stays:
            # follow-ups continue stories for days.
            raw = centroids[:n] @ art.lead
            sims = raw - p.day_penalty * np.minimum(gap / scale, 1.0)
            sims[gap > p.window_days] = -np.inf
            # Names and text can add at most their weights: only stories that close can pass.
            reach = sims >= p.threshold - p.name_weight - p.text_weight
            for g in np.flatnonzero(reach)[np.argsort(-sims[reach])][:CANDIDATES]:
                story = stories[g]
                terms = story.terms
                # The rare term must be the story's own (in a third of its articles): a
                # big story has some article with nearly any term.
                if raw[g] < SAME_TEXT and not any(3 * terms[t] >= story.size for t in rare):
                    continue  # look-alike wording (a template), nothing particular in common
                score = sims[g] + p.name_weight * shared(weights, terms, norm2[g])
                dot = 0.0
                if vec and tnorm2[g] > 0:
                    dot = _dot(vec, story.text)
                    score += p.text_weight * dot / math.sqrt(tnorm2[g])
                if score >= best_score:
                    best, best_score, best_dot = int(g), score, dot
        if best < 0:
            best = n
            stories.append(StoryState(None, np.zeros(dim, np.float32)))
            best_dot = 0.0
        story = stories[best]
        # (c+1)^2 - c^2 = 2c+1: the norms follow the counts without a rescan.
        norm2[best] += sum(w * (2 * story.terms[t] + 1) for t, w in weights.items())
        if vec:
            if best_dot == 0.0 and story.text:
                best_dot = _dot(vec, story.text)
            tnorm2[best] += 2 * best_dot + 1.0
        story.add(art, vec)
        centroids[best] = story.centroid / (np.linalg.norm(story.centroid) or 1.0)
        last[best] = story.last
    return stories


def _day(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp() / _SECONDS_PER_DAY


def _iso(day: float) -> str:
    from datetime import UTC

    return datetime.fromtimestamp(day * _SECONDS_PER_DAY, UTC).isoformat()


def features(
    store: ArticleStore, ids: Sequence[int], dated: dict[int, str], whole_text: bool = True
) -> list[Features]:
    """Clustering features of stored articles, from their stored sentence vectors and tags;
    `whole_text` False skips stemming every sentence (unused at text weight 0)."""
    owners, positions, vectors, texts = store.sentence_vectors(ids)
    leads = lead_vectors(owners, positions, vectors)
    titles: dict[int, str] = {}
    firsts: dict[int, list[str]] = {}
    counts: dict[int, Counter[str]] = {}
    for owner, pos, text in zip(owners, positions, texts, strict=True):
        if whole_text:
            counts.setdefault(int(owner), Counter()).update(content_stems(text))
        if pos < 0:
            titles[int(owner)] = text
        elif pos <= 1:
            firsts.setdefault(int(owner), []).append(text)
    records = store.articles(ids)
    out = []
    for aid in ids:
        if aid not in leads or aid not in records:
            continue
        art = records[aid]
        title = titles.get(aid, "" if art.title_derived else art.title)
        terms = terms_of(title, " ".join(firsts.get(aid, [])), art.countries)
        text = {t: 1.0 + math.log(c) for t, c in counts.get(aid, Counter()).items()}
        out.append(Features(aid, leads[aid], terms, _day(dated[aid]), text))
    return out


def _state(row: StoryRow) -> StoryState:
    """A stored story; its `terms` JSON holds the name counts and, keyed "=stem", the
    whole-text profile (stories stored before the profile existed have none)."""
    stored = json.loads(row.terms)
    text = {t[1:]: float(v) for t, v in stored.items() if t.startswith("=")}
    terms = Counter({t: v for t, v in stored.items() if not t.startswith("=")})
    return StoryState(
        row.id,
        np.frombuffer(row.centroid, np.float32).copy(),
        terms,
        text,
        _day(row.first_dated),
        _day(row.last_dated),
        row.size,
    )


def _row(story: StoryState) -> StoryRow:
    stored: dict[str, float] = dict(story.terms)
    stored.update({"=" + t: round(v, 4) for t, v in story.text.items()})
    return StoryRow(
        story.id,
        _iso(story.first),
        _iso(story.last),
        story.size,
        story.centroid.astype(np.float32).tobytes(),
        json.dumps(stored, ensure_ascii=False),
    )


def plan(store: ArticleStore, params: Params | None = None, chunk: int = CHUNK) -> list[StoryState]:
    """The next `chunk` unassigned articles clustered into the stored stories near them."""
    pending = store.unassigned_articles(chunk)
    if not pending:
        return []
    ids = [aid for aid, _ in pending]
    dated = dict(pending)
    p = params or Params()
    arts = features(store, ids, dated, whole_text=p.text_weight > 0)
    days = [a.day for a in arts] or [0.0]
    stored = store.stories_between(_iso(min(days) - p.window_days), _iso(max(days) + p.window_days))
    stories = cluster(arts, [_state(r) for r in stored], p)
    # Articles without a vector (none stored) are stories of their own.
    missing = set(ids) - {a.id for a in arts}
    for aid in sorted(missing):
        s = StoryState(None, np.zeros(0, np.float32))
        s.add(Features(aid, np.zeros(0, np.float32), set(), _day(dated[aid])))
        stories.append(s)
    return [s for s in stories if s.members]


def assign_new(store: ArticleStore, params: Params | None = None) -> int:
    """Give every article without a story one, storing it; returns how many were assigned.

    A store that cannot be written (a read-only disk) is left as it is: digests then
    group what is unassigned in memory (`plan`).
    """
    done = 0
    while True:
        touched = plan(store, params)
        if not touched:
            return done
        try:
            store.save_stories([(_row(s), s.members) for s in touched])
        except (sqlite3.Error, StoreError, OSError) as exc:
            log.warning("stories not stored (%s): grouping in memory", exc)
            return done
        done += sum(len(s.members) for s in touched)


def story_ids(store: ArticleStore, ids: Sequence[int]) -> dict[int, int]:
    """article id -> story id for these articles; any not yet stored get a provisional
    negative id from an in-memory grouping (so a read-only store still groups them)."""
    found = store.story_of(ids)
    rest = [a for a in ids if a not in found]
    if rest:
        for n, story in enumerate(plan(store, chunk=max(CHUNK, len(rest))), 1):
            for aid in story.members:
                found.setdefault(aid, story.id if story.id is not None else -n)
        for n, aid in enumerate(a for a in rest if a not in found):
            found[aid] = -(CHUNK * 10 + n)  # beyond the plan's chunk: a story of its own
    return found
