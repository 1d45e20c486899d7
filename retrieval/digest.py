"""Digest composition: the window's articles, near-duplicates grouped into stories,
ranked, each with a short extractive summary and every source.

Grouping compares each article's lead vector (title and first two sentences)
with the stories found so far; `GROUP_SIMILARITY` was chosen by reading the
groups formed on busy Reuters days (`bench/digest.py`). No Discord here: the
bot and the CLI render a `Digest`.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from .store import Article, Filters, Store
from .summarize import content_stems, pagerank, similarity_graph

GROUP_SIMILARITY = 0.75
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


@dataclass
class Digest:
    generated: datetime
    since: datetime | None
    stories: list[Story]
    last_article_id: int  # the newest article considered: where the next period starts


def _lead_vectors(owners: np.ndarray, positions: np.ndarray, vectors: np.ndarray, ids: list[int]):
    """article id -> normalised mean of its title and first two sentence vectors."""
    out = {}
    for aid in ids:
        mask = (owners == aid) & (positions <= 1)
        if not mask.any():
            mask = owners == aid
        if not mask.any():
            continue
        v = vectors[mask].mean(axis=0)
        out[aid] = v / (np.linalg.norm(v) or 1.0)
    return out


def group(ids: list[int], leads: dict[int, np.ndarray], threshold: float) -> list[list[int]]:
    """Greedy single-pass grouping: join the most similar story if close enough, else start one."""
    groups: list[list[int]] = []
    centroids: list[np.ndarray] = []
    for aid in ids:
        vec = leads.get(aid)
        if vec is None:
            groups.append([aid])
            centroids.append(np.zeros(0))
            continue
        best, best_sim = -1, threshold
        for g, centroid in enumerate(centroids):
            if centroid.size and float(centroid @ vec) >= best_sim:
                best, best_sim = g, float(centroid @ vec)
        if best < 0:
            groups.append([aid])
            centroids.append(vec.copy())
        else:
            groups[best].append(aid)
            members = np.array([leads[a] for a in groups[best] if a in leads])
            c = members.mean(axis=0)
            centroids[best] = c / (np.linalg.norm(c) or 1.0)
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
        self, store: Store, *, threshold: float = GROUP_SIMILARITY, max_stories: int = 15
    ) -> None:
        self.store = store
        self.threshold = threshold
        self.max_stories = max_stories

    def build(self, filters: Filters, now: datetime | None = None) -> Digest:
        now = now or datetime.now(UTC)
        last_id = self.store.max_article_id()
        ids = [i for i in self.store.article_ids(filters, newest_first=True) if i <= last_id]
        if not ids:
            return Digest(now, filters.since, [], last_id)
        articles = self.store.articles(ids)
        owners, positions, vectors, texts = self.store.sentence_vectors(ids)
        leads = _lead_vectors(owners, positions, vectors, ids)
        rank = {aid: r for r, aid in enumerate(ids)}  # newest first
        stories = []
        for members in group(ids, leads, self.threshold):
            story = self._story(
                [articles[a] for a in members], owners, positions, vectors, texts, leads, filters
            )
            # Recency: the story's newest article, relative to the window.
            story.score += 1.0 - min(rank[a] for a in members) / len(ids)
            stories.append(story)
        stories.sort(key=lambda s: -s.score)
        return Digest(now, filters.since, stories[: self.max_stories], last_id)

    def _story(
        self, members: list[Article], owners, positions, vectors, texts, leads, filters: Filters
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
        mask = np.isin(owners, ids) & (positions >= 0)
        idx = np.flatnonzero(mask)
        title_vec = leads.get(named.id)
        summary = _summary(named.title, [texts[i] for i in idx], vectors[idx], title_vec)
        countries = [c for c, _ in Counter(c for a in members for c in a.countries).most_common()]
        topics = [t for t, _ in Counter(t for a in members for t in a.topics).most_common()]
        wanted = set(filters.topics)
        strength = 1.0 if not wanted or wanted & set(topics) else 0.5
        sources = len({a.source or a.id for a in members})
        score = math.log1p(sources) + strength
        return Story(named.title, members, countries, topics, summary, score)
