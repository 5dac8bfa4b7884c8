"""CONV_2D: int8 NHWC input, int8 filter [N, KH, KW, C] per channel or per tensor, int32 bias
or none, any stride and dilation, SAME or VALID padding, fused NONE / RELU / RELU6 /
RELU_N1_TO_1 (a Keras Conv1D is a CONV_2D of height 1 between two reshapes).

It is a matrix product over patches (im2col): each output pixel's patch of KH * KW * C input
values times the filter as a matrix [N, KH * KW * C], with FULLY_CONNECTED's checks and
multipliers. TFLite's reference kernel skips the taps that fall in the padding; a patch holds
the input zero point there instead, whose (x - zero_point) is 0: the same sums. Measured: LiteRT's
reference CONV_2D requantizes with gemmlowp's double rounding, where its FULLY_CONNECTED rounds
once (1 LSB apart on ~0.2 % of outputs), so the two ops share sums, not the requantization
(docs/arithmetic.md, "CONV_2D").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable, ClassVar

import numpy as np

from .. import fixed_point
from ..tflite_reader import Operator, Tensor
from .common import InvalidModel, batch_first, fused_activation, int8_quantization, matmul_operands
from .fully_connected import FullyConnectedLayer, matmul_layer

OPCODES = ("CONV_2D",)


@dataclass(frozen=True)
class Window:
    """Where an NHWC window op (CONV_2D, the 2-D pools) reads: TFLite's output size and
    padding (ComputeOutSize, ComputePaddingHeightWidth in kernels/padding.h)."""
    in_h: int
    in_w: int
    channels: int  # of the input
    kernel_h: int
    kernel_w: int
    stride_h: int
    stride_w: int
    dilation_h: int
    dilation_w: int
    out_h: int
    out_w: int
    pad_top: int
    pad_left: int

    @classmethod
    def of(cls, in_shape: tuple[int, ...], kernel: tuple[int, int], options: dict) -> Window:
        _, in_h, in_w, channels = (int(d) for d in in_shape)
        sizes = []
        for size, k, stride, dilation in ((in_h, kernel[0], options["stride_h"], options["dilation_h"]),
                                          (in_w, kernel[1], options["stride_w"], options["dilation_w"])):
            effective = (k - 1) * dilation + 1
            if options["padding"] == "SAME":
                out = (size + stride - 1) // stride
            else:
                out = (size + stride - effective) // stride
            total = max((out - 1) * stride + effective - size, 0)
            sizes += [out, total // 2]  # the odd pixel of padding goes after (bottom, right)
        return cls(in_h, in_w, channels, kernel[0], kernel[1], options["stride_h"],
                   options["stride_w"], options["dilation_h"], options["dilation_w"],
                   sizes[0], sizes[2], sizes[1], sizes[3])

    @property
    def pixels(self) -> int:
        return self.out_h * self.out_w

    def patch_index(self) -> np.ndarray:
        """int64 [out_h * out_w, kernel_h * kernel_w * channels]: where each patch value sits in
        a row of in_h * in_w * channels values; in_h * in_w * channels (one past the row) where
        it falls in the padding."""
        oy, ox, ky, kx, c = np.meshgrid(np.arange(self.out_h), np.arange(self.out_w),
                                        np.arange(self.kernel_h), np.arange(self.kernel_w),
                                        np.arange(self.channels), indexing="ij")
        y = oy * self.stride_h - self.pad_top + ky * self.dilation_h
        x = ox * self.stride_w - self.pad_left + kx * self.dilation_w
        inside = (y >= 0) & (y < self.in_h) & (x >= 0) & (x < self.in_w)
        index = np.where(inside, (y * self.in_w + x) * self.channels + c,
                         self.in_h * self.in_w * self.channels)
        return index.reshape(self.pixels, -1)

    def native(self) -> dict:
        return {field: getattr(self, field) for field in self.__dataclass_fields__}


def window_options(op: Operator, opcode: str, problems: list[str]) -> dict | None:
    """The options' stride, dilation and padding, or None (and the reason) for values only
    LiteRT should judge (a zero stride: an absent options table)."""
    options = {"dilation_h": 1, "dilation_w": 1, **op.options}  # pools have no dilation
    if options.get("padding") not in ("SAME", "VALID"):
        problems.append(f"{opcode} with padding {options.get('padding')}")
        return None
    if min(options["stride_h"], options["stride_w"], options["dilation_h"], options["dilation_w"]) < 1:
        problems.append(f"{opcode} with stride {options['stride_h']}x{options['stride_w']} and "
                        f"dilation {options['dilation_h']}x{options['dilation_w']}")
        return None
    return options


def nhwc_input(src: Tensor, depth: int, opcode: str, problems: list[str], fixed: bool) -> bool:
    """Whether the op reads each batch row as one [H, W, C] image (common.batch_first, 4-D)."""
    return batch_first(src, depth, opcode, problems, fixed, rank=4)


def output_fits(window: Window, dst: Tensor, channels: int, opcode: str, problems: list[str]) -> bool:
    """Whether the output tensor has the shape TFLite's Prepare gives it (else the reason)."""
    if window.out_h < 1 or window.out_w < 1 or tuple(dst.shape[1:]) != (window.out_h, window.out_w,
                                                                         channels):
        problems.append(f"{opcode} '{dst.name}' output {dst.shape}, where TFLite computes "
                        f"[{window.out_h}, {window.out_w}, {channels}]")
        return False
    return True


def filter_window(op: Operator, src: Tensor, weights: Tensor, dst: Tensor, depth: int,
                  problems: list[str], fixed: bool, channel_axis: int) -> Window | None:
    """Where CONV_2D ([N, KH, KW, C] filter) or DEPTHWISE_CONV_2D ([1, KH, KW, N]) reads, with
    N on `channel_axis`; None (and the reason) when it cannot run natively."""
    options = window_options(op, op.opcode, problems)
    if weights.type_name != "INT8" or weights.data is None or weights.data.ndim != 4:
        problems.append(f"{op.opcode} filter '{weights.name}' is not constant int8 4-D "
                        f"({weights.type_name} {weights.shape})")
        return None
    if not nhwc_input(src, depth, op.opcode, problems, fixed) or options is None:
        return None
    window = Window.of(src.shape, weights.data.shape[1:3], options)
    channels = weights.data.shape[channel_axis]
    return window if output_fits(window, dst, channels, op.opcode, problems) else None


def refuse_bias_zero_point(op: Operator, bias: Tensor | None) -> None:
    """Both convolutions' Prepare: a per-tensor bias zero point must be 0."""
    if bias is not None and bias.zero_points.size == 1 and bias.zero_points[0] != 0:
        raise InvalidModel(f"{op.opcode} bias '{bias.name}' has zero point {int(bias.zero_points[0])}, "
                           "not 0 (TFLite refuses this model too)")


@dataclass
class Conv2DLayer:
    window: Window
    matmul: FullyConnectedLayer  # the filter as a matrix [N, KH * KW * C], its requantization
    kind: ClassVar[str] = "conv_2d"

    @property
    def name(self) -> str:
        return self.matmul.name

    @property
    def output(self):
        return self.matmul.output

    @property
    def input_depth(self) -> int:
        return self.window.in_h * self.window.in_w * self.window.channels

    @property
    def output_depth(self) -> int:
        return self.window.pixels * int(self.matmul.weights.shape[0])

    @property
    def macs(self) -> int:
        return self.window.pixels * self.matmul.weights.size

    @property
    def params(self) -> int:
        return self.matmul.params

    @cached_property
    def _patch_index(self) -> np.ndarray:
        return self.window.patch_index()

    def patches(self, x: np.ndarray) -> np.ndarray:
        """int8 rows -> (rows * pixels, KH * KW * C) patches, the padding at the zero point."""
        padded = np.empty((x.shape[0], self.input_depth + 1), np.int8)
        padded[:, :-1] = x.reshape(x.shape[0], -1)
        padded[:, -1] = self.matmul.input_zero_point
        return padded[:, self._patch_index].reshape(-1, self._patch_index.shape[1])

    def reference(self, x: np.ndarray) -> np.ndarray:
        m = self.matmul
        acc = m.accumulators(self.patches(x))
        y = fixed_point.double_rounding_multiply(acc, m.multiplier, m.shift) + m.output.zero_point
        y = np.clip(y, m.activation_min, m.activation_max).astype(np.int8)
        return y.reshape(x.shape[0], self.output_depth)

    def native(self) -> dict:
        """The fields of cpp/python/core_module.cc's "conv_2d" layer: the window and the
        matrix product's."""
        return {**self.matmul.native(), **self.window.native()}

    def describe(self) -> tuple[str, str]:
        w = self.window
        weights = "per-channel" if self.matmul.per_channel else "per-tensor"
        return "Conv2D", (f"{w.kernel_h}x{w.kernel_w}, stride {w.stride_h}x{w.stride_w}, "
                          f"{self.matmul.activation.lower()}, {weights} weights")

    def float_step(self) -> Callable[[np.ndarray], np.ndarray]:
        """The layer in float32 over the same patches (bench's NumPy peer): padding with 0.0,
        the float value of the zero point."""
        dense = self.matmul.float_step()
        index = self._patch_index

        def conv(x: np.ndarray) -> np.ndarray:
            padded = np.zeros((x.shape[0], self.input_depth + 1), np.float32)
            padded[:, :-1] = x.reshape(x.shape[0], -1)
            return dense(padded[:, index].reshape(-1, index.shape[1])).reshape(x.shape[0], -1)

        return conv


def build(op: Operator, tensors: list[Tensor], depth: int, problems: list[str],
          fixed: bool) -> Conv2DLayer | None:
    """TFLite's Prepare for CONV_2D (kernels/conv.cc), or None with the reason in problems."""
    n_problems = len(problems)
    operands = matmul_operands(op, tensors, problems)
    if operands is None:
        return None
    src, weights, bias, dst = operands
    if bias is None and src.type_name == "INT8":  # conv.cc's Prepare: TF_LITE_ENSURE(has_bias)
        raise InvalidModel(f"CONV_2D '{dst.name}' on int8 has no bias (TFLite refuses this model too)")
    if src.type_name == "INT8" and np.any(weights.zero_points != 0):  # conv.cc's Prepare
        raise InvalidModel(f"CONV_2D filter '{weights.name}' has zero point "
                           f"{int(weights.zero_points[weights.zero_points != 0][0])}, not 0 "
                           "(TFLite refuses this model too)")
    refuse_bias_zero_point(op, bias)
    activation = fused_activation(op, problems)
    in_q, out_q = int8_quantization(src, problems), int8_quantization(dst, problems)
    window = filter_window(op, src, weights, dst, depth, problems, fixed, channel_axis=0)
    if window is None:
        return None
    n, kh, kw, c = weights.data.shape
    if src.shape[3] != c:  # TFLite also runs grouped convolutions (C a multiple of this)
        problems.append(f"CONV_2D '{dst.name}' with {src.shape[3]} input channels and a filter "
                        f"of {c} (a grouped convolution)")
        return None
    matrix = weights.data.reshape(n, kh * kw * c)
    matmul = matmul_layer("CONV_2D", dst.name, weights, matrix, bias, in_q, out_q, activation,
                          problems, 1, n_problems, double_rounding=True)
    return None if matmul is None else Conv2DLayer(window, matmul)
