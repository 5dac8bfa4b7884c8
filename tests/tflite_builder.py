"""Writes small .tflite flatbuffers from a plain description, so a test can forge exactly the
inconsistency it is about (a shape, a scale, a buffer offset, a loop) and nothing else.

Uses the builder functions of the `tflite` package (pyedge's own parser dependency), so it
needs no TensorFlow. `small_mlp()` describes a valid float-in, float-out int8 model:
QUANTIZE -> FULLY_CONNECTED (relu) -> SOFTMAX -> DEQUANTIZE, 4 features, 3 classes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import flatbuffers
import numpy as np
import tflite


@dataclass
class TensorSpec:
    name: str
    type: str  # a tflite.TensorType name: "INT8", "FLOAT32", ...
    shape: list[int]
    buffer: int = 0  # 0: the empty buffer (no constant data)
    scales: list[float] | None = None
    zero_points: list[int] | None = None
    quantized_dimension: int = 0
    # The shape with -1 for dimensions sized at run time (the converter writes [-1, ...] for a
    # dynamic batch); None: no signature, the batch is the fixed shape's.
    shape_signature: list[int] | None = None
    is_variable: bool = False  # state an operator keeps between invocations


@dataclass
class BufferSpec:
    data: bytes = b""
    # Buffers of models over 2 GB live after the flatbuffer, addressed by offset and size.
    offset: int | None = None
    size: int | None = None


@dataclass
class OperatorSpec:
    opcode: str  # a tflite.BuiltinOperator name
    inputs: list[int]
    outputs: list[int]
    activation: str = "NONE"  # FULLY_CONNECTED's fused activation
    beta: float = 1.0  # SOFTMAX
    keep_num_dims: bool = False  # FULLY_CONNECTED
    new_shape: list[int] | None = None  # RESHAPE's options (None: no options table)
    rank: int = 1  # SVDF
    init_subgraph: int = 1  # CALL_ONCE: the subgraph it runs once
    # CONV_2D and the 2-D pools: (height, width) of each, padding "SAME" or "VALID"
    padding: str = "VALID"
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)  # CONV_2D, DEPTHWISE_CONV_2D
    depth_multiplier: int = 1  # DEPTHWISE_CONV_2D
    keep_dims: bool = False  # MEAN
    filter: tuple[int, int] = (1, 1)  # the pools


@dataclass
class SubgraphSpec:
    tensors: list[TensorSpec]
    operators: list[OperatorSpec]
    inputs: list[int]
    outputs: list[int]


@dataclass
class ModelSpec:
    tensors: list[TensorSpec]
    buffers: list[BufferSpec]
    operators: list[OperatorSpec]
    inputs: list[int]
    outputs: list[int]
    metadata: dict[str, int] = field(default_factory=dict)  # name -> buffer index
    # Subgraphs after the main one (bodies of control-flow ops), sharing the buffers.
    more_subgraphs: list[SubgraphSpec] = field(default_factory=list)

    def copy(self) -> ModelSpec:
        return copy.deepcopy(self)


def small_mlp() -> ModelSpec:
    rng = np.random.default_rng(7)
    weights = rng.integers(-127, 128, size=(3, 4), dtype=np.int8)
    bias = np.array([100, -50, 7], np.int32)
    return ModelSpec(
        tensors=[
            TensorSpec("input", "FLOAT32", [1, 4]),
            TensorSpec("input_int8", "INT8", [1, 4], scales=[0.05], zero_points=[3]),
            TensorSpec("dense/weights", "INT8", [3, 4], buffer=1, scales=[0.01, 0.02, 0.015],
                       zero_points=[0, 0, 0]),
            TensorSpec("dense/bias", "INT32", [3], buffer=2, scales=[0.0005, 0.001, 0.00075],
                       zero_points=[0, 0, 0]),
            TensorSpec("dense", "INT8", [1, 3], scales=[0.1], zero_points=[-128]),
            TensorSpec("softmax", "INT8", [1, 3], scales=[1 / 256], zero_points=[-128]),
            TensorSpec("output", "FLOAT32", [1, 3]),
        ],
        buffers=[BufferSpec(), BufferSpec(weights.tobytes()), BufferSpec(bias.tobytes())],
        operators=[
            OperatorSpec("QUANTIZE", [0], [1]),
            OperatorSpec("FULLY_CONNECTED", [1, 2, 3], [4], activation="RELU"),
            OperatorSpec("SOFTMAX", [4], [5]),
            OperatorSpec("DEQUANTIZE", [5], [6]),
        ],
        inputs=[0],
        outputs=[6],
    )


def build(spec: ModelSpec) -> bytes:
    """The spec as a .tflite flatbuffer (file identifier TFL3, schema version 3)."""
    b = flatbuffers.Builder(1024)
    buffers = [_buffer(b, buffer) for buffer in spec.buffers]
    main = SubgraphSpec(spec.tensors, spec.operators, spec.inputs, spec.outputs)
    graphs = [main, *spec.more_subgraphs]
    opcodes = sorted({op.opcode for graph in graphs for op in graph.operators})
    written = [_subgraph(b, graph, opcodes, f"subgraph{i}" if i else "main")
               for i, graph in enumerate(graphs)]
    codes = []
    for name in opcodes:
        code = getattr(tflite.BuiltinOperator, name)
        tflite.OperatorCodeStart(b)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
        tflite.OperatorCodeAddBuiltinCode(b, code)
        tflite.OperatorCodeAddVersion(b, 1)
        codes.append(tflite.OperatorCodeEnd(b))
    metadata = []
    for name, index in spec.metadata.items():
        name_offset = b.CreateString(name)
        tflite.MetadataStart(b)
        tflite.MetadataAddName(b, name_offset)
        tflite.MetadataAddBuffer(b, index)
        metadata.append(tflite.MetadataEnd(b))

    subgraphs = _offsets(b, written)
    code_vector = _offsets(b, codes)
    buffer_vector = _offsets(b, buffers)
    metadata_vector = _offsets(b, metadata) if metadata else None
    description = b.CreateString("built by tests/tflite_builder.py")
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, code_vector)
    tflite.ModelAddSubgraphs(b, subgraphs)
    tflite.ModelAddDescription(b, description)
    tflite.ModelAddBuffers(b, buffer_vector)
    if metadata_vector is not None:
        tflite.ModelAddMetadata(b, metadata_vector)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _subgraph(b: flatbuffers.Builder, graph: SubgraphSpec, opcodes: list[str], name: str) -> int:
    tensors = [_tensor(b, t) for t in graph.tensors]
    operators = [_operator(b, op, opcodes.index(op.opcode)) for op in graph.operators]
    tensor_vector = _offsets(b, tensors)
    operator_vector = _offsets(b, operators)
    inputs = _int32s(b, graph.inputs)
    outputs = _int32s(b, graph.outputs)
    name_offset = b.CreateString(name)
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tensor_vector)
    tflite.SubGraphAddOperators(b, operator_vector)
    tflite.SubGraphAddInputs(b, inputs)
    tflite.SubGraphAddOutputs(b, outputs)
    tflite.SubGraphAddName(b, name_offset)
    return tflite.SubGraphEnd(b)


def _offsets(b: flatbuffers.Builder, offsets: list[int]) -> int:
    b.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        b.PrependUOffsetTRelative(offset)
    return b.EndVector()


def _int32s(b: flatbuffers.Builder, values: list[int]) -> int:
    return b.CreateNumpyVector(np.asarray(values, dtype=np.int32))


def _buffer(b: flatbuffers.Builder, buffer: BufferSpec) -> int:
    data = None
    if buffer.data:
        # 16-byte aligned, as the converter writes them (constant data is read in place).
        b.StartVector(1, len(buffer.data), 16)
        b.head = b.head - len(buffer.data)
        b.Bytes[b.head:b.head + len(buffer.data)] = buffer.data
        data = b.EndVector()
    tflite.BufferStart(b)
    if data is not None:
        tflite.BufferAddData(b, data)
    if buffer.offset is not None:
        tflite.BufferAddOffset(b, buffer.offset)
        tflite.BufferAddSize(b, buffer.size or 0)
    return tflite.BufferEnd(b)


def _tensor(b: flatbuffers.Builder, t: TensorSpec) -> int:
    quantization = None
    if t.scales is not None:
        scales = b.CreateNumpyVector(np.asarray(t.scales, dtype=np.float32))
        zero_points = b.CreateNumpyVector(np.asarray(t.zero_points or [0] * len(t.scales),
                                                     dtype=np.int64))
        tflite.QuantizationParametersStart(b)
        tflite.QuantizationParametersAddScale(b, scales)
        tflite.QuantizationParametersAddZeroPoint(b, zero_points)
        tflite.QuantizationParametersAddQuantizedDimension(b, t.quantized_dimension)
        quantization = tflite.QuantizationParametersEnd(b)
    shape = _int32s(b, t.shape)
    signature = None if t.shape_signature is None else _int32s(b, t.shape_signature)
    name = b.CreateString(t.name)
    tflite.TensorStart(b)
    tflite.TensorAddShape(b, shape)
    if signature is not None:
        tflite.TensorAddShapeSignature(b, signature)
    if t.is_variable:
        tflite.TensorAddIsVariable(b, True)
    tflite.TensorAddType(b, getattr(tflite.TensorType, t.type))
    tflite.TensorAddBuffer(b, t.buffer)
    tflite.TensorAddName(b, name)
    if quantization is not None:
        tflite.TensorAddQuantization(b, quantization)
    return tflite.TensorEnd(b)


def _operator(b: flatbuffers.Builder, op: OperatorSpec, opcode_index: int) -> int:
    options, options_type = None, tflite.BuiltinOptions.NONE
    if op.opcode == "FULLY_CONNECTED":
        tflite.FullyConnectedOptionsStart(b)
        tflite.FullyConnectedOptionsAddFusedActivationFunction(
            b, getattr(tflite.ActivationFunctionType, op.activation))
        tflite.FullyConnectedOptionsAddKeepNumDims(b, op.keep_num_dims)
        options = tflite.FullyConnectedOptionsEnd(b)
        options_type = tflite.BuiltinOptions.FullyConnectedOptions
    elif op.opcode == "SOFTMAX":
        tflite.SoftmaxOptionsStart(b)
        tflite.SoftmaxOptionsAddBeta(b, op.beta)
        options = tflite.SoftmaxOptionsEnd(b)
        options_type = tflite.BuiltinOptions.SoftmaxOptions
    elif op.opcode == "RESHAPE" and op.new_shape is not None:
        new_shape = _int32s(b, op.new_shape)
        tflite.ReshapeOptionsStart(b)
        tflite.ReshapeOptionsAddNewShape(b, new_shape)
        options = tflite.ReshapeOptionsEnd(b)
        options_type = tflite.BuiltinOptions.ReshapeOptions
    elif op.opcode == "SVDF":
        tflite.SVDFOptionsStart(b)
        tflite.SVDFOptionsAddRank(b, op.rank)
        tflite.SVDFOptionsAddFusedActivationFunction(
            b, getattr(tflite.ActivationFunctionType, op.activation))
        options = tflite.SVDFOptionsEnd(b)
        options_type = tflite.BuiltinOptions.SVDFOptions
    elif op.opcode == "CONV_2D":
        tflite.Conv2DOptionsStart(b)
        tflite.Conv2DOptionsAddPadding(b, getattr(tflite.Padding, op.padding))
        tflite.Conv2DOptionsAddStrideH(b, op.stride[0])
        tflite.Conv2DOptionsAddStrideW(b, op.stride[1])
        tflite.Conv2DOptionsAddDilationHFactor(b, op.dilation[0])
        tflite.Conv2DOptionsAddDilationWFactor(b, op.dilation[1])
        tflite.Conv2DOptionsAddFusedActivationFunction(
            b, getattr(tflite.ActivationFunctionType, op.activation))
        options = tflite.Conv2DOptionsEnd(b)
        options_type = tflite.BuiltinOptions.Conv2DOptions
    elif op.opcode == "DEPTHWISE_CONV_2D":
        tflite.DepthwiseConv2DOptionsStart(b)
        tflite.DepthwiseConv2DOptionsAddPadding(b, getattr(tflite.Padding, op.padding))
        tflite.DepthwiseConv2DOptionsAddStrideH(b, op.stride[0])
        tflite.DepthwiseConv2DOptionsAddStrideW(b, op.stride[1])
        tflite.DepthwiseConv2DOptionsAddDepthMultiplier(b, op.depth_multiplier)
        tflite.DepthwiseConv2DOptionsAddDilationHFactor(b, op.dilation[0])
        tflite.DepthwiseConv2DOptionsAddDilationWFactor(b, op.dilation[1])
        tflite.DepthwiseConv2DOptionsAddFusedActivationFunction(
            b, getattr(tflite.ActivationFunctionType, op.activation))
        options = tflite.DepthwiseConv2DOptionsEnd(b)
        options_type = tflite.BuiltinOptions.DepthwiseConv2DOptions
    elif op.opcode in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        tflite.Pool2DOptionsStart(b)
        tflite.Pool2DOptionsAddPadding(b, getattr(tflite.Padding, op.padding))
        tflite.Pool2DOptionsAddStrideH(b, op.stride[0])
        tflite.Pool2DOptionsAddStrideW(b, op.stride[1])
        tflite.Pool2DOptionsAddFilterHeight(b, op.filter[0])
        tflite.Pool2DOptionsAddFilterWidth(b, op.filter[1])
        tflite.Pool2DOptionsAddFusedActivationFunction(
            b, getattr(tflite.ActivationFunctionType, op.activation))
        options = tflite.Pool2DOptionsEnd(b)
        options_type = tflite.BuiltinOptions.Pool2DOptions
    elif op.opcode == "MEAN":
        tflite.ReducerOptionsStart(b)
        tflite.ReducerOptionsAddKeepDims(b, op.keep_dims)
        options = tflite.ReducerOptionsEnd(b)
        options_type = tflite.BuiltinOptions.ReducerOptions
    elif op.opcode == "CALL_ONCE":
        tflite.CallOnceOptionsStart(b)
        tflite.CallOnceOptionsAddInitSubgraphIndex(b, op.init_subgraph)
        options = tflite.CallOnceOptionsEnd(b)
        options_type = tflite.BuiltinOptions.CallOnceOptions
    inputs = _int32s(b, op.inputs)
    outputs = _int32s(b, op.outputs)
    tflite.OperatorStart(b)
    tflite.OperatorAddOpcodeIndex(b, opcode_index)
    tflite.OperatorAddInputs(b, inputs)
    tflite.OperatorAddOutputs(b, outputs)
    if options is not None:
        tflite.OperatorAddBuiltinOptionsType(b, options_type)
        tflite.OperatorAddBuiltinOptions(b, options)
    return tflite.OperatorEnd(b)
