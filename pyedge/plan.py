"""Turns a TFLite graph into a plan: a chain of int8 layers the native and NumPy backends run.

Everything that can be computed once happens here, at load time: requantization multipliers,
activation ranges, lookup tables for elementwise activations, softmax tables. A graph the plan
cannot express gets an UnsupportedModel error that lists every reason, so the caller can say
what would have to change (and fall back to a TFLite interpreter).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import fixed_point
from .ops import OPS
from .ops.common import InvalidModel, Quantization, int8_quantization, legacy_scale
from .tflite_reader import Graph, Operator, Tensor

__all__ = ["InvalidModel", "Plan", "Quantization", "UnsupportedModel", "build_plan", "fixed_batch"]


class UnsupportedModel(Exception):
    """The graph is a valid TFLite model, but not one the native plan can run."""

    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


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
        layers = [{"kind": layer.kind, "input_depth": layer.input_depth,
                   "output_depth": layer.output_depth, **layer.native()} for layer in self.layers]
        return {"input_depth": self.input_depth, "output_depth": self.output_depth,
                "feature_shape": self.feature_shape, "int8_input": not self.float_input,
                "output_shape": self.output_shape, "output_rows_per_row": self.output_rows_per_row,
                "batch_multiple": self.batch_multiple,
                "input_scale": self.input.scale, "input_zero_point": self.input.zero_point,
                "output_scale": self.output.scale, "output_zero_point": self.output.zero_point,
                "layers": layers}


# Inputs an op's LiteRT kernel always reads, when the op has that many (default: the first).
REQUIRED_INPUTS = {"FULLY_CONNECTED": 2, "RESHAPE": 2, "SVDF": 3, "CONV_2D": 2,
                   "DEPTHWISE_CONV_2D": 2}


def _check_interpreter_aborts(graph: Graph) -> None:
    """InvalidModel for what makes LiteRT's reference kernels abort the process (TFLITE_CHECK)
    rather than refuse the model: such a model must not reach the interpreter fallback, on
    whichever op it sits (found by tools/fuzz_loader.py), in whichever subgraph (a control-flow
    op such as CALL_ONCE prepares and runs the others)."""
    for s, subgraph in enumerate(graph.subgraphs):
        where = f" of subgraph {s}" if s else ""
        for op in subgraph.operators:
            try:
                _check_operator_aborts(op, subgraph.tensors)
                if op.opcode == "RESHAPE" and op.inputs:
                    _check_reshape(op, subgraph.tensors)
            except InvalidModel as error:
                raise InvalidModel(f"{op.opcode} operator {op.index}{where}: {error}") from None


def _check_operator_aborts(op: Operator, tensors: list[Tensor]) -> None:
    # Kernels read these inputs without checking for an omitted one (-1): GetInput gives a
    # null tensor and Prepare dereferences it (RESHAPE's shape: SIGSEGV, found by
    # tools/fuzz_loader.py). Every op's first input is its data, never optional.
    required = REQUIRED_INPUTS.get(op.opcode, 1)
    omitted = [k for k, i in enumerate(op.inputs[:required]) if i < 0]
    if omitted:
        raise InvalidModel(f"input {omitted[0]} is omitted (-1), but its kernel reads it "
                           "(LiteRT crashes on this)")
    if not op.inputs or op.opcode not in ("SOFTMAX", "LOG_SOFTMAX"):
        return
    src = tensors[op.inputs[0]]
    dst = tensors[op.outputs[0]] if op.outputs and op.outputs[0] >= 0 else None
    if src.type_name not in ("INT8", "UINT8"):
        return
    if op.opcode == "SOFTMAX":  # SoftmaxPrepare: PreprocessSoftmaxScaling for 8-bit input
        beta = float(op.options["beta"])
    elif src.type_name == "INT8" and dst is not None and dst.type_name == "INT8" \
            and legacy_scale(dst) == (16.0 / 256, 127):
        beta = 1.0  # LogSoftmaxPrepare: PreprocessLogSoftmaxScalingExp, past its own checks
    else:
        return
    try:
        params = fixed_point.softmax_params(legacy_scale(src)[0], beta)
        if op.opcode == "LOG_SOFTMAX":
            # ... whose reverse scaling divisor must be in (0, 1) (SmallerThanOneExp).
            divisor = 2.0 ** (31 - params.input_left_shift) / params.input_multiplier
            if not 0.0 < divisor < 1.0:
                raise ValueError(f"log_softmax reverse scaling divisor {divisor} is not < 1")
    except ValueError as error:
        raise InvalidModel(f"{error} (LiteRT aborts on this)") from None


def _check_reshape(op: Operator, tensors: list[Tensor]) -> None:
    """InvalidModel for a RESHAPE whose new shape LiteRT's Prepare refuses (reshape.cc): more
    than one -1, or not the input's number of values; and one it would divide by zero on (a
    -1 beside a 0). The new shape is the int32 vector input when there is one, else the
    options' (TFLite's InvalidShape test: a [2, 2] shape tensor is not used). A shape computed
    at run time (SHAPE -> PACK, for a dynamic batch) is LiteRT's to check then."""
    shape = tensors[op.inputs[1]] if len(op.inputs) > 1 and op.inputs[1] >= 0 else None
    if shape is not None and len(shape.shape) == 1 and shape.type_name == "INT32":
        if shape.data is None:
            return
        target = [int(v) for v in shape.data]
    else:
        target = list(op.options["new_shape"])
        if target == [0]:  # the legacy way to write a scalar
            target = []
    elements = math.prod(tensors[op.inputs[0]].shape)
    known = math.prod(d for d in target if d != -1)
    what = f"new shape {target} for {elements} values"
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
    input_q = None if float_input else int8_quantization(graph_input, problems)
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
            input_q = int8_quantization(dst, problems)
            input_name = dst.name
        elif op.opcode == "DEQUANTIZE" and dst.type_name == "FLOAT32" and dst.index == graph_output.index:
            float_output = True
        elif input_q is None:
            problems.append(f"{op.opcode} computes in float: the model is not quantized to int8 "
                            "(convert it with full-integer quantization)")
            break
        elif op.opcode in OPS:
            layer = OPS[op.opcode].build(op, tensors, depth, problems, fixed=batch is not None)
            if layer is None:  # the reason is in problems: the model goes to the interpreter
                break
            layers.append(layer)
            depth = layer.output_depth
        elif op.opcode in VIEWS:
            # The bytes stay as they are; only the ops after it read the new shape.
            if src.type_name != "INT8" or not _same_quantization(src, dst):
                problems.append(f"{op.opcode} {src.shape} -> {dst.shape} that changes a row's data")
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
    depths = [_depth(graph_input), depth, _depth(graph_output)] + [layer.output_depth for layer in layers]
    if min(depths) < 1:
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


# Ops that give the same bytes a new shape (a Keras Conv1D: EXPAND_DIMS -> CONV_2D -> RESHAPE).
VIEWS = ("RESHAPE", "EXPAND_DIMS")

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
