"""Reads a .tflite flatbuffer (parsed by the `tflite` package) into plain Python objects.

Every malformed input ends in a ValueError that says what is wrong: the flatbuffer library
itself raises assorted errors (struct.error, IndexError, ...) on truncated or forged data,
and sizes read from the file are checked against the file before anything is allocated.

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
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import tflite

_DTYPES = {"FLOAT32": np.dtype(np.float32), "FLOAT16": np.dtype(np.float16),
           "INT32": np.dtype(np.int32), "UINT8": np.dtype(np.uint8), "INT64": np.dtype(np.int64),
           "INT16": np.dtype(np.int16), "INT8": np.dtype(np.int8), "FLOAT64": np.dtype(np.float64),
           "BOOL": np.dtype(np.bool_)}


@functools.cache
def _schema() -> SimpleNamespace:
    """The `tflite` parser and its enums by number, imported at the first model read (the
    package imports every schema table it has: ~30 ms that `import pyedge` need not pay)."""
    import tflite

    def names(enum: type) -> dict[int, str]:
        return {v: k for k, v in vars(enum).items() if not k.startswith("_")}

    return SimpleNamespace(
        tflite=tflite, operators=names(tflite.BuiltinOperator), types=names(tflite.TensorType),
        activations=names(tflite.ActivationFunctionType),
        options_types={"FULLY_CONNECTED": tflite.BuiltinOptions.FullyConnectedOptions,
                       "SOFTMAX": tflite.BuiltinOptions.SoftmaxOptions,
                       "RESHAPE": tflite.BuiltinOptions.ReshapeOptions})


# No tensor of a model this runtime serves comes near this; a forged shape must not make us
# allocate (or multiply out) gigabytes.
MAX_TENSOR_ELEMENTS = 1 << 28
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
class Graph:
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]
    subgraph_count: int
    metadata: dict[str, bytes]
    description: str


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


def _builtin_code(code: tflite.OperatorCode) -> int:
    """The operator as LiteRT reads it: max(builtin_code, deprecated_builtin_code) of the raw
    fields (schema_utils.cc, GetBuiltinCode). The `tflite` package's BuiltinCode() returns the
    deprecated field instead whenever builtin_code < 127, so a file whose two fields disagree
    (found by tools/fuzz_loader.py: builtin_code FULLY_CONNECTED, deprecated absent) read as
    ADD here and as FULLY_CONNECTED in LiteRT; so the raw field is read from the table."""
    import flatbuffers

    slot = code._tab.Offset(10)  # builtin_code: the schema's 4th field, int32
    raw = code._tab.Get(flatbuffers.number_types.Int32Flags, slot + code._tab.Pos) if slot else 0
    return max(raw, code.DeprecatedBuiltinCode())


def _check_length(n: int, size: int, what: str) -> int:
    # Every vector element takes at least one byte of the file, so a longer vector is forged.
    if n < 0 or n > size:
        raise ValueError(f"{what} claims {n} entries in a {size}-byte file")
    return n


def _read(data: bytes) -> Graph:
    size = len(data)
    root = int.from_bytes(data[0:4], "little")
    if root + 4 > size:
        raise ValueError("root table offset points outside the file")
    schema = _schema()
    model = schema.tflite.Model.GetRootAs(data, 0)
    n_subgraphs = _check_length(model.SubgraphsLength(), size, "subgraph list")
    if n_subgraphs < 1:
        raise ValueError("the model has no subgraph")
    buffers = [_buffer_bytes(model, i, data) for i in
               range(_check_length(model.BuffersLength(), size, "buffer list"))]
    opcodes = []
    for i in range(_check_length(model.OperatorCodesLength(), size, "operator code list")):
        code = model.OperatorCodes(i)
        builtin = _builtin_code(code)
        name = schema.operators.get(builtin, f"UNKNOWN_{builtin}")
        if name == "CUSTOM":
            name = "CUSTOM:" + (code.CustomCode() or b"").decode("utf-8", "replace")
        opcodes.append(name)
    metadata = {}
    for i in range(_check_length(model.MetadataLength(), size, "metadata list")):
        entry = model.Metadata(i)
        index = entry.Buffer()
        if not 0 <= index < len(buffers):
            raise ValueError(f"metadata entry {i} points at missing buffer {index}")
        metadata[(entry.Name() or b"").decode("utf-8", "replace")] = buffers[index]

    # Every subgraph is checked (an interpreter would run them all); pyedge runs the first.
    subgraphs = [_subgraph(model.Subgraphs(s), s, buffers, opcodes, size) for s in range(n_subgraphs)]
    _check_signatures(model, [len(tensors) for tensors, _, _, _ in subgraphs], size)
    tensors, operators, inputs, outputs = subgraphs[0]
    description = (model.Description() or b"").decode("utf-8", "replace")
    return Graph(tensors, operators, inputs, outputs, n_subgraphs, metadata, description)


def _subgraph(subgraph: tflite.SubGraph, s: int, buffers: list[bytes], opcodes: list[str],
              size: int) -> tuple[list[Tensor], list[Operator], list[int], list[int]]:
    where = f"subgraph {s}: " if s else ""
    try:
        tensors = [_tensor(subgraph.Tensors(i), i, buffers) for i in
                   range(_check_length(subgraph.TensorsLength(), size, "tensor list"))]
        operators = []
        for i in range(_check_length(subgraph.OperatorsLength(), size, "operator list")):
            op = subgraph.Operators(i)
            index = op.OpcodeIndex()
            if not 0 <= index < len(opcodes):
                raise ValueError(f"operator {i} uses missing operator code {index}")
            # -1 marks an omitted optional input; an output or a graph input/output is never one.
            inputs = _indices(op.InputsAsNumpy(), op.InputsLength(), len(tensors),
                              f"operator {i} input", optional=True)
            outputs = _indices(op.OutputsAsNumpy(), op.OutputsLength(), len(tensors),
                               f"operator {i} output")
            operators.append(Operator(i, opcodes[index], inputs, outputs,
                                      _options(op, opcodes[index])))
        inputs = _indices(subgraph.InputsAsNumpy(), subgraph.InputsLength(), len(tensors),
                          "graph input")
        outputs = _indices(subgraph.OutputsAsNumpy(), subgraph.OutputsLength(), len(tensors),
                           "graph output")
        _check_execution_order(tensors, operators, inputs, outputs)
        _check_activation_bytes(tensors)
    except ValueError as error:
        raise ValueError(f"{where}{error}") from None
    return tensors, operators, inputs, outputs


def _indices(array: object, length: int, n_tensors: int, what: str,
             optional: bool = False) -> list[int]:
    if length == 0:
        return []
    values = [int(v) for v in np.asarray(array).reshape(-1)]
    lowest = -1 if optional else 0
    for v in values:
        if not lowest <= v < n_tensors:
            raise ValueError(f"{what} refers to tensor {v}, but there are {n_tensors}")
    return values


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


def _check_signatures(model: tflite.Model, tensor_counts: list[int], size: int) -> None:
    for i in range(_check_length(model.SignatureDefsLength(), size, "signature list")):
        signature = model.SignatureDefs(i)
        s = signature.SubgraphIndex()
        if not 0 <= s < len(tensor_counts):
            raise ValueError(f"signature {i} refers to missing subgraph {s}")
        maps = [signature.Inputs(j) for j in
                range(_check_length(signature.InputsLength(), size, "signature inputs"))]
        maps += [signature.Outputs(j) for j in
                 range(_check_length(signature.OutputsLength(), size, "signature outputs"))]
        for tensor_map in maps:
            if not 0 <= tensor_map.TensorIndex() < tensor_counts[s]:
                raise ValueError(f"signature {i} refers to tensor {tensor_map.TensorIndex()}, but "
                                 f"subgraph {s} has {tensor_counts[s]}")


def _buffer_bytes(model: tflite.Model, i: int, data: bytes) -> bytes:
    buffer = model.Buffers(i)
    offset, length = buffer.Offset(), buffer.Size()
    if offset > 1:  # large models keep their buffers after the flatbuffer, addressed by offset
        if offset + length > len(data):
            raise ValueError(f"buffer {i} ({length} bytes at {offset}) lies outside the file")
        return bytes(data[offset:offset + length])
    n = _check_length(buffer.DataLength(), len(data), f"buffer {i}")
    if n == 0:
        return b""
    raw = buffer.DataAsNumpy()
    if raw.size != n:
        raise ValueError(f"buffer {i} is truncated")
    return raw.tobytes()


def _tensor(t: tflite.Tensor, index: int, buffers: list[bytes]) -> Tensor:
    name = (t.Name() or b"").decode("utf-8", "replace")
    type_name = _schema().types.get(t.Type(), f"UNKNOWN_{t.Type()}")
    shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    signature = (tuple(int(d) for d in t.ShapeSignatureAsNumpy())
                 if t.ShapeSignatureLength() else shape)
    if any(d < 0 for d in shape) or math.prod(shape) > MAX_TENSOR_ELEMENTS:
        raise ValueError(f"tensor {index} '{name}' has an invalid shape {shape}")
    # The converter writes the shape with 1 where a dimension is dynamic and -1 there in the
    # signature; any other signature is forged (and pyedge and LiteRT would size it differently).
    if len(signature) != len(shape) or any(s != d and not (s == -1 and d >= 1)
                                           for s, d in zip(signature, shape)):
        raise ValueError(f"tensor {index} '{name}' has shape {shape} but shape signature "
                         f"{signature} (each dimension must match, or be -1 where dynamic)")
    scales, zero_points, dimension = np.zeros(0, np.float32), np.zeros(0, np.int64), 0
    q = t.Quantization()
    if q is not None and q.ScaleLength():
        scales = np.asarray(q.ScaleAsNumpy(), dtype=np.float32).reshape(-1)
        zero_points = (np.asarray(q.ZeroPointAsNumpy(), dtype=np.int64).reshape(-1)
                       if q.ZeroPointLength() else np.zeros(scales.size, np.int64))
        dimension = int(q.QuantizedDimension())
        _check_quantization(index, name, type_name, shape, scales, zero_points, dimension)
    data = None
    buffer_index = t.Buffer()
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
                  bool(t.IsVariable()))


def _check_quantization(index: int, name: str, type_name: str, shape: tuple[int, ...],
                        scales: np.ndarray, zero_points: np.ndarray, dimension: int) -> None:
    what = f"tensor {index} '{name}'"
    if not np.all(np.isfinite(scales)) or np.any(scales <= 0):
        raise ValueError(f"{what} has quantization scales that are not positive and finite: "
                         f"{scales[:8].tolist()}")
    if zero_points.size != scales.size:
        raise ValueError(f"{what} has {scales.size} quantization scales and {zero_points.size} "
                         "zero points")
    low, high = _ZERO_POINT_RANGES.get(type_name, (-(2**63), 2**63 - 1))
    if np.any(zero_points < low) or np.any(zero_points > high):
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
    "RESHAPE": {"new_shape": ()},  # a scalar, unless a shape tensor says otherwise
}
def _options(op: tflite.Operator, opcode: str) -> dict[str, object]:
    schema = _schema()
    table = op.BuiltinOptions()
    if table is None or op.BuiltinOptionsType() != schema.options_types.get(opcode):
        return dict(_ABSENT_OPTIONS.get(opcode, {}))
    if opcode == "FULLY_CONNECTED":
        o = schema.tflite.FullyConnectedOptions()
        o.Init(table.Bytes, table.Pos)
        return {
            "activation": schema.activations.get(o.FusedActivationFunction(), "UNKNOWN"),
            "weights_format": int(o.WeightsFormat()),
            "keep_num_dims": bool(o.KeepNumDims()),
            "asymmetric_quantize_inputs": bool(o.AsymmetricQuantizeInputs()),
        }
    if opcode == "SOFTMAX":
        o = schema.tflite.SoftmaxOptions()
        o.Init(table.Bytes, table.Pos)
        return {"beta": float(o.Beta())}
    if opcode == "RESHAPE":
        o = schema.tflite.ReshapeOptions()
        o.Init(table.Bytes, table.Pos)
        count = _check_length(o.NewShapeLength(), len(table.Bytes), "RESHAPE new_shape")
        return {"new_shape": tuple(int(o.NewShape(j)) for j in range(count))}
    return {}
