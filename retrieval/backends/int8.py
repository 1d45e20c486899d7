"""The OpenVINO model with int8 feed-forward weights, made once from the ONNX export.

Where the time goes: most of a forward pass is the fully connected layers, already
in bf16 close to the CPU's bf16 peak, so only int8 arithmetic (VNNI) is left.
The variants tried against OpenVINO fp32 (figures in bench/RESULTS.md):

- every layer's weights int8 + activations quantised per group of 64: the fastest,
  but its vectors drifted too far from fp32;
- feed-forward weights only (half the multiply-adds), attention and embeddings
  left in bf16, groups of 64: nearly as fast, and close enough;
- a static, calibrated int8 model (NNCF `quantize`) of every layer: drifted furthest.

So the feed-forward layers' weights are compressed to int8 (per output channel,
asymmetric) by NNCF's data-free `compress_weights`, and OpenVINO quantises their
activations per token group at run time (`DYNAMIC_QUANTIZATION_GROUP_SIZE`).
NNCF runs only here, once; the saved model needs nothing but OpenVINO. Whether
the result is faithful enough on a given machine is `auto`'s fidelity check.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path

from .common import exclusive
from .ir import save_ir
from .onnx_export import PREFIX, _remove_stale, ensure_onnx, model_fingerprint, remove_others

log = logging.getLogger(__name__)

# Bump when the recipe changes, so old files are not reused.
INT8_VERSION = 1
# OpenVINO quantises activations in groups of this many values along the input
# dimension (384 or 1536 here): smaller groups are more faithful and slower.
ACTIVATION_GROUP = 64
# Node names come from our own ONNX export (onnx_export.py): BertModel's modules.
KEEP_BF16 = (".*attention.*", ".*embeddings.*")
SUFFIX = f"-int8ffn{INT8_VERSION}"


def int8_path(cache_dir: Path, folder: Path) -> Path:
    """The OpenVINO IR (.xml; weights beside it in .bin) for this model install."""
    return cache_dir / f"{PREFIX}{model_fingerprint(folder)}{SUFFIX}.xml"


def ensure_int8(cache_dir: Path, folder: Path) -> Path:
    """The cached int8 model, made first if missing (needs nncf, and the ONNX export)."""
    path = int8_path(cache_dir, folder)
    if _made(path):
        return path
    onnx_file = ensure_onnx(cache_dir, folder)
    with exclusive(path):
        if _made(path):  # another process made it while this one waited
            return path
        _make(path, onnx_file, cache_dir)
    remove_others(cache_dir, f"{PREFIX}*{SUFFIX}.*", path)  # of a previous model install
    return path


def _made(path: Path) -> bool:
    return path.exists() and path.with_suffix(".bin").exists()


def _make(path: Path, onnx_file: Path, cache_dir: Path) -> None:
    _remove_stale(cache_dir)
    from .runtimes import _import_openvino

    ov = _import_openvino()
    log.info("compressing the feed-forward weights to int8 (once; needs nncf): %s", path)
    started = time.perf_counter()
    save_ir(_compress(ov.Core().read_model(str(onnx_file))), path, cache_dir)
    log.info("int8 model done in %.1f s", time.perf_counter() - started)


def _compress(model):  # type: ignore[no-untyped-def]
    import nncf

    nncf_log = logging.getLogger("nncf")
    level = nncf_log.level
    nncf_log.setLevel(logging.ERROR)
    try:
        # NNCF prints its tables and progress bars to stdout, which carries --json output.
        with contextlib.redirect_stdout(sys.stderr):
            return nncf.compress_weights(
                model,
                mode=nncf.CompressWeightsMode.INT8_ASYM,
                ignored_scope=nncf.IgnoredScope(patterns=list(KEEP_BF16)),
            )
    finally:
        nncf_log.setLevel(level)
