"""Digest composition: the window's articles as stories, ranked, each with a short
extractive summary of what is new and every source.

A section is a stored story (`stories`): the articles of the window that share a
story id, so one event reported by several outlets is one section, and a story
that continues from earlier periods says so ("developing: 3rd day, 5 articles")
and summarises only what the earlier articles did not already say. No Discord
here: the bot and the CLI render a `Digest`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from . import stories as storying
from .analysis import content_stems
from .dates import isoformat
from .filters import Filters
from .search import article_slices
from .storage import Article, ArticleStore
from .summarize import pagerank, similarity_graph

SUMMARY_SENTENCES = 2
# A summary sentence this close to a headline, or to a sentence an earlier article of
# the story already had, only repeats it.
REPEAT_SIMILARITY = 0.85
# Earlier articles of a developing story read to tell what is new (the latest ones).
EARLIER_READ = 20
# Markup a headline may carry from its file: `# Title`, `**Title**`, `_Title_`.
_MARKUP_START = re.compile(r"^\s*(?:#{1,6}\s+|>\s*)+")
_MARKUP_WRAP = re.compile(r"^([*_`~]{1,3})(.+?)\1$")


def clean_title(title: str) -> str:
    """A headline without the Markdown markup around it; the words stay verbatim."""
    text = _MARKUP_START.sub("", title.strip()).strip()
    while (m := _MARKUP_WRAP.match(text)) and m.group(2).strip():
        text = m.group(2).strip()
    return text or title.strip()


@dataclass
class Story:
    title: str
    articles: list[Article]  # the window's articles of this story
    countries: list[str]
    topics: list[str]
    summary: list[str] = field(default_factory=list)
    score: float = 0.0
    named_id: int = 0  # the article whose headline names the story
    id: int = 0  # the stored story id (negative: not stored, a read-only store)
    earlier: int = 0  # articles of this story before the window
    days: int = 1  # calendar days (UTC) the story has run, this window included
    first_dated: str | None = None  # its first article's date

    @property
    def developing(self) -> bool:
        """Whether it continues a story from earlier periods."""
        return self.earlier > 0

    @property
    def total(self) -> int:
        return self.earlier + len(self.articles)


@dataclass
class Digest:
    generated: datetime
    since: datetime | None
    stories: list[Story]
    last_article_id: int  # the newest article considered: where the next period starts


def _summary(
    texts: list[str],
    vecs: np.ndarray,
    titles: list[str],
    title_vecs: np.ndarray,
    earlier_vecs: np.ndarray,
) -> list[str]:
    """The most central new sentences of the story's window articles.

    Left out: a sentence that is a headline again (the same words once markup is
    cleaned, or a vector this close to one), and one an earlier article of the story
    already said. Two near-identical sentences (wire copy in two outlets) count once.
    """
    # A title derived from the text is its first sentence cut with an ellipsis.
    heads = {clean_title(t).casefold().rstrip("…").rstrip() for t in titles}

    def repeats(i: int) -> bool:
        text = clean_title(texts[i]).casefold()
        if text in heads or any(text.startswith(h + " ") for h in heads if h):
            return True
        for other in (title_vecs, earlier_vecs):
            if len(other) and float((other @ vecs[i]).max()) >= REPEAT_SIMILARITY:
                return True
        return False

    keep = [i for i in range(len(texts)) if not repeats(i)]
    if not keep:
        return []
    stems = [content_stems(texts[i]) for i in keep]
    rank = pagerank(similarity_graph(stems)) if len(keep) > 1 else np.ones(1)
    # Early sentences carry the news; break near-ties toward them.
    order = sorted(range(len(keep)), key=lambda j: (-(rank[j] * (1 + 0.5 / (1 + j))), j))
    chosen: list[int] = []
    for j in order:
        if len(chosen) == SUMMARY_SENTENCES:
            break
        if all(float(vecs[keep[j]] @ vecs[keep[c]]) < REPEAT_SIMILARITY for c in chosen):
            chosen.append(j)
    return [texts[keep[j]] for j in sorted(chosen)]


class DigestBuilder:
    """Builds a `Digest` from the stored stories of a window's articles."""

    def __init__(
        self,
        store: ArticleStore,
        *,
        params: storying.Params | None = None,
        max_stories: int = 15,
    ) -> None:
        self.store = store
        self.params = params
        self.max_stories = max_stories

    def build(self, filters: Filters, now: datetime | None = None) -> Digest:
        now = now or datetime.now(UTC)
        last_id = self.store.max_article_id()
        ids = [i for i in self.store.article_ids(filters, newest_first=True) if i <= last_id]
        if not ids:
            return Digest(now, filters.since, [], last_id)
        storying.assign_new(self.store, self.params)  # articles from before stories existed
        of = storying.story_ids(self.store, ids)
        articles = self.store.articles(ids)
        owners, positions, vectors, texts = self.store.sentence_vectors(ids)
        slices = article_slices(owners)
        leads = storying.lead_vectors(owners, positions, vectors)
        members: dict[int, list[int]] = {}
        for aid in ids:  # newest first, so each story's list is too
            members.setdefault(of[aid], []).append(aid)
        history = self.store.story_articles([sid for sid in members if sid > 0])
        rank = {aid: r for r, aid in enumerate(ids)}
        stories = []
        for sid, mine in members.items():
            story = self._story([articles[a] for a in mine], leads, filters)
            story.id = sid
            self._history(story, set(mine), history.get(sid, []), filters)
            # Recency: the story's newest article, relative to the window.
            story.score += 1.0 - min(rank[a] for a in mine) / len(ids)
            stories.append(story)
        stories.sort(key=lambda s: -s.score)
        stories = stories[: self.max_stories]
        for story in stories:  # summaries only for the stories shown
            story.summary = self._new_sentences(
                story, history.get(story.id, []), slices, positions, vectors, texts
            )
        return Digest(now, filters.since, stories, last_id)

    @staticmethod
    def _history(
        story: Story, window: set[int], history: list[tuple[int, str]], filters: Filters
    ) -> None:
        """How long the story has run: its articles from before this window, and days."""
        since = isoformat(filters.since) if filters.since else None
        earlier = [
            (aid, dated)
            for aid, dated in history
            if aid not in window
            and (
                (filters.after_id is not None and aid <= filters.after_id)
                or (since is not None and dated < since)
            )
        ]
        dates = [d for _, d in earlier] + [d for a, d in history if a in window]
        story.earlier = len(earlier)
        story.days = len({d[:10] for d in dates}) or 1
        story.first_dated = min(dates) if dates else None

    def _new_sentences(
        self,
        story: Story,
        history: list[tuple[int, str]],
        slices: dict[int, tuple[int, int]],
        positions: np.ndarray,
        vectors: np.ndarray,
        texts: list[str],
    ) -> list[str]:
        window = {a.id for a in story.articles}
        rows = [i for a in story.articles for i in range(*slices.get(a.id, (0, 0)))]
        body = [i for i in rows if positions[i] >= 0]
        heads = [i for i in rows if positions[i] < 0]
        earlier_vecs = np.zeros((0, vectors.shape[1]), np.float32)
        if story.developing:
            before = [a for a, _ in history if a not in window][-EARLIER_READ:]
            earlier_vecs = self.store.sentence_vectors(before)[2]
        return _summary(
            [texts[i] for i in body],
            vectors[body],
            [a.title for a in story.articles],
            vectors[heads],
            earlier_vecs,
        )

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
        return Story(clean_title(named.title), members, countries, topics, [], score, named.id)
