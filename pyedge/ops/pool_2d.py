"""MAX_POOL_2D and AVERAGE_POOL_2D on int8 NHWC input: any filter and stride, SAME or VALID
padding, fused NONE / RELU / RELU6 / RELU_N1_TO_1 (a Keras MaxPooling1D is a MAX_POOL_2D of
height 1 between two reshapes).

As TFLite's reference kernels (reference_integer_ops/pooling.h): the window is clipped to the
image (padding is never read, and an average divides by the taps inside), the average of the
int32 sum rounds half away from zero with C's truncating division, and the result is clamped to
the fused activation's range of the output's quantization. The bytes are not requantized:
output = input's bytes, whatever the two tensors' scales (docs/arithmetic.md, "Pooling").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable, ClassVar

import numpy as np

from ..tflite_reader import POOL_OPCODES, Operator, Tensor
from .common import InvalidModel, Quantization, activation_range, fused_activation, int8_quantization
from .conv_2d import Window, nhwc_input, output_fits, window_options

OPCODES = POOL_OPCODES


@dataclass
class Pool2DLayer:
    name: str
    window: Window
    average: bool  # AVERAGE_POOL_2D, else MAX_POOL_2D
    output: Quantization
    activation: str
    activation_min: int
    activation_max: int
    kind: ClassVar[str] = "pool_2d"
    params: ClassVar[int] = 0

    @property
    def input_depth(self) -> int:
        return self.window.in_h * self.window.in_w * self.window.channels

    @property
    def output_depth(self) -> int:
        return self.window.pixels * self.window.channels

    @property
    def macs(self) -> int:  # additions or comparisons, counted as bench counts work
        return self.window.pixels * self.window.kernel_h * self.window.kernel_w * self.window.channels

    @cached_property
    def _taps(self) -> tuple[np.ndarray, np.ndarray]:
        """(index [pixels, KH * KW, C] into a row with a sentinel past its end, taps inside
        the image per pixel)."""
        w = self.window
        index = w.patch_index().reshape(w.pixels, w.kernel_h * w.kernel_w, w.channels)
        return index, (index[:, :, 0] != self.input_depth).sum(axis=1)

    def reference(self, x: np.ndarray) -> np.ndarray:
        index, count = self._taps
        padded = np.empty((x.shape[0], self.input_depth + 1), np.int32)
        padded[:, :-1] = x.reshape(x.shape[0], -1)
        if self.average:
            padded[:, -1] = 0  # outside the image: adds nothing, and is not counted
            acc = padded[:, index].sum(axis=2)  # (rows, pixels, C), |sum| < 2^31 for any window
            half, count = count[None, :, None] // 2, count[None, :, None]
            y = np.where(acc > 0, (acc + half) // count, -((half - acc) // count))  # C's rounding
        else:
            padded[:, -1] = -128  # int8's lowest: never above a tap inside the image
            y = padded[:, index].max(axis=2)
        y = np.clip(y, self.activation_min, self.activation_max).astype(np.int8)
        return y.reshape(x.shape[0], self.output_depth)

    def native(self) -> dict:
        """The fields of cpp/python/core_module.cc's "pool_2d" layer."""
        return dict(**self.window.native(), average=self.average, activation_min=self.activation_min,
                    activation_max=self.activation_max)

    def describe(self) -> tuple[str, str]:
        w = self.window
        return ("AveragePool2D" if self.average else "MaxPool2D",
                f"{w.kernel_h}x{w.kernel_w}, stride {w.stride_h}x{w.stride_w}, {self.activation.lower()}")

    def float_step(self) -> Callable[[np.ndarray], np.ndarray]:
        """The pool in float32, for bench's NumPy peer."""
        index, count = self._taps
        fill = 0.0 if self.average else -np.inf

        def pool(x: np.ndarray) -> np.ndarray:
            padded = np.full((x.shape[0], self.input_depth + 1), fill, np.float32)
            padded[:, :-1] = x.reshape(x.shape[0], -1)
            taps = padded[:, index]
            y = taps.sum(axis=2) / count[None, :, None] if self.average else taps.max(axis=2)
            return y.reshape(x.shape[0], -1)

        return pool


def _bounds(op: Operator, name: str, activation: str, out_q: Quantization,
            problems: list[str]) -> tuple[int, int] | None:
    """The fused activation's int8 bounds. Unlike the convolutions, LiteRT's pools compute them
    at Eval and ignore a failure (pooling.cc): a bound that overflows int32 leaves them
    uninitialized, and LiteRT's results undefined; such a pool runs on the interpreter."""
    try:
        return activation_range(activation, out_q)
    except InvalidModel as error:
        problems.append(f"{op.opcode} '{name}': {error.args[0].split(' (')[0]}; LiteRT runs it "
                        "with uninitialized bounds (its results are undefined)")
        return None


def build(op: Operator, tensors: list[Tensor], depth: int, problems: list[str],
          fixed: bool) -> Pool2DLayer | None:
    """TFLite's Prepare for the 2-D pools (kernels/pooling.cc), or None with the reason."""
    n_problems = len(problems)
    src, dst = tensors[op.inputs[0]], tensors[op.outputs[0]]
    options = window_options(op, op.opcode, problems)
    activation = fused_activation(op, problems)
    in_q, out_q = int8_quantization(src, problems), int8_quantization(dst, problems)
    bounds = None if out_q is None else _bounds(op, dst.name, activation, out_q, problems)
    if not nhwc_input(src, depth, op.opcode, problems, fixed) or options is None:
        return None
    if min(options["filter_h"], options["filter_w"]) < 1:
        problems.append(f"{op.opcode} with filter {options['filter_h']}x{options['filter_w']}")
        return None
    window = Window.of(src.shape, (options["filter_h"], options["filter_w"]), options)
    if not output_fits(window, dst, window.channels, op.opcode, problems):
        return None
    if len(problems) > n_problems or in_q is None or bounds is None:
        return None
    layer = Pool2DLayer(dst.name, window, op.opcode == "AVERAGE_POOL_2D", out_q, activation, *bounds)
    if layer._taps[1].min() == 0:  # LiteRT's average pool fails at invoke on an empty window
        problems.append(f"{op.opcode} '{dst.name}' has a window outside the image")
        return None
    return layer
