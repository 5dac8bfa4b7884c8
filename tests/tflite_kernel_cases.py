"""The int8 cases of TensorFlow Lite's and TFLite Micro's own kernel tests, as data.

Sources (read, not copied: only inputs, parameters and expected values are ported):
* "tflite": tensorflow/tensorflow tensorflow/lite/kernels/{fully_connected,activations,reshape,
  conv,pooling,pad}_test.cc
* "tflm": tensorflow/tflite-micro tensorflow/lite/micro/kernels/{fully_connected,softmax,
  logistic,tanh,reshape,pooling,depthwise_conv,reduce,pad}_test.cc

Each case keeps the test's float inputs and how its harness quantizes them, the quantization
parameters (TFLite's harness derives some from a float [min, max]: `min_max_params`), the
expected values and the test's own criterion:
* check="float": TFLite's ArrayFloatNear on the dequantized output, `tolerance` in real units;
* check="quantized": TFLite Micro quantizes the golden floats with the output parameters and
  compares int8 values within `tolerance` quantization steps (0: exactly);
* expected_int8: the exact int8 values a TFLite test also asserts.

Rank-1 tensors of the tests ([8], [89]) become the batch of one [1, N]: pyedge models have a
batch dimension, and for these row-wise ops the two compute the same values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Case:
    source: str  # "tflite" or "tflm"
    file: str  # the test file, e.g. "fully_connected_test.cc"
    test: str  # the test's name (and which of its models, when it builds several)
    op: str  # FULLY_CONNECTED, CONV_2D, SOFTMAX, LOGISTIC, TANH, RESHAPE, MAX_POOL_2D, ...
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    input_q: tuple[float, int]  # (scale, zero point) of the int8 input
    output_q: tuple[float, int]
    inputs: tuple[float, ...]  # float values, quantized on the host as the harness does
    expected: tuple[float, ...] = ()
    check: str = "float"  # "float" or "quantized", see the module docstring
    tolerance: float = 1e-5  # ArrayFloatNear's default max_abs_error
    expected_int8: tuple[int, ...] | None = None
    # FULLY_CONNECTED [N, K], CONV_2D [N, KH, KW, C]
    weights: tuple[float, ...] = ()
    weights_shape: tuple[int, ...] = (0, 0)
    weights_q: tuple[float, int] = (1.0, 0)
    weights_scales: tuple[float, ...] | None = None  # per output channel (then zero points 0)
    bias: tuple[float, ...] | None = None  # None: no bias
    bias_as_optional: bool = False  # no bias as a -1 input (TFLM) instead of 2 inputs (TFLite)
    activation: str = "NONE"
    keep_num_dims: bool = False
    beta: float = 1.0  # SOFTMAX
    new_shape: tuple[int, ...] | None = None  # RESHAPE's shape tensor
    new_shape_tensor_shape: tuple[int, ...] | None = None  # its shape (None: a vector)
    options_shape: tuple[int, ...] | None = None  # RESHAPE's ReshapeOptions.new_shape
    # CONV_2D and the pools: (height, width); the pools' filter
    filter: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: str = "VALID"
    axes: tuple[int, ...] = ()  # MEAN's axis tensor
    keep_dims: bool = False  # MEAN
    paddings: tuple[int, ...] = ()  # PAD / PADV2's int32 [rank, 2], flattened
    pad_value: float | None = None  # PADV2's constant value, quantized as the harness does
    pad_value_q: tuple[float, int] | None = None  # its quantization (None: the output's)
    # The installed LiteRT refuses the model at Prepare or its first invoke: pyedge must refuse it.
    prepare_fails: bool = False
    # pyedge's plan is meant to run it (False: only through the interpreter, for now).
    native: bool = True
    note: str = ""

    @property
    def id(self) -> str:
        return f"{self.source} {self.file} {self.test}"

    def quantized_inputs(self) -> np.ndarray:
        rule = tflite_quantize if self.source == "tflite" else tflm_quantize
        return rule(np.array(self.inputs, np.float32), *self.input_q).reshape(self.input_shape)

    def quantized_pad_value(self) -> np.ndarray:
        rule = tflite_quantize if self.source == "tflite" else tflm_quantize
        return rule(np.array([self.pad_value], np.float32), *(self.pad_value_q or self.output_q))

    @property
    def channel_axis(self) -> int:
        """The filter's output-channel axis: 3 for DEPTHWISE_CONV_2D's [1, KH, KW, N], else 0."""
        return 3 if self.op == "DEPTHWISE_CONV_2D" else 0

    @property
    def channels(self) -> int:
        return self.weights_shape[self.channel_axis]

    @property
    def filter_scales(self) -> np.ndarray:
        """float32 [N]: each output channel's weight scale."""
        scales = self.weights_scales or (self.weights_q[0],) * self.channels
        return np.array(scales, np.float32)

    def quantized_weights(self) -> np.ndarray:
        rule = tflite_quantize if self.source == "tflite" else tflm_quantize
        w = np.moveaxis(np.array(self.weights, np.float32).reshape(self.weights_shape), self.channel_axis, 0)
        if self.weights_scales is None:
            q = rule(w, *self.weights_q)
        else:  # PerChannelSymmetricQuantizeAndPopulate: round(w / scale[channel]), zero point 0.
            q = rule(w / self.filter_scales.reshape(-1, *[1] * (w.ndim - 1)), 1.0, 0)
        return np.moveaxis(q, 0, self.channel_axis)

    def quantized_bias(self) -> np.ndarray:
        # Both harnesses: scale input_scale * weights_scale (a float32 product), zero point 0.
        scale = np.float32(self.input_q[0]) * self.filter_scales
        return _round_half_away(np.array(self.bias, np.float32) / scale).astype(np.int32)


def min_max_params(f_min: float, f_max: float) -> tuple[float, int]:
    """(scale, zero point) TFLite's test harness (SingleOpModel) gives an int8 tensor declared
    with a float range, in its float32 arithmetic: scale = range / 255, and the zero point
    from whichever end adds the smaller terms, rounded half away from zero."""
    f_min, f_max = np.float32(f_min), np.float32(f_max)
    scale = (f_max - f_min) / np.float32(255)
    from_min, from_max = np.float32(-128) - f_min / scale, np.float32(127) - f_max / scale
    min_error = np.float32(128) + abs(f_min / scale)
    max_error = np.float32(127) + abs(f_max / scale)
    zero_point = from_min if min_error < max_error else from_max
    return float(scale), int(np.clip(math.copysign(math.floor(abs(zero_point) + 0.5), zero_point),
                                     -128, 127))


def tflite_quantize(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """TFLite's harness (QuantizeAndPopulate): round(zero_point + x / scale) in float32."""
    q = np.float32(zero_point) + x.astype(np.float32) / np.float32(scale)
    return np.clip(_round_half_away(q), -128, 127).astype(np.int8)


def tflm_quantize(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """TFLite Micro's harness (Quantize): round(x / scale) + zero_point."""
    q = _round_half_away(x.astype(np.float32) / np.float32(scale)) + zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def _round_half_away(x: np.ndarray) -> np.ndarray:
    return np.copysign(np.floor(np.abs(x.astype(np.float64)) + 0.5), x)


# ---- FULLY_CONNECTED ---------------------------------------------------------------------------

# Both FC files share these: 2 rows of 10 inputs, 3 units of weights 1..10, bias 1, 2, 3.
_FC_INPUT = (1, 2, 3, 4, 5, 6, 7, 8, -9, -10,
             1, 2, 3, 4, 5, 6, 7, -8, 9, -10)
_FC_WEIGHTS = tuple(range(1, 11)) * 3
_FC_GOLDEN = (24, 25, 26, 58, 59, 60)
_FC_GOLDEN_NO_BIAS = (23, 23, 23, 57, 57, 57)
# TFLite's quantized FC model declares the weights with the input's float range, so they are
# asymmetric (zero point -1): LiteRT's reference kernel honours it, pyedge's plan does not
# take non-zero weight zero points (the converter never writes them).
_TFLITE_WEIGHTS_ZP = "weights zero point -1 (the harness gives the weights the input's range)"

FULLY_CONNECTED = [
    Case("tflite", "fully_connected_test.cc", "QuantizedFullyConnectedOpTest.SimpleTestQuantizedInt8",
         "FULLY_CONNECTED", (2, 10), (2, 3), min_max_params(-63.5, 64), min_max_params(-127, 128),
         _FC_INPUT, _FC_GOLDEN, expected_int8=(23, 24, 25, 57, 58, 59),
         weights=_FC_WEIGHTS, weights_shape=(3, 10), weights_q=min_max_params(-63.5, 64),
         bias=(1, 2, 3), activation="RELU", native=False, note=_TFLITE_WEIGHTS_ZP),
    Case("tflite", "fully_connected_test.cc",
         "QuantizedFullyConnectedOpTest.SimpleTestQuantizedInt8NoBias",
         "FULLY_CONNECTED", (2, 10), (2, 3), min_max_params(-63.5, 64), min_max_params(-127, 128),
         _FC_INPUT, _FC_GOLDEN_NO_BIAS, expected_int8=(22, 22, 22, 56, 56, 56),
         weights=_FC_WEIGHTS, weights_shape=(3, 10), weights_q=min_max_params(-63.5, 64),
         bias=None, activation="RELU", native=False, note=_TFLITE_WEIGHTS_ZP),
    Case("tflite", "fully_connected_test.cc",
         "QuantizedFullyConnectedOpTest.SimpleTestSingleBatchQuantizedInt8",
         "FULLY_CONNECTED", (1, 10), (1, 4), min_max_params(-63.5, 64), min_max_params(-127, 128),
         (1, 2, 3, 4, 5, 6, 7, -8, 9, -10), (58, 59, 60, 61), expected_int8=(57, 58, 59, 60),
         weights=tuple(range(1, 11)) * 4, weights_shape=(4, 10), weights_q=min_max_params(-63.5, 64),
         bias=(1, 2, 3, 4), activation="RELU", native=False, note=_TFLITE_WEIGHTS_ZP),
    Case("tflite", "fully_connected_test.cc",
         "QuantizedFullyConnectedOpTest.SimpleTestQuantizedOutputMultiplierGreaterThan1Int8",
         "FULLY_CONNECTED", (2, 10), (2, 3), min_max_params(-127, 128), min_max_params(-63.5, 64),
         _FC_INPUT, _FC_GOLDEN, expected_int8=(47, 49, 51, 115, 117, 119),
         weights=_FC_WEIGHTS, weights_shape=(3, 10), weights_q=min_max_params(-127, 128),
         bias=(1, 2, 3), activation="RELU", native=False, note=_TFLITE_WEIGHTS_ZP),
    Case("tflm", "fully_connected_test.cc", "SimpleTestQuantizedInt8",
         "FULLY_CONNECTED", (2, 10), (2, 3), (1.0, -1), (0.5, -1), _FC_INPUT, _FC_GOLDEN,
         check="quantized", tolerance=0, weights=_FC_WEIGHTS, weights_shape=(3, 10),
         weights_q=(1.0, 0), bias=(1, 2, 3)),
    # A [1, 1, 2, 10] input is two rows of the weights' depth 10: FULLY_CONNECTED flattens it
    # to [-1, 10] and writes a [2, 3] output.
    Case("tflm", "fully_connected_test.cc", "SimpleTest4DInputQuantizedInt8",
         "FULLY_CONNECTED", (1, 1, 2, 10), (2, 3), (1.0, -1), (0.5, -1), _FC_INPUT, _FC_GOLDEN,
         check="quantized", tolerance=0, weights=_FC_WEIGHTS, weights_shape=(3, 10),
         weights_q=(1.0, 0), bias=(1, 2, 3)),
    Case("tflm", "fully_connected_test.cc", "SimpleTestQuantizedInt8Relu",
         "FULLY_CONNECTED", (2, 10), (2, 3), (1.0, -1), (0.5, -128), _FC_INPUT,
         (24, 0, 26, 58, 0, 60), check="quantized", tolerance=0,
         weights=tuple(range(1, 11)) + tuple(range(-1, -11, -1)) + tuple(range(1, 11)),
         weights_shape=(3, 10), weights_q=(1.0, 0), bias=(1, -2, 3), activation="RELU"),
    Case("tflm", "fully_connected_test.cc", "SimpleTestQuantizedInt8NullBias",
         "FULLY_CONNECTED", (2, 10), (2, 3), (1.0, -1), (0.5, -1), _FC_INPUT, _FC_GOLDEN_NO_BIAS,
         check="quantized", tolerance=0, weights=_FC_WEIGHTS, weights_shape=(3, 10),
         weights_q=(1.0, 0), bias=None, bias_as_optional=True),
]


# fully_connected_test.cc (TFLite Micro): "input and filter similar to a real model", 1x64 in,
# 16 units; representative_64x16_{input,weights,bias}_data and _golden, 8 values a line.
def _values(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split())


_REPRESENTATIVE_INPUT = _values("""
    0.0000 0.1543 0.0000 0.0000 1.8520 0.0000 4.7844 1.1832
    0.0000 0.0000 0.0000 0.0000 0.0000 0.0000 1.5948 0.0000
    1.5948 1.9549 0.0000 1.2347 0.0000 1.5948 1.5948 0.5145
    0.0000 0.0000 0.0000 0.0000 2.6237 0.0000 0.0000 0.0000
    1.3890 5.3503 2.3665 2.9838 0.0000 1.2861 0.0000 3.0867
    0.9775 0.0000 5.9676 0.0000 0.0000 1.4405 0.5145 2.5723
    3.1896 4.4757 0.0000 0.0000 0.0000 0.0000 4.1671 0.0000
    2.8295 3.0353 0.0000 2.7780 0.0000 0.0000 0.0000 0.0000
""")
_REPRESENTATIVE_WEIGHTS = _values("""
    -0.1075  0.1245  0.1811 -0.1302 -0.1868  0.0679  0.1245  0.2321
    -0.1981 -0.2094  0.1358 -0.1698  0.0113  0.0566  0.1358 -0.2490
     0.0000 -0.1189 -0.0170 -0.0396 -0.3113  0.1641 -0.4188  0.0566
    -0.4471  0.4754 -0.0396  0.0113 -0.0340  0.0170  0.0170  0.1811
    -0.0792  0.4981  0.2490 -0.1924  0.0792  0.1868 -0.1075 -0.3962
     0.1358  0.2547 -0.1245 -0.0962 -0.0283  0.4132 -0.0057 -0.5150
     0.1019  0.1585 -0.0962 -0.2207 -0.2377  0.2830  0.4471  0.0170
     0.0566  0.2038  0.1019 -0.0226  0.2830  0.1415  0.0283 -0.0792
     0.4301  0.3226 -0.1132  0.4981 -0.3849 -0.2943 -0.2547 -0.2264
     0.0453 -0.0170  0.0396  0.1415  0.3000  0.2547  0.0962  0.2151
    -0.1585 -0.1302 -0.0057 -0.2773  0.0283 -0.0906  0.1302 -0.1075
    -0.0566  0.1755  0.2773  0.0283  0.0566  0.1528 -0.0736 -0.2830
     0.0792  0.0962 -0.2321 -0.0113  0.2660 -0.2887 -0.0566  0.0057
    -0.2547 -0.0679 -0.2321  0.0340  0.1868  0.2490  0.2264 -0.3509
     0.1585 -0.0849 -0.0623  0.1132  0.3396 -0.2490  0.1528  0.0679
     0.1755  0.4754 -0.0057 -0.2151 -0.1415 -0.1302 -0.2717  0.1641
     0.5037 -0.2321  0.0170 -0.1755 -0.1075 -0.0226  0.2038 -0.0340
    -0.5150 -0.3113  0.1472 -0.0226  0.1528  0.1189 -0.1472  0.0396
    -0.3000 -0.1924 -0.0283  0.0283  0.1641  0.0736  0.1472 -0.1755
    -0.1132  0.0113 -0.1868 -0.2604 -0.3283 -0.0509  0.0283 -0.0679
     0.0623  0.0792 -0.0283 -0.0962  0.0396  0.1641  0.4584  0.3226
     0.0226 -0.1811  0.2377 -0.1019  0.2321  0.1811 -0.1924 -0.0057
     0.0736  0.0113  0.2547 -0.2264 -0.0170 -0.0396  0.1245 -0.1415
     0.1755  0.3679 -0.2377 -0.0396 -0.1585 -0.3000 -0.1641 -0.1302
    -0.0396 -0.1698  0.1189  0.2434  0.1132 -0.1245 -0.1415  0.0453
     0.1868 -0.0906 -0.1189 -0.0509  0.0057 -0.1189 -0.0057  0.0170
    -0.1924  0.2207  0.0792 -0.4641 -0.2660  0.2943  0.1358 -0.0340
    -0.3339 -0.1189  0.0906 -0.4358  0.0453 -0.1755  0.1415  0.0340
     0.1924 -0.0057  0.2321 -0.2094 -0.1132  0.0000  0.1924 -0.3000
     0.0340 -0.3396 -0.0906 -0.0340  0.1641 -0.0226 -0.1472 -0.1019
     0.2377 -0.0962 -0.3396 -0.5433  0.0906  0.2151 -0.0679  0.1755
     0.1528  0.0283 -0.4188 -0.0340 -0.0057 -0.0679  0.0509  0.1472
    -0.3849 -0.0113  0.3962  0.0849  0.1472  0.0340 -0.1358  0.1641
    -0.2038  0.2151 -0.1189 -0.3679  0.0906 -0.0679  0.5716 -0.0057
    -0.0736  0.0113  0.2830 -0.2887  0.0396  0.0849 -0.0736 -0.0736
    -0.3679  0.2264  0.0113 -0.1641  0.0396 -0.1132 -0.0623  0.3113
     0.5999 -0.1415  0.1472 -0.2038 -0.1132 -0.2377  0.0566  0.1755
    -0.0057 -0.0453  0.0226  0.1132  0.1698  0.0340 -0.0226  0.0226
     0.4415 -0.3792  0.0792  0.3736 -0.5999 -0.3056 -0.1924 -0.1132
    -0.0962  0.0283  0.0000 -0.3339 -0.3226  0.3679 -0.0453 -0.1641
     0.0170  0.1302 -0.0170 -0.0509  0.1755 -0.0283 -0.1302 -0.2887
    -0.0679  0.0340  0.4641  0.2321  0.7188  0.3339 -0.1075  0.4754
    -0.0226  0.3226 -0.1528 -0.0849  0.0509 -0.1981  0.0113  0.2321
     0.2773 -0.1019  0.4075  0.0396  0.0792  0.1132 -0.0906 -0.4188
     0.1924 -0.3679 -0.6396  0.1358  0.4981  0.4132 -0.0283  0.3849
    -0.3509 -0.0566 -0.0962  0.3113 -0.1811  0.4019  0.0453 -0.0057
    -0.1868 -0.2490 -0.0792 -0.3622  0.1924 -0.0453 -0.1528 -0.1811
     0.5943 -0.1302  0.3170 -0.0170  0.0509 -0.1528 -0.1755  0.5547
     0.2490 -0.0906  0.0000  0.1698  0.0000  0.0340 -0.1132 -0.0509
    -0.1755 -0.2943  0.1472  0.0849  0.0000  0.1528 -0.0566  0.1528
    -0.5264 -0.5320 -0.0736  0.0566  0.2604 -0.4075  0.0962 -0.3453
    -0.1415  0.0057  0.3905  0.2830  0.3679  0.5320 -0.2660  0.0340
     0.0736  0.0057  0.2207  0.4471  0.0849  0.3000 -0.0057 -0.0623
     0.1415 -0.0566  0.5264 -0.0340  0.0226 -0.0623 -0.0113 -0.5037
    -0.4471  0.0170 -0.0396 -0.1358 -0.1698  0.1924  0.0057 -0.1585
     0.0849 -0.1698  0.0057 -0.1245 -0.0170 -0.1755 -0.0792  0.5264
     0.1358  0.2434  0.1585 -0.4188 -0.1472 -0.1358 -0.0849 -0.1189
     0.5037  0.0736 -0.0453 -0.2434  0.1868 -0.0679  0.1415 -0.2717
     0.2604  0.0057 -0.1528 -0.1811  0.0226 -0.1641  0.3170 -0.1981
     0.1245  0.0226  0.0566  0.2830 -0.1755  0.0396 -0.2094  0.1924
     0.1698  0.0283  0.1641  0.0849  0.0000 -0.1698 -0.1415 -0.3000
     0.4471  0.3056 -0.0283 -0.4245 -0.0453  0.0226  0.0000 -0.1075
    -0.1528 -0.3226  0.2773 -0.2264 -0.1811  0.1755 -0.3566 -0.4188
     0.1755 -0.0057  0.2038  0.1075  0.3679 -0.0792  0.2207 -0.0453
     0.3736  0.2943 -0.0113 -0.0623  0.2264  0.0113 -0.0396 -0.2207
     0.0453 -0.2830 -0.1302  0.0623 -0.1924 -0.1811 -0.2717  0.2830
     0.2094  0.0170 -0.3170 -0.0283 -0.1189 -0.0509 -0.0566 -0.3622
     0.1132 -0.0906  0.1132  0.4019 -0.4698 -0.1019 -0.1075 -0.2094
    -0.2207 -0.0509  0.0057  0.1019 -0.0509  0.2264 -0.5716  0.0226
    -0.4019  0.1641 -0.3000  0.3849  0.1245  0.0679  0.3056  0.2377
     0.0679 -0.0170 -0.5377 -0.0170  0.0057  0.1358 -0.1132 -0.2038
     0.0679  0.1075 -0.2773  0.5943  0.0623 -0.1472  0.3566  0.0396
    -0.2377  0.2604  0.0849  0.1358 -0.3792 -0.0340 -0.1415  0.3566
    -0.3736  0.1245  0.0566  0.3396  0.0736  0.4019 -0.1528  0.1075
     0.0792 -0.2547  0.0453 -0.1755  0.1868 -0.2547  0.1075  0.0623
     0.1698 -0.0170  0.1585 -0.0736 -0.4358 -0.0113 -0.6792 -0.0849
    -0.0396 -0.6056  0.1358  0.1189  0.2547  0.1528  0.2887  0.0453
    -0.1075 -0.3283 -0.0453 -0.0509  0.2038  0.2547  0.0849 -0.0566
    -0.1698  0.0509 -0.0113 -0.1585  0.1924 -0.0792 -0.1868  0.0509
    -0.1698 -0.0849 -0.0170  0.0453  0.3170  0.0906 -0.5943 -0.1245
     0.1585 -0.1755 -0.2151  0.0906  0.1924  0.3170 -0.2490 -0.5660
    -0.0283  0.0962 -0.1358  0.1585  0.0057 -0.2604  0.1189 -0.0170
     0.3509  0.0623  0.0679 -0.1302 -0.0792  0.0906 -0.0792  0.0849
    -0.1924  0.2604 -0.1245 -0.3679  0.0340  0.0113 -0.1698  0.2490
     0.0283  0.1019 -0.3736  0.1019 -0.2207 -0.0340  0.3170  0.1755
     0.0962  0.3226 -0.0113 -0.1189 -0.2321 -0.0226 -0.2434 -0.0170
    -0.1585 -0.0283 -0.1132  0.0679 -0.4188 -0.0453  0.1528 -0.1302
    -0.3792  0.1415 -0.1358 -0.1811  0.1302  0.1415  0.5207  0.0509
    -0.1358 -0.0396 -0.2434  0.0396  0.0792 -0.2264 -0.1415  0.0906
     0.1245  0.0170  0.0623 -0.1415  0.2773 -0.3566 -0.0396  0.2887
     0.4188  0.1698 -0.2547  0.1132 -0.0453 -0.0113 -0.1358  0.1075
     0.0566  0.1075  0.2604 -0.0849 -0.2490  0.1415  0.0509 -0.2151
     0.0340  0.1698  0.0509 -0.0906  0.0566 -0.1075 -0.2151  0.2038
    -0.1924 -0.0113  0.2830  0.1358 -0.1189  0.0113 -0.5603 -0.2830
    -0.2943  0.0453 -0.0396  0.1358  0.0566  0.2038 -0.3283 -0.0509
     0.0509  0.1641  0.2094 -0.2038 -0.1868 -0.1585 -0.2207 -0.1302
     0.0396 -0.1019 -0.0679  0.1075 -0.4584 -0.2207  0.2434 -0.0113
     0.0849  0.1755 -0.3056  0.1585 -0.2547  0.0453  0.0906 -0.1358
    -0.0679 -0.0509  0.0679 -0.3509  0.0057  0.0453  0.4132 -0.1981
     0.2264 -0.0736  0.1075  0.0679 -0.0906 -0.3113  0.0509  0.0849
     0.2604  0.0623 -0.3113  0.3849  0.0000  0.6396 -0.2038 -0.1019
     0.1245 -0.0453  0.1641  0.1075 -0.1075 -0.2660 -0.4528 -0.0566
    -0.0170  0.0453  0.0340  0.1189 -0.2434 -0.0283 -0.1811  0.2547
     0.0000 -0.0226  0.4471  0.1019 -0.1472  0.0849  0.1075  0.1075
     0.0283 -0.2773  0.4415 -0.1811  0.2717  0.3170  0.0509  0.0623
    -0.0962  0.1585 -0.0792 -0.1811 -0.0792 -0.3283  0.0962 -0.1698
    -0.0736  0.0453  0.0962 -0.3566 -0.4584  0.3396 -0.4811  0.3056
    -0.1755  0.2490 -0.1698 -0.2377 -0.3339 -0.0453  0.1811  0.0736
     0.0340 -0.0962 -0.0113 -0.3056 -0.3339  0.2038  0.2038 -0.1924
     0.2547 -0.4471 -0.0849 -0.2038  0.3566 -0.4811  0.3453  0.0849
     0.1189  0.3170 -0.1358  0.2717  0.0113 -0.4754 -0.1924  0.4245
    -0.2773  0.3453  0.2264  0.2943  0.5320  0.2773 -0.2264 -0.1019
    -0.1132 -0.3962  0.3679  0.0509 -0.0623 -0.0906 -0.5603 -0.1641
    -0.3170 -0.2377  0.1415 -0.0509  0.0792  0.0170 -0.0226 -0.0057
    -0.1358 -0.4245  0.3905  0.3113  0.0340 -0.1189  0.2887 -0.2943
    -0.3056  0.2434  0.1019 -0.0170  0.3849  0.1528 -0.0736 -0.0170
     0.0792  0.1755  0.0509  0.3509  0.1472  0.1528  0.1472  0.0057
     0.0113 -0.0113 -0.3283 -0.3962 -0.0792 -0.1245 -0.0283 -0.1868
     0.4019  0.2943 -0.0906 -0.2321  0.6056  0.1189  0.0340 -0.2207
    -0.0453  0.3339  0.2377 -0.1641  0.3736  0.2151 -0.2547  0.0453
     0.1924 -0.1019 -0.0340 -0.2207  0.3962 -0.4471 -0.2547 -0.2151
    -0.3736  0.0283  0.1189  0.0283  0.0736  0.0396  0.1019  0.0283
     0.0170  0.2321  0.3509 -0.0226 -0.0226  0.0736  0.0283  0.1641
    -0.0906  0.1811  0.0226  0.5716 -0.0396 -0.0509 -0.1641 -0.0509
     0.4132 -0.2604  0.1019 -0.0283 -0.0340  0.0453  0.1472 -0.0057
     0.2717 -0.2094  0.3396  0.0340  0.1245  0.2547 -0.5886  0.2717
    -0.0906  0.1641  0.0962 -0.0792 -0.0113  0.2264 -0.0736  0.3170
     0.0623  0.0679  0.0623 -0.0792 -0.2207  0.1924  0.1245 -0.2773
""")
_REPRESENTATIVE_BIAS = _values("""
    -0.0084  0.0006  0.0000  0.0000 -0.0087 -0.0006 -0.0003 -0.0003
     0.0006 -0.0003 -0.0003 -0.0003 -0.0253  0.0012  0.0000  0.0000
""")
_REPRESENTATIVE_GOLDEN = _values("""
     3.8624 -2.9580  4.3043 -1.2844 -1.5769 -2.7998 -0.1011 -3.4029
    -1.0557 -7.1931 -1.4852 -0.4163  1.7186 -0.6965  0.3580  2.7378
""")
FULLY_CONNECTED.append(
    Case("tflm", "fully_connected_test.cc", "Representative1x64Input1x16OutputQuantizedInt8",
         "FULLY_CONNECTED", (1, 64), (1, 16), (0.051445, -128), (0.069785, -9),
         _REPRESENTATIVE_INPUT, _REPRESENTATIVE_GOLDEN, check="quantized", tolerance=0,
         weights=_REPRESENTATIVE_WEIGHTS, weights_shape=(16, 64), weights_q=(0.005660, 0),
         bias=_REPRESENTATIVE_BIAS))


# fully_connected_test.cc (TensorFlow Lite): FloatFullyConnectedOpTest's 4-D cases, with the
# int8 parameters of TFLite Micro's SimpleTestQuantizedInt8 (the values stay small integers).
_TFLITE_FLOAT_AS_INT8 = "a float test, with TFLite Micro's SimpleTestQuantizedInt8 parameters"
FULLY_CONNECTED += [
    # keep_num_dims: the output keeps the input's leading dimensions, [1, 2, 1, 3].
    Case("tflite", "fully_connected_test.cc",
         "FloatFullyConnectedOpTest.SimpleTest4DInput4DOutput (as int8)", "FULLY_CONNECTED",
         (1, 2, 1, 10), (1, 2, 1, 3), (1.0, -1), (0.5, -1), _FC_INPUT, _FC_GOLDEN,
         check="quantized", tolerance=0, weights=_FC_WEIGHTS, weights_shape=(3, 10),
         weights_q=(1.0, 0), bias=(1, 2, 3), keep_num_dims=True, note=_TFLITE_FLOAT_AS_INT8),
    # [4, 1, 5, 1] is two rows of 10: the batch of 4 becomes 2 (rows mix: the interpreter's).
    Case("tflite", "fully_connected_test.cc",
         "FloatFullyConnectedOpTest.SimpleTest4DInput (as int8)", "FULLY_CONNECTED",
         (4, 1, 5, 1), (2, 3), (1.0, -1), (0.5, -1), _FC_INPUT, _FC_GOLDEN,
         check="quantized", tolerance=0, weights=_FC_WEIGHTS, weights_shape=(3, 10),
         weights_q=(1.0, 0), bias=(1, 2, 3), native=False, note=_TFLITE_FLOAT_AS_INT8),
    # EXPECT_DEATH "Cannot allocate tensors": with keep_num_dims the last dimension must be 10.
    Case("tflite", "fully_connected_test.cc",
         "FloatFullyConnectedOpTest.SimpleTest4DInputInvalidShape (as int8)", "FULLY_CONNECTED",
         (4, 1, 5, 1), (4, 1, 5, 3), (1.0, -1), (0.5, -1), _FC_INPUT, weights=_FC_WEIGHTS,
         weights_shape=(3, 10), weights_q=(1.0, 0), bias=(1, 2, 3), keep_num_dims=True,
         prepare_fails=True, note=_TFLITE_FLOAT_AS_INT8),
]

# ---- SOFTMAX -----------------------------------------------------------------------------------

# activations_test.cc: beta 0.1, input declared [-10, 10], output 1/256 and -128 (the
# harness's int8 softmax output), kQuantizedTolerance = 2 / 256.
_SOFTMAX_X = (0, -6, 2, 4, 3, -2, 10, 1)
_ROWS_OF_4 = (.23463, .12877, .28658, .35003, .22528, .13664, .45365, .18443)
_ROWS_OF_2 = (0.645656, 0.354344, 0.450166, 0.549834, 0.622459, 0.377541, 0.710949, 0.28905)
_TOL = 2 / 256


def _tflite_softmax(test: str, shape: tuple[int, ...], expected: tuple[float, ...],
                    expected_int8: tuple[int, ...] | None = None) -> Case:
    return Case("tflite", "activations_test.cc", test, "SOFTMAX", shape, shape,
                min_max_params(-10, 10), (1 / 256, -128), _SOFTMAX_X, expected, tolerance=_TOL,
                expected_int8=expected_int8, beta=0.1)


# softmax_test.cc (TFLite Micro): beta 1, input 0.1 and 0, output 1/256 and -128, golden
# values quantized and compared within 1 step. Its 3-D input is the first 60 of the 4-D one.
_TFLM_SOFTMAX_4D = (
    3, 6, -5, 4, -9, -10, -10, -8, 2, 2, 8, -5, -8, 5, -6, -8, 6, 1, -10, -8,
    7, 6, -10, -4, -5, 2, 7, 9, -9, 7, -4, -2, 8, 2, 2, 3, 6, 6, 2, 4,
    9, 7, -7, 0, 4, -3, 8, 8, -3, -4, -9, -9, 4, -8, -1, -10, -2, 6, -7, 0,
    -9, -8, 6, -1, -5, -10, -5, -10, 7, -2, -5, -4, 1, 2, 2, -2, -2, 1, 1, -4,
    -8, -3, 1, 1, -1, -2, 6, -1, -5, 6, -7, 8, 9, 0, 9, -9, -5, -2, 0, 8,
    4, 2, -3, 5, 8, -1, 1, -4, -9, 7, 3, -8, 0, 9, -4, 8, -1, 9, -9, 1)


def softmax_golden(x: tuple[float, ...], shape: tuple[int, ...], beta: float = 1.0) -> tuple:
    """The golden tables of softmax_test.cc are softmax over the last axis of the inputs,
    printed to 9 decimals (test_tflite_kernel_cases checks entries of them against this)."""
    z = beta * np.array(x, np.float64).reshape(-1, shape[-1])
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return tuple((e / e.sum(axis=1, keepdims=True)).reshape(-1))


def _tflm_softmax(test: str, shape: tuple[int, ...]) -> Case:
    x = (1, 2, 3, 4, 5, -1, -2, -3, -4, -5) if len(shape) <= 2 else _TFLM_SOFTMAX_4D
    x = x[:math.prod(shape)]
    return Case("tflm", "softmax_test.cc", test, "SOFTMAX", shape, shape, (0.1, 0), (1 / 256, -128),
                x, softmax_golden(x, shape), check="quantized", tolerance=1)


SOFTMAX = [
    _tflite_softmax("QuantizedActivationsOpTest.Softmax1DInt8 (rank 1 as [1, 8])", (1, 8),
                    (0.09766, 0.05469, 0.12109, 0.14453, 0.13281, 0.07813, 0.26563, 0.10938)),
    _tflite_softmax("QuantizedActivationsOpTest.Softmax2DInt8 [2, 4]", (2, 4), _ROWS_OF_4),
    _tflite_softmax("QuantizedActivationsOpTest.Softmax2DInt8 [4, 2]", (4, 2), _ROWS_OF_2),
    _tflite_softmax("QuantizedActivationsOpTest.Softmax3DInt8 [1, 2, 4]", (1, 2, 4), _ROWS_OF_4),
    _tflite_softmax("QuantizedActivationsOpTest.Softmax3DInt8 [4, 1, 2]", (4, 1, 2), _ROWS_OF_2),
    _tflite_softmax("QuantizedActivationsOpTest.Softmax4DInt8 [1, 2, 1, 4]", (1, 2, 1, 4), _ROWS_OF_4,
                    expected_int8=(-68, -95, -54, -38, -70, -93, -12, -81)),
    _tflite_softmax("QuantizedActivationsOpTest.Softmax4DInt8 [4, 1, 1, 2]", (4, 1, 1, 2), _ROWS_OF_2),
    _tflm_softmax("Softmax1DQuantizedInt8ShouldMatchGolden", (1, 5)),
    _tflm_softmax("Softmax2DQuantizedInt8ShouldMatchGolden", (2, 5)),
    _tflm_softmax("Softmax3DQuantizedInt8ShouldMatchGolden", (3, 4, 5)),
    _tflm_softmax("Softmax4DQuantizedInt8ShouldMatchGolden", (2, 3, 4, 5)),
]


# ---- LOGISTIC and TANH -------------------------------------------------------------------------

# activations_test.cc's 89-point tables ("64+16+8+1 elements, from -10 to 10" / "-8 to 8") are
# evenly spaced inputs and their sigmoid / tanh to 10 decimals (checked against entries of the
# tables in test_tflite_kernel_cases); TFLite Micro's tanh_test.cc reuses the -8..8 one in an
# array of 90, whose last element is therefore 0.
SIGMOID_X = tuple(np.linspace(-10, 10, 89))
TANH_X = tuple(np.linspace(-8, 8, 89))


def sigmoid(x: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(1 / (1 + np.exp(-np.array(x, np.float64))))


def tanh(x: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(np.tanh(np.array(x, np.float64)))


_LOGISTIC_BASIC = (1, 2, 3, 4, 5, -1, -2, -3, -4, -5)
_LOGISTIC_WIDE = (1, 2, 3, 4, 93)  # the test's shape [1, 5] covers the first 5 of its 10 values

LOGISTIC = [
    Case("tflite", "activations_test.cc", "LogisticOpTest.SigmoidInt8 (rank 1 as [1, 89])",
         "LOGISTIC", (1, 89), (1, 89), min_max_params(-10, 10), (1 / 256, -128), SIGMOID_X,
         sigmoid(SIGMOID_X), tolerance=_TOL),
    # TFLite Micro quantizes its logistic output with 1/255; LiteRT's Prepare requires exactly
    # 1/256 ("output->params.scale == 1. / 256 was not true"), so pyedge must refuse them.
    Case("tflm", "logistic_test.cc", "LogisticQuantizedInt8BasicShouldMatchGolden",
         "LOGISTIC", (2, 5), (2, 5), (0.1, 0), (1 / 255, -128), _LOGISTIC_BASIC,
         sigmoid(_LOGISTIC_BASIC), check="quantized", tolerance=1, prepare_fails=True),
    Case("tflm", "logistic_test.cc", "LogisticQuantizedInt8WideRangeShouldMatchGolden",
         "LOGISTIC", (1, 5), (1, 5), (1.0, 0), (1 / 255, -128), _LOGISTIC_WIDE,
         sigmoid(_LOGISTIC_WIDE), check="quantized", tolerance=1, prepare_fails=True),
]

TANH = [
    Case("tflite", "activations_test.cc", "TanhOpTest.TanhInt8 (rank 1 as [1, 89])",
         "TANH", (1, 89), (1, 89), min_max_params(-8, 8 * 127 / 128), min_max_params(-1, 127 / 128),
         TANH_X, tanh(TANH_X), tolerance=0.014),
    # Named SimpleTestTanhUInt8 in the file, but int8 data; output scale 1.99999955 / 256
    # (not 1/128), which LiteRT's reference TANH accepts (it builds a lookup table).
    Case("tflm", "tanh_test.cc", "SimpleTestTanhUInt8 (int8)",
         "TANH", (1, 90), (1, 90), (16 / 256, 0), (1.99999955 / 256, 0), TANH_X + (0.0,),
         tanh(TANH_X) + (0.0,), check="quantized", tolerance=2),
]


# ---- RESHAPE -----------------------------------------------------------------------------------

# reshape_test.cc (TFLite Micro): int8 data 1..8 with scale 1 and zero point 0, the new shape
# in a constant int32 tensor, output equal to the input. These change the batch dimension,
# which pyedge's row-wise plan does not model: they go through the interpreter.
_RESHAPE_NOTE = "changes the batch dimension: natively, each input row gives two output rows"

RESHAPE = [
    Case("tflm", "reshape_test.cc", "ReshapeWithRegularShapesShouldSucceed (int8)",
         "RESHAPE", (1, 2, 4, 1), (2, 2, 2), (1.0, 0), (1.0, 0), tuple(range(1, 9)),
         tuple(range(1, 9)), check="quantized", tolerance=0, new_shape=(2, 2, 2), native=True,
         note=_RESHAPE_NOTE),
    Case("tflm", "reshape_test.cc", "ReshapeWithStretchDimensionShouldSucceed (int8)",
         "RESHAPE", (1, 2, 4, 1), (2, 1, 4), (1.0, 0), (1.0, 0), tuple(range(1, 9)),
         tuple(range(1, 9)), check="quantized", tolerance=0, new_shape=(2, 1, -1), native=True,
         note=_RESHAPE_NOTE),
]


# reshape_test.cc (TensorFlow Lite): ReshapeOpModel is typed, and its cases are written for
# float; a RESHAPE copies the bytes whatever the type, so they are ported as int8 (scale 1, zero
# point 0: the values stay 1..8), with the shape both as a constant tensor and in the options,
# as the test's kAsConstantTensor build writes it.
_TFLITE_RESHAPE_NOTE = "a float test of the typed ReshapeOpModel, as int8 (the bytes are copied)"


def _tflite_reshape(test: str, input_shape: tuple[int, ...], output_shape: tuple[int, ...],
                    shape_data: tuple[int, ...], shape_shape: tuple[int, ...],
                    prepare_fails: bool = False) -> Case:
    values = tuple(range(1, math.prod(input_shape) + 1))
    name = f"VariedShapeSpec/ReshapeOpTest.{test} (kAsConstantTensor, int8)"
    return Case("tflite", "reshape_test.cc", name,
                "RESHAPE", input_shape, output_shape, (1.0, 0), (1.0, 0), values, values,
                check="quantized", tolerance=0, new_shape=shape_data,
                new_shape_tensor_shape=shape_shape, options_shape=shape_data,
                prepare_fails=prepare_fails, note=_TFLITE_RESHAPE_NOTE)


RESHAPE += [
    _tflite_reshape("RegularShapes", (1, 2, 4, 1), (2, 2, 2), (2, 2, 2), (3,)),
    _tflite_reshape("WithStretchDimension", (1, 2, 4, 1), (2, 1, 4), (2, 1, -1), (3,)),
    # A [2, 2] shape tensor is no vector: the shape comes from the options, flat.
    _tflite_reshape("InvalidShape", (1, 2, 2), (1, 2, 2, 1), (1, 2, 2, 1), (2, 2)),
    # EXPECT_DEATH at Prepare: "num_input_elements != num_output_elements", "stretch_dim != -1".
    _tflite_reshape("MismatchedDimensions", (1, 2, 4, 1), (2, 1), (2, 1), (2,), prepare_fails=True),
    _tflite_reshape("TooManySpecialDimensions", (1, 2, 4, 1), (2, 4), (-1, -1, 2, 4), (4,),
                    prepare_fails=True),
]


# ---- CONV_2D -----------------------------------------------------------------------------------

# conv_test.cc's PerChannelQuantizedConvolutionOpModel: input and output int8 with scale 0.5 and
# zero point -1, a [2, 2, 2, 2] filter, VALID, stride 1x1 over a [1, 2, 3, 2] image.
_CONV = dict(input_shape=(1, 2, 3, 2), output_shape=(1, 1, 2, 2), input_q=(0.5, -1),
             output_q=(0.5, -1), inputs=(3, 2, 1, -1, -2, -3, 4, 3, 2, -2, -3, -4),
             weights=(1, 2, 3, 4, 3, 4, 5, 6, 7, 8, 5, 6, 3, 4, 1, 2), weights_shape=(2, 2, 2, 2),
             bias=(3, -2))

CONV_2D = [
    Case("tflite", "conv_test.cc", "ConvolutionOpTest.SimplePerTensorTest", "CONV_2D",
         expected=(31, 56, -57, -44), expected_int8=(61, 111, -115, -89), weights_scales=(1.0, 1.0),
         **_CONV),
    # Channel 1's weights / 2 round half away (3.5 -> 4, 2.5 -> 3, ...): it computes 64 and -46.
    Case("tflite", "conv_test.cc", "ConvolutionOpTest.SimplePerChannelTest", "CONV_2D",
         expected=(31, 64, -57, -46), expected_int8=(61, 127, -115, -93), weights_scales=(1.0, 2.0),
         **_CONV),
    # EXPECT_DEATH "Cannot allocate tensors": a filter zero point other than 0.
    Case("tflite", "conv_test.cc", "ConvolutionOpTest.AsymmetricPerchannelQuantization", "CONV_2D",
         weights_q=(1.0, 1), prepare_fails=True, **_CONV),
]

# ---- MAX_POOL_2D, AVERAGE_POOL_2D --------------------------------------------------------------

# TFLite's pooling_test.cc: a [1, 2, 4, 1] image declared with the float range [0, 15.9375]
# (scale 1/16, zero point -128), its default options VALID, stride 2x2, here with a 2x2 filter.
_POOL_Q = min_max_params(0, 15.9375)
_TFLITE_POOLS = dict(input_shape=(1, 2, 4, 1), output_shape=(1, 1, 2, 1), input_q=_POOL_Q,
                     output_q=_POOL_Q, filter=(2, 2), stride=(2, 2))

POOLING = [
    Case("tflite", "pooling_test.cc", "QuantizedPoolingOpTest.SymmetricAveragePool",
         "AVERAGE_POOL_2D", inputs=(0, 6, 2, 4, 3, 2, 10, 7), expected=(2.75, 5.75),
         expected_int8=(44 - 128, 92 - 128), **_TFLITE_POOLS),
    # The negative inputs quantize to the zero point, 0.0: the maximum of each window is
    # 3 and 7, as the test expects.
    Case("tflite", "pooling_test.cc", "QuantizedInt8PoolingOpTest.MaxPool",
         "MAX_POOL_2D", inputs=(0, -6, 2, 4, 3, 2, -10, 7), expected=(3, 7),
         expected_int8=(-80, -16), **_TFLITE_POOLS),
]


def _tflm_pool(test: str, op: str, inputs: tuple[int, ...], golden: tuple[int, ...],
               stride: tuple[int, int], scale: float, activation: str = "NONE",
               padding: str = "VALID") -> Case:
    """A TFLite Micro pooling test on a [1, 2, 4, 1] int8 image with a 2x2 filter, input and
    output of the same scale and zero point 0; its int8 inputs and goldens exact."""
    out_h = 2 if padding == "SAME" else (2 - 2) // stride[0] + 1
    out_w = 4 // stride[1] if padding == "SAME" else (4 - 2) // stride[1] + 1
    return Case("tflm", "pooling_test.cc", test, op, (1, 2, 4, 1), (1, out_h, out_w, 1),
                (scale, 0), (scale, 0), tuple(v * scale for v in inputs),
                tuple(v * scale for v in golden), check="quantized", tolerance=0,
                expected_int8=golden, activation=activation, filter=(2, 2), stride=stride,
                padding=padding)


_TFLM_AVERAGE_IN = (0, -24, 8, 16, 12, 8, -40, 28)
_TFLM_AVERAGE_IN_2 = (12, -24, 32, 16, 12, 8, 40, 28)
POOLING += [
    _tflm_pool("SimpleAveragePoolTestInt8PaddingValidStride2ActNone", "AVERAGE_POOL_2D",
               _TFLM_AVERAGE_IN, (-1, 3), (2, 2), 0.25),
    _tflm_pool("SimpleAveragePoolTestInt8PaddingValidStride1Stride2Relu", "AVERAGE_POOL_2D",
               _TFLM_AVERAGE_IN, (0, 0, 3), (2, 1), 0.25, "RELU"),
    _tflm_pool("SimpleAveragePoolTestInt8PaddingValidStride2Stride1ReluN1To1", "AVERAGE_POOL_2D",
               _TFLM_AVERAGE_IN, (-1, 3), (1, 2), 0.25, "RELU_N1_TO_1"),
    _tflm_pool("SimpleAveragePoolTestInt8PaddingValidStride2Relu6", "AVERAGE_POOL_2D",
               _TFLM_AVERAGE_IN_2, (2, 24), (2, 2), 0.25, "RELU6"),
    # The test passes kTfLitePaddingValid, but its [1, 2, 4, 1] output and goldens are SAME
    # padding's (TFLite Micro takes the output shape as given; TFLite's Prepare would make a
    # VALID output [1, 1, 3, 1]): ported as SAME, which its name says.
    _tflm_pool("SimpleAveragePoolTestInt8PaddingSameStride1ActNone", "AVERAGE_POOL_2D",
               _TFLM_AVERAGE_IN_2, (2, 14, 29, 22, 10, 24, 34, 28), (1, 1), 0.25, padding="SAME"),
    _tflm_pool("SimpleMaxPoolTestInt8ActNone", "MAX_POOL_2D", (0, 6, 2, 4, 3, 2, 10, 7), (6, 10),
               (2, 2), 1.0),
    _tflm_pool("MaxPoolTestInt8ActRelu", "MAX_POOL_2D", (-3, -12, 4, 8, -6, -4, 20, 14), (0, 20),
               (2, 2), 0.5, "RELU"),
    _tflm_pool("MaxPoolTestInt8ActReluN1To1", "MAX_POOL_2D", (-2, -6, -2, -4, -3, -2, 10, 7),
               (-1, 1), (2, 2), 1.0, "RELU_N1_TO_1"),
    _tflm_pool("MaxPoolTestInt8ActRelu6", "MAX_POOL_2D", (0, -6, 12, 4, -3, -2, 10, 7), (0, 6),
               (2, 2), 1.0, "RELU6"),
]

# ---- DEPTHWISE_CONV_2D -------------------------------------------------------------------------


def tflm_symmetric_scales(weights: tuple[float, ...], shape: tuple[int, ...]) -> tuple[float, ...]:
    """TFLite Micro's SignedSymmetricPerChannelQuantize on axis 3: each channel's scale is
    max(|min|, |max|) / 127 over its values (min and max start at 0), in float32."""
    w = np.array(weights, np.float32).reshape(-1, shape[3])
    peak = np.maximum(np.abs(np.minimum(w.min(axis=0), 0)), np.abs(np.maximum(w.max(axis=0), 0)))
    return tuple(float(s) for s in peak.astype(np.float32) / np.float32(127))


def _tflm_depthwise(test: str, input_shape: tuple[int, ...], inputs: tuple[float, ...],
                    weights_shape: tuple[int, ...], weights: tuple[float, ...], bias: tuple[float, ...],
                    output_shape: tuple[int, ...], golden: tuple[float, ...], input_q: tuple[float, int],
                    output_q: tuple[float, int], per_channel: bool = True, weights_scale: float = 1.0,
                    tolerance: float = 1, **options) -> Case:
    """A TFLite Micro depthwise_conv_test.cc int8 case (VALID; its harness sets the depth
    multiplier from the shapes): goldens quantized with the output's parameters, within
    `tolerance` steps."""
    scales = tflm_symmetric_scales(weights, weights_shape) if per_channel else None
    return Case("tflm", "depthwise_conv_test.cc", test, "DEPTHWISE_CONV_2D", input_shape, output_shape,
                input_q, output_q, inputs, golden, check="quantized", tolerance=tolerance,
                weights=weights, weights_shape=weights_shape, weights_q=(weights_scale, 0),
                weights_scales=scales, bias=bias, **options)


_DW_IN = (1, 2, 7, 8, 3, 4, 9, 10, 5, 6, 11, 12)  # [1, 3, 2, 2]
_DW_FILTER = (1, 2, 3, 4, -9, 10, -11, 12, 5, 6, 7, 8, 13, -14, 15, -16)  # [1, 2, 2, 4]
_DW_GOLDEN = (71, -34, 99, -20, 91, -26, 127, -4)
_DW_COMPARE_IN = (3, 2, 1, -1, -2, -3, 4, 3, 2, -2, -3, -4)  # [1, 2, 3, 2]
_DW_COMPARE_FILTER = (1, 2, 3, 4, 3, 4, 5, 6, 7, 8, 5, 6, 3, 4, 1, 2)
_DW_DILATED_IN = (1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4,
                  1, 2, 3, 4, 5, 6, 2, 6, 2, 4, 4, 2, 3, 2, 6, 5, 1, 4, 1, 2, 1, 4, 6, 3)  # [1, 4, 6, 2]
_DW_DILATED_GOLDEN = (15, 2, 88, -48, 25, 14, 72, 0, 61, -2, 56, 48,
                      -4, 52, 12, 48, 11, 70, 63, 40, 51, -30, 41, 48)
_DW_RELU6_FILTER = (0, 1, 8, -2, -1, 2, -10, 0, -1, 3, -18, 0, 0, 4, 20, -3)

DEPTHWISE_CONV_2D = [
    _tflm_depthwise("SimpleTestQuantizedPerChannel", (1, 3, 2, 2), _DW_IN, (1, 2, 2, 4), _DW_FILTER,
                    (1, 2, 3, 4), (1, 2, 1, 4), _DW_GOLDEN, (0.5, 0), (1.0, 0)),
    _tflm_depthwise("SimpleTestQuantizedPerChannelDepthMultiplier1", (1, 3, 2, 2), _DW_IN, (1, 2, 2, 2),
                    _DW_FILTER[:8], (1, 2), (1, 2, 1, 2), (-103, 127, -128, 127), (1.0, 0), (1.0, 0)),
    _tflm_depthwise("TestQuantizedPerChannelDepthMultiplier1Relu6", (1, 3, 2, 4), (1,) * 24,
                    (1, 2, 2, 4), _DW_RELU6_FILTER, (1, 2, 3, 4), (1, 2, 1, 4), (0, 6, 3, 0, 0, 6, 3, 0),
                    (0.023529, -128), (0.023529, -128), activation="RELU6"),
    _tflm_depthwise("SimpleTestDilatedQuantizedPerChannel", (1, 4, 6, 2), _DW_DILATED_IN, (1, 2, 2, 4),
                    _DW_FILTER, (1, 2, 3, 4), (1, 2, 3, 4), _DW_DILATED_GOLDEN, (0.5, 0), (1.0, 0),
                    dilation=(2, 3)),
    _tflm_depthwise("TestQuantizedPerChannelCompareWithFloat", (1, 2, 3, 2), _DW_COMPARE_IN, (1, 2, 2, 4),
                    _DW_COMPARE_FILTER, (3, -2, 4, 6), (1, 1, 2, 4), (43, 48, 18, 22, 3, -4, -28, -36),
                    (0.5, 0), (1.0, 0)),
    # Per-tensor filter and bias, scales 1, exact (its tolerance 1e-5 on int8 values).
    _tflm_depthwise("PerChannelBroadcastQuantizationParams", (1, 3, 2, 2), _DW_IN, (1, 2, 2, 4),
                    _DW_FILTER, (1, 2, 3, 4), (1, 2, 1, 4), _DW_GOLDEN, (1.0, 0), (1.0, 0),
                    per_channel=False, tolerance=0),
]

# ---- MEAN -------------------------------------------------------------------------------------


def _tflm_mean(test: str, input_shape: tuple[int, ...], inputs: tuple[float, ...], axes: tuple[int, ...],
               keep_dims: bool, golden: tuple[float, ...]) -> Case:
    """A TFLite Micro reduce_test.cc int8 MEAN case: input and output scale 0.5, zero point 0,
    goldens quantized with the output's parameters, within 1 step. TFLite Micro takes the output
    shape as declared ([1, 2] for a keep_dims [2, 1]); the port declares the shape TFLite's
    Prepare computes, of the same values."""
    output_shape = tuple(1 if a in axes else d for a, d in enumerate(input_shape)) if keep_dims else \
        tuple(d for a, d in enumerate(input_shape) if a not in axes)
    return Case("tflm", "reduce_test.cc", test, "MEAN", input_shape, output_shape, (0.5, 0), (0.5, 0),
                inputs, golden, check="quantized", tolerance=1, axes=axes, keep_dims=keep_dims)


_MEAN_IN_8 = tuple(float(v) for v in range(1, 9))
_MEAN_IN_24 = tuple(float(v) for v in range(1, 25))
_MEAN_PRECISION_IN = (1.0, 24.0, 13.0, 3.0, 9.0, 17.0, 11.0, 36.0, 14.0, 19.0, 17.0, 22.0)
MEAN = [
    _tflm_mean("MeanInt82DKeepDims", (2, 4), _MEAN_IN_8, (1,), True, (2.5, 6.5)),
    _tflm_mean("MeanInt83DKeepDims", (2, 2, 2), _MEAN_IN_8, (1, 2), True, (2.5, 6.5)),
    _tflm_mean("MeanInt84DKeepDims", (2, 2, 3, 2), _MEAN_IN_24, (1, 2), True, (6, 7, 18, 19)),
    _tflm_mean("MeanInt84DWithoutKeepDims", (2, 2, 3, 2), _MEAN_IN_24, (1, 2), False, (6, 7, 18, 19)),
    _tflm_mean("MeanInt84DWithoutKeepDimsWithPrecision", (2, 2, 3, 1), _MEAN_PRECISION_IN, (1, 2), False,
               (11.166667, 19.833334)),
]

# ---- PAD, PADV2 -------------------------------------------------------------------------------

# TFLite's QuantizedPadOpTest and QuantizedPadV2OpTest, int8: tensors declared over [-1, 1], the
# output compared dequantized within (max - min) / 255 (DequantizedArrayNear). Only the models
# with constant paddings: the *DynamicTest ones feed the paddings as a second graph input, which
# pyedge's one-input predict does not take. PADV2's constant value is a graph input there too;
# the port makes it a constant tensor of the same quantization and value.
_PAD_A = ((1, 2, 2, 1), (1, 4, 4, 1), (-0.8, 0.2, 0.9, 0.7), (0, 0, 1, 1, 1, 1, 0, 0))
_PAD_B = ((1, 2, 3, 1), (1, 4, 7, 1), (-0.8, 0.2, 0.9, 0.7, 0.1, -0.3), (0, 0, 0, 2, 1, 3, 0, 0))


def _tflite_pad(test: str, data: tuple, golden: tuple[float, ...], pad_value: float | None = None) -> Case:
    input_shape, output_shape, inputs, paddings = data
    q = min_max_params(-1.0, 1.0)
    return Case("tflite", "pad_test.cc", test, "PAD" if pad_value is None else "PADV2", input_shape,
                output_shape, q, q, inputs, golden, tolerance=2.0 / 255.0, paddings=paddings,
                pad_value=pad_value)


def _padded(data: tuple, value: float) -> tuple[float, ...]:
    input_shape, output_shape, inputs, paddings = data
    out = np.full(output_shape, value)
    inside = tuple(slice(b, b + d) for b, d in zip(paddings[::2], input_shape))
    out[inside] = np.array(inputs).reshape(input_shape)
    return tuple(float(v) for v in out.reshape(-1))


# The goldens as the tests write them (test_generated_tables_match_the_tests_literals checks
# _padded against these two).
PAD_A_GOLDEN = (0, 0, 0, 0, 0, -0.8, 0.2, 0, 0, 0.9, 0.7, 0, 0, 0, 0, 0)
PAD_B_GOLDEN_VALUED = (-0.5, -0.8, 0.2, 0.9, -0.5, -0.5, -0.5, -0.5, 0.7, 0.1, -0.3, -0.5, -0.5, -0.5,
                       -0.5, -0.5, -0.5, -0.5, -0.5, -0.5, -0.5, -0.5, -0.5, -0.5, -0.5, -0.5, -0.5, -0.5)

# TFLite Micro's pad_test.cc, int8: input [1, 2, 2, 1] = 1..4 at scale 1, zero point 0, padded on
# the batch axis too (to [3, 2, 4, 1]): the plan leaves that to the interpreter. Goldens
# quantized with the output's parameters, compared exactly.
_TFLM_PAD = dict(input_shape=(1, 2, 2, 1), output_shape=(3, 2, 4, 1), input_q=(1.0, 0),
                 inputs=(1.0, 2.0, 3.0, 4.0), paddings=(1, 1, 0, 0, 1, 1, 0, 0), check="quantized",
                 tolerance=0, native=False)
_TFLM_PAD_GOLDEN = (0,) * 9 + (1, 2, 0, 0, 3, 4) + (0,) * 9

PAD = [
    _tflite_pad("QuantizedPadOpTest.Int8SimpleConstTest", _PAD_A, _padded(_PAD_A, 0.0)),
    _tflite_pad("QuantizedPadOpTest.Int8AdvancedConstTest", _PAD_B, _padded(_PAD_B, 0.0)),
    _tflite_pad("QuantizedPadV2OpTest.Int8SimpleConstTest", _PAD_A, _padded(_PAD_A, 0.0), 0.0),
    _tflite_pad("QuantizedPadV2OpTest.Int8AdvancedConstTest", _PAD_B, _padded(_PAD_B, 0.0), 0.0),
    _tflite_pad("QuantizedPadV2OpTest.Int8SimpleConstValuedTest", _PAD_A, _padded(_PAD_A, -0.5), -0.5),
    _tflite_pad("QuantizedPadV2OpTest.Int8AdvancedConstValuedTest", _PAD_B, _padded(_PAD_B, -0.5), -0.5),
    Case("tflm", "pad_test.cc", "Test2DInt8", "PAD", output_q=(1.0, 0), expected=_TFLM_PAD_GOLDEN,
         **_TFLM_PAD),
    Case("tflm", "pad_test.cc", "Test2DInt8V2", "PADV2", output_q=(1.0, 0), pad_value=42.0,
         pad_value_q=(1.0, 0), expected=tuple(42.0 if v == 0 else v for v in _TFLM_PAD_GOLDEN),
         **_TFLM_PAD),
    # "a different quantization space than input": LiteRT fails at its first invoke.
    Case("tflm", "pad_test.cc", "Test2DInt8V2ExpectFailurePadValueQuantizationMismatch", "PADV2",
         output_q=(1.0, 0), pad_value=42.0, pad_value_q=(0.5, 0), prepare_fails=True, **_TFLM_PAD),
    # An output zero point of 129 "excludes zero": LiteRT fails at invoke.
    Case("tflm", "pad_test.cc", "Test2DInt8ExpectFailureQuantizationRangeExcludesZero", "PAD",
         output_q=(1.0, 129), prepare_fails=True, **_TFLM_PAD),
]

CASES = (FULLY_CONNECTED + CONV_2D + DEPTHWISE_CONV_2D + SOFTMAX + LOGISTIC + TANH + RESHAPE + POOLING
         + MEAN + PAD)
