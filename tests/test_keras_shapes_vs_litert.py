"""Keras models whose tensors have rank 3, converted to full int8 by the TFLite converter:
pyedge must run them natively, in TFLite's shapes, bit for bit with LiteRT's BUILTIN_REF.

Regression tests of issue 9: a softmax after a Reshape normalized over both axes (each head
summed to about 0.5), and a Dense applied to a 3-D input was refused as inconsistent.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from keras_int8 import int8_model

import pyedge

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")
from litert_reference import litert_output  # noqa: E402

RNG = np.random.default_rng(11)


def _int8_model(layers: list, input_shape: tuple[int, ...]) -> bytes:
    calibration = RNG.normal(size=(64, *input_shape)).astype(np.float32)
    return int8_model(layers, input_shape, calibration)


def _litert(content: bytes, x: np.ndarray) -> np.ndarray:
    return litert_output(content, x, dequantized=False)


def _check_native_and_exact(content: bytes, x: np.ndarray) -> np.ndarray:
    expected = _litert(content, x)
    for backend in ("native", "reference"):
        model = pyedge.Model(content, backend=backend)
        y = model.predict(x)
        assert y.shape == expected.shape, (backend, y.shape, expected.shape)
        np.testing.assert_array_equal(y, expected, err_msg=backend)
    return expected


def test_softmax_after_a_reshape_normalizes_each_head() -> None:
    content = _int8_model([tf.keras.layers.Dense(8), tf.keras.layers.Reshape((2, 4)),
                           tf.keras.layers.Softmax()], (6,))
    x = RNG.normal(size=(33, 6)).astype(np.float32)
    y = _check_native_and_exact(content, x)
    assert y.shape == (33, 2, 4)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, atol=0.02)  # int8 rounding of 4 values


def test_dense_on_a_3d_input_runs_natively() -> None:
    content = _int8_model([tf.keras.layers.Dense(5, activation="relu")], (4, 6))
    x = RNG.normal(size=(9, 4, 6)).astype(np.float32)
    assert _check_native_and_exact(content, x).shape == (9, 4, 5)


def test_dense_on_a_3d_input_then_flatten_and_classify() -> None:
    content = _int8_model([tf.keras.layers.Dense(5, activation="relu"), tf.keras.layers.Flatten(),
                           tf.keras.layers.Dense(3), tf.keras.layers.Softmax()], (4, 6))
    x = RNG.normal(size=(17, 4, 6)).astype(np.float32)
    assert _check_native_and_exact(content, x).shape == (17, 3)
