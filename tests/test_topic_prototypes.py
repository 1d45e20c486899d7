"""The topic tagger embeds every topic's prototypes and counter-examples in one call, on
the encoder's bulk path when it has one, and keeps each topic's own rows."""

from __future__ import annotations

import numpy as np

from retrieval.topics import TopicTagger, load_topics
from tests.conftest import FakeEncoder


class Bulk(FakeEncoder):
    """A fake with OpenVINO's bulk path, recording which path each call took."""

    def __init__(self) -> None:
        super().__init__()
        self.bulk_calls: list[int] = []

    def encode_bulk(self, texts: list[str]) -> np.ndarray:
        self.bulk_calls.append(len(texts))
        return FakeEncoder.encode(self, texts)


def test_one_bulk_call_for_every_topic_text() -> None:
    topics = load_topics()
    encoder = Bulk()
    TopicTagger(encoder, topics)
    texts = sum(1 + len(t.examples) + len(t.counter_examples) for t in topics)
    assert encoder.bulk_calls == [texts]
    assert encoder.calls == [texts]  # the fake's encode, called once by encode_bulk


def test_each_topic_keeps_its_own_rows() -> None:
    topics = load_topics()
    tagger = TopicTagger(FakeEncoder(), topics)
    reference = FakeEncoder()
    for topic, protos, counters in zip(topics, tagger._prototypes, tagger._counters, strict=True):
        np.testing.assert_array_equal(
            protos, reference.encode([topic.description, *topic.examples])
        )
        if topic.counter_examples:
            np.testing.assert_array_equal(counters, reference.encode(list(topic.counter_examples)))
        else:
            assert counters is None
