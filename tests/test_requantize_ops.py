"""RELU, RELU6, RELU_N1_TO_1 and QUANTIZE int8 -> int8 run natively, as byte tables, and equal
LiteRT BUILTIN_REF on every byte, every kernel and the NumPy reference."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import supported_kernels

import pyedge

pytest.importorskip("ai_edge_litert")
from litert_reference import litert_output  # noqa: E402
from tflite_builder import ModelSpec, OperatorSpec, TensorSpec, build  # noqa: E402

OPCODES = ("RELU", "RELU6", "RELU_N1_TO_1", "QUANTIZE")
EVERY_BYTE = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)


def one_op(opcode: str, shape: list[int], q_in: tuple[float, int], q_out: tuple[float, int]) -> bytes:
    def tensor(name: str, q: tuple[float, int]) -> TensorSpec:
        return TensorSpec(name, "INT8", shape, scales=[q[0]], zero_points=[q[1]],
                          shape_signature=[-1, *shape[1:]])

    return build(ModelSpec(tensors=[tensor("x", q_in), tensor("y", q_out)], buffers=[],
                           operators=[OperatorSpec(opcode, [0], [1])], inputs=[0], outputs=[1]))


def int8_outputs(content: bytes, x: np.ndarray) -> dict[str, np.ndarray]:
    """The int8 output of each pyedge backend and kernel for int8 rows x, by name."""
    results = {}
    for kernel in supported_kernels():
        os.environ["PYEDGE_KERNEL"] = kernel
        try:
            model = pyedge.Model(content, backend="native")
        finally:
            del os.environ["PYEDGE_KERNEL"]
        assert model.backend.startswith(f"native (kernel {kernel},"), model.backend
        results[kernel] = model.trace(x)["y"].reshape(x.shape)
    results["reference"] = pyedge.Model(content, backend="reference").trace(x)["y"].reshape(x.shape)
    return results


# TFLite quantize_test.cc: QuantizeOpTest.Int8Int8SameScale, Int8Int8LargerScale and
# Int8Int8SmallerScale (inputs and outputs [1, 1, 2, 5]; the ranges (-63.5, 64) and (-127, 128)
# give scale 0.5 and 1, zero point -1).
QUANTIZE_CASES = {
    "Int8Int8SameScale": ((0.5, -1), (0.5, -1), list(range(1, 20, 2)), list(range(1, 20, 2))),
    "Int8Int8LargerScale": ((0.5, -1), (1.0, -1), list(range(1, 20, 2)), list(range(10))),
    "Int8Int8SmallerScale": ((1.0, -1), (0.5, -1), list(range(10)), list(range(1, 20, 2))),
}


@pytest.mark.parametrize("name", QUANTIZE_CASES)
def test_tflite_quantize_int8_to_int8_cases(name: str) -> None:
    q_in, q_out, x, expected = QUANTIZE_CASES[name]
    content = one_op("QUANTIZE", [1, 1, 2, 5], q_in, q_out)
    x = np.array(x, np.int8).reshape(1, 1, 2, 5)
    np.testing.assert_array_equal(litert_output(content, x, dequantized=False).reshape(-1), expected)
    for who, y in int8_outputs(content, x).items():
        np.testing.assert_array_equal(y.reshape(-1), expected, err_msg=who)


def random_quantizations(seed: int, n: int) -> list[tuple[tuple[float, int], tuple[float, int]]]:
    rng = np.random.default_rng(seed)
    cases = [((0.1, 0), (0.1, 0)), ((1 / 256, -128), (1 / 128, 127)), ((1.0, 127), (1e-3, -128)),
             ((1e-3, -128), (1.0, 127)), ((6 / 255, -128), (6 / 255, -128)),
             # Found by review: RELU's Prepare divides the scales in float32 (1 LSB on one byte).
             ((0.0972879, -111), (0.21308301, -23)), ((0.017820695, -19), (0.016794372, 29))]
    cases = [((float(np.float32(a[0])), a[1]), (float(np.float32(b[0])), b[1])) for a, b in cases]
    for _ in range(n):
        scales = np.float32(10.0 ** rng.uniform(-5, 2, 2))
        zero_points = rng.choice([-128, 127, 0, *rng.integers(-128, 128, 3)], 2)
        if scales[0] / scales[1] < 2.0**23:  # (beyond, the interpreter runs them: test below)
            cases.append(((float(scales[0]), int(zero_points[0])), (float(scales[1]), int(zero_points[1]))))
    return cases


@pytest.mark.parametrize("opcode", OPCODES)
def test_every_byte_equals_litert_reference(opcode: str) -> None:
    for q_in, q_out in random_quantizations(seed=len(opcode), n=300):
        content = one_op(opcode, [1, 256], q_in, q_out)
        expected = litert_output(content, EVERY_BYTE, dequantized=False)
        for who, y in int8_outputs(content, EVERY_BYTE).items():
            np.testing.assert_array_equal(y, expected, err_msg=f"{opcode} {q_in} -> {q_out} on {who}")


def test_a_relu_after_a_dense_layer_stays_native_and_exact() -> None:
    # What the converter writes for Dense(activation=None) followed by a ReLU layer it could
    # not fuse: FULLY_CONNECTED -> RELU. It was a reason to fall back; now it runs natively.
    from tflite_builder import small_mlp

    spec = small_mlp()
    spec.operators[1].activation = "NONE"
    spec.tensors.insert(5, TensorSpec("relu", "INT8", [1, 3], scales=[0.1], zero_points=[-128]))
    for op in spec.operators[2:]:
        op.inputs = [i + 1 if i >= 5 else i for i in op.inputs]
        op.outputs = [i + 1 for i in op.outputs]
    spec.operators[2].inputs = [5]
    spec.operators.insert(2, OperatorSpec("RELU", [4], [5]))
    spec.outputs = [7]
    content = build(spec)
    model = pyedge.Model(content)
    assert model.backend.startswith("native"), model.backend
    assert "Relu" in str(model)
    x = np.random.default_rng(1).normal(0, 3, (50, 4)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x), litert_output(content, x))


@pytest.mark.parametrize("opcode", ["TANH", "LOGISTIC"])
def test_tanh_and_logistic_tables_equal_litert_on_every_byte(opcode: str) -> None:
    # Found by tools/fuzz_models.py (seed 1, model 201061: input scale 0.03927776, zero point 6):
    # LiteRT fills these tables with the C library's tanhf / expf, and glibc's tanhf is not
    # correctly rounded (tanh(0.9819441) * 128 is 96.5 exactly rounded, 96.4999 in glibc).
    rng = np.random.default_rng(11)
    cases = [(0.03927776, 6)] + [(float(np.float32(10.0 ** rng.uniform(-3, 0))), int(rng.integers(-128, 128)))
                                 for _ in range(150)]
    for q_in in cases:
        q_out = (1 / 128, 0) if opcode == "TANH" else (1 / 256, int(rng.integers(-128, 128)))
        content = one_op(opcode, [1, 256], q_in, q_out)
        expected = litert_output(content, EVERY_BYTE, dequantized=False)
        for who, y in int8_outputs(content, EVERY_BYTE).items():
            np.testing.assert_array_equal(y, expected, err_msg=f"{opcode} {q_in} -> {q_out} on {who}")


@pytest.mark.parametrize("opcode, q_in, q_out, reason", [
    # Found by tools/fuzz_models.py (seed 1, models 13271, 9210, 14353): LiteRT's int32
    # arithmetic overflows (its result is the CPU's), so the interpreter runs these.
    ("QUANTIZE", (3413.171142578125, -128), (2.268820026074536e-06, -128), "overflows LiteRT's int32"),
    ("RELU", (109501.5859375, 74), (2.768328704405576e-05, 6), "overflows LiteRT's int32"),
    ("RELU6", (1e-09, 0), (1.682001538050315e-09, 0), "over output scale 1.682e-09 overflows int32"),
])
def test_requantizations_litert_overflows_on_run_on_the_interpreter(opcode, q_in, q_out, reason) -> None:
    content = one_op(opcode, [1, 256], q_in, q_out)
    model = pyedge.Model(content)
    assert model.backend.startswith("interpreter") and reason in model.backend, model.backend
    np.testing.assert_array_equal(model.predict(EVERY_BYTE), litert_output(content, EVERY_BYTE))
