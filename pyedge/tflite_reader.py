"""Reads a .tflite flatbuffer (parsed by the `tflite` package) into plain Python objects.

Every malformed input ends in a ValueError that says what is wrong: the flatbuffer library
itself raises assorted errors (struct.error, IndexError, ...) on truncated or forged data,
and sizes read from the file are checked against the file before anything is allocated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import tflite

_OPERATOR_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_TENSOR_TYPES = {
    tflite.TensorType.FLOAT32: np.dtype(np.float32),
    tflite.TensorType.FLOAT16: np.dtype(np.float16),
    tflite.TensorType.INT32: np.dtype(np.int32),
    tflite.TensorType.UINT8: np.dtype(np.uint8),
    tflite.TensorType.INT64: np.dtype(np.int64),
    tflite.TensorType.INT16: np.dtype(np.int16),
    tflite.TensorType.INT8: np.dtype(np.int8),
    tflite.TensorType.FLOAT64: np.dtype(np.float64),
    tflite.TensorType.BOOL: np.dtype(np.bool_),
}
_TYPE_NAMES = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
_ACTIVATIONS = {v: k for k, v in vars(tflite.ActivationFunctionType).items() if not k.startswith("_")}
# No tensor of a model this runtime serves comes near this; a forged shape must not make us
# allocate (or multiply out) gigabytes.
MAX_TENSOR_ELEMENTS = 1 << 28


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

    @property
    def dtype(self) -> np.dtype | None:
        return _TENSOR_TYPES.get(getattr(tflite.TensorType, self.type_name, -1))


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
    model = tflite.Model.GetRootAs(data, 0)
    n_subgraphs = _check_length(model.SubgraphsLength(), size, "subgraph list")
    if n_subgraphs < 1:
        raise ValueError("the model has no subgraph")
    buffers = [_buffer_bytes(model, i, data) for i in
               range(_check_length(model.BuffersLength(), size, "buffer list"))]
    opcodes = []
    for i in range(_check_length(model.OperatorCodesLength(), size, "operator code list")):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = _OPERATOR_NAMES.get(builtin, f"UNKNOWN_{builtin}")
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

    subgraph = model.Subgraphs(0)
    tensors = [_tensor(subgraph.Tensors(i), i, buffers) for i in
               range(_check_length(subgraph.TensorsLength(), size, "tensor list"))]
    operators = []
    for i in range(_check_length(subgraph.OperatorsLength(), size, "operator list")):
        op = subgraph.Operators(i)
        index = op.OpcodeIndex()
        if not 0 <= index < len(opcodes):
            raise ValueError(f"operator {i} uses missing operator code {index}")
        inputs = _indices(op.InputsAsNumpy(), op.InputsLength(), len(tensors), f"operator {i} input")
        outputs = _indices(op.OutputsAsNumpy(), op.OutputsLength(), len(tensors),
                           f"operator {i} output")
        operators.append(Operator(i, opcodes[index], inputs, outputs, _options(op, opcodes[index])))
    inputs = _indices(subgraph.InputsAsNumpy(), subgraph.InputsLength(), len(tensors), "graph input")
    outputs = _indices(subgraph.OutputsAsNumpy(), subgraph.OutputsLength(), len(tensors),
                       "graph output")
    description = (model.Description() or b"").decode("utf-8", "replace")
    return Graph(tensors, operators, inputs, outputs, n_subgraphs, metadata, description)


def _indices(array: object, length: int, n_tensors: int, what: str) -> list[int]:
    if length == 0:
        return []
    values = [int(v) for v in np.asarray(array).reshape(-1)]
    for v in values:
        if not -1 <= v < n_tensors:
            raise ValueError(f"{what} refers to tensor {v}, but there are {n_tensors}")
    return values


def _buffer_bytes(model: tflite.Model, i: int, data: bytes) -> bytes:
    buffer = model.Buffers(i)
    offset, length = buffer.Offset(), buffer.Size()
    if offset > 1:  # large models keep their buffers after the flatbuffer, addressed by offset
        if offset + length > len(data):
            raise ValueError(f"buffer {i} ({length} bytes at {offset}) lies outside the file")
        return bytes(data[offset:offset + length])
    n = buffer.DataLength()
    if n == 0:
        return b""
    raw = buffer.DataAsNumpy()
    if raw.size != n:
        raise ValueError(f"buffer {i} is truncated")
    return raw.tobytes()


def _tensor(t: tflite.Tensor, index: int, buffers: list[bytes]) -> Tensor:
    name = (t.Name() or b"").decode("utf-8", "replace")
    type_name = _TYPE_NAMES.get(t.Type(), f"UNKNOWN_{t.Type()}")
    shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    signature = (tuple(int(d) for d in t.ShapeSignatureAsNumpy())
                 if t.ShapeSignatureLength() else shape)
    if any(d < 0 for d in shape) or math.prod(shape) > MAX_TENSOR_ELEMENTS:
        raise ValueError(f"tensor {index} '{name}' has an invalid shape {shape}")
    scales, zero_points, dimension = np.zeros(0, np.float32), np.zeros(0, np.int64), 0
    q = t.Quantization()
    if q is not None and q.ScaleLength():
        scales = np.asarray(q.ScaleAsNumpy(), dtype=np.float32).reshape(-1)
        zero_points = (np.asarray(q.ZeroPointAsNumpy(), dtype=np.int64).reshape(-1)
                       if q.ZeroPointLength() else np.zeros(scales.size, np.int64))
        dimension = int(q.QuantizedDimension())
    data = None
    buffer_index = t.Buffer()
    if not 0 <= buffer_index < max(len(buffers), 1):
        raise ValueError(f"tensor {index} '{name}' points at missing buffer {buffer_index}")
    raw = buffers[buffer_index] if buffers else b""
    if raw:
        dtype = _TENSOR_TYPES.get(t.Type())
        if dtype is None:
            raise ValueError(f"tensor {index} '{name}' holds data of unsupported type {type_name}")
        if len(raw) != math.prod(shape) * dtype.itemsize:
            raise ValueError(f"tensor {index} '{name}' of shape {shape} and type {type_name} "
                             f"needs {math.prod(shape) * dtype.itemsize} bytes, its buffer has "
                             f"{len(raw)}")
        data = np.frombuffer(raw, dtype=dtype).reshape(shape)
    return Tensor(index, name, type_name, shape, signature, scales, zero_points, dimension, data)


def _options(op: tflite.Operator, opcode: str) -> dict[str, object]:
    table = op.BuiltinOptions()
    if table is None:
        return {}
    if opcode == "FULLY_CONNECTED":
        o = tflite.FullyConnectedOptions()
        o.Init(table.Bytes, table.Pos)
        return {
            "activation": _ACTIVATIONS.get(o.FusedActivationFunction(), "UNKNOWN"),
            "weights_format": int(o.WeightsFormat()),
            "keep_num_dims": bool(o.KeepNumDims()),
            "asymmetric_quantize_inputs": bool(o.AsymmetricQuantizeInputs()),
        }
    if opcode == "SOFTMAX":
        o = tflite.SoftmaxOptions()
        o.Init(table.Bytes, table.Pos)
        return {"beta": float(o.Beta())}
    return {}
