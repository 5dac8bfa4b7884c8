"""Input checks for the Python backends, with the same messages as the native one
(cpp/python/core_module.cc), so every backend rejects bad input the same way."""

from __future__ import annotations

import math

import numpy as np


def _shape_text(shape: tuple) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def as_batch(x: object, feature_shape: tuple[int, ...],
             raw_dtype: np.dtype | None) -> tuple[np.ndarray, bool]:
    """(rows as a C-contiguous float32 array, or as they are when they have the dtype of the
    model's quantized input `raw_dtype` (int8, uint8, int16); whether x was one row). Raises
    TypeError / ValueError like the native backend."""
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
    if raw_dtype is not None and rows.dtype == raw_dtype:
        return np.ascontiguousarray(rows), single
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    finite = np.isfinite(rows.reshape(rows.shape[0], math.prod(feature_shape))).all(axis=1)
    if not finite.all():
        raise ValueError(f"input row {int(np.argmin(finite))} contains NaN or Inf (after "
                         "conversion to float32); predict() accepts finite values only")
    return rows, single


def is_table(x: object) -> bool:
    """A table whose columns have names: a pandas DataFrame or Series, a NumPy structured
    array, or a dict of columns (found by duck typing: pandas is never imported here)."""
    if isinstance(x, np.ndarray):
        return x.dtype.names is not None
    return isinstance(x, dict) or (hasattr(x, "to_numpy") and hasattr(x, "index"))


def table_rows(x: object, names: tuple[str, ...] | None, feature_shape: tuple[int, ...]) -> np.ndarray:
    """The model's features, in the model's order, out of a table with named columns: float32
    (rows, *feature_shape), or one row (*feature_shape) for a dict of scalars or a Series.
    Columns the model does not use are ignored; a missing one is a ValueError naming it."""
    if names is None:
        if isinstance(x, dict) or (isinstance(x, np.ndarray) and x.dtype.names is not None):
            raise TypeError("this model carries no feature names, so predict() cannot match "
                            "columns by name: pass a plain array with the features in training order")
        return np.asarray(x)  # a DataFrame without names to match: its columns in order
    if isinstance(x, np.ndarray):
        available = set(x.dtype.names)
    elif hasattr(x, "columns"):
        available = {str(c) for c in x.columns}
    else:
        available = {str(k) for k in x.keys()}  # a dict, or a Series (its index)
    missing = [n for n in names if n not in available]
    if missing:
        shown = ", ".join(repr(n) for n in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        plural = "s" if len(missing) > 1 else ""
        raise ValueError(f"predict() input has no column for the model's feature{plural} "
                         f"{shown}{more} (the model's features: {', '.join(names)})")
    if hasattr(x, "columns"):  # DataFrame: columns may be non-string labels
        by_name = {str(c): c for c in x.columns}
        columns = [np.asarray(x[by_name[n]].to_numpy(), dtype=np.float32) for n in names]
    else:
        columns = [np.asarray(x[n], dtype=np.float32) for n in names]
    rows = np.stack(columns, axis=-1)
    return rows.reshape(*rows.shape[:-1], *feature_shape) if len(feature_shape) > 1 else rows
