"""LOGISTIC and TANH (int8): the output depends on the input byte only, so the 256-entry table
LiteRT's reference Prepare fills reproduces them exactly (docs/arithmetic.md, "LOGISTIC and
TANH"). The layer runs any such byte-to-byte op (requantize.py's too) as one C++ table lookup."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, ClassVar

import numpy as np

from .. import fixed_point
from ..tflite_reader import Operator, Tensor
from .common import InvalidModel, Quantization, RowwiseLayer, int8_input_and_output

OPCODES = ("LOGISTIC", "TANH")


@dataclass
class LookupTableLayer(RowwiseLayer):
    name: str
    depth: int
    output: Quantization
    op: str  # the TFLite operator: LOGISTIC, TANH, or one of requantize.py's
    table: np.ndarray  # int8 [256], indexed by x + 128
    float_fn: Callable[[np.ndarray], np.ndarray] = field(repr=False, compare=False, default=np.tanh)
    kind: ClassVar[str] = "lookup_table"
    def reference(self, x: np.ndarray) -> np.ndarray:
        return self.table[x.astype(np.int16) + 128]

    def native(self) -> dict:
        return {"table": self.table}

    def describe(self) -> tuple[str, str]:
        return self.op.capitalize(), "lookup table"

    def float_step(self) -> Callable[[np.ndarray], np.ndarray]:
        return self.float_fn


def build(op: Operator, tensors: list[Tensor], depth: int, problems: list[str],
          fixed: bool) -> LookupTableLayer | None:
    found = int8_input_and_output(op, tensors, problems)
    if found is None:
        return None
    dst, in_q, out_q = found
    # What LiteRT's reference Prepare accepts (measured, docs/native-ops.md): LOGISTIC needs
    # output scale 1/256 exactly, any zero point; TANH takes any output quantization. Both
    # then fill the table with the output's own scale and zero point.
    if op.opcode == "LOGISTIC" and out_q.scale != 1 / 256:
        raise InvalidModel(f"LOGISTIC output scale {out_q.scale} (TFLite requires 1/256)")
    make = fixed_point.logistic_table if op.opcode == "LOGISTIC" else fixed_point.tanh_table
    return LookupTableLayer(dst.name, depth, out_q, op=op.opcode,
                            table=make(in_q.scale, in_q.zero_point, out_q.scale, out_q.zero_point),
                            float_fn=_sigmoid if op.opcode == "LOGISTIC" else np.tanh)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
