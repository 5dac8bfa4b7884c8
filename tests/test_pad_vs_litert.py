"""PAD and PADV2 against LiteRT BUILTIN_REF on forged one-op models: random ranks (2 to 5),
paddings of every integer type on any axis but the batch's, input and output quantizations
that differ (the bytes are copied, not requantized), PADV2's constant; on every backend bit for
bit. What LiteRT 2.3.0 refuses (each measured here), pyedge refuses on every backend; what the
plan does not run goes to the interpreter with its reason."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import supported_kernels

import pyedge

pytest.importorskip("ai_edge_litert")
from litert_reference import litert_interpreter, litert_output  # noqa: E402
from tflite_builder import BufferSpec, ModelSpec, OperatorSpec, TensorSpec, build  # noqa: E402

DTYPES = {"INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64, "BOOL": np.bool_,
          "FLOAT32": np.float32}
PADDING_TYPES = ("INT8", "INT16", "INT32", "INT64", "BOOL")  # what LiteRT reads paddings as


def pad_model(shape: tuple[int, ...], widths: list[list[int]], *, paddings_type: str = "INT32",
              input_q: tuple[float, int] = (0.5, 3), output_q: tuple[float, int] = (0.5, 3),
              constant: int | None = None, constant_q: tuple[float, int] | None = None,
              constant_type: str = "INT8", constant_shape: tuple[int, ...] = (),
              paddings_shape: tuple[int, ...] | None = None, output_shape: list[int] | None = None,
              opcode: str | None = None) -> bytes:
    """int8 x [-1, *shape[1:]] -> PAD (PADV2 with a constant) -> int8 y, of the shape TFLite's
    Prepare computes unless output_shape says otherwise."""
    computed = [d + sum(w) for d, w in zip(shape, widths)] if len(widths) == len(shape) else list(shape)
    out = output_shape or computed
    tensors = [TensorSpec("x", "INT8", list(shape), scales=[input_q[0]], zero_points=[input_q[1]],
                          shape_signature=[-1, *shape[1:]]),
               TensorSpec("y", "INT8", out, scales=[output_q[0]], zero_points=[output_q[1]],
                          shape_signature=[-1, *out[1:]]),
               TensorSpec("paddings", paddings_type, list(paddings_shape or np.shape(widths)), buffer=1)]
    buffers = [BufferSpec(), BufferSpec(np.array(widths).astype(DTYPES[paddings_type]).tobytes())]
    inputs = [0, 2]
    if constant is not None:
        scale, zero_point = constant_q or output_q
        tensors.append(TensorSpec("constant", constant_type, list(constant_shape), buffer=2,
                                  scales=[scale], zero_points=[zero_point]))
        values = np.full(max(1, int(np.prod(constant_shape))), constant)
        buffers.append(BufferSpec(values.astype(DTYPES[constant_type]).tobytes()))
        inputs.append(3)
    op = OperatorSpec(opcode or ("PAD" if constant is None else "PADV2"), inputs, [1])
    return build(ModelSpec(tensors=tensors, buffers=buffers, operators=[op], inputs=[0], outputs=[1]))


def random_case(rng: np.random.Generator) -> tuple[bytes, np.ndarray]:
    rank = int(rng.integers(2, 6))
    shape = (1, *(int(rng.integers(1, 6)) for _ in range(rank - 1)))
    paddings_type = str(rng.choice(PADDING_TYPES))
    most = 1 if paddings_type == "BOOL" else 3
    widths = [[0, 0], *([int(w) for w in rng.integers(0, most + 1, 2) * (rng.random() < 0.6)]
                        for _ in range(rank - 1))]
    quantizations = [(float(np.float32(10 ** rng.uniform(-3, 0))), int(z))
                     for z in rng.integers(-128, 128, 2)]
    input_q = quantizations[0]
    output_q = input_q if rng.random() < 0.5 else quantizations[1]
    constant = int(rng.integers(-128, 128)) if rng.random() < 0.4 else None
    content = pad_model(shape, widths, paddings_type=paddings_type, input_q=input_q,
                        output_q=output_q, constant=constant,
                        opcode="PADV2" if constant is None and rng.random() < 0.2 else None)
    return content, rng.integers(-128, 128, (5, *shape[1:])).astype(np.int8)


@pytest.mark.parametrize("seed", range(4))
def test_random_pads_equal_litert_on_every_backend(seed: int, monkeypatch) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(40):
        content, x = random_case(rng)
        expected = litert_output(content, x, "BUILTIN_REF", dequantized=False)
        for backend in ["reference", *(f"native:{k}" for k in supported_kernels())]:
            name, _, kernel = backend.partition(":")
            monkeypatch.setenv("PYEDGE_KERNEL", kernel)
            model = pyedge.Model(content, backend=name)
            assert model.backend.startswith(name), model.backend
            y = np.asarray(model.trace(x)["y"])
            np.testing.assert_array_equal(y.reshape(expected.shape), expected, err_msg=f"{backend}")


def test_keras_zero_padding_is_one_native_pad_layer() -> None:
    model = pyedge.Model(pad_model((1, 6, 2), [[0, 0], [2, 1], [0, 0]], input_q=(0.1, -3),
                                   output_q=(0.1, -3)))
    assert model.backend.startswith("native") and "pad scalar" in model.backend, model.backend
    assert [layer.describe() for layer in model.plan.layers] == [
        ("Pad", "[6, 2] -> [9, 2] (2+1, 0+0, with -3)")]


X = (1, 4, 2)
PAD_X = [[0, 0], [1, 2], [0, 0]]
# What LiteRT 2.3.0 refuses at Prepare or at its first Invoke (its message, measured).
REFUSED = {
    "negative paddings (Pad value has to be greater than equal to 0)": pad_model(
        X, [[0, 0], [-1, 2], [0, 0]]),
    "rank 6 (dims <= PadKernelMaxDimensionCount)": pad_model((1, 2, 2, 2, 2, 1), [[0, 0]] * 5 + [[1, 0]]),
    "paddings [2, 3] (SizeOfDimension(paddings, 1) != 2)": pad_model(X, [[0, 0, 1], [1, 2, 0]]),
    "paddings [6] (NumDimensions(paddings) != 2)": pad_model(X, [0, 0, 1, 2, 0, 0], paddings_shape=(6,)),
    "paddings [2, 2] for rank 3 (SizeOfDimension(paddings, 0) != dims)": pad_model(X, [[0, 0], [1, 2]]),
    "float paddings (Padding type FLOAT32 is currently not supported)": pad_model(
        X, PAD_X, paddings_type="FLOAT32"),
    "constant of another scale (output scale != constant_values scale)": pad_model(
        X, PAD_X, constant=-77, constant_q=(0.25, 3)),
    "constant of another zero point": pad_model(X, PAD_X, constant=-77, constant_q=(0.5, 4)),
    "two constants (constant_values_count != 1)": pad_model(X, PAD_X, constant=-7, constant_shape=(2,)),
    "an int32 constant (input type != constant_values type)": pad_model(
        X, PAD_X, constant=-7, constant_type="INT32"),
    "a float constant": pad_model(X, PAD_X, constant=-7, constant_type="FLOAT32"),
}


def _invoke(content: bytes) -> None:
    interpreter = litert_interpreter(content)
    interpreter.allocate_tensors()
    interpreter.invoke()


@pytest.mark.parametrize("name", REFUSED)
def test_litert_refuses(name: str) -> None:
    with pytest.raises(RuntimeError):
        _invoke(REFUSED[name])


@pytest.mark.parametrize("backend", ["auto", "native", "reference", "interpreter"])
@pytest.mark.parametrize("name", REFUSED)
def test_pyedge_refuses_what_litert_refuses(name: str, backend: str) -> None:
    with pytest.raises(ValueError):
        pyedge.Model(REFUSED[name], backend=backend)


@pytest.mark.parametrize("content, reason", [
    (pad_model(X, [[1, 0], [1, 2], [0, 0]]), "pads the batch axis"),
    (pad_model(X, PAD_X, output_shape=[1, 6, 2]), "where TFLite computes"),
])
def test_what_the_plan_does_not_run_goes_to_the_interpreter(content: bytes, reason: str) -> None:
    model = pyedge.Model(content)
    assert model.backend.startswith("interpreter") and reason in model.backend, model.backend
    x = np.random.default_rng(0).integers(-128, 128, (3, 4, 2)).astype(np.int8)
    np.testing.assert_array_equal(model.predict(x), litert_output(content, x, "BUILTIN_REF"))
