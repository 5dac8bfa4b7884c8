"""CNNs as the field writes them (Keras Conv1D sensor nets, Conv2D image nets, with max and
average pooling, depthwise-separable keyword spotters), converted to full int8 by the TFLite
converter: pyedge runs CONV_2D, DEPTHWISE_CONV_2D, MAX_POOL_2D and AVERAGE_POOL_2D natively,
on every kernel this CPU has and on the NumPy reference, bit for bit with LiteRT's BUILTIN_REF.
Strides, dilations, SAME padding with odd pixels (where a pool's window is clipped to the
image), 1x1 convolutions, depth multipliers, per-tensor and per-channel filters, int8 and float
I/O. (The converter writes a dilated Keras convolution as
SPACE_TO_BATCH_ND -> CONV_2D -> BATCH_TO_SPACE_ND, which runs on the interpreter.)
"""

from __future__ import annotations

import os

import keras_int8
import numpy as np
import pytest
from conftest import supported_kernels

import pyedge

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")
from litert_reference import litert_output  # noqa: E402

L = tf.keras.layers
ROWS = 70  # several tiles of rows, and enough work per call to split it across threads


def int8_model(layers: list, input_shape: tuple[int, ...], per_channel: bool = True,
               int8_io: bool = False) -> bytes:
    calibration = np.random.default_rng(3).normal(size=(64, *input_shape)).astype(np.float32)
    return keras_int8.int8_model(layers, input_shape, calibration, per_channel, int8_io)


MODELS = {
    # A Conv1D activity / sensor net: EXPAND_DIMS -> CONV_2D -> RESHAPE for each Conv1D.
    "conv1d_sensor_net": lambda: ([L.Conv1D(8, 5, activation="relu"), L.MaxPooling1D(2),
                                   L.Conv1D(16, 3, padding="same", activation="relu6"), L.Flatten(),
                                   L.Dense(4), L.Softmax()], (64, 3)),
    "conv1d_strided": lambda: ([L.Conv1D(6, 3), L.AveragePooling1D(3, 2, "same"),
                                        L.Conv1D(5, 4, strides=3, padding="same"), L.Flatten(),
                                        L.Dense(3)], (50, 4)),
    "conv2d_small_vision": lambda: ([L.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
                                     L.AveragePooling2D(2), L.Flatten(), L.Dense(3)], (12, 12, 1)),
    "conv2d_odd_padding_and_1x1": lambda: ([L.Conv2D(8, (3, 5), activation="relu"),
                                            L.MaxPooling2D(3, strides=2, padding="same"),
                                            L.Conv2D(6, 1), L.AveragePooling2D(2, padding="same"),
                                            L.Flatten(), L.Dense(5)], (13, 11, 3)),
    "conv2d_keyword_spotter": lambda: ([L.Conv2D(8, (10, 4), strides=(2, 2), padding="same",
                                                 activation="relu"),
                                        L.Conv2D(8, 3, padding="same", activation="relu", use_bias=False),
                                        L.MaxPooling2D((2, 2)), L.Flatten(), L.Dense(12),
                                        L.Softmax()], (49, 10, 1)),
    # A DS-CNN keyword spotter on 49x10 MFCCs: depthwise-separable blocks, a whole-map average.
    "ds_cnn_keyword_spotter": lambda: ([L.Conv2D(8, (10, 4), strides=2, padding="same", activation="relu"),
                                        L.DepthwiseConv2D(3, padding="same", activation="relu"),
                                        L.Conv2D(8, 1, activation="relu"),
                                        L.SeparableConv2D(8, 3, padding="same", activation="relu"),
                                        L.AveragePooling2D((25, 5)), L.Flatten(), L.Dense(12),
                                        L.Softmax()], (49, 10, 1)),
    # Depth multipliers and strides, in 1-D (EXPAND_DIMS -> DEPTHWISE_CONV_2D -> RESHAPE).
    "depthwise_1d_multiplier": lambda: ([L.Conv1D(4, 3),
                                         L.DepthwiseConv1D(5, strides=2, depth_multiplier=2, padding="same",
                                                           activation="relu6"),
                                         L.SeparableConv1D(6, 3, depth_multiplier=3), L.Flatten(),
                                         L.Dense(3)], (40, 3)),
    # Global average pooling: MEAN over the time axis of [batch, steps, channels], and over
    # both spatial axes of NHWC.
    "conv1d_global_average": lambda: ([L.Conv1D(8, 5, activation="relu"), L.GlobalAveragePooling1D(),
                                       L.Dense(4), L.Softmax()], (64, 3)),
    "vision_global_average": lambda: ([L.Conv2D(6, 3, strides=2, activation="relu"),
                                       L.DepthwiseConv2D(3, padding="same"), L.GlobalAveragePooling2D(),
                                       L.Dense(3)], (16, 16, 2)),
    # Explicit padding (PAD): Keras ZeroPadding1D and 2D. (The converter folds into the next
    # convolution a ZeroPadding2D that equals its SAME padding, as MobileNet's ((0, 1), (0, 1))
    # before a stride-2 depthwise does: this one, ((1, 1), (1, 1)), stays a PAD.)
    "conv1d_zero_padding": lambda: ([L.Conv1D(6, 3, activation="relu"), L.ZeroPadding1D((2, 1)),
                                     L.Conv1D(4, 3), L.Flatten(), L.Dense(3)], (20, 2)),
    "mobilenet_like_pad": lambda: ([L.Conv2D(8, 3, strides=2, padding="same", activation="relu6"),
                                    L.ZeroPadding2D(((1, 1), (1, 1))),
                                    L.DepthwiseConv2D(3, strides=2, activation="relu6"),
                                    L.Conv2D(12, 1, activation="relu6"), L.GlobalAveragePooling2D(),
                                    L.Dense(4), L.Softmax()], (24, 24, 3)),
}
WINDOW_OPS = {"Conv2D", "DepthwiseConv2D", "MaxPool2D", "AveragePool2D"}


@pytest.fixture(scope="module", params=[(name, per_channel, int8_io) for name in MODELS
                                        for per_channel, int8_io in ((True, False), (False, True))],
                ids=lambda p: f"{p[0]}-{'per_channel' if p[1] else 'per_tensor_int8_io'}")
def converted(request) -> tuple[str, bytes, np.ndarray]:
    name, per_channel, int8_io = request.param
    layers, shape = MODELS[name]()
    content = int8_model(layers, shape, per_channel, int8_io)
    x = np.random.default_rng(len(name)).normal(size=(ROWS, *shape)).astype(np.float32) * 1.5
    return name, content, x


@pytest.mark.parametrize("kernel", supported_kernels())
def test_cnn_runs_natively_bit_for_bit_with_litert(converted, kernel, monkeypatch) -> None:
    name, content, x = converted
    monkeypatch.setenv("PYEDGE_KERNEL", kernel)
    model = pyedge.Model(content)
    assert model.backend.startswith("native"), model.backend
    if model.plan.float_input:
        y = model.predict(x)
        np.testing.assert_array_equal(y, litert_output(content, x, "BUILTIN_REF"), err_msg=name)
    else:  # int8 in and out: compare the bytes
        rows = pyedge.quantization.quantize(x, *model.input_quantization)
        y = model.predict(rows)
        expected = litert_output(content, rows, "BUILTIN_REF")
        np.testing.assert_array_equal(y, expected, err_msg=name)
    np.testing.assert_array_equal(model.predict(x[5]), y[5])  # one row, no batch axis


def test_reference_backend_and_every_intermediate_tensor_equal_litert(converted) -> None:
    name, content, x = converted
    native, reference = pyedge.Model(content), pyedge.Model(content, backend="reference")
    rows = x if native.plan.float_input else pyedge.quantization.quantize(x, *native.input_quantization)
    np.testing.assert_array_equal(reference.predict(rows), native.predict(rows))
    np.testing.assert_array_equal(reference.predict(rows), litert_output(content, rows, "BUILTIN_REF"))
    ops = {layer.describe()[0] for layer in native.plan.layers}
    assert ops & WINDOW_OPS, ops
    if "depthwise" in name or "ds_cnn" in name:
        assert "DepthwiseConv2D" in ops, ops
    if "global_average" in name:
        assert "Mean" in ops, ops
    if name.endswith(("zero_padding", "_pad")):
        assert "Pad" in ops, ops


@pytest.mark.parametrize("layer, op", [
    (L.Cropping1D(2), "STRIDED_SLICE"),  # a slice of the data, which the native plan does not run yet
    (L.Conv1D(4, 3, dilation_rate=2), "SPACE_TO_BATCH_ND"),  # how the converter writes dilation
])
def test_a_cnn_with_an_op_not_yet_native_runs_on_litert_with_the_reason(layer, op) -> None:
    content = int8_model([L.Conv1D(8, 3, activation="relu"), layer, L.Flatten(), L.Dense(3)], (20, 2))
    model = pyedge.Model(content)
    assert model.backend.startswith("interpreter") and f"unsupported op {op}" in model.backend
    x = np.random.default_rng(1).normal(size=(9, 20, 2)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x), litert_output(content, x, "BUILTIN_REF"))
