"""The machine's limit: dense float32 matrix products in NumPy and TensorFlow.

The best of these GFLOP/s is the denominator of model FLOPs utilisation. It is measured in
the same run as the training steps (their repeats interleaved), so both see the same load.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf


def matmul_runners(n: int) -> dict[str, Callable[[], object]]:
    """One n×n float32 product per call, in NumPy (its BLAS) and in TensorFlow (oneDNN/Eigen)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    ta, tb = tf.constant(a), tf.constant(b)
    product = tf.function(tf.linalg.matmul)
    return {
        f"NumPy {n}²": lambda: a @ b,
        f"TensorFlow {n}²": lambda: product(ta, tb).numpy(),
    }
