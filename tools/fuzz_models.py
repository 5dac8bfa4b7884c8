"""Differential fuzzing of whole models: random valid int8 .tflite files, pyedge against LiteRT.

Each model is a chain QUANTIZE? -> (FULLY_CONNECTED | CONV_2D | DEPTHWISE_CONV_2D | MAX_POOL_2D |
AVERAGE_POOL_2D | MEAN | PAD | PADV2 | SOFTMAX | LOGISTIC | TANH | RESHAPE | RELU | RELU6 |
RELU_N1_TO_1 | QUANTIZE int8 -> int8)* ->
DEQUANTIZE? on int8 tensors of rank 2 to 4 (batch first, shape_signature -1; a window op's input
reshaped to [-1, H, W, C]: kernels up to 5 and wider than the image, strides, dilations, SAME and
VALID padding), written with tests/tflite_builder.py, with odd sizes,
scales over many decades, extreme zero points, per-channel and per-tensor weights, large
biases, every fused activation, FC inputs TFLite flattens, and now and then an op or a parameter
the native plan must refuse (so the model goes to the interpreter) or that LiteRT itself
refuses. On random int8 or float rows, bit for bit:

* LiteRT BUILTIN_REF (every intermediate tensor preserved) is the oracle;
* pyedge.Model(content) (backend auto) must load whatever LiteRT runs and give its outputs, and
  must raise ValueError (and nothing else, and not crash) on whatever LiteRT refuses;
* when the plan is native: every kernel this CPU supports (auto for the default one,
  backend="native" with PYEDGE_KERNEL for the others) and backend="reference" must give
  LiteRT's outputs and every int8 tensor of model.trace(x).

A disagreement is a finding: the model, its inputs and a one-line description are saved in the
findings folder (the smallest few per cause), and the run exits 1.

    python tools/fuzz_models.py --seconds 60              # run from outside the checkout root
    python tools/fuzz_models.py --models 200 --seed 1     # reproducible, bounded
    python tools/fuzz_models.py --replay build/fuzz-models/findings/*.tflite

Models are generated from (seed, index) alone, so a finding is reproducible from its name too.
The work runs in one worker process per CPU; a worker that dies (LiteRT aborts on some
parameters, and a crash in pyedge must be caught) is restarted after the model is re-run in
isolation to say who crashed.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import math
import os
import re
import selectors
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # tflite_builder, litert_reference

import tflite_builder as tb  # noqa: E402

DEFAULT_SAVE = ROOT / "build" / "fuzz-models" / "findings"
MAX_ROW = 300  # values per row of any tensor
MAX_MACS = 40_000  # per model row, so that a model runs in well under a millisecond
MAX_VALUES = 4_096  # per model row of any tensor, counting the rows a flattening FC makes
MAX_BATCH = 17
PREFIX = "@@fuzz "  # marks the worker's result lines among whatever else reaches its stdout
# LiteRT refuses the last two on int8: pyedge must raise ValueError, not crash.
FC_ACTIVATIONS = {"NONE": 0.35, "RELU": 0.25, "RELU6": 0.16, "RELU_N1_TO_1": 0.17, "TANH": 0.05,
                  "SIGN_BIT": 0.02}
NICE_SIZES = (1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255,
              256, 257, 300)


# -- random parameters ---------------------------------------------------------------------------
def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.float32(math.exp(rng.uniform(math.log(lo), math.log(hi)))))


def random_size(rng: np.random.Generator, hi: int) -> int:
    """Sizes at the SIMD block edges half the time, else log-uniform in [1, hi]."""
    if rng.random() < 0.5:
        sizes = [s for s in NICE_SIZES if s <= hi]
        return int(rng.choice(sizes)) if sizes else 1
    return int(min(hi, max(1, round(math.exp(rng.uniform(0, math.log(hi + 1)))))))


def random_zero_point(rng: np.random.Generator) -> int:
    r = rng.random()
    if r < 0.2:
        return -128
    if r < 0.35:
        return 127
    if r < 0.5:
        return 0
    return int(rng.integers(-128, 128))


def factorize(rng: np.random.Generator, total: int, rank: int) -> tuple[int, ...]:
    """A random shape of `rank` dimensions whose product is total (1s where it must)."""
    dims = [1] * rank
    rest = total
    for i in rng.permutation(rank)[:-1]:
        divisors = [d for d in range(1, rest + 1) if rest % d == 0]
        dims[i] = int(rng.choice(divisors))
        rest //= dims[i]
    dims[int(np.argmax([d == 1 for d in dims]))] *= rest  # the last free dimension takes the rest
    return tuple(dims)


# -- writing the model ---------------------------------------------------------------------------
@dataclass
class Node:
    """An activation tensor of the chain. TFLite runs it as [lead * batch, *row]: lead > 1
    after a FULLY_CONNECTED that flattens its input to [-1, depth]."""

    index: int
    lead: int
    row: tuple[int, ...]
    scale: float = 0.0
    zero_point: int = 0
    float32: bool = False

    @property
    def depth(self) -> int:
        return math.prod(self.row)


@dataclass
class Writer:
    spec: tb.ModelSpec = field(default_factory=lambda: tb.ModelSpec([], [tb.BufferSpec()], [], [], []))
    notes: list[str] = field(default_factory=list)  # what each op is, for the finding's line

    def activation(self, lead: int, row: tuple[int, ...], scale: float = 0.0, zero_point: int = 0,
                   float32: bool = False) -> Node:
        index = len(self.spec.tensors)
        quantized = {} if float32 else {"scales": [scale], "zero_points": [zero_point]}
        self.spec.tensors.append(tb.TensorSpec(
            f"t{index}", "FLOAT32" if float32 else "INT8", [lead, *row],
            shape_signature=[-1, *row], **quantized))
        return Node(index, lead, row, scale, zero_point, float32)

    def constant(self, kind: str, array: np.ndarray, scales: list[float] | None = None,
                 zero_points: list[int] | None = None, quantized_dimension: int = 0) -> int:
        self.spec.buffers.append(tb.BufferSpec(np.ascontiguousarray(array).tobytes()))
        index = len(self.spec.tensors)
        self.spec.tensors.append(tb.TensorSpec(
            f"{kind}{index}", {np.int8: "INT8", np.int16: "INT16", np.int32: "INT32",
                               np.int64: "INT64"}[array.dtype.type],
            list(array.shape), buffer=len(self.spec.buffers) - 1, scales=scales,
            zero_points=zero_points, quantized_dimension=quantized_dimension))
        return index

    def op(self, opcode: str, inputs: list[int], output: Node, note: str, **options) -> Node:
        self.spec.operators.append(tb.OperatorSpec(opcode, inputs, [output.index], **options))
        self.notes.append(note)
        return output


def fc_output_scale(rng: np.random.Generator, x: Node, weight_scale: float, depth: int) -> float:
    """Near the scale a converter would calibrate half the time (so that outputs are not all
    saturated), anywhere in 1e-6..1e3 otherwise."""
    if rng.random() < 0.5:
        return log_uniform(rng, 1e-6, 1e3)
    typical = x.scale * weight_scale * 60 * 60 * math.sqrt(depth) / 128
    return float(np.float32(typical * 10 ** rng.uniform(-1.5, 1.0)))


def random_weights(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    kind = rng.choice(["uniform", "full", "extremes", "sparse", "small"], p=[.5, .15, .1, .15, .1])
    if kind == "uniform":
        return rng.integers(-127, 128, (n, k), dtype=np.int8)
    if kind == "full":
        return rng.integers(-128, 128, (n, k), dtype=np.int8)
    if kind == "extremes":
        return rng.choice(np.array([-128, -127, 127], np.int8), (n, k))
    if kind == "sparse":
        return (rng.integers(-127, 128, (n, k)) * (rng.random((n, k)) < 0.2)).astype(np.int8)
    return rng.integers(-3, 4, (n, k), dtype=np.int8)


def random_bias(rng: np.random.Generator, n: int) -> np.ndarray:
    kind = rng.choice(["normal", "large", "extreme"], p=[.8, .15, .05])
    if kind == "normal":
        return np.round(rng.normal(0, 10 ** rng.uniform(0, 4.5), n)).astype(np.int32)
    if kind == "large":
        magnitude = 2.0 ** rng.uniform(20, 31, n)
        return (rng.choice([-1, 1], n) * magnitude).clip(-2**31, 2**31 - 1).astype(np.int32)
    return rng.choice(np.array([-2**31, 2**31 - 1, 0], np.int32), n)


def add_fully_connected(w: Writer, rng: np.random.Generator, x: Node) -> Node:
    # How TFLite reads the input: rows of the whole per-row size, the last dimension with
    # keep_num_dims (output [.., n]), or any divisor of the row flattened to [-1, depth].
    mode = rng.choice(["row", "keep", "flatten"], p=[.55, .25, .2])
    keep = mode == "keep"
    k = {"row": x.depth, "keep": x.row[-1]}.get(mode, 0)
    if mode == "flatten":  # (a depth that keeps the rows it makes within bounds)
        divisors = [d for d in range(1, x.depth + 1)
                    if x.depth % d == 0 and x.lead * (x.depth // d) <= MAX_VALUES]
        k = int(rng.choice(divisors))
    invalid = ""
    if rng.random() < 0.01 and x.depth > 2:  # a depth that does not divide the row: refused
        k, invalid = int(rng.integers(2, x.depth)), " depth-not-dividing"
        keep = False
    lead = x.lead if keep else x.lead * x.depth // k if x.depth % k == 0 else x.lead
    lead_rows = lead * (math.prod(x.row[:-1]) if keep else 1)  # rows of k the FC multiplies
    n = random_size(rng, max(1, min(MAX_ROW, MAX_MACS // (lead_rows * k), MAX_VALUES // lead_rows)))
    per_channel = rng.random() < 0.6
    w_scales = [log_uniform(rng, 1e-5, 1.0) for _ in range(n if per_channel else 1)]
    if rng.random() < 0.1:
        w_scales = [log_uniform(rng, 1e-8, 1e2) for _ in w_scales]
    w_zero = [0] * len(w_scales)
    if rng.random() < 0.01:
        w_zero, invalid = [int(rng.integers(1, 10))] * len(w_scales), invalid + " weight-zero-point"
    weights = w.constant("w", random_weights(rng, n, k), w_scales, w_zero)
    inputs = [x.index, weights]
    bias_note = "no bias"
    if rng.random() < 0.75:
        bias = random_bias(rng, n)
        b_scales = [float(np.float32(x.scale) * np.float32(s)) for s in w_scales]
        if rng.random() < 0.01:
            b_scales, invalid = [s * 1.5 for s in b_scales], invalid + " bias-scale"
        inputs.append(w.constant("b", bias, b_scales, [0] * len(b_scales)))
        bias_note = f"bias max {int(np.abs(bias.astype(np.int64)).max())}"
    elif rng.random() < 0.5:
        inputs.append(-1)  # an omitted optional input, as the converter writes it
    activation = str(rng.choice(list(FC_ACTIVATIONS), p=list(FC_ACTIVATIONS.values())))
    out_scale = fc_output_scale(rng, x, float(np.mean(w_scales)), k)
    if rng.random() < 0.005:
        out_scale, activation = 1e-10, "RELU6"  # the activation bound overflows int32
    row = (*x.row[:-1], n) if keep else (n,)
    y = w.activation(lead, row, out_scale, random_zero_point(rng))
    note = (f"FC[{n}x{k}{' per-channel' if per_channel else ''} {activation} {bias_note}"
            f"{' keep_num_dims' if keep else ''}{' flattens' if lead != x.lead else ''}{invalid}]")
    return w.op("FULLY_CONNECTED", inputs, y, note, activation=activation, keep_num_dims=keep)


def fixed_output(rng: np.random.Generator, standard: tuple[float, int], p_other: float
                 ) -> tuple[float, int]:
    """The output quantization the reference kernel assumes, or now and then another one
    (which LiteRT may accept or refuse: pyedge must do what it does)."""
    if rng.random() >= p_other:
        return standard
    scale, zero_point = standard
    kind = rng.choice(["zero-point", "scale", "near", "both"])
    if kind == "zero-point":
        return scale, random_zero_point(rng)
    if kind == "scale":
        return float(rng.choice([1 / 128, 1 / 256, 2 / 256, 1 / 255])), zero_point
    if kind == "near":
        return float(np.float32(scale * (1 + rng.choice([-1, 1]) * 10 ** rng.uniform(-7, -3)))), zero_point
    return log_uniform(rng, 1e-4, 1.0), random_zero_point(rng)


def add_softmax(w: Writer, rng: np.random.Generator, x: Node) -> Node:
    beta = float(rng.choice([1.0, 1.0, 1.0, 0.5, 2.0, 0.1, 10.0, log_uniform(rng, 1e-3, 1e2)]))
    # LiteRT aborts the process (TFLITE_CHECK) when beta * scale < 2^-26: rarely on purpose.
    if beta * x.scale <= 2.0 ** -25 and rng.random() < 0.995:
        beta = float(np.float32(2.0 ** -24 / x.scale))
    scale, zero_point = fixed_output(rng, (1 / 256, -128), 0.1)
    y = w.activation(x.lead, x.row, scale, zero_point)
    note = f"SOFTMAX[beta {beta:.3g} rank {len(x.row) + 1} out {scale:.4g}/{zero_point}]"
    return w.op("SOFTMAX", [x.index], y, note, beta=beta)


def add_lookup(w: Writer, rng: np.random.Generator, x: Node, opcode: str) -> Node:
    standard = (1 / 256, -128) if opcode == "LOGISTIC" else (1 / 128, 0)
    scale, zero_point = fixed_output(rng, standard, 0.15)
    y = w.activation(x.lead, x.row, scale, zero_point)
    return w.op(opcode, [x.index], y, f"{opcode}[out {scale:.6g}/{zero_point}]")


def add_reshape(w: Writer, rng: np.random.Generator, x: Node) -> Node:
    # Usually the same values per row in another shape; after a flattening FC sometimes back
    # to one row per input row; now and then a split that makes more rows.
    total = x.depth
    if x.lead > 1 and rng.random() < 0.6:
        total = x.depth * x.lead
    elif rng.random() < 0.05:
        total = int(rng.choice([d for d in range(1, x.depth + 1) if x.depth % d == 0]))
    row = factorize(rng, total, int(rng.integers(1, 4)))
    lead = x.lead * x.depth // total
    scale, zero_point = x.scale, x.zero_point
    if rng.random() < 0.03:  # LiteRT copies the bytes whatever the quantization says
        scale, zero_point = log_uniform(rng, 1e-6, 1e3), random_zero_point(rng)
    y = w.activation(lead, row, scale, zero_point)
    target = [-1, *row]
    if rng.random() < 0.03:  # a new shape LiteRT's Prepare refuses: so must pyedge
        # (never valid at any batch: LiteRT resizes before it allocates, here)
        target = [-1, -1, *row] if rng.random() < 0.5 else [*row, 0]
    how = rng.choice(["options", "tensor", "both"])
    inputs = [x.index]
    if how != "options":
        inputs.append(w.constant("shape", np.array(target, np.int32)))
    note = f"RESHAPE[{how} {list(x.row)}->{list(row)}{' requantizes' if scale != x.scale else ''}]"
    return w.op("RESHAPE", inputs, y, note, new_shape=target if how != "tensor" else None)


def add_requantize(w: Writer, rng: np.random.Generator, x: Node) -> Node:
    """RELU, RELU6, RELU_N1_TO_1 or QUANTIZE int8 -> int8, with the input's quantization or another."""
    opcode = str(rng.choice(["RELU", "RELU6", "RELU_N1_TO_1", "QUANTIZE"]))
    scale, zero_point = x.scale, x.zero_point
    if opcode == "QUANTIZE" or rng.random() < 0.5:
        scale, zero_point = log_uniform(rng, 1e-6, 1e3), random_zero_point(rng)
    y = w.activation(x.lead, x.row, scale, zero_point)
    return w.op(opcode, [x.index], y, f"{opcode}[int8 out {scale:.4g}/{zero_point}]")


def add_foreign(w: Writer, rng: np.random.Generator, x: Node) -> Node:
    """An op LiteRT runs and the native plan does not: the model must go to the interpreter."""
    f = w.op("DEQUANTIZE", [x.index], w.activation(x.lead, x.row, float32=True), "DEQUANTIZE[mid]")
    y = w.activation(x.lead, x.row, log_uniform(rng, 1e-6, 1e3), random_zero_point(rng))
    return w.op("QUANTIZE", [f.index], y, "QUANTIZE[mid]")


def as_image(w: Writer, rng: np.random.Generator, x: Node) -> Node:
    """x as [-1, H, W, C] for a window op: a RESHAPE first unless its row has three dimensions."""
    if len(x.row) == 3:
        return x
    row = factorize(rng, x.depth, 3)
    y = w.activation(x.lead, row, x.scale, x.zero_point)
    shape = w.constant("shape", np.array([-1, *row], np.int32))
    return w.op("RESHAPE", [x.index, shape], y, f"RESHAPE[{list(x.row)}->{list(row)}]")


def out_size(size: int, kernel: int, stride: int, dilation: int, padding: str) -> int:
    """TFLite's ComputeOutSize."""
    effective = (kernel - 1) * dilation + 1
    return (size + stride - 1) // stride if padding == "SAME" else (size + stride - effective) // stride


def random_window(rng: np.random.Generator, x: Node, dilated: bool) -> dict:
    """Kernel, stride, dilation and padding of a window op on x's [H, W] with at least one
    output pixel: kernels up to 5 (some wider than the image, with SAME padding)."""
    padding = str(rng.choice(["SAME", "VALID"]))
    window: dict = {"padding": padding}
    for axis, size in (("h", x.row[0]), ("w", x.row[1])):
        kernel = int(rng.integers(1, 6)) if rng.random() < 0.9 else int(rng.integers(1, size + 3))
        stride = int(rng.choice([1, 1, 2, 3]))
        dilation = int(rng.choice([1, 1, 1, 2, 3])) if dilated else 1
        if out_size(size, kernel, stride, dilation, padding) < 1:
            padding = window["padding"] = "SAME"  # a window wider than the image
        window[axis] = (kernel, stride, dilation)
    window["out"] = tuple(out_size(size, *window[axis], window["padding"])
                          for axis, size in (("h", x.row[0]), ("w", x.row[1])))
    return window


def add_conv_2d(w: Writer, rng: np.random.Generator, x: Node) -> Node:
    x = as_image(w, rng, x)
    window = random_window(rng, x, dilated=True)
    (kh, sh, dh), (kw, sw, dw), (oh, ow) = window["h"], window["w"], window["out"]
    c = x.row[2]
    k = kh * kw * c
    n = random_size(rng, max(1, min(64, MAX_MACS // max(1, x.lead * oh * ow * k),
                                    MAX_VALUES // max(1, x.lead * oh * ow))))
    per_channel = rng.random() < 0.7
    w_scales = [log_uniform(rng, 1e-5, 1.0) for _ in range(n if per_channel else 1)]
    w_zero_points = [0] * len(w_scales)
    if rng.random() < 0.03:  # forged: LiteRT's conv refuses it (and a conv without a bias)
        w_zero_points[int(rng.integers(len(w_scales)))] = int(rng.integers(1, 128))
    weights = w.constant("filter", random_weights(rng, n, k).reshape(n, kh, kw, c), w_scales,
                         w_zero_points)
    inputs = [x.index, weights]
    if rng.random() < 0.8:
        b_scales = [float(np.float32(x.scale) * np.float32(s)) for s in w_scales]
        inputs.append(w.constant("b", random_bias(rng, n), b_scales, [0] * len(b_scales)))
    activation = str(rng.choice(list(FC_ACTIVATIONS), p=list(FC_ACTIVATIONS.values())))
    y = w.activation(x.lead, (oh, ow, n), fc_output_scale(rng, x, float(np.mean(w_scales)), k),
                     random_zero_point(rng))
    note = (f"CONV_2D[{n}x{kh}x{kw}x{c} on {list(x.row)} stride {sh}x{sw} dilation {dh}x{dw} "
            f"{window['padding']} {activation}{' per-channel' if per_channel else ''}]")
    return w.op("CONV_2D", inputs, y, note, activation=activation, padding=window["padding"],
                stride=(sh, sw), dilation=(dh, dw))


def add_depthwise_conv_2d(w: Writer, rng: np.random.Generator, x: Node) -> Node:
    x = as_image(w, rng, x)
    window = random_window(rng, x, dilated=True)
    (kh, sh, dh), (kw, sw, dw), (oh, ow) = window["h"], window["w"], window["out"]
    c = x.row[2]
    m = int(rng.choice([1, 1, 1, 2, 3]))
    while m > 1 and x.lead * oh * ow * c * m > MAX_VALUES:
        m -= 1
    n = c * m
    per_channel = rng.random() < 0.7
    w_scales = [log_uniform(rng, 1e-5, 1.0) for _ in range(n if per_channel else 1)]
    w_zero_points = [0] * len(w_scales)
    if rng.random() < 0.03:  # forged: LiteRT ignores it, pyedge leaves it to the interpreter
        w_zero_points[int(rng.integers(len(w_scales)))] = int(rng.integers(1, 128))
    filter_ = random_weights(rng, n, kh * kw).T.reshape(1, kh, kw, n)
    inputs = [x.index, w.constant("filter", filter_, w_scales, w_zero_points, quantized_dimension=3)]
    if rng.random() < 0.8:  # (a depthwise conv may have no bias)
        b_scales = [float(np.float32(x.scale) * np.float32(s)) for s in w_scales]
        inputs.append(w.constant("b", random_bias(rng, n), b_scales, [0] * len(b_scales)))
    # The options' depth multiplier, which LiteRT does not read, now and then wrong.
    options_m = m if rng.random() < 0.9 else int(rng.integers(0, 4))
    activation = str(rng.choice(list(FC_ACTIVATIONS), p=list(FC_ACTIVATIONS.values())))
    y = w.activation(x.lead, (oh, ow, n), fc_output_scale(rng, x, float(np.mean(w_scales)), kh * kw),
                     random_zero_point(rng))
    note = (f"DEPTHWISE_CONV_2D[1x{kh}x{kw}x{n} on {list(x.row)} x{m} stride {sh}x{sw} dilation "
            f"{dh}x{dw} {window['padding']} {activation}{' per-channel' if per_channel else ''}]")
    return w.op("DEPTHWISE_CONV_2D", inputs, y, note, activation=activation,
                padding=window["padding"], stride=(sh, sw), dilation=(dh, dw),
                depth_multiplier=options_m)


def add_pool_2d(w: Writer, rng: np.random.Generator, x: Node) -> Node:
    x = as_image(w, rng, x)
    opcode = str(rng.choice(["MAX_POOL_2D", "AVERAGE_POOL_2D"]))
    window = random_window(rng, x, dilated=False)
    (kh, sh, _), (kw, sw, _), (oh, ow) = window["h"], window["w"], window["out"]
    scale, zero_point = x.scale, x.zero_point  # as a converter writes it; now and then not
    if rng.random() < 0.1:
        scale, zero_point = log_uniform(rng, 1e-6, 1e3), random_zero_point(rng)
    activation = str(rng.choice(["NONE", "NONE", "RELU", "RELU6", "RELU_N1_TO_1"]))
    y = w.activation(x.lead, (oh, ow, x.row[2]), scale, zero_point)
    note = (f"{opcode}[{kh}x{kw} on {list(x.row)} stride {sh}x{sw} {window['padding']} "
            f"{activation}{' requantizes' if scale != x.scale else ''}]")
    return w.op(opcode, [x.index], y, note, activation=activation, padding=window["padding"],
                stride=(sh, sw), filter=(kh, kw))


def add_mean(w: Writer, rng: np.random.Generator, x: Node) -> Node:
    """MEAN over random axes of the row (negative and repeated ones too), keep_dims or not;
    now and then over the batch axis (with keep_dims: the chain goes on), which the plan leaves
    to the interpreter."""
    rank = 1 + len(x.row)
    axes = [a for a in range(1, rank) if rng.random() < 0.5] or [int(rng.integers(1, rank))]
    keep = bool(rng.random() < 0.4)
    if not keep and len(axes) == len(x.row):  # a rank-1 output would end the chain's rows
        keep = len(axes) == 1
        axes = axes if keep else axes[:-1]
    if rng.random() < 0.03:
        axes, keep = [0, *axes], True
    written = [a - rank if rng.random() < 0.3 else a for a in axes] + \
        ([axes[0]] if rng.random() < 0.1 else [])
    row = tuple(1 if a + 1 in axes else d for a, d in enumerate(x.row)) if keep else \
        tuple(d for a, d in enumerate(x.row) if a + 1 not in axes)
    scale = x.scale * log_uniform(rng, 0.1, 10) if rng.random() < 0.8 else log_uniform(rng, 1e-6, 1e3)
    zero_point = x.zero_point if rng.random() < 0.3 else random_zero_point(rng)
    y = w.activation(1 if 0 in axes else x.lead, row, scale, zero_point)
    axis = w.constant("axis", np.array(written, np.int32))
    note = f"MEAN[axes {written} of {list(x.row)}{' keep_dims' if keep else ''}]"
    return w.op("MEAN", [x.index, axis], y, note, keep_dims=keep)


def add_pad(w: Writer, rng: np.random.Generator, x: Node) -> Node:
    """PAD (or PADV2, with or without a constant) of 0 to 3 values on each side of random axes
    of the row, paddings of any integer type; the output quantized as the input, as the
    converter writes it, now and then not (the bytes are copied all the same); and now and then
    a constant of another quantization, which LiteRT refuses."""
    widths = [[int(v) for v in rng.integers(0, 4, 2)] if rng.random() < 0.6 else [0, 0] for _ in x.row]
    row = tuple(d + b + a for d, (b, a) in zip(x.row, widths))
    while math.prod(row) * x.lead > MAX_VALUES:
        widths, row = [[0, 0] for _ in x.row], x.row
    dtype = rng.choice([np.int32, np.int32, np.int64, np.int8, np.int16])
    paddings = w.constant("paddings", np.array([[0, 0], *widths], dtype))
    scale, zero_point = x.scale, x.zero_point
    if rng.random() < 0.1:
        scale, zero_point = log_uniform(rng, 1e-6, 1e3), random_zero_point(rng)
    y = w.activation(x.lead, row, scale, zero_point)
    inputs, opcode, what = [x.index, paddings], "PAD", ""
    if rng.random() < 0.3:
        opcode = "PADV2"
        if rng.random() < 0.8:
            q = (scale, zero_point) if rng.random() < 0.95 else (scale * 2, zero_point)
            value = np.array([rng.integers(-128, 128)], np.int8)
            inputs.append(w.constant("pad_value", value, [q[0]], [q[1]]))
            what = f" with {int(value[0])}{'' if q[0] == scale else ' of another scale'}"
    note = f"{opcode}[{widths} of {list(x.row)}{what}{' requantizes' if scale != x.scale else ''}]"
    return w.op(opcode, inputs, y, note)


OPS = {"FULLY_CONNECTED": 0.24, "CONV_2D": 0.09, "DEPTHWISE_CONV_2D": 0.07, "pool": 0.07, "MEAN": 0.03,
       "PAD": 0.03, "SOFTMAX": 0.12, "LOGISTIC": 0.08, "TANH": 0.08, "RESHAPE": 0.10, "requantize": 0.06,
       "foreign": 0.03}


def add_op(w: Writer, rng: np.random.Generator, x: Node) -> Node:
    opcode = str(rng.choice(list(OPS), p=list(OPS.values())))
    if opcode == "FULLY_CONNECTED":
        return add_fully_connected(w, rng, x)
    if opcode == "CONV_2D":
        return add_conv_2d(w, rng, x)
    if opcode == "DEPTHWISE_CONV_2D":
        return add_depthwise_conv_2d(w, rng, x)
    if opcode == "pool":
        return add_pool_2d(w, rng, x)
    if opcode == "MEAN":
        return add_mean(w, rng, x)
    if opcode == "PAD":
        return add_pad(w, rng, x)
    if opcode == "SOFTMAX":
        return add_softmax(w, rng, x)
    if opcode == "RESHAPE":
        return add_reshape(w, rng, x)
    if opcode == "requantize":
        return add_requantize(w, rng, x)
    if opcode == "foreign":
        return add_foreign(w, rng, x)
    return add_lookup(w, rng, x, opcode)


@dataclass
class Case:
    content: bytes
    description: str
    inputs: list[np.ndarray]  # batches, int8 or float32, shaped [rows, *input row]


def generate(seed: int, index: int) -> Case:
    """Model `index` of run `seed` and its input batches: a function of (seed, index) only."""
    rng = np.random.default_rng([seed, index])
    w = Writer()
    row = factorize(rng, random_size(rng, MAX_ROW), int(rng.integers(1, 4)))
    scale, zero_point = log_uniform(rng, 1e-6, 1e3), random_zero_point(rng)
    float_in, float_out = rng.random() < 0.5, rng.random() < 0.5
    if float_in:
        source = w.activation(1, row, float32=True)
        x = w.op("QUANTIZE", [source.index], w.activation(1, row, scale, zero_point), "QUANTIZE")
    else:
        source = x = w.activation(1, row, scale, zero_point)
    n_ops = 0 if rng.random() < 0.03 else int(rng.integers(1, 7))
    for _ in range(n_ops):
        x = add_op(w, rng, x)
    if float_out:
        x = w.op("DEQUANTIZE", [x.index], w.activation(x.lead, x.row, float32=True), "DEQUANTIZE")
    w.spec.inputs, w.spec.outputs = [source.index], [x.index]
    description = (f"{'float' if float_in else 'int8'} [-1,{','.join(map(str, row))}] "
                   f"scale {scale:.3g} zp {zero_point}: " + " -> ".join(w.notes))
    quantization = (scale, zero_point)
    batches = [make_rows(rng, quantization, float_in, row, int(rng.integers(1, MAX_BATCH + 1)))
               for _ in range(2)]
    return Case(tb.build(w.spec), description, batches)


# -- inputs --------------------------------------------------------------------------------------
def make_rows(rng: np.random.Generator, quantization: tuple[float, int], float_input: bool,
              row: tuple[int, ...], rows: int) -> np.ndarray:
    """int8 rows at the extremes, around the zero point and uniform; or float rows across the
    range the input quantization covers, on its rounding ties and beyond it."""
    depth = math.prod(row)
    scale, zero_point = quantization
    out = np.empty((rows, depth), np.float32 if float_input else np.int8)
    for r in range(rows):
        kind = int(rng.integers(5))
        if not float_input:
            out[r] = [rng.integers(-128, 128, depth), np.full(depth, -128), np.full(depth, 127),
                      rng.choice([-128, 127], depth),
                      np.clip(zero_point + rng.integers(-3, 4, depth), -128, 127)][kind]
            continue
        lo, hi = scale * (-128 - zero_point), scale * (127 - zero_point)
        ties = scale * (rng.integers(-128, 128, depth) - zero_point + 0.5)
        out[r] = [rng.uniform(lo, hi, depth), rng.uniform(2 * lo - hi, 2 * hi - lo, depth), ties,
                  rng.choice([lo, hi, 0.0, lo * 1.01, hi * 1.01], depth),
                  rng.normal(0, (hi - lo) / 4, depth)][kind]
    return out.reshape(rows, *row)


# -- running LiteRT, the oracle ------------------------------------------------------------------
class LiteRTRefuses(Exception):
    pass


@dataclass
class LiteRTResult:
    outputs: list[np.ndarray]  # per batch, float32 (dequantized when the model's output is int8)
    tensors: list[dict[str, np.ndarray]]  # per batch, every computed int8 tensor, flattened
    producers: dict[str, tuple[str, int]]  # tensor name -> (opcode that writes it, its input rank)


def run_litert(content: bytes, batches: list[np.ndarray], keep_tensors: bool,
               kernels: str = "BUILTIN_REF") -> LiteRTResult:
    """LiteRT BUILTIN_REF's outputs (and tensors), or those of the OpResolverType `kernels`;
    LiteRTRefuses if it will not load or run the model."""
    from litert_reference import litert_interpreter

    from pyedge.quantization import dequantize

    try:
        # One interpreter per model, resized per batch: creating one costs more than invoking.
        interpreter = litert_interpreter(content, kernels)
        # As a LiteRT user loads a model: allocated at the shapes the file declares first (a
        # model that fails there is one LiteRT refuses, even if it runs at other batches).
        interpreter.allocate_tensors()
        detail = interpreter.get_input_details()[0]
        out = interpreter.get_output_details()[0]
        outputs, tensors = [], []
        for x in batches:
            interpreter.resize_tensor_input(detail["index"], list(x.shape))
            interpreter.allocate_tensors()
            interpreter.set_tensor(detail["index"], x)
            interpreter.invoke()
            y = interpreter.get_tensor(out["index"])
            if y.dtype == np.int8:
                y = dequantize(y, *out["quantization"])
            outputs.append(y.reshape(-1))
            tensors.append(read_tensors(interpreter) if keep_tensors else {})
    except (ValueError, RuntimeError) as error:
        raise LiteRTRefuses(str(error).strip().splitlines()[-1] if str(error).strip() else "") from None
    details = interpreter.get_tensor_details()
    names = {t["index"]: t["name"] for t in details}
    shapes = {t["index"]: len(t["shape_signature"]) for t in details}
    producers = {names[o]: (op["op_name"], shapes.get(op["inputs"][0], 0))
                 for op in interpreter._get_ops_details() for o in op["outputs"]}
    return LiteRTResult(outputs, tensors, producers)


def read_tensors(interpreter) -> dict[str, np.ndarray]:
    computed = {i for op in interpreter._get_ops_details() for i in op["outputs"]}
    computed.add(interpreter.get_input_details()[0]["index"])
    result = {}
    for t in interpreter.get_tensor_details():
        if t["index"] in computed and t["dtype"] == np.int8:
            result[t["name"]] = interpreter.get_tensor(t["index"]).reshape(-1).copy()
    return result


# -- comparing pyedge with it -------------------------------------------------------------------
@dataclass
class Outcome:
    # "native", "fallback", "refused" (by LiteRT and pyedge alike), "unsafe" (pyedge refuses a
    # model both of LiteRT's kernel sets could end the process on), "error" (pyedge fails to
    # load or run a model LiteRT runs)
    status: str
    kernels: list[str] = field(default_factory=list)  # native kernels compared
    rows: int = 0
    cause: str = ""  # the finding's cause (grouping key), "" when all agree
    detail: str = ""


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.ascontiguousarray(a).reshape(-1), np.ascontiguousarray(b).reshape(-1)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def normalized(message: str) -> str:
    """An error message without its numbers, names and shapes: a grouping key."""
    message = message.replace("model bytes: ", "").strip().splitlines()[0] if message.strip() else ""
    message = re.sub(r"'[^']*'|\[[^\]]*\]|\([^)]*\)|-?\d[\d.e+-]*", "#", message)
    return message[:90]


def new_model(content: bytes, backend: str, kernel: str | None):
    """pyedge.Model with PYEDGE_KERNEL set to `kernel` (None: as this process started)."""
    import pyedge

    if kernel is None:
        os.environ.pop("PYEDGE_KERNEL", None)
        if ORIGINAL_KERNEL is not None:
            os.environ["PYEDGE_KERNEL"] = ORIGINAL_KERNEL
    else:
        os.environ["PYEDGE_KERNEL"] = kernel
    return pyedge.Model(content, backend=backend)


ORIGINAL_KERNEL = os.environ.get("PYEDGE_KERNEL")


def first_difference(model, batches: list[np.ndarray], lite: LiteRTResult, trace: bool = True
                     ) -> str | None:
    """Where `model` first leaves LiteRT: 'OPCODE rank R' of the first int8 tensor (in chain
    order) that differs, 'output' when only the final output does, None when nothing does."""
    chain = list(lite.producers)
    for x, expected, tensors in zip(batches, lite.outputs, lite.tensors):
        if tensors and trace:
            traced = model.trace(x)
            for name in sorted(traced, key=lambda n: chain.index(n) if n in chain else -1):
                if name in tensors and not same_bits(traced[name], tensors[name]):
                    opcode, rank = lite.producers.get(name, ("input", 0))
                    return f"{opcode} (input rank {rank})"
        if not same_bits(model.predict(x), expected):
            return "output"
    return None


def check_model(content: bytes, batches: list[np.ndarray], kernels: list[str],
                quick: bool = False) -> Outcome:
    """One model against LiteRT; the Outcome's cause is empty when pyedge agrees everywhere."""
    rows = sum(len(x) for x in batches)
    try:
        lite = run_litert(content, batches, keep_tensors=not quick)
    except LiteRTRefuses as refusal:
        return check_refusal(content, batches, str(refusal))
    try:
        auto = new_model(content, "auto", None)
    except ValueError as error:
        if "kernels would end the process" in str(error) and unsafe_for_litert(content):
            return Outcome("unsafe", rows=rows, detail=str(error))
        return Outcome("error", rows=rows, cause=f"refuses a model LiteRT runs: {normalized(str(error))}",
                       detail=str(error))
    except Exception as error:
        return Outcome("error", rows=rows, cause=f"{type(error).__name__} loading a model LiteRT runs: "
                       f"{normalized(str(error))}", detail=f"{type(error).__name__}: {error}")
    native = auto.backend.startswith("native")
    if not native:
        return check_fallback(content, batches, auto, lite, rows)
    outcome = Outcome("native", rows=rows)
    disagree: dict[str, str] = {}
    # auto is the native backend on the default kernel: it stands for that kernel (one load
    # fewer per model; the fuzzer spends most of its time loading models).
    default_kernel = re.search(r"kernel (\w+)", auto.backend)
    try:
        for kernel in kernels:
            model = (auto if default_kernel and kernel == default_kernel.group(1)
                     else new_model(content, "native", kernel))
            where = first_difference(model, batches, lite, not quick)
            outcome.kernels.append(kernel)
            if where:
                disagree[f"native {kernel}"] = where
        where = first_difference(new_model(content, "reference", None), batches, lite, not quick)
        if where:
            disagree["reference"] = where
    except Exception as error:  # predict or trace raising on valid rows is a finding too
        outcome.cause = f"{type(error).__name__} running natively: {normalized(str(error))}"
        outcome.detail = f"{type(error).__name__}: {error}"
        return outcome
    if disagree:
        # Grouped by the first op that differs, and by who: all backends (the plan's
        # arithmetic) or some kernels only (a kernel's own bug).
        outcome.detail = "; ".join(f"{who}: {where}" for who, where in disagree.items())
        places = sorted(set(disagree.values()))
        backends = sorted({who.split(" ")[0] for who in disagree})
        outcome.cause = f"differs from LiteRT at {' / '.join(places)} on {', '.join(backends)}"
        if len(disagree) < len(kernels) + 1:
            outcome.cause += f" (only {', '.join(sorted(disagree))})"
    return outcome


def check_fallback(content: bytes, batches: list[np.ndarray], auto, lite: LiteRTResult,
                   rows: int) -> Outcome:
    """A model pyedge gives to its interpreter (LiteRT's reference kernels): its outputs must be
    BUILTIN_REF's; or, where pyedge says it runs LiteRT's builtin kernels (a SOFTMAX the
    reference kernel could abort on), theirs."""
    outcome = Outcome("fallback", rows=rows)
    try:
        if "results are undefined" in auto.backend:  # LiteRT's too (a pool's unset bounds):
            for x in batches:  # it must run, but there is nothing to compare
                auto.predict(x)
            return outcome
        if "builtin kernels" in auto.backend:
            lite = run_litert(content, batches, False, "BUILTIN_WITHOUT_DEFAULT_DELEGATES")
        where = first_difference(auto, batches, lite, trace=False)
    except Exception as error:
        outcome.cause = f"{type(error).__name__} running the fallback: {normalized(str(error))}"
        outcome.detail = f"{type(error).__name__}: {error}"
        return outcome
    if where:
        outcome.cause = f"fallback differs from BUILTIN_REF at {where}"
        ops = sorted({opcode for opcode, _ in lite.producers.values()})
        outcome.detail = f"backend {auto.backend}; ops {', '.join(ops)}"
    return outcome


def check_refusal(content: bytes, batches: list[np.ndarray], reason: str) -> Outcome:
    """LiteRT refuses the model (or a batch of it): pyedge must raise ValueError, nothing else."""
    rows = sum(len(x) for x in batches)
    try:
        model = new_model(content, "auto", None)
    except ValueError:
        return Outcome("refused", rows=rows)
    except Exception as error:
        return Outcome("error", rows=rows, cause=f"{type(error).__name__} (not ValueError) on a model "
                       f"LiteRT refuses: {normalized(str(error))}", detail=f"{type(error).__name__}: {error}")
    try:  # a model valid at some batches only: LiteRT refused one of these, so must pyedge
        for x in batches:
            model.predict(x)
    except ValueError:
        return Outcome("refused", rows=rows)
    except Exception as error:
        return Outcome("error", rows=rows, cause=f"{type(error).__name__} (not ValueError) on a "
                       f"batch LiteRT refuses: {normalized(str(error))}",
                       detail=f"{type(error).__name__}: {error}")
    return Outcome("native" if model.backend.startswith("native") else "fallback", rows=rows,
                   cause=f"loads a model LiteRT refuses ({normalized(reason)})",
                   detail=f"backend {model.backend}; LiteRT: {reason}")


def native_opcodes(content: bytes) -> list[str]:
    """The operators of a model that ran natively (the shape arithmetic the plan folds too)."""
    from pyedge.tflite_reader import read_model

    return sorted({op.opcode for op in read_model(content).operators})


def supported_kernels() -> list[str]:
    import pyedge

    return [k["name"] for k in pyedge.kernels() if k["supported"]]


# -- the worker: models index, index + step, ... ---------------------------------------------------
def run_worker(args: argparse.Namespace) -> int:
    import warnings

    warnings.simplefilter("ignore")
    kernels = supported_kernels()
    deadline = time.monotonic() + args.seconds if args.seconds else math.inf
    stop = args.models if args.models is not None else 2**62
    for index in range(args.start, stop, args.step):
        if time.monotonic() > deadline:
            break
        case = generate(args.seed, index)
        outcome = check_model(case.content, case.inputs, kernels, args.quick)
        report = {"index": index, "status": outcome.status, "kernels": outcome.kernels,
                  "rows": outcome.rows, "cause": outcome.cause,
                  "ops": native_opcodes(case.content) if outcome.status == "native" else []}
        if outcome.cause:
            report.update(detail=outcome.detail, description=case.description,
                          model=base64.b64encode(case.content).decode(),
                          inputs=base64.b64encode(npz_bytes(case.inputs)).decode())
        sys.stdout.write(PREFIX + json.dumps(report) + "\n")
        sys.stdout.flush()
    sys.stdout.write(PREFIX + json.dumps({"done": True}) + "\n")
    return 0


def npz_bytes(batches: list[np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, *batches)
    return buffer.getvalue()


# -- the driver ------------------------------------------------------------------------------------
@dataclass
class Stats:
    models: int = 0
    rows: int = 0
    native: int = 0
    fallback: int = 0
    refused: int = 0
    unsafe: int = 0
    error: int = 0
    per_kernel: dict[str, int] = field(default_factory=dict)
    native_ops: dict[str, int] = field(default_factory=dict)  # opcode -> models run natively
    crashes: int = 0
    findings: dict[str, list[dict]] = field(default_factory=dict)  # cause -> reports

    @property
    def n_findings(self) -> int:
        return sum(len(v) for v in self.findings.values())

    def add(self, report: dict) -> None:
        self.models += 1
        self.rows += report["rows"]
        setattr(self, report["status"], getattr(self, report["status"]) + 1)
        for kernel in report["kernels"]:
            self.per_kernel[kernel] = self.per_kernel.get(kernel, 0) + 1
        for op in report.get("ops", []):
            self.native_ops[op] = self.native_ops.get(op, 0) + 1
        if report["cause"]:
            self.findings.setdefault(report["cause"], []).append(report)


class Saver:
    """Keeps the `keep` smallest models of each cause in the findings folder."""

    def __init__(self, folder: Path, keep: int, seed: int):
        self.folder, self.keep, self.seed = folder, keep, seed
        self.saved: dict[str, list[tuple[int, Path]]] = {}

    def save(self, report: dict) -> None:
        model = base64.b64decode(report["model"])
        kept = self.saved.setdefault(report["cause"], [])
        if len(kept) >= self.keep and len(model) >= kept[-1][0]:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^a-z0-9]+", "-", report["cause"].lower()).strip("-")[:60]
        path = self.folder / f"{slug}-s{self.seed}-m{report['index']}.tflite"
        path.write_bytes(model)
        path.with_suffix(".npz").write_bytes(base64.b64decode(report["inputs"]))
        path.with_suffix(".txt").write_text(
            f"{report['cause']}: {report['detail']} | model {report['description']} | "
            f"rerun: tools/fuzz_models.py --seed {self.seed} --start {report['index']} --models "
            f"{report['index'] + 1} --workers 1\n")
        kept.append((len(model), path))
        kept.sort()
        while len(kept) > self.keep:
            _, dropped = kept.pop()
            for suffix in (".tflite", ".npz", ".txt"):
                dropped.with_suffix(suffix).unlink(missing_ok=True)


@dataclass
class Worker:
    process: subprocess.Popen
    log: object  # the temporary file its stderr goes to
    next_index: int
    buffer: bytes = b""
    done: bool = False


def start_worker(args: argparse.Namespace, start: int, step: int, seconds: float) -> Worker:
    log = tempfile.TemporaryFile()
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--seed", str(args.seed),
               "--start", str(start), "--step", str(step), "--seconds", str(seconds)]
    if args.models is not None:
        command += ["--models", str(args.models)]
    if args.quick:
        command.append("--quick")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env, cwd="/")
    return Worker(process, log, start)


ISOLATED = """
import sys
sys.path.insert(0, sys.argv[2])
content = open(sys.argv[1], "rb").read()
if sys.argv[3].startswith("litert"):
    from litert_reference import litert_interpreter
    i = litert_interpreter(content)
    d = i.get_input_details()[0]
    i.resize_tensor_input(d["index"], [2, *d["shape"][1:]])
    i.allocate_tensors()
    i.invoke()
else:
    import pyedge
    try:
        model = pyedge.Model(content)
    except ValueError as error:
        print(str(error).replace("\\n", " "), file=sys.stderr)
        sys.exit(3)
    sys.exit(4 if model.backend.startswith("native") else 0)
"""


def softmax_rows_litert_may_abort_on(content: bytes) -> bool:
    """Whether a SOFTMAX's rows are long enough (>= 512) for LiteRT's reference kernel to abort
    on a row of equal values: then a crash while comparing a native model is LiteRT's."""
    from pyedge.interpreter import reference_softmax_may_abort
    from pyedge.tflite_reader import read_model

    return bool(reference_softmax_may_abort(read_model(content)))


def unsafe_for_litert(content: bytes) -> bool:
    """Whether pyedge's refusal "LiteRT's kernels would end the process" holds, checked from the
    graph: its reference SOFTMAX may abort (rows of > 511 values) and its builtin kernels crash on
    an op off the native path (pyedge/model.py; the fuzzer's rows need not hold the ties)."""
    from pyedge.interpreter import builtin_kernels_crash_on, reference_softmax_may_abort
    from pyedge.tflite_reader import read_model

    graph = read_model(content)
    return bool(reference_softmax_may_abort(graph) and builtin_kernels_crash_on(graph))


def who_crashed(content: bytes) -> tuple[str, str]:
    """Runs LiteRT and pyedge.Model on the model in their own processes: the crash's cause,
    '' when it is not pyedge's (LiteRT aborts, and pyedge refuses the model with ValueError, or
    runs it natively or on the builtin kernels: LiteRT's reference softmax aborts on a row with
    > 511 values tied at the maximum, docs/native-ops.md)."""
    with tempfile.NamedTemporaryFile(suffix=".tflite") as f:
        f.write(content)
        f.flush()
        codes = {}
        for what in ("litert-ref", "pyedge"):
            run = subprocess.run([sys.executable, "-c", ISOLATED, f.name, str(ROOT / "tests"), what],
                                 capture_output=True, text=True, cwd="/", errors="replace",
                                 env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
            codes[what] = (run.returncode, (run.stderr.strip().splitlines() or [""])[-1])
    (lite, _), (mine, message) = codes["litert-ref"], codes["pyedge"]
    if lite < 0 and mine in (3, 4):
        return "", ""
    if mine == 3 and "kernels would end the process" in message:
        # pyedge's documented refusal (pyedge/model.py): LiteRT's builtin kernels crash on the
        # model, its reference kernels on rows of ties, which these rows need not have.
        return "", ""
    if mine in (0, 4) and softmax_rows_litert_may_abort_on(content):
        # The same abort, on the rows compared (data-dependent), not pyedge's: it runs such a
        # model natively (4) or on LiteRT's builtin kernels (0).
        return "", ""
    if mine < 0:
        return f"pyedge.Model crashes (signal {-mine})", f"LiteRT exit {lite}; {message}"
    if mine not in (0, 3, 4):
        return f"pyedge.Model fails: {normalized(message)}", f"LiteRT exit {lite}; {message}"
    return "crash while comparing", f"LiteRT alone exits {lite}, pyedge.Model alone exits {mine}"


def crash_report(args: argparse.Namespace, worker: Worker) -> dict:
    case = generate(args.seed, worker.next_index)
    cause, detail = who_crashed(case.content)
    worker.log.seek(0)
    tail = worker.log.read().decode(errors="replace").strip().splitlines()[-1:] or [""]
    report = {"index": worker.next_index, "status": "error" if cause else "refused", "kernels": [],
              "rows": 0, "cause": cause,
              "detail": f"{detail}; worker exit {worker.process.returncode}: {tail[0][:200]}",
              "description": case.description, "model": base64.b64encode(case.content).decode(),
              "inputs": base64.b64encode(npz_bytes(case.inputs)).decode()}
    return report


def drive(args: argparse.Namespace) -> int:
    start_time = time.monotonic()
    seconds = args.seconds if args.seconds else math.inf
    stats = Stats()
    saver = Saver(Path(args.save), args.keep, args.seed)
    selector = selectors.DefaultSelector()
    step = args.workers

    def launch(start: int) -> None:
        remaining = seconds - (time.monotonic() - start_time)
        if remaining <= 0.5 or (args.models is not None and start >= args.models):
            return
        worker = start_worker(args, start, step, remaining if remaining != math.inf else 0)
        selector.register(worker.process.stdout, selectors.EVENT_READ, worker)

    for w in range(args.workers):
        launch(args.start + w)
    last_progress = time.monotonic()
    while selector.get_map():
        for key, _ in selector.select(timeout=1.0):
            worker: Worker = key.data
            chunk = os.read(key.fd, 1 << 16)
            if chunk:
                worker.buffer += chunk
                *lines, worker.buffer = worker.buffer.split(b"\n")
                for line in lines:
                    handle_line(line.decode(errors="replace"), worker, stats, saver, step)
                continue
            selector.unregister(key.fileobj)
            worker.process.wait()
            if not worker.done:  # it died on model next_index: find out who crashed, go on
                stats.crashes += 1
                report = crash_report(args, worker)
                stats.add(report)
                if report["cause"]:
                    saver.save(report)
                launch(worker.next_index + step)
            worker.log.close()
        if time.monotonic() - last_progress >= 10:
            last_progress = time.monotonic()
            print(progress(stats, time.monotonic() - start_time), flush=True)
    return summarize(stats, time.monotonic() - start_time, args)


def handle_line(line: str, worker: Worker, stats: Stats, saver: Saver, step: int) -> None:
    if not line.startswith(PREFIX):
        return
    report = json.loads(line[len(PREFIX):])
    if report.get("done"):
        worker.done = True
        return
    worker.next_index = report["index"] + step
    stats.add(report)
    if report["cause"]:
        saver.save(report)


def progress(stats: Stats, elapsed: float) -> str:
    return (f"fuzz_models: {elapsed:5.0f} s  {stats.models} models ({stats.models / elapsed:.0f}/s), "
            f"native {stats.native}, fallback {stats.fallback}, refused by both {stats.refused}, "
            f"unsafe for LiteRT {stats.unsafe}, pyedge fails {stats.error}, findings {stats.n_findings}")


def summarize(stats: Stats, elapsed: float, args: argparse.Namespace) -> int:
    print(progress(stats, max(elapsed, 1e-9)))
    kernels = ", ".join(f"{k} {n}" for k, n in sorted(stats.per_kernel.items()))
    print(f"  native models per kernel: {kernels or 'none'}; worker restarts after a crash: "
          f"{stats.crashes}")
    ops = ", ".join(f"{op} {n}" for op, n in sorted(stats.native_ops.items()))
    print(f"  native models per op: {ops or 'none'}")
    for cause, reports in sorted(stats.findings.items(), key=lambda kv: -len(kv[1])):
        smallest = min(reports, key=lambda r: len(r["model"]))
        print(f"  {len(reports):5d} x {cause}\n          e.g. model {smallest['index']}: "
              f"{smallest['description'][:300]}")
    if stats.findings:
        print(f"  saved in {args.save} (the {args.keep} smallest of each cause)")
    if args.stats:
        Path(args.stats).write_text(json.dumps({
            "models": stats.models, "rows": stats.rows, "native": stats.native,
            "fallback": stats.fallback, "refused": stats.refused, "unsafe": stats.unsafe,
            "error": stats.error,
            "per_kernel": stats.per_kernel, "native_ops": stats.native_ops,
            "findings": {cause: len(r) for cause, r in stats.findings.items()}}, indent=1))
    print(f"fuzz_models: {stats.models} models, {stats.rows} rows, {len(stats.per_kernel)} kernels, "
          f"{stats.n_findings} findings")
    return 1 if stats.findings else 0


# -- replaying saved findings ----------------------------------------------------------------------
def load_finding(path: Path) -> tuple[bytes, list[np.ndarray]]:
    with np.load(path.with_suffix(".npz")) as inputs:
        return path.read_bytes(), [inputs[k] for k in sorted(inputs.files, key=lambda k: int(k[4:]))]


def save_fixture(seed: int, index: int, folder: Path, name: str) -> int:
    case = generate(seed, index)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.tflite"
    path.write_bytes(case.content)
    path.with_suffix(".npz").write_bytes(npz_bytes(case.inputs))
    path.with_suffix(".txt").write_text(f"model {case.description} | made by: tools/fuzz_models.py "
                                        f"--seed {seed} --start {index} --fixture {name}\n")
    print(f"fuzz_models: saved model {index} of seed {seed} as {path}")
    return 0


def replay(paths: list[str], quick: bool) -> int:
    kernels = supported_kernels()
    failures = 0
    for name in paths:
        content, batches = load_finding(Path(name))
        outcome = check_model(content, batches, kernels, quick)
        failures += bool(outcome.cause)
        print(f"{name}: {outcome.status}, {outcome.cause or 'agrees'}"
              f"{' (' + outcome.detail[:300] + ')' if outcome.detail else ''}")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--models", type=int, default=None,
                        help="stop at this model index (default: 60 s when neither is given)")
    parser.add_argument("--seed", type=int, default=0, help="the run's seed (models are a function "
                        "of seed and index)")
    parser.add_argument("--start", type=int, default=0, help="first model index")
    parser.add_argument("--save", default=str(DEFAULT_SAVE), help="findings folder")
    parser.add_argument("--keep", type=int, default=3, help="models kept per cause (the smallest)")
    parser.add_argument("--quick", action="store_true",
                        help="compare final outputs only (no intermediate tensors)")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                        help="worker processes (default: one per CPU)")
    parser.add_argument("--stats", help="write the run's counts as JSON here")
    parser.add_argument("--replay", nargs="+", metavar="MODEL", help="recheck saved findings")
    parser.add_argument("--fixture", metavar="NAME", help="save model --start of --seed as "
                        "NAME.tflite (+ .npz, .txt) in --save: a regression fixture of a fixed "
                        "finding (tests/test_fuzz_models.py replays those in tests/fixtures/fuzz_models)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--step", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.replay:
        return replay(args.replay, args.quick)
    if args.fixture:
        return save_fixture(args.seed, args.start, Path(args.save), args.fixture)
    if args.worker:
        return run_worker(args)
    if args.seconds is None and args.models is None:
        args.seconds = 60
    return drive(args)


if __name__ == "__main__":
    sys.exit(main())
