"""One BLAS thread per process.

briefbot's matrix products are small (one question against a few thousand sentence
vectors, a batch's mean pooling), and after each one OpenBLAS's idle worker spins on
the other core for a while before it sleeps, taking that core from the encoder and
SQLite running beside it: on two cores an ask spent twice its wall time in CPU. The
encoder (OpenVINO, ONNX Runtime) and FAISS keep their own thread pools.
"""

from __future__ import annotations

import functools


@functools.cache
def one_blas_thread() -> None:
    """Limit every BLAS library loaded so far (numpy's, FAISS's) to one thread."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
