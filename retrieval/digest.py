"""Digest composition: the window's articles, near-duplicates grouped into stories,
ranked, each with a short extractive summary and every source.

Grouping compares each article's lead vector (title and first two sentences)
with the stories found so far, and requires the rare words of their leads to
overlap (templated items such as earnings tables look alike to the embedding);
both thresholds were chosen by reading the groups formed on busy Reuters days
(`bench/digest.py`). No Discord here: the
bot and the CLI render a `Digest`.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from .analysis import content_stems
from .filters import Filters
from .search import article_slices
from .storage import Article, ArticleStore
from .summarize import pagerank, similarity_graph

GROUP_SIMILARITY = 0.75
MIN_SHARED_NAMES = 0.35
SUMMARY_SENTENCES = 2
# A summary sentence this close to the story's title only repeats it.
REPEAT_SIMILARITY = 0.85


@dataclass
class Story:
    title: str
    articles: list[Article]
    countries: list[str]
    topics: list[str]
    summary: list[str] = field(default_factory=list)
    score: float = 0.0
    named_id: int = 0  # the article whose headline names the story


@dataclass
class Digest:
    generated: datetime
    since: datetime | None
    stories: list[Story]
    last_article_id: int  # the newest article considered: where the next period starts


def _lead_vectors(
    slices: dict[int, tuple[int, int]], positions: np.ndarray, vectors: np.ndarray
) -> dict[int, np.ndarray]:
    """article id -> normalised mean of its title and first two sentence vectors."""
    out = {}
    for aid, (start, end) in slices.items():
        rows = vectors[start:end][positions[start:end] <= 1]
        if not len(rows):
            rows = vectors[start:end]
        v = rows.mean(axis=0)
        out[aid] = v / (np.linalg.norm(v) or 1.0)
    return out


def _headline_terms(
    owners: np.ndarray, positions: np.ndarray, texts: list[str], ids: list[int]
) -> dict[int, set[str]]:
    """article id -> stemmed content words of its headline (or first sentence if untitled)."""
    out: dict[int, set[str]] = {}
    for owner, pos, text in zip(owners, positions, texts, strict=True):
        aid = int(owner)
        if pos <= 0 and aid not in out:  # rows are in reading order: title (-1) comes first
            out[aid] = set(content_stems(text))
    return {aid: out.get(aid, set()) for aid in ids}


def shared_names(a: set[str], b: set[str], idf: dict[str, float], rare: float) -> float:
    """IDF-weighted overlap of two term sets, relative to the smaller one; 0 unless they
    share at least one rare term (idf >= `rare`).

    Templated items (earnings tables, monthly sales) read alike to the embedding;
    it is the rare words two headlines share - the company, the country, the deal -
    that make them the same story.
    """
    shared = a & b
    if not shared or max(idf.get(t, 0.0) for t in shared) < rare:
        return 0.0
    weight = sum(idf.get(t, 0.0) for t in shared)
    return weight / min(sum(idf.get(t, 0.0) for t in a), sum(idf.get(t, 0.0) for t in b))


def group(
    ids: list[int],
    leads: dict[int, np.ndarray],
    threshold: float,
    terms: dict[int, set[str]] | None = None,
    min_shared: float = 0.0,
) -> list[list[int]]:
    """Greedy single-pass grouping: join the most similar story if close enough, else start one.

    Close enough = lead-vector cosine to the story's centroid >= `threshold` and, when
    `terms` are given, an IDF-weighted share of headline words with the story's first
    article >= `min_shared`.
    """
    idf: dict[str, float] = {}
    if terms:
        df: dict[str, int] = {}
        for words in terms.values():
            for t in words:
                df[t] = df.get(t, 0) + 1
        idf = {t: math.log(len(terms) / n) for t, n in df.items()}
    # "Rare" = in at most 1% of the window's headlines (and at least two of them).
    rare = math.log(len(terms) / max(2.0, 0.01 * len(terms))) if terms else 0.0
    groups: list[list[int]] = []
    story_terms: list[set[str]] = []
    dim = next((len(v) for v in leads.values()), 1)
    centroids = np.zeros((len(ids), dim), np.float32)  # one row per story, filled in order
    sums = np.zeros((len(ids), dim), np.float32)
    for aid in ids:
        vec = leads.get(aid)
        mine = terms.get(aid, set()) if terms else set()
        best = -1
        if vec is not None and groups:
            sims = centroids[: len(groups)] @ vec
            for g in np.argsort(-sims):
                if sims[g] < threshold:
                    break
                if not terms or shared_names(mine, story_terms[g], idf, rare) >= min_shared:
                    best = int(g)
                    break
        if best < 0:
            best = len(groups)
            groups.append([])
            story_terms.append(set(mine))
        groups[best].append(aid)
        if vec is not None:
            sums[best] += vec
            centroids[best] = sums[best] / (np.linalg.norm(sums[best]) or 1.0)
    return groups


def _summary(
    title: str, texts: list[str], vecs: np.ndarray, title_vec: np.ndarray | None
) -> list[str]:
    """The most central sentences of the story's articles that do not just repeat the title."""
    keep = [
        i
        for i in range(len(texts))
        if title_vec is None or float(vecs[i] @ title_vec) < REPEAT_SIMILARITY
    ]
    keep = [i for i in keep if texts[i].strip() != title.strip()]
    if not keep:
        return []
    stems = [content_stems(texts[i]) for i in keep]
    rank = pagerank(similarity_graph(stems)) if len(keep) > 1 else np.ones(1)
    # Early sentences carry the news; break near-ties toward them.
    order = sorted(range(len(keep)), key=lambda j: (-(rank[j] * (1 + 0.5 / (1 + j))), j))
    chosen = sorted(order[:SUMMARY_SENTENCES])
    return [texts[keep[j]] for j in chosen]


class DigestBuilder:
    def __init__(
        self,
        store: ArticleStore,
        *,
        threshold: float = GROUP_SIMILARITY,
        min_shared: float = MIN_SHARED_NAMES,
        max_stories: int = 15,
    ) -> None:
        self.store = store
        self.threshold = threshold
        self.min_shared = min_shared
        self.max_stories = max_stories

    def build(self, filters: Filters, now: datetime | None = None) -> Digest:
        now = now or datetime.now(UTC)
        last_id = self.store.max_article_id()
        ids = [i for i in self.store.article_ids(filters, newest_first=True) if i <= last_id]
        if not ids:
            return Digest(now, filters.since, [], last_id)
        articles = self.store.articles(ids)
        owners, positions, vectors, texts = self.store.sentence_vectors(ids)
        slices = article_slices(owners)
        leads = _lead_vectors(slices, positions, vectors)
        rank = {aid: r for r, aid in enumerate(ids)}  # newest first
        stories = []
        terms = _headline_terms(owners, positions, texts, ids)
        for members in group(ids, leads, self.threshold, terms, self.min_shared):
            story = self._story([articles[a] for a in members], leads, filters)
            # Recency: the story's newest article, relative to the window.
            story.score += 1.0 - min(rank[a] for a in members) / len(ids)
            stories.append(story)
        stories.sort(key=lambda s: -s.score)
        stories = stories[: self.max_stories]
        for story in stories:  # summaries only for the stories shown
            rows = [
                i
                for a in story.articles
                for i in range(*slices.get(a.id, (0, 0)))
                if positions[i] >= 0
            ]
            story.summary = _summary(
                story.title, [texts[i] for i in rows], vectors[rows], leads.get(story.named_id)
            )
        return Digest(now, filters.since, stories, last_id)

    def _story(
        self, members: list[Article], leads: dict[int, np.ndarray], filters: Filters
    ) -> Story:
        ids = [a.id for a in members]
        # The headline nearest the story's centre names it.
        vecs = np.array([leads[a] for a in ids if a in leads])
        if len(vecs) > 1:
            centre = vecs.mean(axis=0)
            named = max(
                (a for a in members if a.id in leads), key=lambda a: float(leads[a.id] @ centre)
            )
        else:
            named = members[0]
        countries = [c for c, _ in Counter(c for a in members for c in a.countries).most_common()]
        topics = [t for t, _ in Counter(t for a in members for t in a.topics).most_common()]
        wanted = set(filters.topics)
        strength = 1.0 if not wanted or wanted & set(topics) else 0.5
        sources = len({a.source or a.id for a in members})
        score = math.log1p(sources) + strength
        return Story(named.title, members, countries, topics, [], score, named.id)
