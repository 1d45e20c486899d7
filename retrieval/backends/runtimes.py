"""ONNX Runtime (fp32) and OpenVINO (bf16 where the CPU has it) on the exported ONNX file.

Neither imports torch: tokenisation is `tokenizers`, pooling is numpy, so a
new process reaches its first embedding in well under a second.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

import numpy as np

from .common import MODEL_NAME
from .onnx_export import INPUTS, OUTPUT
from .wordpiece import WordPiece, all_cores, embed, model_settings

log = logging.getLogger(__name__)


class _OnnxModelEncoder:
    """Shared tokenise -> forward -> pool pipeline; subclasses supply `_forward`."""

    backend = ""
    precision = "fp32"

    def __init__(self, folder: Path, batch_size: int) -> None:
        max_seq_length, self.dim = model_settings(folder)
        self.name = MODEL_NAME
        self.batch_size = max(1, batch_size)
        self._wordpiece = WordPiece(folder, max_seq_length)
        self.max_tokens = self._wordpiece.max_tokens

    def _forward(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return embed(self._wordpiece.ids(texts), self._forward, self.batch_size, self.dim)

    def windows(self, text: str) -> list[tuple[int, int]]:
        return self._wordpiece.windows(text)


class OnnxRuntimeEncoder(_OnnxModelEncoder):
    """ONNX Runtime, CPU, fp32: the same vectors as torch (cosine 1.0), ~2.3x faster."""

    backend = "onnx"

    def __init__(self, onnx_file: Path, folder: Path, batch_size: int = 32, threads: int = 0):
        super().__init__(folder, batch_size)
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or all_cores()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # warnings about unused initialisers are noise
        self._session = ort.InferenceSession(
            str(onnx_file), options, providers=["CPUExecutionProvider"]
        )

    def _forward(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        # InferenceSession.run is thread-safe: the bot encodes from worker threads.
        feed = dict(zip(INPUTS, (ids, mask, types), strict=True))
        return self._session.run([OUTPUT], feed)[0]


def import_runtime(backend: str):  # type: ignore[no-untyped-def]
    """The runtime module of an ONNX backend ("onnx" or "openvino")."""
    if backend == "onnx":
        import onnxruntime

        return onnxruntime
    return _import_openvino()


def _import_openvino():  # type: ignore[no-untyped-def]
    """Import OpenVINO with its telemetry client replaced by OpenVINO's own no-op stub.

    `import openvino` pulls in the model-converter's telemetry (which can send usage
    data from `convert_model`); we never convert, and blocking the module also
    saves ~70 ms of start-up.
    """
    if "openvino" not in sys.modules:
        sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    import openvino

    return openvino


class OpenVinoEncoder(_OnnxModelEncoder):
    """OpenVINO CPU; bf16 inference precision when the CPU supports it (~4.7x torch fp32)."""

    backend = "openvino"

    def __init__(
        self,
        onnx_file: Path,
        folder: Path,
        batch_size: int = 32,
        threads: int = 0,
    ):
        super().__init__(folder, batch_size)
        ov = _import_openvino()

        # No CACHE_DIR: a compiled blob saves ~0.2 s per start but costs 90 MB per
        # OpenVINO version and thread count, and OpenVINO never deletes old ones.
        core = ov.Core()
        capabilities = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        self.precision = "bf16" if "BF16" in capabilities else "f32"
        config = {
            "INFERENCE_PRECISION_HINT": self.precision,
            "INFERENCE_NUM_THREADS": threads or all_cores(),
            "PERFORMANCE_HINT": "LATENCY",
        }
        self._compiled = core.compile_model(str(onnx_file), "CPU", config)
        self._request = self._compiled.create_infer_request()
        self._lock = threading.Lock()  # an infer request is not thread-safe

    def _forward(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        feed = dict(zip(INPUTS, (ids, mask, types), strict=True))
        with self._lock:
            self._request.infer(feed)
            return self._request.get_output_tensor(0).data.copy()
