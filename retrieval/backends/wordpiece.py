"""Tokenisation and pooling shared by the ONNX Runtime and OpenVINO backends (no torch).

They must reproduce sentence-transformers exactly: the same tokenizer.json
(its BertNormalizer lower-cases), truncation to `max_seq_length` tokens
including [CLS]/[SEP], padding to the longest text of a batch, mean pooling
over the attention mask and L2 normalisation.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .common import token_windows

log = logging.getLogger(__name__)

# (input_ids, attention_mask, token_type_ids) -> last_hidden_state (batch, seq, dim)
Forward = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def model_settings(folder: Path) -> tuple[int, int]:
    """(max_seq_length, dim) as sentence-transformers reads them from the model folder."""
    bert = json.loads((folder / "sentence_bert_config.json").read_text())
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    if not pooling.get("pooling_mode_mean_tokens", False):
        raise ValueError(f"{folder}: only mean pooling is implemented outside torch")
    return int(bert["max_seq_length"]), int(pooling["word_embedding_dimension"])


class WordPiece:
    """The model's fast tokenizer, twice: truncating (for encoding) and not (for windows)."""

    def __init__(self, folder: Path, max_seq_length: int) -> None:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from tokenizers import Tokenizer

        spec = (folder / "tokenizer.json").read_text(encoding="utf-8")
        # tokenizer.json ships with truncation and fixed padding at 128; sentence-transformers
        # overrides both (truncate at max_seq_length, pad to the longest in the batch).
        self._encoder = Tokenizer.from_str(spec)
        self._encoder.no_padding()
        self._encoder.enable_truncation(max_length=max_seq_length)
        self._plain = Tokenizer.from_str(spec)
        self._plain.no_padding()
        self._plain.no_truncation()
        self.max_tokens = max_seq_length - 2  # room for [CLS] and [SEP]

    def ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids with [CLS]/[SEP], truncated like sentence-transformers."""
        # encode_batch_fast (tokenizers >= 0.21) skips the character offsets we never use.
        encode = getattr(self._encoder, "encode_batch_fast", self._encoder.encode_batch)
        return [e.ids for e in encode(texts, add_special_tokens=True)]

    def count(self, text: str) -> int:
        """Tokens of `text` without specials and without truncation."""
        return len(self._plain.encode(text, add_special_tokens=False).ids)

    def windows(self, text: str) -> list[tuple[int, int]]:
        # A WordPiece token covers at least one character, so short text always fits.
        if len(text) <= self.max_tokens:
            return [(0, len(text))]
        offsets = self._plain.encode(text, add_special_tokens=False).offsets
        if len(offsets) <= self.max_tokens:
            return [(0, len(text))]
        return token_windows(text, offsets, self.max_tokens)


TOKENS_PER_TEXT = 32  # a batch of `batch_size` texts may hold batch_size * 32 padded tokens


@dataclass
class Padded:
    """One forward pass: which texts (`rows`), their ids padded to the longest, and the mask."""

    rows: list[int]
    input_ids: np.ndarray
    mask: np.ndarray


def token_batches(lengths: list[int], batch_tokens: int) -> Iterator[list[int]]:
    """Indices longest-first, each group holding at most `batch_tokens` padded tokens.

    Sorting keeps padding small; a token budget instead of a fixed count lets short
    sentences share a pass, while long texts still go in small batches.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    k = 0
    while k < len(order):
        n = max(1, batch_tokens // max(1, lengths[order[k]]))
        yield order[k : k + n]
        k += n


def padded_batches(ids: list[list[int]], batch_tokens: int) -> Iterator[Padded]:
    lengths = [len(x) for x in ids]
    for rows in token_batches(lengths, batch_tokens):
        width = lengths[rows[0]]  # the longest: rows are sorted longest-first
        input_ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for r, i in enumerate(rows):
            input_ids[r, : lengths[i]] = ids[i]
            mask[r, : lengths[i]] = 1
        yield Padded(rows, input_ids, mask)


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of the token vectors under the attention mask (sentence-transformers' Pooling)."""
    weights = mask.astype(np.float32)[:, None, :]  # (batch, 1, seq)
    summed = (weights @ np.asarray(hidden, dtype=np.float32))[:, 0, :]
    return summed / np.maximum(weights.sum(axis=2), 1e-9)


def normalise(vectors: np.ndarray) -> np.ndarray:
    # sentence-transformers' Normalize is torch.nn.functional.normalize (eps 1e-12).
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors


def embed(ids: list[list[int]], forward: Forward, batch_tokens: int, dim: int) -> np.ndarray:
    """Run `forward` over length-sorted padded batches; mean-pool and L2-normalise in numpy."""
    out = np.zeros((len(ids), dim), dtype=np.float32)
    for batch in padded_batches(ids, batch_tokens):
        hidden = forward(batch.input_ids, batch.mask, np.zeros_like(batch.input_ids))
        out[batch.rows] = mean_pool(hidden, batch.mask)
    return normalise(out)


def all_cores() -> int:
    """CPUs this process may run on (the container's share, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
