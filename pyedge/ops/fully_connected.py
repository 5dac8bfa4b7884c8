"""FULLY_CONNECTED: int8 weights per channel or per tensor, int32 bias or none, fused NONE /
RELU / RELU6 / RELU_N1_TO_1; the input read as TFLite reads it, [-1, depth]
(docs/arithmetic.md, "FULLY_CONNECTED")."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np

from ..quantization import multiply_by_quantized_multiplier, quantize_multipliers
from ..tflite_reader import Operator, Tensor
from .common import (
    InvalidModel,
    Quantization,
    activation_range,
    fused_activation,
    int8_quantization,
    legacy_scale,
    matmul_operands,
)

OPCODES = ("FULLY_CONNECTED",)
# Above this depth the int32 accumulator could overflow (|w| <= 128, |x - zp| <= 255).
MAX_INPUT_DEPTH = (2**31 - 1) // (128 * 255) - 1
FLOAT_BOUNDS = {"RELU": (0.0, None), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0)}


@dataclass
class FullyConnectedLayer:
    name: str  # the output tensor's name in the .tflite file
    weights: np.ndarray  # int8 [N, K]
    bias: np.ndarray  # int32 [N] (zeros when the model has none)
    multiplier: np.ndarray  # int32 [N], Q31
    shift: np.ndarray  # int32 [N], TFLite convention (positive = left)
    input_zero_point: int
    output: Quantization
    activation: str  # NONE, RELU, RELU6, RELU_N1_TO_1
    activation_min: int
    activation_max: int
    input_scale: float
    weight_scales: np.ndarray  # float64 [N] (the per-tensor scale repeated)
    per_channel: bool
    # TFLite flattens the input to [-1, K]: a plan row of groups * K values is `groups` rows
    # of the matrix product (a Dense layer on a 3-D input, a 4-D input).
    groups: int = 1
    kind: ClassVar[str] = "fully_connected"

    @property
    def input_depth(self) -> int:
        return self.groups * int(self.weights.shape[1])

    @property
    def output_depth(self) -> int:
        return self.groups * int(self.weights.shape[0])

    @property
    def macs(self) -> int:
        return self.groups * self.weights.size

    @property
    def params(self) -> int:
        return self.weights.size + self.bias.size

    def accumulators(self, x: np.ndarray) -> np.ndarray:
        """int64 (rows * groups, N): bias + sum_k w * (x - zero_point). int8 x int8 products
        summed in float64 stay exact (|sum| < 2^53), so BLAS can do the matrix product."""
        centered = x.reshape(-1, self.weights.shape[1]).astype(np.float64) - self.input_zero_point
        return (centered @ self.weights.astype(np.float64).T).astype(np.int64) + self.bias

    def reference(self, x: np.ndarray) -> np.ndarray:
        acc = self.accumulators(x)
        y = multiply_by_quantized_multiplier(acc, self.multiplier, self.shift) + self.output.zero_point
        y = np.clip(y, self.activation_min, self.activation_max).astype(np.int8)
        return y.reshape(x.shape[0], self.output_depth)

    def native(self) -> dict:
        """The fields of cpp/python/core_module.cc's "fully_connected" layer."""
        return dict(input_depth=self.weights.shape[1], output_depth=self.weights.shape[0],
                    groups=self.groups, weights=self.weights, bias=self.bias,
                    multiplier=self.multiplier, shift=self.shift,
                    input_zero_point=self.input_zero_point, output_zero_point=self.output.zero_point,
                    activation_min=self.activation_min, activation_max=self.activation_max)

    def describe(self) -> tuple[str, str]:
        weights = "per-channel" if self.per_channel else "per-tensor"
        return "FullyConnected", f"{self.activation.lower()}, {weights} weights"

    def float_step(self) -> Callable[[np.ndarray], np.ndarray]:
        """The layer in float32 (dequantized weights and bias), for bench's NumPy peer."""
        w_t = np.ascontiguousarray((self.weights * self.weight_scales[:, None]).T, np.float32)
        b = (self.bias * self.input_scale * self.weight_scales).astype(np.float32)
        bounds = FLOAT_BOUNDS.get(self.activation)

        def dense(x: np.ndarray) -> np.ndarray:
            y = x.reshape(-1, w_t.shape[0]) @ w_t
            y += b
            if bounds is not None:
                lo, hi = bounds
                if hi is None:
                    np.maximum(y, lo, out=y)
                else:
                    np.clip(y, lo, hi, out=y)
            return y.reshape(x.shape[0], -1)

        return dense


def build(op: Operator, tensors: list[Tensor], depth: int, problems: list[str],
          fixed: bool) -> FullyConnectedLayer | None:
    """TFLite's Prepare for the layer, or None with the reason in problems (then the model runs
    on the interpreter); InvalidModel where TFLite refuses the model."""
    n_problems = len(problems)
    operands = matmul_operands(op, tensors, problems)
    if operands is None:
        return None
    src, weights, bias, dst = operands
    activation = fused_activation(op, problems)
    if op.options.get("weights_format", 0) != 0:
        problems.append("FULLY_CONNECTED with shuffled weights")
    in_q = int8_quantization(src, problems)
    out_q = int8_quantization(dst, problems)
    if weights.type_name != "INT8" or weights.data is None or weights.data.ndim != 2:
        problems.append(f"FULLY_CONNECTED weights '{weights.name}' are not constant int8 [N, K] "
                        f"({weights.type_name} {weights.shape})")
        return None
    n, k = weights.data.shape
    if op.options.get("keep_num_dims") and src.shape and src.shape[-1] != k:
        # LiteRT's Prepare: with keep_num_dims the weights run along the last dimension.
        raise InvalidModel(f"FULLY_CONNECTED '{dst.name}' keeps the input's dimensions, but the "
                           f"input {src.shape} does not end in the weights' depth {k} (TFLite "
                           "refuses this model too)")
    if fixed and (k < 1 or math.prod(src.shape) % k):  # at the model's only batch
        raise InvalidModel(f"FULLY_CONNECTED '{dst.name}': weights {weights.shape} do not match "
                           f"input {src.shape} (TFLite refuses this model too)")
    if k < 1 or depth % k:  # TFLite's [-1, K] view would mix values of two batch rows
        problems.append(f"FULLY_CONNECTED '{dst.name}' reads {depth} values per row in rows of {k}")
    return matmul_layer("FULLY_CONNECTED", dst.name, weights, weights.data, bias, in_q, out_q,
                        activation, problems, max(depth // max(k, 1), 1), n_problems)


def matmul_layer(opcode: str, name: str, weights: Tensor, matrix: np.ndarray, bias: Tensor | None,
                 in_q: Quantization | None, out_q: Quantization | None, activation: str,
                 problems: list[str], groups: int, n_problems: int, channel_axis: int = 0,
                 double_rounding: bool = False) -> FullyConnectedLayer | None:
    """The int8 matrix product of FULLY_CONNECTED, of CONV_2D (whose filter, [N, KH, KW, C],
    is `matrix` [N, KH * KW * C]) and of DEPTHWISE_CONV_2D (filter [1, KH, KW, N], `matrix`
    [N, KH * KW], its output channels on `channel_axis` 3), as TFLite's Prepare sets them up:
    the weights' and bias's checks, the per-channel multipliers, the overflow bound. None with
    the reason in problems (also when the caller's checks added any since `n_problems`);
    InvalidModel where TFLite refuses the model, whatever else is wrong."""
    n, k = matrix.shape
    if k > MAX_INPUT_DEPTH:
        problems.append(f"{opcode} input depth {k} could overflow int32 accumulators")
    scales = weights.scales
    if scales.size not in (1, n) or (scales.size == n and n > 1 and
                                     weights.quantized_dimension != channel_axis):
        raise InvalidModel(f"weights '{weights.name}' have {scales.size} scales for {n} channels")
    if not np.all(np.isfinite(scales)) or np.any(scales <= 0):
        raise InvalidModel(f"weights '{weights.name}' have invalid scales")
    if weights.zero_points.size and np.any(weights.zero_points != 0):
        problems.append(f"weights '{weights.name}' have a non-zero zero point")
    bias_data = np.zeros(n, np.int32)
    if bias is not None:
        if bias.type_name != "INT32" or bias.data is None or bias.data.size != n:
            raise InvalidModel(f"bias '{bias.name}' is not constant int32 [{n}]")
        bias_data = bias.data.reshape(n).astype(np.int32)
    if len(problems) > n_problems or in_q is None or out_q is None:
        return None
    if opcode == "FULLY_CONNECTED" and bias is not None and scales.size == 1:
        # fully_connected.cc's Prepare (per-tensor weights; CONV_2D and DEPTHWISE_CONV_2D on
        # int8 do not check, measured) calls GetQuantizedConvolutionMultipler: on the legacy
        # scales (0 for a bias without exactly one), |input scale x weight scale, a double
        # product, - bias scale| must be at most 2 % of the output scale.
        product = float(in_q.scale) * float(scales[0])
        bias_scale = legacy_scale(bias)[0]
        if abs(product - bias_scale) / float(out_q.scale) > 0.02:
            raise InvalidModel(f"bias '{bias.name}' scale {bias_scale:g} is not input scale x "
                               f"weight scale {product:g} (TFLite refuses this model too)")
    # As TFLite's Prepare: real multiplier = (double)input_scale * (double)weight_scale /
    # (double)output_scale, per channel, then QuantizeMultiplier.
    channel_scales = np.broadcast_to(scales, (n,)).astype(np.float64)
    multiplier, shift = quantize_multipliers(float(in_q.scale) * channel_scales / float(out_q.scale))
    lo, hi = activation_range(activation, out_q)
    # The kernels accumulate and requantize in int32, as TFLite does. If a bias or a scale
    # lets either overflow, TFLite's result is undefined (its int32 arithmetic wraps), and
    # the native kernels could not agree with the reference backend: not a native layer.
    worst_acc = np.abs(bias_data.astype(np.int64)) + 255 * np.abs(matrix.astype(np.int64)).sum(axis=1)
    if worst_acc.max() > 2**31 - 1 or multiply_by_quantized_multiplier(
            worst_acc, multiplier, shift).max() > 2**31 - 1 - 256:
        problems.append(f"{opcode} '{name}': int32 accumulators or requantized values "
                        "could overflow (bias or scales out of the usual range)")
        return None
    # Double rounding first shifts the accumulator left in int32 (an output scale below input x
    # filter scale): where that could wrap, LiteRT's answer is its int32 arithmetic's, which
    # the interpreter gives.
    if double_rounding and np.any(worst_acc << np.maximum(shift, 0) > 2**31 - 1):
        problems.append(f"{opcode} '{name}': the accumulators shifted left could overflow int32")
        return None
    return FullyConnectedLayer(
        name=name, weights=np.ascontiguousarray(matrix, dtype=np.int8), bias=bias_data,
        multiplier=multiplier, shift=shift, input_zero_point=in_q.zero_point,
        output=out_q, activation=activation, activation_min=lo, activation_max=hi,
        input_scale=float(in_q.scale), weight_scales=channel_scales,
        per_channel=scales.size > 1, groups=groups)
