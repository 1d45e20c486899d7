"""Tags an article at ingest (and on `retag`): the countries it is about, and its topics."""

from __future__ import annotations

import numpy as np

from .countries import CountryTagger
from .embed import Encoder
from .storage import PreparedArticle
from .topics import TopicTagger


class ArticleTagger:
    def __init__(self, encoder: Encoder) -> None:
        self.countries = CountryTagger()
        self.topics = TopicTagger(encoder)

    def tags(
        self, title: str, body: str, dateline: str | None, title_derived: bool, vectors: np.ndarray
    ) -> tuple[list[str], dict[str, float]]:
        # A derived title is the first sentence again: it must not count as a headline.
        headline = "" if title_derived else title
        country_body = f"{dateline} - {body}" if dateline else body
        countries = self.countries.tag(headline, country_body)
        topics = self.topics.tag(f"{headline}\n{body}", vectors)
        return countries, topics

    def __call__(self, article: PreparedArticle, vectors: np.ndarray) -> None:
        article.countries, article.topics = self.tags(
            article.title, article.body, article.dateline, article.title_derived, vectors
        )
