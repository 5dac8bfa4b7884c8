"""MEAN (int8) over any constant axes but the batch's, keep_dims or not: a Keras
GlobalAveragePooling1D is MEAN over axis 1 of [batch, steps, channels], a
GlobalAveragePooling2D over axes 1 and 2 of NHWC.

As LiteRT's reference kernel (reference_ops::QuantizedMeanOrSum, measured on 200 of 200 random
models, docs/arithmetic.md "MEAN"): int32 sums over the reduced axes, minus input_zero_point * n
(n the values summed per output), times the multiplier of input_scale / output_scale with
1 / n folded in (at most 2^32 of it: shift = min(floor(log2 n), 32, 31 + shift)), requantized
with double rounding, plus the output zero point, clamped to int8.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, ClassVar

import numpy as np

from .. import fixed_point
from ..quantization import quantize_multiplier
from ..tflite_reader import Operator, Tensor
from .common import Quantization, batch_first, int8_input_and_output

OPCODES = ("MEAN",)


@dataclass
class MeanLayer:
    name: str
    shape: tuple[int, ...]  # one row of the input, without the batch dimension
    axes: tuple[int, ...]  # reduced, in `shape`'s numbering (the tensor's axis - 1), sorted
    input_zero_point: int
    output: Quantization
    multiplier: int  # input_scale / output_scale / n, as the kernel folds it
    shift: int
    kind: ClassVar[str] = "mean"
    params: ClassVar[int] = 0

    @property
    def count(self) -> int:
        return math.prod(self.shape[a] for a in self.axes)

    @property
    def input_depth(self) -> int:
        return math.prod(self.shape)

    @property
    def output_depth(self) -> int:
        return self.input_depth // self.count

    @property
    def macs(self) -> int:  # additions, counted as bench counts work
        return self.input_depth

    @cached_property
    def output_of(self) -> np.ndarray:
        """int32 [input_depth]: the output each input value adds to."""
        kept = [d for a, d in enumerate(self.shape) if a not in self.axes]
        index = np.indices(self.shape).reshape(len(self.shape), -1)
        flat = np.ravel_multi_index([index[a] for a in range(len(self.shape)) if a not in self.axes],
                                    kept) if kept else np.zeros(index.shape[1], np.int64)
        return flat.astype(np.int32)

    def reference(self, x: np.ndarray) -> np.ndarray:
        rows = x.reshape(x.shape[0], *self.shape).astype(np.int64)
        acc = rows.sum(axis=tuple(a + 1 for a in self.axes)) - self.input_zero_point * self.count
        y = fixed_point.double_rounding_multiply(acc, self.multiplier, self.shift) + self.output.zero_point
        return np.clip(y, -128, 127).astype(np.int8).reshape(x.shape[0], -1)

    def native(self) -> dict:
        """The fields of cpp/python/core_module.cc's "mean" layer."""
        return dict(output_of=self.output_of, count=self.count, input_zero_point=self.input_zero_point,
                    multiplier=self.multiplier, shift=self.shift,
                    output_zero_point=self.output.zero_point)

    def describe(self) -> tuple[str, str]:
        return "Mean", f"axes {', '.join(str(a + 1) for a in self.axes)} of {list(self.shape)}"

    def float_step(self) -> Callable[[np.ndarray], np.ndarray]:
        axes = tuple(a + 1 for a in self.axes)
        return lambda x: x.reshape(x.shape[0], *self.shape).mean(axis=axes).reshape(x.shape[0], -1)


def build(op: Operator, tensors: list[Tensor], depth: int, problems: list[str],
          fixed: bool) -> MeanLayer | None:
    """TFLite's Prepare for MEAN (kernels/reduce.cc), or None with the reason."""
    found = int8_input_and_output(op, tensors, problems)
    src = tensors[op.inputs[0]]
    axis = tensors[op.inputs[1]] if len(op.inputs) > 1 and op.inputs[1] >= 0 else None
    if found is None or not batch_first(src, depth, op.opcode, problems, fixed):
        return None
    dst, in_q, out_q = found
    if axis is None or axis.type_name != "INT32" or axis.data is None:
        problems.append(f"MEAN '{dst.name}' with axes that are not a constant int32 tensor")
        return None
    rank = len(src.shape)
    values = [int(a) for a in np.ravel(axis.data)]
    if any(not -rank <= a < rank for a in values):
        problems.append(f"MEAN '{dst.name}' over axes {values} of a rank-{rank} input")
        return None
    resolved = sorted({a % rank for a in values})  # TFLite's ResolveAxis: negatives, duplicates
    if 0 in resolved:
        problems.append(f"MEAN '{dst.name}' over the batch axis (it mixes rows)")
        return None
    shape = tuple(int(d) for d in src.shape[1:])
    keep = bool(op.options.get("keep_dims", False))
    expected = [1 if a in resolved else d for a, d in enumerate(src.shape)] if keep else \
        [d for a, d in enumerate(src.shape) if a not in resolved]
    if list(dst.shape[1:]) != expected[1:]:
        problems.append(f"MEAN '{dst.name}' output {dst.shape}, where TFLite computes {expected}")
        return None
    multiplier, shift = quantize_multiplier(in_q.scale / out_q.scale, saturate_shift=False)
    n = math.prod(shape[a - 1] for a in resolved)
    if n < 1:
        problems.append(f"MEAN '{dst.name}' over an empty axis")
        return None
    fold = min(n.bit_length() - 1, 32, 31 + shift)  # the kernel's 1 / n, folded in
    multiplier, shift = (multiplier << fold) // n, shift - fold
    # LiteRT computes the sum minus zero point times n, shifted left by max(shift, 0), in int32:
    # past 2^31 that is undefined in its C++, so such a layer goes to the interpreter.
    largest = n * max(abs(-128 - in_q.zero_point), abs(127 - in_q.zero_point)) << max(shift, 0)
    if largest >= 2**31:
        problems.append(f"MEAN '{dst.name}': {n} values at input scale / output scale = "
                        f"{in_q.scale / out_q.scale:.3g} overflow LiteRT's int32 arithmetic")
        return None
    return MeanLayer(dst.name, shape, tuple(a - 1 for a in resolved), in_q.zero_point, out_q,
                     multiplier, shift)
