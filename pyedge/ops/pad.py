"""PAD and PADV2 (int8) with constant paddings on any axis but the batch's: a Keras
ZeroPadding1D / ZeroPadding2D, or the PAD a MobileNet writes before a stride-2 convolution.

As LiteRT's kernels (kernels/pad.cc; its reference and optimized kernels both run EvalInt on
quantized int8): the input's bytes are copied, never requantized, whatever the two tensors'
scales, and the padding is the output's zero point (PAD), or PADV2's constant_values byte, which
LiteRT requires to have the output's scale and zero point (docs/arithmetic.md, "PAD").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, ClassVar

import numpy as np

from ..tflite_reader import Operator, Tensor
from .common import InvalidModel, Quantization, batch_first, int8_input_and_output

OPCODES = ("PAD", "PADV2")
PADDING_TYPES = ("INT8", "INT16", "INT32", "INT64", "BOOL")  # what LiteRT 2.3.0 reads paddings as
MAX_RANK = 5  # reference_ops::PadKernelMaxDimensionCount()
# Beyond this many values per row the source table (4 bytes a value) is not worth building.
MAX_OUTPUT_DEPTH = 1 << 24


@dataclass
class PadLayer:
    name: str
    shape: tuple[int, ...]  # one row of the input, without the batch dimension
    before: tuple[int, ...]  # values added before and after each axis of `shape`
    after: tuple[int, ...]
    fill: int  # the padding byte
    output: Quantization
    kind: ClassVar[str] = "pad"
    macs: ClassVar[int] = 0
    params: ClassVar[int] = 0

    @property
    def output_shape(self) -> tuple[int, ...]:
        return tuple(b + d + a for b, d, a in zip(self.before, self.shape, self.after))

    @property
    def input_depth(self) -> int:
        return math.prod(self.shape)

    @property
    def output_depth(self) -> int:
        return math.prod(self.output_shape)

    @cached_property
    def source(self) -> np.ndarray:
        """int32 [output_depth]: the input value each output copies, -1 for the padding."""
        index = np.full(self.output_shape, -1, np.int32)
        inside = tuple(slice(b, b + d) for b, d in zip(self.before, self.shape))
        index[inside] = np.arange(self.input_depth, dtype=np.int32).reshape(self.shape)
        return index.reshape(-1)

    def padded(self, x: np.ndarray, value: float) -> np.ndarray:
        rows = x.reshape(x.shape[0], *self.shape)
        widths = [(0, 0), *zip(self.before, self.after)]
        return np.pad(rows, widths, constant_values=value).reshape(x.shape[0], -1)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return self.padded(x, self.fill)

    def native(self) -> dict:
        """The fields of cpp/python/core_module.cc's "pad" layer."""
        return dict(source=self.source, fill=self.fill)

    def describe(self) -> tuple[str, str]:
        widths = ", ".join(f"{b}+{a}" for b, a in zip(self.before, self.after))
        return "Pad", f"{list(self.shape)} -> {list(self.output_shape)} ({widths}, with {self.fill})"

    def float_step(self) -> Callable[[np.ndarray], np.ndarray]:
        value = (self.fill - self.output.zero_point) * self.output.scale
        return lambda x: self.padded(x, value)


def build(op: Operator, tensors: list[Tensor], depth: int, problems: list[str],
          fixed: bool) -> PadLayer | None:
    """TFLite's Prepare and Eval checks for PAD / PADV2 (kernels/pad.cc, each measured on
    LiteRT 2.3.0), or None with the reason."""
    found = int8_input_and_output(op, tensors, problems)
    src = tensors[op.inputs[0]]
    what = f"{op.opcode} '{tensors[op.outputs[0]].name}'"
    paddings = tensors[op.inputs[1]] if len(op.inputs) > 1 and op.inputs[1] >= 0 else None
    constant = tensors[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    rank = len(src.shape)
    # What LiteRT refuses, whatever the rest.
    if paddings is None:
        raise InvalidModel(f"{what} without paddings (TFLite refuses this model too)")
    if paddings.type_name not in PADDING_TYPES or len(paddings.shape) != 2 or paddings.shape[1] != 2:
        raise InvalidModel(f"{what}: paddings {paddings.type_name} {list(paddings.shape)}, where "
                           "TFLite needs an integer [rank, 2] tensor")
    if rank > MAX_RANK:
        raise InvalidModel(f"{what} on a rank-{rank} input (TFLite pads at most {MAX_RANK} axes)")
    if constant is not None and (constant.type_name != src.type_name or math.prod(constant.shape) != 1):
        raise InvalidModel(f"{what}: constant value {constant.type_name} {list(constant.shape)}, "
                           f"where TFLite needs one {src.type_name}")
    if found is None or not batch_first(src, depth, op.opcode, problems, fixed):
        return None
    dst, _, out_q = found
    if constant is not None and (constant.scales.size != 1 or (
            float(constant.scales[0]), int(constant.zero_points[0])) != (out_q.scale, out_q.zero_point)):
        raise InvalidModel(f"{what}: its constant value is not quantized as its output "
                           "(TFLite refuses this model too)")
    if constant is not None and constant.data is None:
        problems.append(f"{what} with a constant value computed at run time")
        return None
    if paddings.data is None:
        problems.append(f"{what} with paddings computed at run time")
        return None
    if paddings.shape[0] != rank:
        raise InvalidModel(f"{what}: paddings for {paddings.shape[0]} axes of a rank-{rank} input "
                           "(TFLite refuses this model too)")
    widths = [(int(b), int(a)) for b, a in paddings.data]
    if any(not 0 <= w < 2**31 for pair in widths for w in pair):
        raise InvalidModel(f"{what}: paddings {widths} outside [0, 2^31) (TFLite refuses this "
                           "model too)")
    if widths[0] != (0, 0):
        problems.append(f"{what} pads the batch axis (it adds rows)")
        return None
    fill = out_q.zero_point if constant is None else int(constant.data.reshape(-1)[0])
    shape = tuple(int(d) for d in src.shape[1:])
    layer = PadLayer(dst.name, shape, tuple(b for b, _ in widths[1:]), tuple(a for _, a in widths[1:]),
                     fill, out_q)
    if layer.output_depth > MAX_OUTPUT_DEPTH:
        problems.append(f"{what} makes {layer.output_depth} values per row")
        return None
    if tuple(dst.shape[1:]) != layer.output_shape:
        problems.append(f"{what} output {dst.shape}, where TFLite computes "
                        f"{[src.shape[0], *layer.output_shape]}")
        return None
    return layer
