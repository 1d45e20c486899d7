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
        return [e.ids for e in self._encoder.encode_batch(texts, add_special_tokens=True)]

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


def length_batches(lengths: list[int], batch_size: int) -> Iterator[list[int]]:
    """Indices grouped longest-first, so each batch pads to about its own length (~1.6x)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    for k in range(0, len(order), batch_size):
        yield order[k : k + batch_size]


def embed(ids: list[list[int]], forward: Forward, batch_size: int, dim: int) -> np.ndarray:
    """Run `forward` over length-sorted padded batches; mean-pool and L2-normalise in numpy."""
    out = np.zeros((len(ids), dim), dtype=np.float32)
    lengths = [len(x) for x in ids]
    for batch in length_batches(lengths, batch_size):
        width = max(lengths[i] for i in batch)
        input_ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, i in enumerate(batch):
            input_ids[row, : lengths[i]] = ids[i]
            mask[row, : lengths[i]] = 1
        hidden = forward(input_ids, mask, np.zeros_like(input_ids))
        weights = mask.astype(np.float32)[:, None, :]  # (batch, 1, seq)
        summed = (weights @ np.asarray(hidden, dtype=np.float32))[:, 0, :]
        out[batch] = summed / np.maximum(weights.sum(axis=2), 1e-9)
    # sentence-transformers' Normalize is torch.nn.functional.normalize (eps 1e-12).
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out


def all_cores() -> int:
    """CPUs this process may run on (the container's share, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
