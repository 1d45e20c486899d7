"""ONNX Runtime (fp32) and OpenVINO (bf16 where the CPU has it) on the exported ONNX file,
or OpenVINO on the int8 model made from it (`backends.int8`).

None imports torch: tokenisation is `tokenizers`, pooling is numpy, so a
new process reaches its first embedding without paying torch's slow import.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

import numpy as np

from .common import MODEL_NAME
from .onnx_export import INPUTS, OUTPUT
from .wordpiece import (
    TOKENS_PER_TEXT,
    WordPiece,
    all_cores,
    embed,
    mean_pool,
    model_settings,
    normalise,
    padded_batches,
)

log = logging.getLogger(__name__)


class _OnnxModelEncoder:
    """Shared tokenise -> forward -> pool pipeline; subclasses supply `_forward`."""

    backend = ""
    precision = "fp32"

    def __init__(self, folder: Path, batch_size: int) -> None:
        max_seq_length, self.dim = model_settings(folder)
        self.name = MODEL_NAME
        self.batch_size = max(1, batch_size)
        self.batch_tokens = self.batch_size * TOKENS_PER_TEXT
        self._wordpiece = WordPiece(folder, max_seq_length)
        self.max_tokens = self._wordpiece.max_tokens

    def _forward(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return embed(self._wordpiece.ids(texts), self._forward, self.batch_tokens, self.dim)

    def windows(self, text: str) -> list[tuple[int, int]]:
        return self._wordpiece.windows(text)


class OnnxRuntimeEncoder(_OnnxModelEncoder):
    """ONNX Runtime, CPU, fp32: the same vectors as torch, faster, and without importing it."""

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
    shortens start-up.
    """
    if "openvino" not in sys.modules:
        sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    import openvino

    return openvino


class OpenVinoEncoder(_OnnxModelEncoder):
    """OpenVINO CPU; bf16 inference precision when the CPU supports it.

    The model is compiled twice, each on first use. Queries run on a latency-tuned
    compilation that spreads one batch over every core. Bulk
    encoding runs on a throughput-tuned one with one stream per core and two batches
    queued per stream, so while one core pads or pools a batch the other is
    still in the model. That one is faster in bulk but slower for a single question,
    hence the two.
    """

    backend = "openvino"

    def __init__(
        self,
        onnx_file: Path,
        folder: Path,
        batch_size: int = 32,
        threads: int = 0,
        *,
        activation_group: int = 0,
    ):
        """`onnx_file` may also be an OpenVINO IR (.xml), e.g. the int8 one (`backends.int8`).

        `activation_group` > 0 quantises the activations of int8-weight layers in groups
        of that many values at run time (0: no int8 arithmetic).
        """
        super().__init__(folder, batch_size)
        ov = _import_openvino()
        self.activation_group = activation_group
        if activation_group:
            self.backend = "openvino-int8"

        # No CACHE_DIR: a compiled blob saves a little start-up but costs a model-sized
        # file per OpenVINO version and thread count, and OpenVINO never deletes old ones.
        self._core = ov.Core()
        self._model = self._core.read_model(str(onnx_file))
        capabilities = self._core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        self._arithmetic = "bf16" if "BF16" in capabilities else "f32"
        self.precision = self._arithmetic + (", int8 feed-forward" if activation_group else "")
        self.threads = threads or all_cores()
        self._async_queue = ov.AsyncInferQueue
        self._request = None
        self._queue = None
        # A request or queue is not thread-safe; a query and a bulk encode may overlap.
        self._request_lock = threading.Lock()
        self._queue_lock = threading.Lock()

    def _compile(self, hint: str, streams: int):  # type: ignore[no-untyped-def]
        config = {
            "INFERENCE_PRECISION_HINT": self._arithmetic,
            "INFERENCE_NUM_THREADS": self.threads,
            "PERFORMANCE_HINT": hint,
            "NUM_STREAMS": streams,
        }
        if self.activation_group:
            # Without it the int8 weights would only be widened to bf16 on every pass.
            config["DYNAMIC_QUANTIZATION_GROUP_SIZE"] = self.activation_group
        return self._core.compile_model(self._model, "CPU", config)

    def _forward(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        feed = dict(zip(INPUTS, (ids, mask, types), strict=True))
        with self._request_lock:
            if self._request is None:
                self._request = self._compile("LATENCY", 1).create_infer_request()
            self._request.infer(feed)
            return self._request.get_output_tensor(0).data.copy()

    def encode(self, texts: list[str]) -> np.ndarray:
        if len(texts) <= self.batch_size:
            return super().encode(texts)
        return self.encode_bulk(texts)

    def encode_bulk(self, texts: list[str]) -> np.ndarray:
        """`encode` on the throughput-tuned model however few the texts: what an ingest
        process compiles anyway, so its few short texts (the topic prototypes) do not
        compile the latency-tuned one as well."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)

        def pooled(request, batch) -> None:  # type: ignore[no-untyped-def]
            # Runs on OpenVINO's thread as each batch finishes; rows never overlap.
            out[batch.rows] = mean_pool(request.get_output_tensor(0).data, batch.mask)

        with self._queue_lock:
            if self._queue is None:
                compiled = self._compile("THROUGHPUT", self.threads)
                # Two requests per stream: the next batch is ready when a stream frees up.
                self._queue = self._async_queue(compiled, 2 * self.threads)
            self._queue.set_callback(pooled)
            for batch in padded_batches(self._wordpiece.ids(texts), self.batch_tokens):
                types = np.zeros_like(batch.input_ids)
                feed = dict(zip(INPUTS, (batch.input_ids, batch.mask, types), strict=True))
                self._queue.start_async(feed, batch)
            self._queue.wait_all()
        return normalise(out)
