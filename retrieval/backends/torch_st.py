"""The torch backends: sentence-transformers fp32 (the reference) and bf16 autocast.

Windows come from the same `tokenizers` tokenizer as the other backends, so
every backend cuts a long sentence at exactly the same places.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import numpy as np

from .common import MODEL_NAME
from .wordpiece import WordPiece

log = logging.getLogger(__name__)


class SentenceTransformerEncoder:
    """sentence-transformers on torch, CPU; `bf16=True` runs it under bf16 autocast."""

    def __init__(
        self, folder: Path, batch_size: int = 32, threads: int = 0, *, bf16: bool = False
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        self._model = SentenceTransformer(str(folder), device="cpu")
        self.name = MODEL_NAME
        self.backend = "st-bf16" if bf16 else "sentence-transformers"
        self.precision = "bf16" if bf16 else "fp32"
        self._bf16 = bf16
        dim = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension
        )
        self.dim = int(dim())
        self.batch_size = batch_size
        self._wordpiece = WordPiece(folder, int(self._model.max_seq_length))
        self.max_tokens = self._wordpiece.max_tokens

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        context = (
            self._torch.autocast("cpu", dtype=self._torch.bfloat16)
            if self._bf16
            else contextlib.nullcontext()
        )
        # sentence-transformers sorts by length itself before batching.
        with context, self._torch.inference_mode():
            vectors = self._model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self._bf16:  # normalised in bf16: renormalise in fp32
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors

    def windows(self, text: str) -> list[tuple[int, int]]:
        return self._wordpiece.windows(text)
