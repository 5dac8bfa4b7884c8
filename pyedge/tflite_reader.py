"""Reads a .tflite flatbuffer (with pyedge/flatbuffer.py; the `tflite` package gives the
schema's enums) into plain Python objects.

Every malformed input ends in a ValueError that says what is wrong: every offset and size read
from the file is checked against the file before anything is read or allocated.

The checks cover every subgraph, not only the one pyedge runs, because a model the native
plan cannot run goes to a TFLite interpreter as it is, and TFLite trusts its input: it reads
a per-channel scale per channel, runs the operators in file order, and allocates every
tensor the file declares. So a file whose structure those rely on is refused here: indices
out of range, buffers outside the file or of the wrong size, scales that are not positive
and finite, zero points outside their type, per-channel counts that do not match the shape,
an operator that reads a tensor no earlier operator wrote (which is what a loop looks like),
and shapes whose tensors would need more than MAX_ACTIVATION_BYTES.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from .flatbuffer import Table

_DTYPES = {"FLOAT32": np.dtype(np.float32), "FLOAT16": np.dtype(np.float16),
           "INT32": np.dtype(np.int32), "UINT8": np.dtype(np.uint8), "INT64": np.dtype(np.int64),
           "INT16": np.dtype(np.int16), "INT8": np.dtype(np.int8), "FLOAT64": np.dtype(np.float64),
           "BOOL": np.dtype(np.bool_)}


@functools.cache
def _schema() -> SimpleNamespace:
    """The schema's enums by number, from the `tflite` package, imported at the first model read (the
    package imports every schema table it has: ~30 ms that `import pyedge` need not pay)."""
    import tflite

    def names(enum: type) -> dict[int, str]:
        return {v: k for k, v in vars(enum).items() if not k.startswith("_")}

    return SimpleNamespace(
        operators=names(tflite.BuiltinOperator), types=names(tflite.TensorType),
        activations=names(tflite.ActivationFunctionType),
        options_types={"FULLY_CONNECTED": tflite.BuiltinOptions.FullyConnectedOptions,
                       "SOFTMAX": tflite.BuiltinOptions.SoftmaxOptions,
                       "RESHAPE": tflite.BuiltinOptions.ReshapeOptions,
                       "CONV_2D": tflite.BuiltinOptions.Conv2DOptions,
                       "DEPTHWISE_CONV_2D": tflite.BuiltinOptions.DepthwiseConv2DOptions,
                       "MEAN": tflite.BuiltinOptions.ReducerOptions,
                       **dict.fromkeys(POOL_OPCODES, tflite.BuiltinOptions.Pool2DOptions)})


POOL_OPCODES = ("AVERAGE_POOL_2D", "MAX_POOL_2D")
PADDINGS = {0: "SAME", 1: "VALID"}  # the schema's Padding enum


# No tensor of a model this runtime serves comes near this; a forged shape must not make us
# allocate (or multiply out) gigabytes.
MAX_TENSOR_ELEMENTS = 1 << 28
# Far more dimensions than any TFLite kernel takes (most take at most 6): a longer shape is
# forged, and many tensors naming one long shape vector would cost memory quadratic in the
# file's size (found by review).
MAX_RANK = 64
# The tensors without constant data of one subgraph, one row each: what an interpreter
# allocates at load (and per row of a batch). The widest fixture needs 13 KB; a forged shape
# must not cost gigabytes.
MAX_ACTIVATION_BYTES = 1 << 26
# Bytes per value of the types NumPy has no dtype for (strings, resources: at most this).
_UNKNOWN_ITEMSIZE = 16
_ZERO_POINT_RANGES = {"INT8": (-128, 127), "UINT8": (0, 255), "INT16": (-32768, 32767)}


@dataclass
class Tensor:
    index: int
    name: str
    type_name: str  # "INT8", "FLOAT32", ...
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]
    scales: np.ndarray  # float32, empty when not quantized
    zero_points: np.ndarray  # int64
    quantized_dimension: int
    data: np.ndarray | None  # constant contents, typed and shaped, or None
    is_variable: bool = False  # state an operator keeps between invocations

    @property
    def dtype(self) -> np.dtype | None:
        return _DTYPES.get(self.type_name)


@dataclass
class Operator:
    index: int
    opcode: str  # "FULLY_CONNECTED", or "CUSTOM:name"
    inputs: list[int]  # -1 for an omitted optional input
    outputs: list[int]
    options: dict[str, object] = field(default_factory=dict)


@dataclass
class Subgraph:
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]


@dataclass
class Graph(Subgraph):
    """The model's first subgraph (the one pyedge runs), and every subgraph of the file."""

    subgraphs: list[Subgraph]  # subgraphs[0] is this one; the others are control-flow bodies
    metadata: dict[str, bytes]
    description: str

    @property
    def subgraph_count(self) -> int:
        return len(self.subgraphs)


def read_model(data: bytes, source: str = "model") -> Graph:
    """Parses a TFLite flatbuffer. Raises ValueError (naming `source`) if it is not one."""
    if len(data) < 8:
        raise ValueError(f"{source}: not a TFLite model (only {len(data)} bytes)")
    if data[4:8] != b"TFL3":
        raise ValueError(f"{source}: not a TFLite model (no 'TFL3' file identifier)")
    try:
        return _read(data)
    except ValueError as error:
        raise ValueError(f"{source}: invalid TFLite model: {error}") from None
    except Exception as error:  # the flatbuffer library's own errors on corrupt data
        raise ValueError(
            f"{source}: invalid or truncated TFLite model ({type(error).__name__}: {error})"
        ) from None


def _builtin_code(code: Table) -> int:
    """The operator as LiteRT reads it: max(builtin_code, deprecated_builtin_code) of the raw
    fields (schema_utils.cc, GetBuiltinCode). (The `tflite` package's BuiltinCode() returns the
    deprecated field instead whenever builtin_code < 127: a file whose two fields disagree,
    found by tools/fuzz_loader.py, read as ADD that way and as FULLY_CONNECTED in LiteRT.)"""
    return max(int(code.scalar(3, "i32")), int(code.scalar(0, "i8")))


def _read(data: bytes) -> Graph:
    schema = _schema()
    model = Table.root(data)  # Model: operator_codes 1, subgraphs 2, description 3, buffers 4,
    subgraph_tables = model.tables(2)  # metadata 6, signature_defs 7
    if not subgraph_tables:
        raise ValueError("the model has no subgraph")
    # One bytes object per Buffer table: a forged list naming the same table thousands of
    # times must not copy its data each time (found by review: 400 MB from a 116 KB file).
    copies: dict[int, bytes] = {}
    buffers = []
    for i, buffer in enumerate(model.tables(4)):
        if buffer.position not in copies:
            copies[buffer.position] = _buffer_bytes(buffer, i, data)
        buffers.append(copies[buffer.position])
    opcodes = []
    for code in model.tables(1):  # OperatorCode: custom_code 1
        builtin = _builtin_code(code)
        name = schema.operators.get(builtin, f"UNKNOWN_{builtin}")
        if name == "CUSTOM":
            name = "CUSTOM:" + code.bytes(1).decode("utf-8", "replace")
        opcodes.append(name)
    metadata = {}
    for i, entry in enumerate(model.tables(6)):  # Metadata: name 0, buffer 1
        index = int(entry.scalar(1, "u32"))
        if not 0 <= index < len(buffers):
            raise ValueError(f"metadata entry {i} points at missing buffer {index}")
        metadata[entry.bytes(0).decode("utf-8", "replace")] = buffers[index]

    # Every subgraph is checked (an interpreter would run them all); pyedge runs the first.
    subgraphs = [_subgraph(table, s, buffers, opcodes) for s, table in enumerate(subgraph_tables)]
    _check_signatures(model, [len(subgraph.tensors) for subgraph in subgraphs])
    first = subgraphs[0]
    description = model.bytes(3).decode("utf-8", "replace")
    return Graph(first.tensors, first.operators, first.inputs, first.outputs, subgraphs, metadata,
                 description)


def _subgraph(subgraph: Table, s: int, buffers: list[bytes], opcodes: list[str]) -> Subgraph:
    where = f"subgraph {s}: " if s else ""
    try:  # SubGraph: tensors 0, inputs 1, outputs 2, operators 3
        tensors = [_tensor(t, i, buffers) for i, t in enumerate(subgraph.tables(0))]
        operators = []
        # Operator: opcode_index 0, inputs 1, outputs 2
        for i, op in enumerate(subgraph.tables(3)):
            index = int(op.scalar(0, "u32"))
            if not 0 <= index < len(opcodes):
                raise ValueError(f"operator {i} uses missing operator code {index}")
            # -1 marks an omitted optional input; an output or a graph input/output is never one.
            inputs = _indices(op.ints(1), len(tensors), f"operator {i} input", optional=True)
            outputs = _indices(op.ints(2), len(tensors), f"operator {i} output")
            operators.append(Operator(i, opcodes[index], inputs, outputs,
                                      _options(op, opcodes[index])))
        inputs = _indices(subgraph.ints(1), len(tensors), "graph input")
        outputs = _indices(subgraph.ints(2), len(tensors), "graph output")
        _check_execution_order(tensors, operators, inputs, outputs)
        _check_activation_bytes(tensors)
    except ValueError as error:
        raise ValueError(f"{where}{error}") from None
    return Subgraph(tensors, operators, inputs, outputs)


def _indices(values: tuple[int, ...], n_tensors: int, what: str, optional: bool = False
             ) -> list[int]:
    lowest = -1 if optional else 0
    for v in values:
        if not lowest <= v < n_tensors:
            raise ValueError(f"{what} refers to tensor {v}, but there are {n_tensors}")
    return list(values)


def _check_execution_order(tensors: list[Tensor], operators: list[Operator], inputs: list[int],
                           outputs: list[int]) -> None:
    """TFLite runs the operators in file order and never checks that it is a valid one.
    Each tensor an operator reads must be a graph input, constant data, a variable, or the
    output of an earlier operator; each tensor gets its value once. A loop breaks this."""
    has_value = set(inputs) | {t.index for t in tensors if t.data is not None or t.is_variable}
    for op in operators:
        for i in op.inputs:
            if i >= 0 and i not in has_value:
                raise ValueError(f"operator {op.index} ({op.opcode}) reads tensor {i} "
                                 f"'{tensors[i].name}' before any operator writes it (operators "
                                 "must be in execution order, without loops)")
        for i in op.outputs:
            if i in has_value:
                raise ValueError(f"operator {op.index} ({op.opcode}) writes tensor {i} "
                                 f"'{tensors[i].name}', which already has a value (an input, "
                                 "constant data, or an earlier operator's output)")
            has_value.add(i)
    for i in outputs:
        if i not in has_value:
            raise ValueError(f"graph output tensor {i} '{tensors[i].name}' is never written")


def _check_activation_bytes(tensors: list[Tensor]) -> None:
    total = 0
    for t in tensors:
        if t.data is None:
            itemsize = t.dtype.itemsize if t.dtype is not None else _UNKNOWN_ITEMSIZE
            total += math.prod(t.shape) * itemsize
    if total > MAX_ACTIVATION_BYTES:
        raise ValueError(f"the tensors without constant data need {total:,} bytes (more than "
                         f"{MAX_ACTIVATION_BYTES:,}): their shapes are forged or far too large")


def _check_signatures(model: Table, tensor_counts: list[int]) -> None:
    # SignatureDef: inputs 0, outputs 1, subgraph_index 4; TensorMap: tensor_index 1
    for i, signature in enumerate(model.tables(7)):
        s = int(signature.scalar(4, "u32"))
        if not 0 <= s < len(tensor_counts):
            raise ValueError(f"signature {i} refers to missing subgraph {s}")
        for tensor_map in signature.tables(0) + signature.tables(1):
            index = int(tensor_map.scalar(1, "u32"))
            if not 0 <= index < tensor_counts[s]:
                raise ValueError(f"signature {i} refers to tensor {index}, but "
                                 f"subgraph {s} has {tensor_counts[s]}")


def _buffer_bytes(buffer: Table, i: int, data: bytes) -> bytes:
    offset, length = int(buffer.scalar(1, "u64")), int(buffer.scalar(2, "u64"))  # Buffer: data 0
    if offset > 1:  # large models keep their buffers after the flatbuffer, addressed by offset
        if offset + length > len(data):
            raise ValueError(f"buffer {i} ({length} bytes at {offset}) lies outside the file")
        return bytes(data[offset:offset + length])
    return buffer.bytes(0)


def _tensor(t: Table, index: int, buffers: list[bytes]) -> Tensor:
    # Tensor: shape 0, type 1, buffer 2, name 3, quantization 4, is_variable 5, shape_signature 7
    name = t.bytes(3).decode("utf-8", "replace")
    type_code = int(t.scalar(1, "i8"))
    type_name = _schema().types.get(type_code, f"UNKNOWN_{type_code}")
    if max(t.length(0), t.length(7)) > MAX_RANK:  # before a forged shape is unpacked
        raise ValueError(f"tensor {index} '{name}' has {max(t.length(0), t.length(7))} dimensions "
                         f"(more than {MAX_RANK})")
    shape = t.ints(0)
    signature = t.ints(7) or shape
    if any(d < 0 for d in shape) or math.prod(shape) > MAX_TENSOR_ELEMENTS:
        raise ValueError(f"tensor {index} '{name}' has an invalid shape {shape}")
    # The converter writes the shape with 1 where a dimension is dynamic and -1 there in the
    # signature; any other signature is forged (and pyedge and LiteRT would size it differently).
    if len(signature) != len(shape) or any(s != d and not (s == -1 and d >= 1)
                                           for s, d in zip(signature, shape)):
        raise ValueError(f"tensor {index} '{name}' has shape {shape} but shape signature "
                         f"{signature} (each dimension must match, or be -1 where dynamic)")
    scales, zero_points, dimension = np.zeros(0, np.float32), np.zeros(0, np.int64), 0
    q = t.table(4)  # QuantizationParameters: scale 2, zero_point 3, quantized_dimension 6
    if q is not None and q.length(2):
        scales = q.numbers(2, "<f4").astype(np.float32, copy=False)
        zero_points = (q.numbers(3, "<i8").astype(np.int64, copy=False) if q.length(3)
                       else np.zeros(scales.size, np.int64))
        dimension = int(q.scalar(6, "i32"))
        _check_quantization(index, name, type_name, shape, scales, zero_points, dimension)
    data = None
    buffer_index = int(t.scalar(2, "u32"))
    if not 0 <= buffer_index < max(len(buffers), 1):
        raise ValueError(f"tensor {index} '{name}' points at missing buffer {buffer_index}")
    raw = buffers[buffer_index] if buffers else b""
    if raw:
        dtype = _DTYPES.get(type_name)
        if dtype is None:
            raise ValueError(f"tensor {index} '{name}' holds data of unsupported type {type_name}")
        if len(raw) != math.prod(shape) * dtype.itemsize:
            raise ValueError(f"tensor {index} '{name}' of shape {shape} and type {type_name} "
                             f"needs {math.prod(shape) * dtype.itemsize} bytes, its buffer has "
                             f"{len(raw)}")
        data = np.frombuffer(raw, dtype=dtype).reshape(shape)
    return Tensor(index, name, type_name, shape, signature, scales, zero_points, dimension, data,
                  bool(t.scalar(5, "bool")))


def _check_quantization(index: int, name: str, type_name: str, shape: tuple[int, ...],
                        scales: np.ndarray, zero_points: np.ndarray, dimension: int) -> None:
    what = f"tensor {index} '{name}'"
    # (Python over the lists: faster than NumPy's reductions for the few values of a tensor.)
    if not all(0 < s < math.inf for s in scales.tolist()):  # (NaN fails both comparisons)
        raise ValueError(f"{what} has quantization scales that are not positive and finite: "
                         f"{scales[:8].tolist()}")
    if zero_points.size != scales.size:
        raise ValueError(f"{what} has {scales.size} quantization scales and {zero_points.size} "
                         "zero points")
    low, high = _ZERO_POINT_RANGES.get(type_name, (-(2**63), 2**63 - 1))
    if not all(low <= z <= high for z in zero_points.tolist()):
        raise ValueError(f"{what} of type {type_name} has zero points outside [{low}, {high}]: "
                         f"{zero_points[:8].tolist()}")
    # Kernels read one scale per index along the quantized dimension.
    if dimension < 0 or (dimension >= len(shape) and dimension > 0):
        raise ValueError(f"{what} of shape {shape} is quantized along missing dimension {dimension}")
    if scales.size > 1 and (len(shape) == 0 or shape[dimension] != scales.size):
        raise ValueError(f"{what} of shape {shape} has {scales.size} scales along dimension "
                         f"{dimension}")


# The options an operator has when its table is absent, or of another op's type: LiteRT's
# parser (flatbuffer_conversions.cc) then keeps its zero-initialized params, so a SOFTMAX
# without SoftmaxOptions has beta 0 (and the reference kernel aborts on it).
_ABSENT_OPTIONS: dict[str, dict[str, object]] = {
    "FULLY_CONNECTED": {"activation": "NONE", "weights_format": 0, "keep_num_dims": False,
                        "asymmetric_quantize_inputs": False},
    "SOFTMAX": {"beta": 0.0},
    "MEAN": {"keep_dims": False},
    "RESHAPE": {"new_shape": ()},  # a scalar, unless a shape tensor says otherwise
    "CONV_2D": {"padding": None, "stride_w": 0, "stride_h": 0, "activation": "NONE",
                "dilation_w": 0, "dilation_h": 0},
    "DEPTHWISE_CONV_2D": {"padding": None, "stride_w": 0, "stride_h": 0, "depth_multiplier": 0,
                          "activation": "NONE", "dilation_w": 0, "dilation_h": 0},
    **dict.fromkeys(POOL_OPCODES, {"padding": None, "stride_w": 0, "stride_h": 0, "filter_w": 0,
                                   "filter_h": 0, "activation": "NONE"}),
}
def _options(op: Table, opcode: str) -> dict[str, object]:
    # Operator: builtin_options_type 3, builtin_options 4
    table = op.table(4)
    if table is None or op.scalar(3, "u8") != _schema().options_types.get(opcode):
        return dict(_ABSENT_OPTIONS.get(opcode, {}))
    if opcode == "FULLY_CONNECTED":
        # FullyConnectedOptions: fused_activation_function 0, weights_format 1,
        # keep_num_dims 2, asymmetric_quantize_inputs 3
        return {
            "activation": _schema().activations.get(table.scalar(0, "i8"), "UNKNOWN"),
            "weights_format": int(table.scalar(1, "i8")),
            "keep_num_dims": bool(table.scalar(2, "bool")),
            "asymmetric_quantize_inputs": bool(table.scalar(3, "bool")),
        }
    if opcode == "SOFTMAX":
        return {"beta": float(table.scalar(0, "f32"))}  # SoftmaxOptions: beta 0
    if opcode == "MEAN":
        return {"keep_dims": bool(table.scalar(0, "bool"))}  # ReducerOptions: keep_dims 0
    if opcode == "RESHAPE":
        return {"new_shape": table.ints(0)}  # ReshapeOptions: new_shape 0
    if opcode == "CONV_2D":
        # Conv2DOptions: padding 0, stride_w 1, stride_h 2, fused_activation_function 3,
        # dilation_w_factor 4 (default 1), dilation_h_factor 5 (default 1)
        return {"padding": PADDINGS.get(table.scalar(0, "i8")), "stride_w": table.scalar(1, "i32"),
                "stride_h": table.scalar(2, "i32"),
                "activation": _schema().activations.get(table.scalar(3, "i8"), "UNKNOWN"),
                "dilation_w": table.scalar(4, "i32", 1), "dilation_h": table.scalar(5, "i32", 1)}
    if opcode == "DEPTHWISE_CONV_2D":
        # DepthwiseConv2DOptions: padding 0, stride_w 1, stride_h 2, depth_multiplier 3,
        # fused_activation_function 4, dilation_w_factor 5 (default 1), dilation_h_factor 6
        return {"padding": PADDINGS.get(table.scalar(0, "i8")), "stride_w": table.scalar(1, "i32"),
                "stride_h": table.scalar(2, "i32"), "depth_multiplier": table.scalar(3, "i32"),
                "activation": _schema().activations.get(table.scalar(4, "i8"), "UNKNOWN"),
                "dilation_w": table.scalar(5, "i32", 1), "dilation_h": table.scalar(6, "i32", 1)}
    if opcode in POOL_OPCODES:
        # Pool2DOptions: padding 0, stride_w 1, stride_h 2, filter_width 3, filter_height 4,
        # fused_activation_function 5
        return {"padding": PADDINGS.get(table.scalar(0, "i8")), "stride_w": table.scalar(1, "i32"),
                "stride_h": table.scalar(2, "i32"), "filter_w": table.scalar(3, "i32"),
                "filter_h": table.scalar(4, "i32"),
                "activation": _schema().activations.get(table.scalar(5, "i8"), "UNKNOWN")}
    return {}
