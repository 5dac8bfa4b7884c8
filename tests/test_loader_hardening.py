"""Malicious and broken model files: each ends in a ValueError that says what is wrong, before
any backend (native, reference, or the TFLite interpreter fallback) sees the file.

The models are forged with tests/tflite_builder.py from a small valid MLP, one inconsistency
each. tests/fixtures/crashes/ holds inputs that once crashed something: the fuzzer's findings
in pyedge (tools/fuzz_loader.py), and mutated fixtures that crash LiteRT itself when given to
it directly (litert_*: SIGSEGV, or allocating until the OOM killer ends the process). Each
must now load and predict, or be refused with a ValueError before any interpreter sees it.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tflite
from conftest import FIXTURES
from tflite_builder import (
    BufferSpec,
    ModelSpec,
    OperatorSpec,
    SubgraphSpec,
    TensorSpec,
    build,
    small_mlp,
)

import pyedge
from pyedge.interpreter import find_interpreter
from pyedge.tflite_reader import MAX_ACTIVATION_BYTES

# Every backend reads and checks the file first; "interpreter" never gets a rejected file.
BACKENDS = ("auto", "native", "reference", "interpreter")
CRASHES = sorted((FIXTURES / "crashes").glob("*.tflite"))
# Tensor indices in small_mlp()
INPUT, INPUT_INT8, WEIGHTS, BIAS, DENSE, SOFTMAX, OUTPUT = range(7)


def forged(change: Callable[[ModelSpec], object]) -> bytes:
    spec = small_mlp()
    change(spec)
    return build(spec)


def test_the_unforged_model_runs_on_every_backend() -> None:
    # The baseline the forgeries start from is valid: otherwise they would prove nothing.
    data = build(small_mlp())
    x = np.linspace(-3, 3, 40, dtype=np.float32).reshape(10, 4)
    native = pyedge.Model(data, backend="native")
    assert native.backend.startswith("native")
    y = native.predict(x)
    np.testing.assert_array_equal(pyedge.Model(data, backend="reference").predict(x), y)
    if pyedge.interpreter.find_interpreter() is not None:
        np.testing.assert_array_equal(pyedge.Model(data, backend="interpreter").predict(x), y)


def set_shape(*tensors_and_shapes: tuple[int, list[int]]) -> Callable[[ModelSpec], None]:
    def change(spec: ModelSpec) -> None:
        for index, shape in tensors_and_shapes:
            spec.tensors[index].shape = shape
    return change


def set_quantization(index: int, scales: list[float] | None = None,
                     zero_points: list[int] | None = None, dimension: int | None = None):
    def change(spec: ModelSpec) -> None:
        t = spec.tensors[index]
        t.scales = t.scales if scales is None else scales
        t.zero_points = t.zero_points if zero_points is None else zero_points
        t.quantized_dimension = t.quantized_dimension if dimension is None else dimension
    return change


def set_buffer(index: int, buffer: BufferSpec) -> Callable[[ModelSpec], None]:
    return lambda spec: spec.buffers.__setitem__(index, buffer)


def set_operator(index: int, **fields) -> Callable[[ModelSpec], None]:
    return lambda spec: spec.operators[index].__dict__.update(fields)


def set_graph(**fields) -> Callable[[ModelSpec], None]:
    return lambda spec: spec.__dict__.update(fields)


def side_loop(spec: ModelSpec) -> None:
    # Two extra operators that feed each other, away from the chain input -> output.
    spec.tensors += [TensorSpec("a", "FLOAT32", [1, 4]), TensorSpec("b", "FLOAT32", [1, 4])]
    spec.operators += [OperatorSpec("ABS", [7], [8]), OperatorSpec("ABS", [8], [7])]


def swap_operators(spec: ModelSpec) -> None:
    spec.operators[1], spec.operators[2] = spec.operators[2], spec.operators[1]


CASES: dict[str, tuple[Callable[[ModelSpec], object], str]] = {
    # Buffers that point outside the file, or at nothing.
    "buffer outside the file": (set_buffer(1, BufferSpec(offset=10**6, size=12)),
                                r"buffer 1 \(12 bytes at 1000000\) lies outside the file"),
    "buffer offset + size wraps around 2^64": (
        set_buffer(1, BufferSpec(offset=2**64 - 8, size=20)), r"buffer 1 .* lies outside the file"),
    "tensor on a missing buffer": (lambda s: setattr(s.tensors[WEIGHTS], "buffer", 7),
                                   r"tensor 2 'dense/weights' points at missing buffer 7"),
    "metadata on a missing buffer": (lambda s: s.metadata.update(labels=9),
                                     r"metadata entry 0 points at missing buffer 9"),
    # Shapes that disagree with the weights.
    "weights shape larger than its buffer": (
        set_shape((WEIGHTS, [3, 5])), r"shape \(3, 5\) and type INT8 needs 15 bytes, its buffer has 12"),
    "weights shape smaller than its buffer": (
        set_shape((WEIGHTS, [3, 3])), r"needs 9 bytes, its buffer has 12"),
    "weights do not match the input": (
        set_shape((INPUT, [1, 5]), (INPUT_INT8, [1, 5])),
        r"inconsistent TFLite model: FULLY_CONNECTED 'dense': weights \(3, 4\) do not match input"),
    "bias of the wrong length": (
        lambda s: (set_shape((BIAS, [2]))(s), set_buffer(2, BufferSpec(bytes(8)))(s),
                   set_quantization(BIAS, [0.001, 0.001], [0, 0])(s)),
        r"bias 'dense/bias' is not constant int32 \[3\]"),
    # Scales: zero, negative, NaN, infinite; per-channel counts that do not match the shape.
    **{f"{what} scale {value}": (set_quantization(index, [value] * count),
                                 rf"tensor {index} '{name}' has quantization scales that are not "
                                 r"positive and finite")
       for what, index, name, count in [("activation", INPUT_INT8, "input_int8", 1),
                                        ("weights", WEIGHTS, "dense/weights", 3),
                                        ("bias", BIAS, "dense/bias", 3)]
       for value in (0.0, -0.5, math.nan, math.inf)},
    "2 weight scales for 3 channels": (set_quantization(WEIGHTS, [0.01, 0.02], [0, 0]),
                                       r"shape \(3, 4\) has 2 scales along dimension 0"),
    "per-channel scales along a missing dimension": (
        set_quantization(WEIGHTS, dimension=5), r"quantized along missing dimension 5"),
    "per-channel scales along the wrong dimension": (
        set_quantization(WEIGHTS, dimension=1), r"shape \(3, 4\) has 3 scales along dimension 1"),
    "3 scales and 1 zero point": (set_quantization(WEIGHTS, zero_points=[0]),
                                  r"has 3 quantization scales and 1 zero points"),
    # Zero points outside int8.
    **{f"activation zero point {zp}": (set_quantization(INPUT_INT8, zero_points=[zp]),
                                       rf"tensor 1 'input_int8' of type INT8 has zero points "
                                       rf"outside \[-128, 127\]: \[{zp}\]")
       for zp in (128, -129, 2**40, -(2**63))},
    "weights zero point 300": (set_quantization(WEIGHTS, zero_points=[0, 300, 0]),
                               r"'dense/weights' of type INT8 has zero points outside"),
    # Absurd dimensions.
    "2^31 - 1 features": (set_shape((INPUT, [1, 2**31 - 1]), (INPUT_INT8, [1, 2**31 - 1])),
                          r"tensor 0 'input' has an invalid shape \(1, 2147483647\)"),
    "65536 x 65536 (2^32: 0 in 32-bit arithmetic)": (
        set_shape((DENSE, [65536, 65536])), r"'dense' has an invalid shape \(65536, 65536\)"),
    "negative dimension": (set_shape((INPUT_INT8, [1, -4])), r"'input_int8' has an invalid shape"),
    "activations of gigabytes": (
        set_shape((DENSE, [1, 2**26]), (SOFTMAX, [1, 2**26]), (OUTPUT, [1, 2**26])),
        rf"tensors without constant data need 402,653,204 bytes \(more than {MAX_ACTIVATION_BYTES:,}\)"),
    "no features": (set_shape((INPUT, [1, 0]), (INPUT_INT8, [1, 0])),
                    r"input \(1, 0\) to output \(1, 3\) has no values per row"),
    "no features, no layers": (
        lambda s: (set_shape((INPUT, [1, 0]), (INPUT_INT8, [1, 0]), (OUTPUT, [1, 0]))(s),
                   set_operator(1, opcode="DEQUANTIZE", inputs=[INPUT_INT8], outputs=[OUTPUT])(s),
                   s.operators.__delitem__(slice(2, None))),
        r"a tensor from input \(1, 0\) to output \(1, 0\) has no values per row"),
    # Graphs whose operators form a loop or are out of order.
    "operators in a loop": (
        lambda s: (set_operator(1, inputs=[SOFTMAX, WEIGHTS, BIAS])(s)),
        r"operator 1 \(FULLY_CONNECTED\) reads tensor 5 'softmax' before any operator writes it"),
    "an operator reading its own output": (set_operator(2, inputs=[SOFTMAX]),
                                           r"operator 2 \(SOFTMAX\) reads tensor 5 'softmax' before"),
    "a loop beside the chain": (side_loop, r"operator 4 \(ABS\) reads tensor 7 'a' before"),
    "operators out of order": (swap_operators, r"operator 1 \(SOFTMAX\) reads tensor 4 'dense' before"),
    "two operators writing one tensor": (set_operator(2, outputs=[DENSE]),
                                         r"operator 2 \(SOFTMAX\) writes tensor 4 'dense', which "
                                         "already has a value"),
    "an operator writing the graph input": (set_operator(0, outputs=[INPUT]),
                                            r"operator 0 \(QUANTIZE\) writes tensor 0 'input'"),
    "a graph output nobody writes": (lambda s: s.operators.pop(), r"graph output tensor 6 'output' "
                                                                   "is never written"),
    # Indices out of range.
    "operator output -1": (set_operator(1, outputs=[-1]), r"operator 1 output refers to tensor -1"),
    "graph input -1": (set_graph(inputs=[-1]), r"graph input refers to tensor -1, but there are 7"),
    "operator input 99": (set_operator(2, inputs=[99]), r"operator 2 input refers to tensor 99"),
    # Found by the fuzzer: input_shape read graph.inputs[0] of a graph without inputs.
    "no graph input": (lambda s: (set_graph(inputs=[])(s), s.buffers.append(BufferSpec(bytes(16))),
                                  setattr(s.tensors[INPUT], "buffer", 3)),
                       r"one input and one output; this one has 0 and 1"),
    "two graph outputs": (set_graph(outputs=[DENSE, OUTPUT]),
                          r"one input and one output; this one has 1 and 2"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_forged_model_is_a_value_error(case: str) -> None:
    change, message = CASES[case]
    data = forged(change)
    for backend in BACKENDS:
        with pytest.raises(ValueError, match=message):
            pyedge.Model(data, backend=backend)


def test_output_shapes_that_disagree_with_the_weights_run_as_litert_runs_them() -> None:
    # LiteRT's Prepare resizes every op output from the weights, so a file whose output shapes
    # say (1, 2) for 3 channels still runs (issue: never refuse what LiteRT runs). It is not a
    # native plan (the output shape does not hold the rows' values): the interpreter runs it.
    pytest.importorskip("ai_edge_litert")
    data = forged(set_shape((DENSE, [1, 2]), (SOFTMAX, [1, 2]), (OUTPUT, [1, 2])))
    model = pyedge.Model(data)
    assert model.backend.startswith("interpreter"), model.backend
    y = model.predict(np.ones((2, 4), np.float32))
    assert y.shape == (2, 3)


def test_a_forged_vector_length_is_refused() -> None:
    # The length prefix of the weights' data vector claims 2^31 - 1 bytes in a 1 KB file.
    data = bytearray(build(small_mlp()))
    model = tflite.Model.GetRootAs(data, 0)
    buffer = model.Buffers(1)
    vector = buffer._tab.Vector(buffer._tab.Offset(4))  # Buffer.data: field 0, vtable slot 4
    assert buffer.DataLength() == 12
    struct.pack_into("<I", data, vector - 4, 2**31 - 1)
    for backend in BACKENDS:
        with pytest.raises(ValueError, match=r"a vector of 2147483647 items at byte \d+ \(2147483647 bytes\) "
                                             r"lies outside the \d+-byte file"):
            pyedge.Model(bytes(data), backend=backend)


def test_a_forged_tensor_count_is_refused() -> None:
    data = bytearray(build(small_mlp()))
    subgraph = tflite.Model.GetRootAs(data, 0).Subgraphs(0)
    vector = subgraph._tab.Vector(subgraph._tab.Offset(4))  # SubGraph.tensors
    struct.pack_into("<I", data, vector - 4, 10**6)
    with pytest.raises(ValueError, match=r"a vector of 1000000 items at byte \d+ \(4000000 bytes\)"):
        pyedge.Model(bytes(data))


def tiny_output_scale(activation: str) -> bytes:
    # The model ends at the FULLY_CONNECTED (a softmax refuses so small an input scale).
    return forged(lambda s: (set_quantization(DENSE, [2.0**-126])(s),
                             set_operator(1, activation=activation)(s),
                             s.operators.__delitem__(slice(2, None)), set_graph(outputs=[DENSE])(s)))


def test_an_activation_bound_past_int32_is_refused_as_tflite_does() -> None:
    # Found by the fuzzer (tests/fixtures/crashes/tiny_activation_scale.tflite): an output
    # scale of 2^-126 made 6 / scale overflow while computing the RELU6 bound, and the plan
    # died of an OverflowError. TFLite's Prepare refuses such a bound; so does pyedge now.
    for backend in BACKENDS:
        with pytest.raises(ValueError, match=r"activation bound 6.0 / output scale .* overflows int32"):
            pyedge.Model(tiny_output_scale("RELU6"), backend=backend)


def test_requantization_that_could_overflow_int32_is_not_run_natively() -> None:
    # With RELU the bound is fine, but input_scale * weight_scale / output_scale ~ 2^115: the
    # requantized values leave int32, where TFLite's arithmetic wraps (undefined). The native
    # kernels wrapped too and disagreed with the reference backend; now neither takes it.
    data = tiny_output_scale("RELU")
    with pytest.raises(RuntimeError, match=r"'dense': int32 accumulators or requantized values "
                                           r"could overflow"):
        pyedge.Model(data, backend="native")
    with pytest.raises(RuntimeError, match="could overflow"):
        pyedge.Model(data, backend="reference")


def test_a_bias_that_could_overflow_the_accumulator_is_not_run_natively() -> None:
    bias = np.array([2**31 - 1000, 0, 0], np.int32)
    data = forged(set_buffer(2, BufferSpec(bias.tobytes())))
    with pytest.raises(RuntimeError, match=r"'dense': int32 accumulators .* could overflow"):
        pyedge.Model(data, backend="native")


def test_a_softmax_litert_would_abort_on_is_refused_behind_a_refused_layer() -> None:
    # Found by tools/fuzz_loader.py: the tiny scale makes the FC's requantization refused
    # natively, so the model went to the interpreter, whose reference SOFTMAX then aborted the
    # process (TFLITE_CHECK: input scale x beta < 2^-26). It must be a ValueError instead.
    spec = small_mlp()
    spec.tensors[4].scales = [1.2838329e-21]
    with pytest.raises(ValueError, match=r"SOFTMAX operator 2: .* too small .*LiteRT aborts"):
        pyedge.Model(build(spec))


def log_softmax_mlp(input_scale: float) -> bytes:
    spec = small_mlp()
    spec.operators[2].opcode = "LOG_SOFTMAX"
    spec.tensors[SOFTMAX].scales, spec.tensors[SOFTMAX].zero_points = [16 / 256], [127]
    spec.tensors[DENSE].scales = [input_scale]
    return build(spec)


def test_a_log_softmax_litert_would_abort_on_is_refused() -> None:
    # LogSoftmaxPrepare aborts (TFLITE_CHECK_GT in PreprocessLogSoftmaxScalingExp, the process
    # ends with SIGABRT; checked by hand) when input scale x 2^26 <= 1, as SOFTMAX does.
    with pytest.raises(ValueError, match=r"LOG_SOFTMAX operator 2: .* too small .*LiteRT aborts"):
        pyedge.Model(log_softmax_mlp(1e-9))


def test_a_log_softmax_litert_runs_is_not_refused() -> None:
    # The check above refuses only what aborts: at an ordinary scale the model falls back.
    if find_interpreter() is None:
        pytest.skip("no TFLite interpreter installed")
    model = pyedge.Model(log_softmax_mlp(0.1))
    assert model.backend.startswith("interpreter")
    y = model.predict(np.linspace(-2, 2, 8, dtype=np.float32).reshape(2, 4))
    assert y.shape == (2, 3) and np.all(y <= 0)  # log-probabilities, in steps of 16/256


@pytest.mark.parametrize("path", CRASHES, ids=[p.name for p in CRASHES])
def test_crash_input_now_loads_or_is_a_value_error(path: Path) -> None:
    # The fuzzer's own check (tools/fuzz_loader.py): a model or a ValueError, then a batch runs.
    try:
        model = pyedge.Model(path)
    except ValueError as error:
        assert str(error).startswith(f"{path}: ")  # says which file
        return
    except RuntimeError as error:
        # A valid model the native plan refuses, where no interpreter is installed (a device).
        assert find_interpreter() is None and "No TFLite interpreter is installed" in str(error)
        return
    for rows in (model.batch_multiple, 3 * model.batch_multiple):
        x = np.linspace(-4, 4, rows * math.prod(model.input_shape[1:]), dtype=np.float32)
        # (in the graph output's shape, which LiteRT may compute with more or fewer rows)
        assert model.predict(x.reshape(rows, *model.input_shape[1:])).dtype == np.float32


def test_the_crash_folder_is_not_empty() -> None:
    assert CRASHES, "tests/fixtures/crashes/ lost its regression inputs"


def test_operator_codes_are_read_as_litert_reads_them() -> None:
    # Found by tools/fuzz_loader.py: builtin_code FULLY_CONNECTED with deprecated_builtin_code
    # absent. The `tflite` package's BuiltinCode() returned the deprecated field (ADD), LiteRT
    # takes the larger of the two (FULLY_CONNECTED): pyedge then missed the SOFTMAX check and
    # LiteRT's reference SOFTMAX aborted the process. Both must read the same operators.
    import subprocess
    import sys

    from pyedge.tflite_reader import read_model

    path = FIXTURES / "crashes" / "litert_abort_opcode_fields_disagree.tflite"
    ours = [op.opcode for op in read_model(path.read_bytes()).operators]
    assert ours == ["QUANTIZE", "FULLY_CONNECTED", "FULLY_CONNECTED", "FULLY_CONNECTED",
                    "SOFTMAX", "DEQUANTIZE"]
    if find_interpreter() is None or find_interpreter()[0] != "ai_edge_litert":
        return
    code = ("import sys; from ai_edge_litert.interpreter import Interpreter\n"
            "i = Interpreter(model_path=sys.argv[1])\n"
            "print(' '.join(op['op_name'] for op in i._get_ops_details()))\n")
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                            text=True, check=True)
    assert result.stdout.split() == ours
    with pytest.raises(ValueError, match=r"SOFTMAX operator 4: .* \(LiteRT aborts on this\)"):
        pyedge.Model(path)


@pytest.mark.parametrize("shape, signature", [((1, 50331649), (-1, 1)), ((), (-7, 12)),
                                              ((1, 4), (-1, 4, 1)), ((1, 4), (-2, 4))])
def test_a_shape_signature_that_disagrees_with_the_shape_is_refused(shape, signature) -> None:
    # Found by the fuzzer: pyedge sized the input by one, LiteRT by the other (an IndexError,
    # and an interpreter that allocated gigabytes for one row).
    spec = small_mlp()
    spec.tensors[INPUT].shape, spec.tensors[INPUT].shape_signature = list(shape), list(signature)
    with pytest.raises(ValueError, match=r"tensor 0 'input' has shape .* but shape signature"):
        pyedge.Model(build(spec))


def test_an_omitted_input_that_the_kernel_reads_is_refused() -> None:
    # RESHAPE [x, -1]: LiteRT's Prepare dereferences the omitted shape tensor (SIGSEGV).
    spec = small_mlp()
    spec.tensors.append(TensorSpec("reshaped", "INT8", [1, 3], scales=[0.1], zero_points=[-128]))
    spec.operators.insert(2, OperatorSpec("RESHAPE", [DENSE, -1], [7], new_shape=[1, 3]))
    spec.operators[3].inputs = [7]
    with pytest.raises(ValueError, match=r"RESHAPE operator 2: input 1 is omitted \(-1\), but its "
                                         r"kernel reads it \(LiteRT crashes on this\)"):
        pyedge.Model(build(spec))
    spec.operators[2].inputs = [DENSE]  # no shape input at all: the options give the shape
    assert pyedge.Model(build(spec)).predict(np.zeros((2, 4), np.float32)).shape == (2, 3)


def with_init_subgraph(operator: OperatorSpec, units: int = 8) -> bytes:
    """small_mlp() whose first operator, CALL_ONCE, runs a second subgraph at the first invoke:
    `operator` on a constant int8 [1, units] of zeros (tensor 0), writing tensor 1."""
    spec = small_mlp()
    spec.operators.insert(0, OperatorSpec("CALL_ONCE", [], [], init_subgraph=1))
    spec.buffers += [BufferSpec(np.zeros(units, np.int8).tobytes()),
                     BufferSpec(np.array([-1, 0], np.int32).tobytes())]
    spec.more_subgraphs.append(SubgraphSpec(
        tensors=[TensorSpec("constant", "INT8", [1, units], buffer=len(spec.buffers) - 2,
                            scales=[0.1], zero_points=[0]),
                 TensorSpec("result", "INT8", [1, units], scales=[1 / 256], zero_points=[-128]),
                 TensorSpec("shape", "INT32", [2], buffer=len(spec.buffers) - 1)],
        operators=[operator], inputs=[], outputs=[]))
    return build(spec)


@pytest.mark.parametrize("operator, message", [
    (OperatorSpec("SOFTMAX", [0], [1], beta=0.0),
     r"SOFTMAX operator 0 of subgraph 1: softmax needs beta > 0 .*\(LiteRT aborts on this\)"),
    (OperatorSpec("RESHAPE", [0, 2], [1]),
     r"RESHAPE operator 0 of subgraph 1: new shape \[-1, 0\] .* has a -1 beside a 0"),
    (OperatorSpec("RESHAPE", [0, -1], [1], new_shape=[1, 8]),
     r"RESHAPE operator 0 of subgraph 1: input 1 is omitted \(-1\)"),
])
def test_what_crashes_litert_is_refused_in_every_subgraph(operator, message) -> None:
    # Found by review: the checks read the first subgraph only, and a CALL_ONCE (or WHILE, IF)
    # makes LiteRT prepare and run the others: pyedge.Model aborted the process (SIGABRT on
    # SOFTMAX beta 0, SIGFPE on the -1 beside a 0, SIGSEGV on the omitted input).
    for backend in BACKENDS:
        with pytest.raises(ValueError, match=message):
            pyedge.Model(with_init_subgraph(operator), backend=backend)


def test_a_second_subgraph_runs_on_the_interpreter_as_litert_runs_it() -> None:
    pytest.importorskip("ai_edge_litert")
    from litert_reference import litert_output

    x = np.random.default_rng(3).normal(size=(5, 4)).astype(np.float32)
    content = with_init_subgraph(OperatorSpec("SOFTMAX", [0], [1], beta=1.0))
    model = pyedge.Model(content)
    assert model.backend == ("interpreter (ai_edge_litert, reference kernels; native backend "
                             "cannot run this model: 2 subgraphs (only 1 is supported))")
    np.testing.assert_array_equal(model.predict(x), litert_output(content, x))
    # A SOFTMAX the reference kernel aborts on (600 equal values) in the second subgraph: the
    # model runs on LiteRT's builtin kernels, as in the first subgraph.
    content = with_init_subgraph(OperatorSpec("SOFTMAX", [0], [1], beta=1.0), units=600)
    model = pyedge.Model(content)
    assert "builtin kernels, since the reference SOFTMAX (operator 0 of subgraph 1, rows of 600 " \
           "values)" in model.backend
    np.testing.assert_array_equal(model.predict(x),
                                  litert_output(content, x, "BUILTIN_WITHOUT_DEFAULT_DELEGATES"))


def test_buffers_that_name_one_table_many_times_are_read_once() -> None:
    # Found by review: every entry of Model.buffers may point at the same Buffer table; each
    # copied its data, so a 116 KB file cost 400 MB. Now one copy per table.
    import tracemalloc

    from pyedge.flatbuffer import Table
    from pyedge.tflite_reader import read_model

    spec = small_mlp()
    spec.buffers += [BufferSpec(bytes(20_000))] + [BufferSpec() for _ in range(3000)]
    data = bytearray(build(spec))
    buffers = Table.root(bytes(data)).tables(4)
    target = buffers[3].position
    start = Table.root(bytes(data))._target(4) + 4  # Model.buffers: the first entry's offset
    for j in range(4, len(buffers)):
        struct.pack_into("<I", data, start + 4 * j, target - (start + 4 * j))
    tracemalloc.start()
    graph = read_model(bytes(data))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(graph.tensors) == len(spec.tensors)
    assert peak < 20 * len(data), f"{peak:,} bytes to read a {len(data):,}-byte file"
