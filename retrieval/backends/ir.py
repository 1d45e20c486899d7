"""The ONNX export converted once to OpenVINO's own format (IR: .xml + .bin), for `openvino`.

OpenVINO reads an ONNX file through its ONNX frontend, converting the graph on every
start; reading the saved IR skips that conversion (CPU and wall figures in
bench/RESULTS.md), and every process that loads the model pays it: `ask`, `ingest`,
the bot. The IR is the same graph with the same fp32 weights, so the vectors do not
change (tests/test_embed.py checks it); the fidelity verdict stays keyed on the ONNX
file it is made from. Named by OpenVINO's version too: an IR is written for the
reader of the version that saved it.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

from ..atomic import replacing
from .common import exclusive
from .onnx_export import PREFIX, ensure_onnx, remove_others

log = logging.getLogger(__name__)

IR_VERSION = 1  # bump when the conversion changes, so old files are not reused
TAG = f"-ir{IR_VERSION}-ov"


def ir_path(onnx_file: Path) -> Path:
    import openvino

    version = "".join(c if c.isalnum() else "_" for c in openvino.__version__.split("-")[0])
    return onnx_file.with_name(f"{onnx_file.stem}{TAG}{version}.xml")


def made(path: Path) -> bool:
    return path.exists() and path.with_suffix(".bin").exists()


def ensure_ir(cache_dir: Path, folder: Path) -> Path:
    """The IR of the ONNX export, converted first if missing; the ONNX file itself when
    the cache cannot take the IR (a read-only or full disk), which OpenVINO reads too."""
    onnx_file = ensure_onnx(cache_dir, folder)
    path = ir_path(onnx_file)
    if made(path):
        return path
    try:
        with exclusive(path):
            if not made(path):  # another process may have made it while this one waited
                from .runtimes import _import_openvino

                started = time.perf_counter()
                save_ir(_import_openvino().Core().read_model(str(onnx_file)), path, cache_dir)
                log.info("OpenVINO IR made in %.1f s: %s", time.perf_counter() - started, path)
    except OSError as exc:
        log.warning("could not save the OpenVINO IR (%s); reading the ONNX file", exc)
        return onnx_file
    remove_others(cache_dir, f"{PREFIX}*{TAG}*", path)  # of an older OpenVINO or model
    return path


def save_ir(model, path: Path, cache_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """Save `model` as `path` (.xml) and its .bin so that a reader never sees half of it.

    OpenVINO names the .bin after the .xml, so it saves into a working folder first.
    The .xml is entered first so it is renamed last: a reader that sees it finds its
    weights complete.
    """
    from .runtimes import _import_openvino

    weights = path.with_suffix(".bin")
    with (
        tempfile.TemporaryDirectory(prefix=path.stem + ".", suffix=".tmp", dir=cache_dir) as work,
        replacing(path) as xml_tmp,
        replacing(weights) as bin_tmp,
    ):
        _import_openvino().save_model(model, str(Path(work) / path.name), compress_to_fp16=False)
        os.replace(Path(work) / weights.name, bin_tmp)
        os.replace(Path(work) / path.name, xml_tmp)
