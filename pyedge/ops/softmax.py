"""SOFTMAX (int8) over the last axis, as LiteRT's reference kernel computes it
(docs/arithmetic.md, "SOFTMAX")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np

from .. import fixed_point
from ..tflite_reader import Operator, Tensor
from .common import InvalidModel, Quantization, RowwiseLayer, int8_input_and_output

OPCODES = ("SOFTMAX",)
# LiteRT's SOFTMAX Prepare takes an output scale within this relative distance of 1/256 (and
# computes as for 1/256); measured, docs/native-ops.md.
SOFTMAX_SCALE_TOLERANCE = 1e-3


@dataclass
class SoftmaxLayer(RowwiseLayer):
    name: str
    depth: int
    output: Quantization
    beta: float
    softmax: fixed_point.SoftmaxParams
    exp_table: np.ndarray  # int32 [256]
    axis_size: int  # TFLite normalizes the last axis only: depth / axis_size softmaxes per row
    kind: ClassVar[str] = "softmax"
    def reference(self, x: np.ndarray) -> np.ndarray:
        y = fixed_point.softmax_s8(x.reshape(-1, self.axis_size), self.softmax, self.exp_table)
        return y.reshape(x.shape)

    def native(self) -> dict:
        return {"exp_table": self.exp_table, "axis_size": self.axis_size,
                "diff_min": self.softmax.diff_min}

    def describe(self) -> tuple[str, str]:
        return "Softmax", f"beta={self.beta:g}"

    def float_step(self) -> Callable[[np.ndarray], np.ndarray]:
        beta, axis = np.float32(self.beta), self.axis_size

        def softmax(x: np.ndarray) -> np.ndarray:
            rows = x.reshape(-1, axis)
            e = np.exp((rows - rows.max(axis=1, keepdims=True)) * beta)
            return (e / e.sum(axis=1, keepdims=True)).reshape(x.shape)

        return softmax


def build(op: Operator, tensors: list[Tensor], depth: int, problems: list[str],
          fixed: bool) -> SoftmaxLayer | None:
    found = int8_input_and_output(op, tensors, problems)
    if found is None:
        return None
    dst, in_q, out_q = found
    if out_q.zero_point != -128 or abs(out_q.scale * 256 - 1) > SOFTMAX_SCALE_TOLERANCE:
        raise InvalidModel(f"SOFTMAX output quantization {out_q} (TFLite requires scale 1/256, "
                           "zero point -128)")
    src = tensors[op.inputs[0]]
    axis_size = int(src.shape[-1]) if src.shape else 1
    if axis_size < 1 or depth % axis_size:
        problems.append(f"SOFTMAX '{dst.name}' over an axis of {axis_size} in rows of {depth}")
        return None
    beta = float(op.options["beta"])
    # (the parameters LiteRT aborts on were refused for every SOFTMAX by plan.py's
    # _check_interpreter_aborts)
    params = fixed_point.softmax_params(in_q.scale, beta)
    return SoftmaxLayer(dst.name, depth, out_q, beta=beta, softmax=params,
                        exp_table=fixed_point.softmax_exp_table(params), axis_size=axis_size)
