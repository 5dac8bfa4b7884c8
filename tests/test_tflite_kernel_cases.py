"""TensorFlow Lite's and TFLite Micro's own int8 kernel test cases, run by pyedge.

The cases (inputs, parameters, expected values, each test's own criterion) are data in
tests/tflite_kernel_cases.py, each citing its test file and test name. Every case becomes a
one-operator int8-in, int8-out model (tests/tflite_builder.py), and:
1. LiteRT's BUILTIN_REF kernels meet the test's expectations (the port is faithful);
2. on every backend (NumPy reference, each native kernel this CPU supports, the interpreter)
   pyedge meets them too and its int8 output equals LiteRT's bit for bit; a case the plan
   cannot run yet must load with backend "auto" and equal LiteRT;
3. a case LiteRT refuses (at Prepare or its first invoke) is a ValueError in pyedge.Model, on every backend.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import supported_kernels
from tflite_builder import BufferSpec, ModelSpec, OperatorSpec, TensorSpec, build
from tflite_kernel_cases import (
    CASES,
    PAD_A_GOLDEN,
    PAD_B_GOLDEN_VALUED,
    SIGMOID_X,
    TANH_X,
    Case,
    min_max_params,
    sigmoid,
    softmax_golden,
    tanh,
    tflm_quantize,
)

import pyedge
from pyedge.quantization import dequantize

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytest.importorskip("ai_edge_litert")
from litert_reference import litert_interpreter, litert_output  # noqa: E402  (needs ai_edge_litert)

RUNNABLE = [case for case in CASES if not case.prepare_fails]
REFUSED = [case for case in CASES if case.prepare_fails]


# ---- models and runs ---------------------------------------------------------------------------


def build_model(case: Case) -> bytes:
    """The case as a one-operator model: int8 input "x" -> op -> int8 output "y"."""
    tensors = [TensorSpec("x", "INT8", list(case.input_shape), scales=[case.input_q[0]],
                          zero_points=[case.input_q[1]]),
               TensorSpec("y", "INT8", list(case.output_shape), scales=[case.output_q[0]],
                          zero_points=[case.output_q[1]])]
    buffers = [BufferSpec()]
    inputs = [0]
    if case.op in ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D"):
        if case.weights_scales is None:
            scales, zero_points = [case.weights_q[0]], [case.weights_q[1]]
        else:
            scales, zero_points = list(case.weights_scales), [0] * len(case.weights_scales)
        tensors.append(TensorSpec("weights", "INT8", list(case.weights_shape), buffer=1,
                                  scales=scales, zero_points=zero_points,
                                  quantized_dimension=case.channel_axis))
        buffers.append(BufferSpec(case.quantized_weights().tobytes()))
        inputs.append(2)
        if case.bias is not None:
            bias_scales = np.float32(case.input_q[0]) * np.float32(scales)
            tensors.append(TensorSpec("bias", "INT32", [case.channels], buffer=2,
                                      scales=[float(b) for b in bias_scales],
                                      zero_points=[0] * len(scales)))
            buffers.append(BufferSpec(case.quantized_bias().tobytes()))
            inputs.append(3)
        elif case.bias_as_optional:
            inputs.append(-1)  # an omitted optional input
    elif case.op == "RESHAPE":
        shape_shape = case.new_shape_tensor_shape or (len(case.new_shape),)
        tensors.append(TensorSpec("shape", "INT32", list(shape_shape), buffer=1))
        buffers.append(BufferSpec(np.array(case.new_shape, np.int32).tobytes()))
        inputs.append(2)
    elif case.op in ("PAD", "PADV2"):
        tensors.append(TensorSpec("paddings", "INT32", [len(case.input_shape), 2], buffer=1))
        buffers.append(BufferSpec(np.array(case.paddings, np.int32).tobytes()))
        inputs.append(2)
        if case.pad_value is not None:
            scale, zero_point = case.pad_value_q or case.output_q
            tensors.append(TensorSpec("pad_value", "INT8", [1], buffer=2, scales=[scale],
                                      zero_points=[zero_point]))
            buffers.append(BufferSpec(case.quantized_pad_value().tobytes()))
            inputs.append(3)
    elif case.op == "MEAN":
        tensors.append(TensorSpec("axis", "INT32", [len(case.axes)], buffer=1))
        buffers.append(BufferSpec(np.array(case.axes, np.int32).tobytes()))
        inputs.append(2)
    op = OperatorSpec(case.op, inputs, [1], activation=case.activation, beta=case.beta,
                      keep_dims=case.keep_dims,
                      keep_num_dims=case.keep_num_dims, filter=case.filter, stride=case.stride,
                      dilation=case.dilation, padding=case.padding,
                      depth_multiplier=case.output_shape[-1] // case.input_shape[-1],
                      new_shape=None if case.options_shape is None else list(case.options_shape))
    return build(ModelSpec(tensors=tensors, buffers=buffers, operators=[op], inputs=[0], outputs=[1]))


def run_litert(content: bytes, x: np.ndarray) -> np.ndarray:
    """LiteRT BUILTIN_REF's int8 output, in its own shape."""
    return litert_output(content, x, dequantized=False)


def make_model(content: bytes, backend: str, monkeypatch: pytest.MonkeyPatch) -> pyedge.Model:
    """backend: "reference", "interpreter", "auto" or "native:<kernel>"."""
    if backend.startswith("native:"):
        kernel = backend.split(":", 1)[1]
        monkeypatch.setenv("PYEDGE_KERNEL", kernel)
        model = pyedge.Model(content, backend="native")
        assert model.backend.startswith(f"native (kernel {kernel},"), model.backend
        return model
    return pyedge.Model(content, backend=backend)


def requantize(y: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """The int8 values behind a dequantized output (exact: small integers times a scale)."""
    return np.clip(np.rint(y / np.float32(scale)) + zero_point, -128, 127).astype(np.int8)


def assert_meets_expectations(case: Case, q: np.ndarray, who: str) -> None:
    """The TF test's own criterion on the int8 output `q` (flattened in TFLite's order)."""
    q = q.reshape(-1)
    scale, zero_point = case.output_q
    if case.expected_int8 is not None:
        np.testing.assert_array_equal(q, np.array(case.expected_int8, np.int8),
                                      err_msg=f"{who}: int8 output of {case.id}")
    if case.check == "float":
        # ArrayFloatNear on the harness's Dequantize: (q - zero_point) * scale, in float.
        values = (q.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)
        np.testing.assert_allclose(values, np.array(case.expected, np.float32), rtol=0,
                                   atol=case.tolerance * (1 + 1e-6),
                                   err_msg=f"{who}: dequantized output of {case.id}")
    else:
        golden = tflm_quantize(np.array(case.expected, np.float32), scale, zero_point)
        diff = np.abs(q.astype(np.int32) - golden.astype(np.int32))
        assert diff.max() <= case.tolerance, (
            f"{who}: {case.id}: int8 output {q.tolist()} differs from the golden "
            f"{golden.tolist()} by up to {diff.max()} steps (tolerance {case.tolerance})")


def _backends(case: Case) -> list[str]:
    if not case.native:
        return ["auto", "interpreter"]
    return ["reference", *(f"native:{k}" for k in supported_kernels()), "interpreter"]


BACKEND_PARAMS = [pytest.param(case, backend, id=f"{case.id} [{backend}]")
                  for case in RUNNABLE for backend in _backends(case)]


# ---- the tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", RUNNABLE, ids=[case.id for case in RUNNABLE])
def test_litert_meets_the_tests_expectations(case: Case) -> None:
    # The authority first: if LiteRT's reference kernels disagree, the port is wrong.
    q = run_litert(build_model(case), case.quantized_inputs())
    assert q.shape == case.output_shape
    assert_meets_expectations(case, q, "LiteRT BUILTIN_REF")


@pytest.mark.parametrize(("case", "backend"), BACKEND_PARAMS)
def test_pyedge_meets_expectations_and_equals_litert(case: Case, backend: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    content = build_model(case)
    x = case.quantized_inputs()
    reference = run_litert(content, x)
    model = make_model(content, backend, monkeypatch)
    if backend == "auto":  # a case the plan cannot run yet still runs, on the interpreter
        assert model.backend.startswith("interpreter"), model.backend
    scale, zero_point = case.output_q
    # predict: dequantized float32, maybe (rows, depth) for a rank > 2 output: compare values.
    y = np.asarray(model.predict(x))
    assert y.size == reference.size, f"predict returned {y.shape}, LiteRT {reference.shape}"
    np.testing.assert_array_equal(y.reshape(reference.shape), dequantize(reference, scale, zero_point),
                                  err_msg=f"{model.backend}: predict differs from LiteRT")
    if model.backend.startswith("interpreter"):
        q = requantize(y, scale, zero_point)
    else:  # the int8 tensor itself
        q = np.asarray(model.trace(x)["y"])
        assert q.size == reference.size, f"trace returned {q.shape}, LiteRT {reference.shape}"
        diff = np.flatnonzero(q.reshape(-1) != reference.reshape(-1))
        assert diff.size == 0, (
            f"{model.backend}: {diff.size} of {reference.size} int8 values differ from LiteRT; "
            f"first at flat index {diff[0]}: pyedge {q.reshape(-1)[diff[0]]}, "
            f"LiteRT {reference.reshape(-1)[diff[0]]}")
    assert_meets_expectations(case, q, model.backend)


@pytest.mark.parametrize("case", REFUSED, ids=[case.id for case in REFUSED])
def test_litert_refuses(case: Case) -> None:
    with pytest.raises(RuntimeError, match="failed to (prepare|invoke)"):
        interpreter = litert_interpreter(build_model(case))
        interpreter.allocate_tensors()
        interpreter.invoke()


@pytest.mark.parametrize("backend", ["auto", "reference", "native", "interpreter"])
@pytest.mark.parametrize("case", REFUSED, ids=[case.id for case in REFUSED])
def test_pyedge_refuses_what_litert_refuses(case: Case, backend: str) -> None:
    with pytest.raises(ValueError):
        pyedge.Model(build_model(case), backend=backend)


# ---- the port's own tables ---------------------------------------------------------------------


def test_generated_tables_match_the_tests_literals() -> None:
    # tflite_kernel_cases computes the long 89-point and softmax tables; these are entries of
    # the tables as printed in the test files.
    np.testing.assert_allclose([SIGMOID_X[1], SIGMOID_X[43], SIGMOID_X[88]],
                               [-9.7727272727, -0.2272727273, 10.0], atol=1e-9)
    np.testing.assert_allclose([TANH_X[1], TANH_X[45], TANH_X[87]],
                               [-7.8181818182, 0.1818181818, 7.8181818182], atol=1e-9)
    np.testing.assert_allclose(np.array(sigmoid(SIGMOID_X))[[0, 40, 50, 88]],
                               [0.0000453979, 0.2871859014, 0.7963500665, 0.9999546021], atol=1e-9)
    np.testing.assert_allclose(np.array(tanh(TANH_X))[[0, 43, 50, 88]],
                               [-0.9999997749, -0.1798408185, 0.7972097087, 0.9999997749], atol=1e-9)
    softmax_4d = next(c for c in CASES if c.test == "Softmax4DQuantizedInt8ShouldMatchGolden")
    golden = np.array(softmax_golden(softmax_4d.inputs, softmax_4d.input_shape))
    # softmax_test.cc golden_4d: n=0 c=0 h=0, n=0 c=1 h=3, n=1 c=2 h=3.
    np.testing.assert_allclose(golden[[0, 1, 2, 3, 4]],
                               [0.042009463, 0.843782625, 0.000014093, 0.114193561, 0.000000258],
                               atol=1e-9)
    np.testing.assert_allclose(golden[35:40],
                               [0.022595176, 0.453836234, 0.453836234, 0.008312301, 0.061420055],
                               atol=1e-9)
    np.testing.assert_allclose(golden[115:120],
                               [0.268866557, 0.000033181, 0.730855076, 0.000000011, 0.000245175],
                               atol=1e-9)
    # TFLite's harness: [-63.5, 64] -> 0.5 and -1 (what the FC tests' int8 expectations imply),
    # [-1, 127/128] -> 1/128 and 0; [-10, 10] -> 20/255 and 0, as 10 / float32(20/255) is
    # 127.49999 in float32 (not 127.5), so the zero point -0.49999 rounds to 0.
    assert min_max_params(-63.5, 64) == (0.5, -1)
    assert min_max_params(-127, 128) == (1.0, -1)
    assert min_max_params(-1, 127 / 128) == (1 / 128, 0)
    assert min_max_params(-10, 10) == (float(np.float32(20 / 255)), 0)
    # pad_test.cc's goldens of data sets A (pad 0) and B (pad -0.5), as written.
    pads = {c.test: c for c in CASES if c.file == "pad_test.cc"}
    assert pads["QuantizedPadOpTest.Int8SimpleConstTest"].expected == PAD_A_GOLDEN
    assert pads["QuantizedPadV2OpTest.Int8AdvancedConstValuedTest"].expected == PAD_B_GOLDEN_VALUED
