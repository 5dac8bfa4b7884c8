"""Input checks for the Python backends, with the same messages as the native one
(cpp/python/core_module.cc), so every backend rejects bad input the same way."""

from __future__ import annotations

import math

import numpy as np


def _shape_text(shape: tuple) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def as_batch(x: object, feature_shape: tuple[int, ...], int8_input: bool) -> tuple[np.ndarray, bool]:
    """(rows as a C-contiguous float32 array, or int8 for an int8-input model given int8;
    whether x was one row). Raises TypeError / ValueError like the native backend."""
    try:
        a = np.asarray(x)
    except Exception:
        raise TypeError("predict() needs a NumPy array or a nested sequence of numbers") from None
    if a.dtype.kind not in "fiub":
        raise TypeError(f"predict() needs numbers, got an array of dtype {a.dtype}")
    single = a.shape == tuple(feature_shape)
    if not single and (a.ndim != len(feature_shape) + 1 or a.shape[1:] != tuple(feature_shape)):
        expected = "(rows, " + ", ".join(str(d) for d in feature_shape) + ")"
        raise ValueError(f"expected input of shape {expected} or {_shape_text(feature_shape)}, "
                         f"got {_shape_text(a.shape)}")
    rows = a.reshape(1, *feature_shape) if single else a
    if int8_input and rows.dtype == np.int8:
        return np.ascontiguousarray(rows), single
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    finite = np.isfinite(rows.reshape(rows.shape[0], math.prod(feature_shape))).all(axis=1)
    if not finite.all():
        raise ValueError(f"input row {int(np.argmin(finite))} contains NaN or Inf (after "
                         "conversion to float32); predict() accepts finite values only")
    return rows, single
