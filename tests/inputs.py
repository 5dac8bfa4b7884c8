"""Deterministic test inputs, identical on every platform and NumPy version.

NumPy's Generator streams may change between releases, and the committed expected outputs
(tests/fixtures/expected.json) must not, so the inputs come from splitmix64 in uint64
arithmetic instead.
"""

from __future__ import annotations

import numpy as np


def _splitmix64(n: int, seed: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = (np.arange(n, dtype=np.uint64) + np.uint64(seed)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def make_inputs(rows: int, features: int, seed: int, far_fraction: float = 0.1) -> np.ndarray:
    """Float32 rows roughly in [-2, 2] (the calibration range); `far_fraction` of the rows are
    scaled by 10 to 1000, far outside it, so saturation paths are exercised."""
    bits = _splitmix64(rows * features, seed * 7919 + 1)
    # 24 random bits -> a float32 in [0, 1) exactly representable, then an approximate normal
    # as the sum of two uniforms (triangular), enough to look like standardized features.
    u = (bits >> np.uint64(40)).astype(np.float64) / float(1 << 24)
    v = ((bits >> np.uint64(16)) & np.uint64(0xFFFFFF)).astype(np.float64) / float(1 << 24)
    x = ((u + v - 1.0) * 2.0).reshape(rows, features)
    far_rows = _splitmix64(rows, seed * 31 + 7) % np.uint64(1000) < np.uint64(far_fraction * 1000)
    factors = np.array([10.0, 100.0, 1000.0])[np.arange(rows) % 3]
    x[far_rows] *= factors[far_rows, None]
    return x.astype(np.float32)
