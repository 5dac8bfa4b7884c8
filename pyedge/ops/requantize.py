"""RELU, RELU6, RELU_N1_TO_1 and QUANTIZE int8 -> int8: a requantization of each byte, clamped.

LiteRT's Prepare makes one multiplier of input_scale / output_scale (QuantizeMultiplier) and
its kernels compute, per value, clamp(output_zero_point + multiply(x - input_zero_point), lo, hi)
with lo, hi the activation's bounds (activations.cc QuantizedReluX; quantize.cc Requantize,
where lo, hi is the int8 range). Measured: the multiply is gemmlowp's double rounding here
(a rounding doubling high multiply, then a rounding shift), not FULLY_CONNECTED's single
rounding: it matched LiteRT BUILTIN_REF on 90 of 90 random quantizations, single rounding on 71
(docs/arithmetic.md). The output depends on the input byte only, so the layer is a 256-entry
table (lookup_table.py's layer, one C++ lookup), checked against LiteRT BUILTIN_REF on every
byte by tests/test_requantize_ops.py.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .. import fixed_point
from ..quantization import quantize_multipliers
from ..tflite_reader import Operator, Tensor
from .common import InvalidModel, activation_range, int8_input_and_output
from .lookup_table import LookupTableLayer

OPCODES = ("RELU", "RELU6", "RELU_N1_TO_1", "QUANTIZE")
MAX_SHIFT = 23  # 255 * 2^23 < 2^31: (x - zero_point) * 2^shift stays in int32 for every byte
FLOAT_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "RELU": lambda x: np.maximum(x, 0), "RELU6": lambda x: np.clip(x, 0, 6),
    "RELU_N1_TO_1": lambda x: np.clip(x, -1, 1), "QUANTIZE": lambda x: x}


def build(op: Operator, tensors: list[Tensor], depth: int, problems: list[str],
          fixed: bool) -> LookupTableLayer | None:
    found = int8_input_and_output(op, tensors, problems)
    if found is None:
        return None
    dst, in_q, out_q = found
    # ReluPrepare divides the two float scales in float32, then widens; QUANTIZE's Prepare
    # divides in double (found by review: 1 LSB on about 1 in 1,700 RELU quantizations).
    if op.opcode == "QUANTIZE":
        ratio = float(in_q.scale) / float(out_q.scale)
    else:
        ratio = float(np.float32(in_q.scale) / np.float32(out_q.scale))
    multiplier, shift = quantize_multipliers(np.array([ratio]))
    # LiteRT computes (x - zero_point) * 2^shift in int32: past 2^23 that overflows for some
    # byte, and past 2^30 its shift itself is out of range (undefined behaviour in its C++;
    # measured, x86 wraps the shift count). Its result is then the CPU's, not arithmetic's: the
    # interpreter runs such a layer (found by tools/fuzz_models.py).
    if shift[0] > MAX_SHIFT:
        problems.append(f"{op.opcode} '{dst.name}': input scale / output scale = {ratio:.3g} "
                        "overflows LiteRT's int32 arithmetic")
        return None
    try:
        lo, hi = activation_range("NONE" if op.opcode == "QUANTIZE" else op.opcode, out_q)
    except InvalidModel:  # LiteRT's RELU casts the overflowing bound to int32 anyway (UB)
        problems.append(f"{op.opcode} '{dst.name}': its bound over output scale {out_q.scale:g} "
                        "overflows int32")
        return None
    x = np.arange(-128, 128, dtype=np.int64)
    y = fixed_point.double_rounding_multiply(x - in_q.zero_point, int(multiplier[0]), int(shift[0]))
    table = np.clip(y + out_q.zero_point, lo, hi).astype(np.int8)
    return LookupTableLayer(dst.name, depth, out_q, op=op.opcode, table=table,
                            float_fn=FLOAT_FUNCTIONS[op.opcode])
