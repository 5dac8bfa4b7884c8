"""DEPTHWISE_CONV_2D: int8 NHWC input, int8 filter [1, KH, KW, N] per channel (on axis 3) or
per tensor, int32 bias or none, N = C x depth multiplier, any stride and dilation, SAME or VALID
padding, fused NONE / RELU / RELU6 / RELU_N1_TO_1 (Keras DepthwiseConv2D, the first half of a
SeparableConv2D, and of a DepthwiseConv1D or SeparableConv1D between two reshapes).

Output channel n filters input channel n // M (M = N / C): per output pixel and channel, a sum
over the KH x KW taps that fall in the image, as TFLite's reference_integer_ops
DepthwiseConvPerChannel. Measured on the installed LiteRT (docs/arithmetic.md,
"DEPTHWISE_CONV_2D"): it requantizes with double rounding, as CONV_2D; it takes M from the
shapes, whatever the options' depth_multiplier says; it ignores the filter's zero point, so a
filter with one other than 0 runs on the interpreter, which does the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable, ClassVar

import numpy as np

from .. import fixed_point
from ..tflite_reader import Operator, Tensor
from .common import InvalidModel, fused_activation, int8_quantization, matmul_operands
from .conv_2d import Window, filter_window, refuse_bias_zero_point
from .fully_connected import FLOAT_BOUNDS, FullyConnectedLayer, matmul_layer

OPCODES = ("DEPTHWISE_CONV_2D",)


@dataclass
class DepthwiseConv2DLayer:
    window: Window
    matmul: FullyConnectedLayer  # the filter as [N, KH * KW], its requantization
    kind: ClassVar[str] = "depthwise_conv_2d"

    @property
    def name(self) -> str:
        return self.matmul.name

    @property
    def output(self):
        return self.matmul.output

    @property
    def channels(self) -> int:  # N, the output's
        return int(self.matmul.weights.shape[0])

    @property
    def depth_multiplier(self) -> int:
        return self.channels // self.window.channels

    @property
    def input_depth(self) -> int:
        return self.window.in_h * self.window.in_w * self.window.channels

    @property
    def output_depth(self) -> int:
        return self.window.pixels * self.channels

    @property
    def macs(self) -> int:
        return self.window.pixels * self.matmul.weights.size

    @property
    def params(self) -> int:
        return self.matmul.params

    @cached_property
    def _taps(self) -> np.ndarray:
        """int64 [pixels, KH * KW, N]: where output channel n's taps sit in a row (with a
        sentinel one past its end for the padding)."""
        w = self.window
        index = w.patch_index().reshape(w.pixels, w.kernel_h * w.kernel_w, w.channels)
        return np.repeat(index, self.depth_multiplier, axis=2)

    def _gather(self, x: np.ndarray, padding: float, dtype: type) -> np.ndarray:
        padded = np.empty((x.shape[0], self.input_depth + 1), dtype)
        padded[:, :-1] = x.reshape(x.shape[0], -1)
        padded[:, -1] = padding
        return padded[:, self._taps]  # (rows, pixels, KH * KW, N)

    def reference(self, x: np.ndarray) -> np.ndarray:
        m = self.matmul
        # The padding holds the zero point: (x - zero_point) = 0 adds nothing, as a skipped tap.
        centered = self._gather(x, m.input_zero_point, np.int64) - m.input_zero_point
        acc = np.einsum("rptn,nt->rpn", centered, m.weights.astype(np.int64)) + m.bias
        y = fixed_point.double_rounding_multiply(acc, m.multiplier, m.shift) + m.output.zero_point
        y = np.clip(y, m.activation_min, m.activation_max).astype(np.int8)
        return y.reshape(x.shape[0], self.output_depth)

    def native(self) -> dict:
        """The fields of cpp/python/core_module.cc's "depthwise_conv_2d" layer."""
        return {**self.matmul.native(), **self.window.native()}

    def describe(self) -> tuple[str, str]:
        w = self.window
        weights = "per-channel" if self.matmul.per_channel else "per-tensor"
        multiplier = f", depth x{self.depth_multiplier}" if self.depth_multiplier > 1 else ""
        return "DepthwiseConv2D", (f"{w.kernel_h}x{w.kernel_w}, stride {w.stride_h}x{w.stride_w}"
                                   f"{multiplier}, {self.matmul.activation.lower()}, {weights} weights")

    def float_step(self) -> Callable[[np.ndarray], np.ndarray]:
        """The layer in float32 over the same taps (bench's NumPy peer)."""
        m = self.matmul
        w = (m.weights * m.weight_scales[:, None]).astype(np.float32)
        b = (m.bias * m.input_scale * m.weight_scales).astype(np.float32)
        lo, hi = FLOAT_BOUNDS.get(m.activation, (None, None))

        def depthwise(x: np.ndarray) -> np.ndarray:
            y = np.einsum("rptn,nt->rpn", self._gather(x, 0.0, np.float32), w) + b
            if lo is not None:
                y = np.clip(y, lo, hi)
            return y.reshape(x.shape[0], -1)

        return depthwise


def build(op: Operator, tensors: list[Tensor], depth: int, problems: list[str],
          fixed: bool) -> DepthwiseConv2DLayer | None:
    """TFLite's Prepare for DEPTHWISE_CONV_2D (kernels/depthwise_conv.cc), or None with the
    reason in problems."""
    n_problems = len(problems)
    operands = matmul_operands(op, tensors, problems)
    if operands is None:
        return None
    src, weights, bias, dst = operands
    refuse_bias_zero_point(op, bias)
    activation = fused_activation(op, problems)
    in_q, out_q = int8_quantization(src, problems), int8_quantization(dst, problems)
    window = filter_window(op, src, weights, dst, depth, problems, fixed, channel_axis=3)
    if window is None:
        return None
    one, kh, kw, n = weights.data.shape
    if one != 1 or n % window.channels:  # depthwise_conv.cc's Prepare
        raise InvalidModel(f"DEPTHWISE_CONV_2D filter '{weights.name}' {list(weights.shape)} on "
                           f"{window.channels} input channels: TFLite needs [1, KH, KW, a multiple "
                           "of the input channels] (and refuses this model too)")
    matrix = weights.data.reshape(kh * kw, n).T
    matmul = matmul_layer("DEPTHWISE_CONV_2D", dst.name, weights, matrix, bias, in_q, out_q,
                          activation, problems, 1, n_problems, channel_axis=3, double_rounding=True)
    return None if matmul is None else DepthwiseConv2DLayer(window, matmul)
