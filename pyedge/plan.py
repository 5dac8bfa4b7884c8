"""Turns a TFLite graph into a plan: a chain of int8 layers the native and NumPy backends run.

Everything that can be computed once happens here, at load time: requantization multipliers,
activation ranges, lookup tables for elementwise activations, softmax tables. A graph the plan
cannot express gets an UnsupportedModel error that lists every reason, so the caller can say
what would have to change (and fall back to a TFLite interpreter).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from . import fixed_point
from .quantization import multiply_by_quantized_multiplier, quantize_multipliers, round_half_away
from .tflite_reader import Graph, Operator, Tensor

# Above this depth the int32 accumulator could overflow (|w| <= 128, |x - zp| <= 255).
MAX_INPUT_DEPTH = (2**31 - 1) // (128 * 255) - 1


class InvalidModel(ValueError):
    """The file parses, but its contents contradict each other (shapes, scales, a loop)."""


class UnsupportedModel(Exception):
    """The graph is a valid TFLite model, but not one the native plan can run."""

    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass(frozen=True)
class Quantization:
    scale: float
    zero_point: int


@dataclass
class FullyConnectedLayer:
    name: str  # the output tensor's name in the .tflite file
    weights: np.ndarray  # int8 [N, K]
    bias: np.ndarray  # int32 [N] (zeros when the model has none)
    multiplier: np.ndarray  # int32 [N], Q31
    shift: np.ndarray  # int32 [N], TFLite convention (positive = left)
    input_zero_point: int
    output: Quantization
    activation: str  # NONE, RELU, RELU6, RELU_N1_TO_1
    activation_min: int
    activation_max: int
    per_channel: bool
    # TFLite flattens the input to [-1, K]: a plan row of groups * K values is `groups` rows
    # of the matrix product (a Dense layer on a 3-D input, a 4-D input).
    groups: int = 1
    kind: ClassVar[str] = "fully_connected"

    @property
    def input_depth(self) -> int:
        return self.groups * int(self.weights.shape[1])

    @property
    def output_depth(self) -> int:
        return self.groups * int(self.weights.shape[0])

    @property
    def macs(self) -> int:
        return self.groups * self.weights.size

    @property
    def params(self) -> int:
        return self.weights.size + self.bias.size


class RowwiseLayer:
    """Mixin for int8 -> int8 ops without weights that keep the row's depth."""

    depth: int
    macs: ClassVar[int] = 0
    params: ClassVar[int] = 0

    @property
    def input_depth(self) -> int:
        return self.depth

    output_depth = input_depth


@dataclass
class LookupTableLayer(RowwiseLayer):
    """An elementwise op (LOGISTIC, TANH): the output depends on the input byte only, so a
    256-entry table computed with the reference arithmetic reproduces it exactly."""

    name: str
    depth: int
    output: Quantization
    op: str
    table: np.ndarray  # int8 [256], indexed by x + 128
    kind: ClassVar[str] = "lookup_table"


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


@dataclass
class Plan:
    feature_shape: tuple[int, ...]  # one input row, without the batch dimension
    output_depth: int  # values per input row
    # predict's result: (rows * output_rows_per_row, *output_shape), the graph output's shape
    output_shape: tuple[int, ...]
    output_rows_per_row: int
    batch_multiple: int  # 1, or a fixed-batch model's batch: calls take multiples of it
    input: Quantization  # the int8 tensor the first layer reads
    output: Quantization  # the int8 tensor the last layer writes
    float_input: bool  # the graph takes float32 (and quantizes it itself)
    float_output: bool  # the graph returns float32 (it dequantizes itself)
    input_name: str  # name of the int8 input tensor (after QUANTIZE when float_input)
    layers: list = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # RESHAPE output -> the tensor it views

    @property
    def input_depth(self) -> int:
        return math.prod(self.feature_shape)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    def to_native(self) -> dict:
        """The plan as plain types and arrays for pyedge._core.NativeModel."""
        layers = []
        for layer in self.layers:
            spec = {"kind": layer.kind, "input_depth": layer.input_depth,
                    "output_depth": layer.output_depth}
            if isinstance(layer, FullyConnectedLayer):
                spec.update(input_depth=layer.weights.shape[1], output_depth=layer.weights.shape[0],
                            groups=layer.groups, weights=layer.weights, bias=layer.bias,
                            multiplier=layer.multiplier,
                            shift=layer.shift, input_zero_point=layer.input_zero_point,
                            output_zero_point=layer.output.zero_point,
                            activation_min=layer.activation_min,
                            activation_max=layer.activation_max)
            elif isinstance(layer, LookupTableLayer):
                spec.update(table=layer.table)
            else:
                spec.update(exp_table=layer.exp_table, axis_size=layer.axis_size,
                            input_multiplier=layer.softmax.input_multiplier,
                            input_left_shift=layer.softmax.input_left_shift,
                            diff_min=layer.softmax.diff_min)
            layers.append(spec)
        return {"input_depth": self.input_depth, "output_depth": self.output_depth,
                "feature_shape": self.feature_shape, "int8_input": not self.float_input,
                "output_shape": self.output_shape, "output_rows_per_row": self.output_rows_per_row,
                "batch_multiple": self.batch_multiple,
                "input_scale": self.input.scale, "input_zero_point": self.input.zero_point,
                "output_scale": self.output.scale, "output_zero_point": self.output.zero_point,
                "layers": layers}


def _quantization(t: Tensor) -> Quantization:
    return Quantization(float(t.scales[0]), int(t.zero_points[0]))


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


# Inputs an op's LiteRT kernel always reads, when the op has that many (default: the first).
REQUIRED_INPUTS = {"FULLY_CONNECTED": 2, "RESHAPE": 2, "SVDF": 3, "CONV_2D": 2,
                   "DEPTHWISE_CONV_2D": 2}


def _legacy_scale(tensor: Tensor) -> tuple[float, int]:
    """The (scale, zero_point) LiteRT's kernels read (TfLiteTensor.params): those of a tensor
    with exactly one of each, else (0, 0) (per-channel or no quantization; GetLegacyQuantization
    in LiteRT's subgraph.cc)."""
    if tensor.scales.size == 1 and tensor.zero_points.size == 1:
        return float(tensor.scales[0]), int(tensor.zero_points[0])
    return 0.0, 0


def _check_interpreter_aborts(graph: Graph) -> None:
    """InvalidModel for what makes LiteRT's reference kernels abort the process (TFLITE_CHECK)
    rather than refuse the model: such a model must not reach the interpreter fallback, on
    whichever op it sits (found by tools/fuzz_loader.py)."""
    for op in graph.operators:
        # Kernels read these inputs without checking for an omitted one (-1): GetInput gives
        # a null tensor and Prepare dereferences it (RESHAPE's shape: SIGSEGV, found by
        # tools/fuzz_loader.py). Every op's first input is its data, never optional.
        required = REQUIRED_INPUTS.get(op.opcode, 1)
        omitted = [k for k, i in enumerate(op.inputs[:required]) if i < 0]
        if omitted:
            raise InvalidModel(f"{op.opcode} operator {op.index}: input {omitted[0]} is omitted "
                               "(-1), but its kernel reads it (LiteRT crashes on this)")
        if not op.inputs or op.opcode not in ("SOFTMAX", "LOG_SOFTMAX"):
            continue
        src = graph.tensors[op.inputs[0]]
        dst = graph.tensors[op.outputs[0]] if op.outputs and op.outputs[0] >= 0 else None
        if src.type_name not in ("INT8", "UINT8"):
            continue
        if op.opcode == "SOFTMAX":  # SoftmaxPrepare: PreprocessSoftmaxScaling for 8-bit input
            beta = float(op.options["beta"])
        elif src.type_name == "INT8" and dst is not None and dst.type_name == "INT8" \
                and _legacy_scale(dst) == (16.0 / 256, 127):
            beta = 1.0  # LogSoftmaxPrepare: PreprocessLogSoftmaxScalingExp, past its own checks
        else:
            continue
        try:
            params = fixed_point.softmax_params(_legacy_scale(src)[0], beta)
            if op.opcode == "LOG_SOFTMAX":
                # ... whose reverse scaling divisor must be in (0, 1) (SmallerThanOneExp).
                divisor = 2.0 ** (31 - params.input_left_shift) / params.input_multiplier
                if not 0.0 < divisor < 1.0:
                    raise ValueError(f"log_softmax reverse scaling divisor {divisor} is not < 1")
        except ValueError as error:
            raise InvalidModel(f"{op.opcode} operator {op.index}: {error} "
                               "(LiteRT aborts on this)") from None


def _check_reshapes(graph: Graph) -> None:
    """InvalidModel for a RESHAPE whose new shape LiteRT's Prepare refuses (reshape.cc): more
    than one -1, or not the input's number of values; and one it would divide by zero on (a
    -1 beside a 0). The new shape is the int32 vector input when there is one, else the
    options' (TFLite's InvalidShape test: a [2, 2] shape tensor is not used). A shape computed
    at run time (SHAPE -> PACK, for a dynamic batch) is LiteRT's to check then."""
    tensors = graph.tensors
    for op in graph.operators:
        if op.opcode != "RESHAPE" or not op.inputs:
            continue
        shape = tensors[op.inputs[1]] if len(op.inputs) > 1 and op.inputs[1] >= 0 else None
        if shape is not None and len(shape.shape) == 1 and shape.type_name == "INT32":
            if shape.data is None:
                continue
            target = [int(v) for v in shape.data]
        else:
            target = list(op.options["new_shape"])
            if target == [0]:  # the legacy way to write a scalar
                target = []
        elements = math.prod(tensors[op.inputs[0]].shape)
        known = math.prod(d for d in target if d != -1)
        what = f"RESHAPE operator {op.index}: new shape {target} for {elements} values"
        if target.count(-1) > 1:
            raise InvalidModel(f"{what} has more than one -1 (TFLite refuses this model too)")
        if -1 in target:
            if known == 0:
                raise InvalidModel(f"{what} has a -1 beside a 0 (LiteRT divides by zero on this)")
            known *= int(elements / known)  # C++ integer division, truncating
        if known != elements:
            raise InvalidModel(f"{what} does not hold them (TFLite refuses this model too)")


def build_plan(graph: Graph) -> Plan:
    """The native plan of `graph`, or UnsupportedModel listing everything in the way."""
    _check_interpreter_aborts(graph)
    _check_reshapes(graph)
    problems: list[str] = []
    if graph.subgraph_count != 1:
        problems.append(f"{graph.subgraph_count} subgraphs (only 1 is supported)")
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        problems.append(f"{len(graph.inputs)} inputs and {len(graph.outputs)} outputs "
                        "(only 1 each is supported)")
    if problems:
        raise UnsupportedModel(problems)
    tensors = graph.tensors
    graph_input, graph_output = tensors[graph.inputs[0]], tensors[graph.outputs[0]]
    if graph_input.type_name not in ("FLOAT32", "INT8"):
        problems.append(f"input tensor type {graph_input.type_name}")
    if graph_output.type_name not in ("FLOAT32", "INT8"):
        problems.append(f"output tensor type {graph_output.type_name}")
    if len(graph_input.shape) < 2:
        problems.append(f"input shape {graph_input.shape} has no batch dimension")
    if problems:
        raise UnsupportedModel(problems)

    # Follow the chain of operators from the graph input to the graph output. SHAPE reads only
    # a tensor's shape, not its data: it starts the side computation of a RESHAPE target.
    consumers: dict[int, list[Operator]] = {}
    shape_readers = _shape_readers(graph)
    for op in graph.operators:
        for i in op.inputs[:1]:
            if op.index not in shape_readers:
                consumers.setdefault(i, []).append(op)
    chain: set[int] = set()
    aliases: dict[str, str] = {}
    current = graph_input.index
    float_input = graph_input.type_name == "FLOAT32"
    input_q = None if float_input else _int8_quantization(graph_input, problems)
    input_name = graph_input.name
    layers: list = []
    float_output = False
    visited = 0
    # Values per input row of the current tensor. Every op keeps a batch row's values together
    # (where it would mix rows, the model goes to the interpreter), so a row's bytes are all
    # the plan tracks; a tensor's own leading dimension may count several rows per batch row.
    depth = _depth(graph_input)
    batch = fixed_batch(graph_input)
    while current != graph_output.index:
        ops = consumers.get(current, [])
        if len(ops) != 1:
            problems.append(f"tensor '{tensors[current].name}' feeds {len(ops)} operators "
                            "(only a chain of operators is supported)")
            break
        op = ops[0]
        chain.add(op.index)
        visited += 1
        if visited > len(graph.operators):
            raise InvalidModel("the operators form a loop")
        if len(op.outputs) != 1:
            problems.append(f"{op.opcode} with {len(op.outputs)} outputs")
            break
        src, dst = tensors[current], tensors[op.outputs[0]]
        if op.opcode == "QUANTIZE" and src.type_name == "FLOAT32" and not layers and input_q is None:
            input_q = _int8_quantization(dst, problems)
            input_name = dst.name
        elif op.opcode == "DEQUANTIZE" and dst.type_name == "FLOAT32" and dst.index == graph_output.index:
            float_output = True
        elif input_q is None:
            problems.append(f"{op.opcode} computes in float: the model is not quantized to int8 "
                            "(convert it with full-integer quantization)")
            break
        elif op.opcode in ("FULLY_CONNECTED", "LOGISTIC", "TANH", "SOFTMAX"):
            if op.opcode == "FULLY_CONNECTED":
                layer = _fully_connected(op, tensors, depth, problems, fixed=batch is not None)
            else:
                build = _softmax if op.opcode == "SOFTMAX" else _lookup_table
                layer = build(op, tensors, depth, problems)
            if layer is None:  # the reason is in problems: the model goes to the interpreter
                break
            layers.append(layer)
            depth = layer.output_depth
        elif op.opcode == "RESHAPE":
            # The bytes stay as they are; only the ops after it read the new shape.
            if src.type_name != "INT8" or not _same_quantization(src, dst):
                problems.append(f"RESHAPE {src.shape} -> {dst.shape} that changes a row's data")
                break
            aliases[dst.name] = layers[-1].name if layers else input_name
        else:
            problems.append(f"unsupported op {op.opcode}")
            break
        current = dst.index
    if not problems:  # (after a refused op, the rest of the chain is not a second reason)
        for op in graph.operators:
            if op.index not in chain and op.index not in shape_readers \
                    and not _computes_a_shape(op, tensors):
                problems.append(f"{op.opcode} outside the chain from input to output")
    if problems:
        raise UnsupportedModel(problems)

    if input_q is None:
        problems.append("the float input is never quantized")
        raise UnsupportedModel(problems)
    # The int8 tensor the plan ends with: the graph output, or what its DEQUANTIZE reads.
    output_q = layers[-1].output if layers else input_q
    feature_shape = tuple(int(d) for d in graph_input.shape[1:])
    if min([depth, _depth(graph_output)] + [layer.output_depth for layer in layers]) < 1:
        raise InvalidModel(f"a tensor from input {graph_input.shape} to output {graph_output.shape} "
                           "has no values per row")
    output_shape = tuple(int(d) for d in graph_output.shape[1:])
    rows_per_row, remainder = divmod(depth, math.prod(output_shape))
    if remainder or graph_output.shape[:1] != (graph_input.shape[0] * rows_per_row,):
        problems.append(f"output shape {graph_output.shape} does not hold {depth} values per "
                        f"row of input {graph_input.shape}")
        raise UnsupportedModel(problems)
    return Plan(feature_shape, depth, output_shape, rows_per_row, batch or 1,
                input_q, output_q, float_input, float_output, input_name, layers, aliases)


def fixed_batch(t: Tensor) -> int | None:
    """None for a dynamic batch (shape signature -1, as the converter writes for Keras models),
    else the batch the model was made for: LiteRT runs such a model only at that batch."""
    signature = t.shape_signature or t.shape
    return None if not signature or signature[0] == -1 else max(1, int(t.shape[0]))


# What the converter emits to compute a RESHAPE's target shape for a dynamic batch
# (Flatten: SHAPE -> STRIDED_SLICE -> PACK): integer ops on shapes, never on the data.
SHAPE_OPS = {"SHAPE", "STRIDED_SLICE", "PACK", "CONCATENATION", "GATHER", "SLICE", "SQUEEZE",
             "EXPAND_DIMS", "MUL", "REDUCE_PROD"}


def _shape_readers(graph: Graph) -> set[int]:
    """The operators that read only a tensor's shape: SHAPE, and a RESHAPE whose output only
    SHAPE reads (the converter writes one for a Dense on a 3-D input followed by Flatten)."""
    shape_ops = {op.index for op in graph.operators if op.opcode == "SHAPE"}
    data_readers: dict[int, set[int]] = {}
    for op in graph.operators:
        for i in op.inputs:
            data_readers.setdefault(i, set()).add(op.index)
    for op in graph.operators:
        if op.opcode == "RESHAPE" and all(
                o not in graph.outputs and data_readers.get(o, set()) <= shape_ops
                for o in op.outputs):
            shape_ops.add(op.index)
    return shape_ops


def _computes_a_shape(op: Operator, tensors: list[Tensor]) -> bool:
    return op.opcode in SHAPE_OPS and all(tensors[i].type_name in ("INT32", "INT64")
                                          for i in op.outputs)


def _depth(t: Tensor) -> int:
    return math.prod(t.shape[1:]) if len(t.shape) > 1 else (t.shape[0] if t.shape else 1)


def _same_quantization(a: Tensor, b: Tensor) -> bool:
    return (np.array_equal(a.scales, b.scales) and np.array_equal(a.zero_points, b.zero_points))


def _int8_quantization(t: Tensor, problems: list[str]) -> Quantization | None:
    if t.type_name != "INT8":
        problems.append(f"tensor '{t.name}' is {t.type_name}, not INT8")
        return None
    if t.scales.size != 1:
        problems.append(f"activation tensor '{t.name}' needs one scale, has {t.scales.size}")
        return None
    q = _quantization(t)
    if not (math.isfinite(q.scale) and q.scale > 0) or not -128 <= q.zero_point <= 127:
        raise InvalidModel(f"tensor '{t.name}' has invalid quantization scale={q.scale} "
                           f"zero_point={q.zero_point}")
    return q


def _fully_connected(op: Operator, tensors: list[Tensor], depth: int, problems: list[str],
                     fixed: bool):
    n_problems = len(problems)
    if len(op.inputs) < 2 or op.inputs[1] < 0:
        problems.append("FULLY_CONNECTED without weights")
        return None
    src, weights, dst = tensors[op.inputs[0]], tensors[op.inputs[1]], tensors[op.outputs[0]]
    bias = tensors[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    activation = op.options.get("activation", "NONE")
    if activation not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
        problems.append(f"FULLY_CONNECTED with fused activation {activation}")
    if op.options.get("weights_format", 0) != 0:
        problems.append("FULLY_CONNECTED with shuffled weights")
    in_q = _int8_quantization(src, problems)
    out_q = _int8_quantization(dst, problems)
    if weights.type_name != "INT8" or weights.data is None or weights.data.ndim != 2:
        problems.append(f"FULLY_CONNECTED weights '{weights.name}' are not constant int8 [N, K] "
                        f"({weights.type_name} {weights.shape})")
        return None
    n, k = weights.data.shape
    if op.options.get("keep_num_dims") and src.shape and src.shape[-1] != k:
        # LiteRT's Prepare: with keep_num_dims the weights run along the last dimension.
        raise InvalidModel(f"FULLY_CONNECTED '{dst.name}' keeps the input's dimensions, but the "
                           f"input {src.shape} does not end in the weights' depth {k} (TFLite "
                           "refuses this model too)")
    if fixed and (k < 1 or math.prod(src.shape) % k):  # at the model's only batch
        raise InvalidModel(f"FULLY_CONNECTED '{dst.name}': weights {weights.shape} do not match "
                           f"input {src.shape} (TFLite refuses this model too)")
    if k < 1 or depth % k:  # TFLite's [-1, K] view would mix values of two batch rows
        problems.append(f"FULLY_CONNECTED '{dst.name}' reads {depth} values per row in rows of {k}")
    if k > MAX_INPUT_DEPTH:
        problems.append(f"FULLY_CONNECTED input depth {k} could overflow int32 accumulators")
    scales = weights.scales
    if scales.size not in (1, n) or (scales.size == n and n > 1 and weights.quantized_dimension != 0):
        raise InvalidModel(f"weights '{weights.name}' have {scales.size} scales for {n} channels")
    if not np.all(np.isfinite(scales)) or np.any(scales <= 0):
        raise InvalidModel(f"weights '{weights.name}' have invalid scales")
    if weights.zero_points.size and np.any(weights.zero_points != 0):
        problems.append(f"weights '{weights.name}' have a non-zero zero point")
    bias_data = np.zeros(n, np.int32)
    if bias is not None:
        if bias.type_name != "INT32" or bias.data is None or bias.data.size != n:
            raise InvalidModel(f"bias '{bias.name}' is not constant int32 [{n}]")
        bias_data = bias.data.reshape(n).astype(np.int32)
    if len(problems) > n_problems:
        return None
    if bias is not None and bias.scales.size and scales.size == 1:
        # TFLite's GetQuantizedConvolutionMultipler (per-tensor weights) refuses a bias scale
        # further than 2 % of the output scale from input_scale * weight_scale.
        product = float(in_q.scale) * float(scales[0])
        if abs(product - float(bias.scales[0])) / float(out_q.scale) > 0.02:
            raise InvalidModel(f"bias '{bias.name}' scale {float(bias.scales[0]):g} is not input scale x "
                               f"weight scale {product:g} (TFLite refuses this model too)")
    # As TFLite's Prepare: real multiplier = (double)input_scale * (double)weight_scale /
    # (double)output_scale, per channel, then QuantizeMultiplier.
    channel_scales = np.broadcast_to(scales, (n,)).astype(np.float64)
    multiplier, shift = quantize_multipliers(float(in_q.scale) * channel_scales / float(out_q.scale))
    lo, hi = activation_range(activation, out_q)
    # The kernels accumulate and requantize in int32, as TFLite does. If a bias or a scale
    # lets either overflow, TFLite's result is undefined (its int32 arithmetic wraps), and
    # the native kernels could not agree with the reference backend: not a native layer.
    worst_acc = np.abs(bias_data.astype(np.int64)) + 255 * np.abs(
        weights.data.astype(np.int64)).sum(axis=1)
    if worst_acc.max() > 2**31 - 1 or multiply_by_quantized_multiplier(
            worst_acc, multiplier, shift).max() > 2**31 - 1 - 256:
        problems.append(f"FULLY_CONNECTED '{dst.name}': int32 accumulators or requantized values "
                        "could overflow (bias or scales out of the usual range)")
        return None
    return FullyConnectedLayer(
        name=dst.name, weights=np.ascontiguousarray(weights.data, dtype=np.int8), bias=bias_data,
        multiplier=multiplier, shift=shift, input_zero_point=in_q.zero_point,
        output=out_q, activation=activation, activation_min=lo, activation_max=hi,
        per_channel=scales.size > 1, groups=depth // k)


def _lookup_table(op: Operator, tensors: list[Tensor], depth: int, problems: list[str]):
    src, dst = tensors[op.inputs[0]], tensors[op.outputs[0]]
    in_q, out_q = _int8_quantization(src, problems), _int8_quantization(dst, problems)
    if in_q is None or out_q is None:
        return None
    # What LiteRT's reference Prepare accepts (measured, docs/native-ops.md): LOGISTIC needs
    # output scale 1/256 exactly, any zero point; TANH takes any output quantization. Both
    # then fill the table with the output's own scale and zero point.
    if op.opcode == "LOGISTIC" and out_q.scale != 1 / 256:
        raise InvalidModel(f"LOGISTIC output scale {out_q.scale} (TFLite requires 1/256)")
    make = fixed_point.logistic_table if op.opcode == "LOGISTIC" else fixed_point.tanh_table
    return LookupTableLayer(dst.name, depth, out_q, op=op.opcode,
                            table=make(in_q.scale, in_q.zero_point, out_q.scale, out_q.zero_point))


# LiteRT's SOFTMAX Prepare takes an output scale within this relative distance of 1/256 (and
# computes as for 1/256); measured, docs/native-ops.md.
SOFTMAX_SCALE_TOLERANCE = 1e-3


def _softmax(op: Operator, tensors: list[Tensor], depth: int, problems: list[str]):
    src, dst = tensors[op.inputs[0]], tensors[op.outputs[0]]
    in_q, out_q = _int8_quantization(src, problems), _int8_quantization(dst, problems)
    if in_q is None or out_q is None:
        return None
    if out_q.zero_point != -128 or abs(out_q.scale * 256 - 1) > SOFTMAX_SCALE_TOLERANCE:
        raise InvalidModel(f"SOFTMAX output quantization {out_q} (TFLite requires scale 1/256, "
                           "zero point -128)")
    axis_size = int(src.shape[-1]) if src.shape else 1
    if axis_size < 1 or depth % axis_size:
        problems.append(f"SOFTMAX '{dst.name}' over an axis of {axis_size} in rows of {depth}")
        return None
    beta = float(op.options["beta"])
    # (the parameters LiteRT aborts on were refused for every SOFTMAX by _check_interpreter_aborts)
    params = fixed_point.softmax_params(in_q.scale, beta)
    return SoftmaxLayer(dst.name, depth, out_q, beta=beta, softmax=params,
                        exp_table=fixed_point.softmax_exp_table(params), axis_size=axis_size)
