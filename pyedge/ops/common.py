"""What every op's Prepare uses: the int8 quantization of an activation tensor, the fused
activation's bounds, and the error for a model whose contents contradict each other."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..quantization import round_half_away
from ..tflite_reader import Operator, Tensor


class InvalidModel(ValueError):
    """The file parses, but its contents contradict each other (shapes, scales, a loop)."""


@dataclass(frozen=True)
class Quantization:
    scale: float
    zero_point: int


def legacy_scale(tensor: Tensor) -> tuple[float, int]:
    """The (scale, zero_point) LiteRT's kernels read (TfLiteTensor.params): those of a tensor
    with exactly one of each, else (0, 0) (per-channel or no quantization; GetLegacyQuantization
    in LiteRT's subgraph.cc)."""
    if tensor.scales.size == 1 and tensor.zero_points.size == 1:
        return float(tensor.scales[0]), int(tensor.zero_points[0])
    return 0.0, 0


def int8_quantization(t: Tensor, problems: list[str]) -> Quantization | None:
    """The tensor's per-tensor int8 quantization; None (and the reason in problems) when it
    is not an int8 activation the native plan can run."""
    if t.type_name != "INT8":
        problems.append(f"tensor '{t.name}' is {t.type_name}, not INT8")
        return None
    if t.scales.size != 1:
        problems.append(f"activation tensor '{t.name}' needs one scale, has {t.scales.size}")
        return None
    q = Quantization(float(t.scales[0]), int(t.zero_points[0]))
    if not (math.isfinite(q.scale) and q.scale > 0) or not -128 <= q.zero_point <= 127:
        raise InvalidModel(f"tensor '{t.name}' has invalid quantization scale={q.scale} "
                           f"zero_point={q.zero_point}")
    return q


def int8_input_and_output(op: Operator, tensors: list[Tensor], problems: list[str]
                          ) -> tuple[Tensor, Quantization, Quantization] | None:
    """The output tensor and the int8 quantizations of a one-input, one-output op; None (and
    the reasons in problems) when either tensor is not an int8 activation."""
    src, dst = tensors[op.inputs[0]], tensors[op.outputs[0]]
    in_q, out_q = int8_quantization(src, problems), int8_quantization(dst, problems)
    if in_q is None or out_q is None:
        return None
    return dst, in_q, out_q


class RowwiseLayer:
    """Mixin for int8 -> int8 layers without weights that keep a row's depth."""

    depth: int
    macs: ClassVar[int] = 0
    params: ClassVar[int] = 0

    @property
    def input_depth(self) -> int:
        return self.depth

    output_depth = input_depth


def fused_activation(op: Operator, problems: list[str]) -> str:
    """The op's fused activation; one the native layers do not clamp to is a problem."""
    activation = str(op.options.get("activation", "NONE"))
    if activation not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
        problems.append(f"{op.opcode} with fused activation {activation}")
    return activation


def matmul_operands(op: Operator, tensors: list[Tensor], problems: list[str]
                    ) -> tuple[Tensor, Tensor, Tensor | None, Tensor] | None:
    """(input, weights, bias or None, output) of FULLY_CONNECTED or CONV_2D, or None (and the
    reason) when the weights are missing."""
    if len(op.inputs) < 2 or op.inputs[1] < 0:
        problems.append(f"{op.opcode} without weights")
        return None
    bias = tensors[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    return tensors[op.inputs[0]], tensors[op.inputs[1]], bias, tensors[op.outputs[0]]


def activation_range(activation: str, out: Quantization) -> tuple[int, int]:
    """TFLite's CalculateActivationRangeQuantized: float bounds quantized with TfLiteRound of a
    float32 division, intersected with the int8 range. Like TFLite's Prepare, refuses a bound
    that overflows int32 (a tiny output scale): InvalidModel."""

    def q(value: float) -> int:
        # The float32 division, done in double and rounded once to float32 (the same bits for
        # float32 operands); past 2^32 it is out of range whatever the rounding.
        quotient = float(np.float32(value)) / float(np.float32(out.scale))
        rounded = round_half_away(float(np.float32(quotient))) if abs(quotient) < 2.0**32 else quotient
        if not -(2.0**31) <= rounded < 2.0**31:
            raise InvalidModel(f"activation bound {value} / output scale {out.scale} overflows "
                               "int32 (TFLite refuses this model too)")
        return out.zero_point + int(rounded)

    if activation == "RELU":
        return max(-128, q(0.0)), 127
    if activation == "RELU6":
        return max(-128, q(0.0)), min(127, q(6.0))
    if activation == "RELU_N1_TO_1":
        return max(-128, q(-1.0)), min(127, q(1.0))
    return -128, 127


def batch_first(src: Tensor, depth: int, opcode: str, problems: list[str], fixed: bool,
                rank: int | None = None) -> bool:
    """Whether the op reads each batch row as one tensor of src.shape[1:] (of `rank` dimensions
    with the batch, if given): the first dimension is the batch (for a dynamic batch, the -1 of
    its shape signature: a reshape that moved the batch elsewhere would make another dimension
    grow with it). Else the reason is in problems."""
    signature = src.shape_signature or src.shape
    if (rank is not None and len(src.shape) != rank) or len(src.shape) < 1 or \
            int(np.prod(src.shape[1:])) != depth or \
            (not fixed and (signature[0] != -1 or -1 in signature[1:])):
        problems.append(f"{opcode} on input {src.shape} (signature {tuple(signature)}; "
                        f"{depth} values per row)")
        return False
    return True
