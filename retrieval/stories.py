"""Stories: articles about one real-world event, grouped across outlets and days.

Each article gets a stored story id when it arrives (`assign_new`, run after every
ingest and before every digest; it only ever looks at articles without one), so
digests, answers and per-story threads all share the same stories and nothing is
regrouped from scratch. An article joins the story it is closest to by lead vector,
shared names and whole-text terms, less a penalty for days apart, within a window
(`retrieval.story_cluster` has the score and the pass that places a batch). The lead
vector is the mean of the stored title and first two sentence vectors; the whole-text
vector is the sublinear TF-IDF of every stem of the article (unit length), and a
story's term profile is the sum of its members' such vectors, grown as they join and
stored with the story (so nothing is recomputed per digest: IDF is that of the batch
an article joined in, over the batch and the stored stories near it). The whole text
says what the top of an article may word differently (outlets of different leanings
headline one event differently). Embeddings alone merge look-alike items (two
earnings tables, two livestock reports): the rare terms they share - the company,
the person, the figure - are what make two articles the same event. Articles
DAY_SCALE days or more apart pay one fixed penalty, however many days: a follow-up
must be clearly the same story, but may come days later. The weights are the best
setting on the AllSides dev roundups (`bench/stories.py`, which reports every method
leave-one-week-out beside TF-IDF single-pass and embedding agglomerative baselines of
the same run); the rare-term rule was also read on busy Reuters days, where without
it a day's earnings reports become one story.

A story keeps its id for life: the id a digest section, a watch alert or a Discord
thread is keyed on. No Discord here.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from .analysis import content_stems
from .errors import StoreError
from .search import article_slices
from .storage import ArticleStore, StoryRow
from .story_cluster import (
    SAME_TEXT,
    Features,
    Params,
    StoryState,
    cluster,
    terms_of,
)

__all__ = [
    "SAME_TEXT",
    "Features",
    "Params",
    "StoryState",
    "assign_new",
    "cluster",
    "features",
    "lead_vectors",
    "plan",
    "story_ids",
    "terms_of",
]

log = logging.getLogger(__name__)

# Articles assigned per read of the store, so a backfill of a large corpus stays bounded.
CHUNK = 2000
# An article's lead: its title (position -1) and its sentences up to this position.
LEAD_THROUGH = 1
_SECONDS_PER_DAY = 86400.0


def lead_vectors(
    owners: np.ndarray, positions: np.ndarray, vectors: np.ndarray
) -> dict[int, np.ndarray]:
    """article id -> normalised mean of its title and first two sentence vectors."""
    out = {}
    for aid, (start, end) in article_slices(owners).items():
        rows = vectors[start:end][positions[start:end] <= LEAD_THROUGH]
        if not len(rows):
            rows = vectors[start:end]
        v = rows.mean(axis=0)
        out[aid] = v / (np.linalg.norm(v) or 1.0)
    return out


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
    through = None if whole_text else LEAD_THROUGH
    owners, positions, vectors, texts = store.sentence_vectors(ids, through=through)
    leads = lead_vectors(owners, positions, vectors)
    titles: dict[int, str] = {}
    firsts: dict[int, list[str]] = {}
    counts: dict[int, Counter[str]] = {}
    for owner, pos, text in zip(owners, positions, texts, strict=True):
        if whole_text:
            counts.setdefault(int(owner), Counter()).update(content_stems(text))
        if pos < 0:
            titles[int(owner)] = text
        elif pos <= LEAD_THROUGH:
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
