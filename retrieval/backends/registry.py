"""Every embedding backend, declared once: what it needs, what it makes, how it loads.

`retrieval.embed` answers every question about a backend (is it installed, is the
CPU right for it, which file does it load, where does `auto` try it) from its entry
here, so adding a backend is adding one `Backend` to `REGISTRY`. Loaders import
their runtime only when called, so reading the registry imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .common import Encoder

# (model folder, cache dir, batch size, threads) -> a ready encoder
Loader = Callable[[Path, Path, int, int], "Encoder"]


@dataclass(frozen=True)
class CpuNeed:
    """CPU features without which a backend runs, but slower than it is worth."""

    flags: frozenset[str]  # any one of them will do
    why: str  # said to the user when none is present
    # Flags on which a later backend in auto's order is faster (auto skips this one there;
    # a configured backend still loads), and the reason auto logs.
    outranked_by: frozenset[str] = frozenset()
    outranked_why: str = ""


@dataclass(frozen=True)
class Backend:
    name: str  # the `[embedding] backend` value
    modules: tuple[str, ...]  # imported at run time
    # Distributions whose versions change the vectors: part of the fidelity verdict's key,
    # so an upgrade is re-checked rather than trusted.
    libraries: tuple[str, ...]
    load: Loader
    # The file it runs on, made once into the cache dir on first use (None: the packaged
    # model itself), and the modules needed only to make that file.
    artifact: Callable[[Path, Path], Path] | None = None
    make_modules: tuple[str, ...] = ()
    cpu: CpuNeed | None = None
    # Where `auto` tries it, lowest first, after a fidelity check against the reference
    # (`backends.fidelity`); None: auto never checks it (the reference is auto's fallback).
    # Fastest first, as measured on news sentences (bench/encoders.py; figures in the README).
    auto_rank: int | None = None


def _torch(bf16: bool) -> Loader:
    def load(folder: Path, cache_dir: Path, batch_size: int, threads: int) -> Encoder:
        from .torch_st import SentenceTransformerEncoder

        return SentenceTransformerEncoder(folder, batch_size, threads, bf16=bf16)

    return load


def _onnx_file(cache_dir: Path, folder: Path) -> Path:
    from .onnx_export import onnx_path

    return onnx_path(cache_dir, folder)


def _int8_file(cache_dir: Path, folder: Path) -> Path:
    from .int8 import int8_path

    return int8_path(cache_dir, folder)


def _runtime_first(name: str) -> None:
    """A broken runtime should fail before the slow export, not after."""
    from . import runtimes

    runtimes.import_runtime(name)


def _load_onnxruntime(folder: Path, cache_dir: Path, batch_size: int, threads: int) -> Encoder:
    _runtime_first("onnx")
    from .onnx_export import ensure_onnx
    from .runtimes import OnnxRuntimeEncoder

    return OnnxRuntimeEncoder(ensure_onnx(cache_dir, folder), folder, batch_size, threads)


def _load_openvino(folder: Path, cache_dir: Path, batch_size: int, threads: int) -> Encoder:
    _runtime_first("openvino")
    from .ir import ensure_ir
    from .runtimes import OpenVinoEncoder

    return OpenVinoEncoder(ensure_ir(cache_dir, folder), folder, batch_size, threads)


def _load_openvino_int8(folder: Path, cache_dir: Path, batch_size: int, threads: int) -> Encoder:
    _runtime_first("openvino-int8")
    from .int8 import ACTIVATION_GROUP, ensure_int8
    from .runtimes import OpenVinoEncoder

    model = ensure_int8(cache_dir, folder)
    return OpenVinoEncoder(model, folder, batch_size, threads, activation_group=ACTIVATION_GROUP)


_TORCH = ("torch", "sentence_transformers")
_TORCH_LIBRARIES = ("torch", "sentence-transformers", "transformers", "tokenizers")
_EXPORT = ("torch", "transformers", "onnx")

# In the order the "unknown backend" error lists them; auto's order is auto_rank.
REGISTRY: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend(
            name="sentence-transformers",
            modules=_TORCH,
            libraries=_TORCH_LIBRARIES,
            load=_torch(bf16=False),
        ),
        Backend(
            name="st-bf16",
            modules=_TORCH,
            libraries=_TORCH_LIBRARIES,
            load=_torch(bf16=True),
            cpu=CpuNeed(
                frozenset({"avx512_bf16", "amx_bf16"}),
                "the CPU has no native bf16 (autocast would be emulated and slow)",
            ),
            # Last of the checked ones: it pays torch's seconds-long import on every start.
            auto_rank=3,
        ),
        Backend(
            name="onnx",
            modules=("onnxruntime", "tokenizers"),
            libraries=("onnxruntime", "tokenizers", "numpy"),
            load=_load_onnxruntime,
            artifact=_onnx_file,
            make_modules=_EXPORT,
            # fp32 like the reference, so slower than OpenVINO's bf16 or int8.
            auto_rank=2,
        ),
        Backend(
            name="openvino",
            modules=("openvino", "tokenizers"),
            libraries=("openvino", "tokenizers", "numpy"),
            load=_load_openvino,
            artifact=_onnx_file,
            make_modules=_EXPORT,
            # bf16 arithmetic where the CPU has it.
            auto_rank=1,
        ),
        Backend(
            name="openvino-int8",
            modules=("openvino", "tokenizers"),
            libraries=("openvino", "nncf", "tokenizers", "numpy"),
            load=_load_openvino_int8,
            artifact=_int8_file,
            make_modules=(*_EXPORT, "nncf"),  # the int8 model is made from the ONNX export
            cpu=CpuNeed(
                frozenset({"avx512_vnni", "avx_vnni", "amx_int8"}),
                "the CPU has no int8 dot-product instructions (VNNI), so int8 is not faster",
                # AMX tiles run OpenVINO's bf16 matrix products faster than the int8
                # feed-forward's dynamically quantized ones (bench/encoders.py).
                outranked_by=frozenset({"amx_bf16"}),
                outranked_why="the CPU has AMX bf16 tiles, on which openvino's bf16 is faster",
            ),
            # Fastest where VNNI does the feed-forward layers' int8 arithmetic without AMX.
            auto_rank=0,
        ),
    )
}
REFERENCE = "sentence-transformers"
_RANKED = {b.auto_rank: b.name for b in REGISTRY.values() if b.auto_rank is not None}
AUTO_ORDER = tuple(_RANKED[rank] for rank in sorted(_RANKED))
