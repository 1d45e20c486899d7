"""Digest topics: defined in words in `prompts/topics.toml`, tagged at ingest.

An article's topic score compares the centroid of its sentence vectors with
the topic's description and examples (best cosine), minus a penalty when it is
nearer the topic's counter-examples (commodity or currency news that uses
trade words), plus keyword evidence that saturates at one hit per sentence.
Calibrated on Reuters-21578 `topics: trade` (see `bench/tags.py`); the threshold can
be set per topic.
"""

from __future__ import annotations

import difflib
import functools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import wording
from .errors import ConfigError, InputError
from .paths import PROMPTS_DIR

TOPICS_FILE = PROMPTS_DIR / "topics.toml"
DEFAULT_THRESHOLD = 0.65
KEYWORD_WEIGHT = 0.05
KEYWORD_CAP = 5
COUNTER_WEIGHT = 0.5
COUNTER_MARGIN = 0.05


@dataclass(frozen=True)
class Topic:
    name: str
    label: str
    description: str
    examples: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    counter_examples: tuple[str, ...] = ()
    threshold: float = DEFAULT_THRESHOLD

    @functools.cached_property
    def keyword_pattern(self) -> re.Pattern[str] | None:
        """Matches lower-cased text: re.IGNORECASE is much slower on a long alternation."""
        if not self.keywords:
            return None
        parts = [
            re.escape(k.lower()).replace(r"\*", r"\w*").replace(r"\ ", r"\s+")
            for k in self.keywords
        ]
        return re.compile(r"\b(?:" + "|".join(parts) + r")\b")


@functools.cache
def load_topics(path: Path = TOPICS_FILE) -> tuple[Topic, ...]:
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read topics from {path}: {exc}") from None
    topics = []
    for name, table in raw.items():
        if not isinstance(table, dict) or not table.get("description"):
            raise ConfigError(f"{path}: topic [{name}] needs a description")
        try:
            topics.append(
                Topic(
                    name=name.lower(),
                    label=table.get("label", name.title()),
                    description=" ".join(table["description"].split()),
                    examples=tuple(table.get("examples", ())),
                    keywords=tuple(table.get("keywords", ())),
                    counter_examples=tuple(table.get("counter_examples", ())),
                    threshold=float(table.get("threshold", DEFAULT_THRESHOLD)),
                )
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: topic [{name}]: {exc}") from None
    return tuple(topics)


def topic_names() -> list[str]:
    return [t.name for t in load_topics()]


def resolve_topic(text: str) -> str:
    """A topic name or label (any case) to its name; unknown -> InputError with suggestions."""
    wanted = text.strip().lower()
    for topic in load_topics():
        if wanted in (topic.name, topic.label.lower()):
            return topic.name
    names = topic_names()
    close = difflib.get_close_matches(wanted, names, n=2, cutoff=0.5)
    if close:
        hint = wording.text("errors.topic.did_you_mean", names=" or ".join(close))
    else:
        hint = wording.text("errors.topic.known", names=", ".join(names))
    raise InputError(wording.text("errors.topic.unknown", topic=text, hint=hint))


class TopicTagger:
    """Scores an article against every topic from its (already computed) sentence vectors."""

    def __init__(self, encoder, topics: tuple[Topic, ...] | None = None) -> None:
        self.topics = topics if topics is not None else load_topics()
        # Every topic's texts in one call, on the encoder's bulk path when it has one
        # (OpenVINO's `encode_bulk`): the tagger is made by ingest, which runs that path.
        groups = [[t.description, *t.examples] for t in self.topics]
        groups += [list(t.counter_examples) for t in self.topics]
        encode = getattr(encoder, "encode_bulk", encoder.encode)
        vectors = encode([text for group in groups for text in group])
        ends = np.cumsum([len(group) for group in groups])
        parts = np.split(vectors, ends[:-1])
        n = len(self.topics)
        self._prototypes = parts[:n]
        self._counters = [part if len(part) else None for part in parts[n:]]

    def scores(self, text: str, vectors: np.ndarray) -> dict[str, float]:
        if len(vectors) == 0:
            return {t.name: 0.0 for t in self.topics}
        centroid = vectors.mean(axis=0)
        centroid /= np.linalg.norm(centroid) or 1.0
        lowered = text.lower()
        out = {}
        for topic, protos, counters in zip(
            self.topics, self._prototypes, self._counters, strict=True
        ):
            near = float((protos @ centroid).max())
            score = near
            if counters is not None:
                counter = float((counters @ centroid).max())
                score -= COUNTER_WEIGHT * max(counter - near + COUNTER_MARGIN, 0.0)
            if topic.keyword_pattern is not None:
                # Keyword evidence saturates at one hit per sentence (up to KEYWORD_CAP), so
                # a headline with one telling word counts as much as an article with five.
                cap = min(KEYWORD_CAP, len(vectors))
                hits = len(topic.keyword_pattern.findall(lowered))
                score += KEYWORD_WEIGHT * KEYWORD_CAP * min(hits, cap) / cap
            out[topic.name] = score
        return out

    def tag(self, text: str, vectors: np.ndarray) -> dict[str, float]:
        """The topics whose score clears their threshold, with the score."""
        thresholds = {t.name: t.threshold for t in self.topics}
        return {
            name: round(score, 4)
            for name, score in self.scores(text, vectors).items()
            if score >= thresholds[name]
        }
