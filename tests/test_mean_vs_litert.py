"""MEAN against LiteRT BUILTIN_REF on forged one-op models: random shapes, axes (negative and
repeated ones too), keep_dims, and input / output quantizations 10^+-3 apart, on every backend
bit for bit; and what goes to the interpreter, with its reason."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import supported_kernels

import pyedge

pytest.importorskip("ai_edge_litert")
from litert_reference import litert_output  # noqa: E402
from tflite_builder import BufferSpec, ModelSpec, OperatorSpec, TensorSpec, build  # noqa: E402


def mean_model(shape: tuple[int, ...], axes: list[int], keep_dims: bool, input_q: tuple[float, int],
               output_q: tuple[float, int], dynamic_batch: bool = True) -> bytes:
    """int8 x [-1, *shape[1:]] -> MEAN(axes) -> int8 y, the output shape TFLite's Prepare gives."""
    rank = len(shape)
    reduced = {a % rank for a in axes}
    out = [1 if a in reduced else d for a, d in enumerate(shape)] if keep_dims else \
        [d for a, d in enumerate(shape) if a not in reduced]
    signature = (lambda s: [-1, *s[1:]]) if dynamic_batch else (lambda s: list(s))
    tensors = [TensorSpec("x", "INT8", list(shape), scales=[input_q[0]], zero_points=[input_q[1]],
                          shape_signature=signature(shape)),
               TensorSpec("y", "INT8", out, scales=[output_q[0]], zero_points=[output_q[1]],
                          shape_signature=signature(out) if out else []),
               TensorSpec("axis", "INT32", [len(axes)], buffer=1)]
    buffers = [BufferSpec(), BufferSpec(np.array(axes, np.int32).tobytes())]
    op = OperatorSpec("MEAN", [0, 2], [1], keep_dims=keep_dims)
    return build(ModelSpec(tensors=tensors, buffers=buffers, operators=[op], inputs=[0], outputs=[1]))


def random_case(rng: np.random.Generator) -> tuple[bytes, np.ndarray]:
    rank = int(rng.integers(2, 5))
    shape = (int(rng.integers(1, 4)), *(int(rng.integers(1, 9)) for _ in range(rank - 1)))
    axes = [int(a) for a in rng.choice(np.arange(1, rank), int(rng.integers(1, rank)), replace=False)]
    axes = [a - rank if rng.random() < 0.3 else a for a in axes] + axes[:int(rng.integers(0, 2))]
    in_scale = float(np.float32(10 ** rng.uniform(-3, 0)))
    out_scale = in_scale if rng.random() < 0.2 else float(np.float32(in_scale * 10 ** rng.uniform(-3, 3)))
    zero_points = rng.integers(-128, 128, 2)
    content = mean_model(shape, axes, bool(rng.random() < 0.5), (in_scale, int(zero_points[0])),
                         (out_scale, int(zero_points[1])))
    return content, rng.integers(-128, 128, (7, *shape[1:])).astype(np.int8)


@pytest.mark.parametrize("seed", range(4))
def test_random_means_equal_litert_on_every_backend(seed: int, monkeypatch) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(40):
        content, x = random_case(rng)
        expected = litert_output(content, x, "BUILTIN_REF", dequantized=False)
        for backend in ["reference", *(f"native:{k}" for k in supported_kernels())]:
            name, _, kernel = backend.partition(":")
            monkeypatch.setenv("PYEDGE_KERNEL", kernel)
            model = pyedge.Model(content, backend=name)
            y = np.asarray(model.trace(x)["y"])
            np.testing.assert_array_equal(y.reshape(expected.shape), expected, err_msg=f"{backend}")


def test_keras_global_average_is_one_native_mean_layer() -> None:
    content = mean_model((1, 5, 3, 4), [1, 2], False, (0.1, -3), (0.05, 7))
    model = pyedge.Model(content)
    assert model.backend.startswith("native") and "mean scalar" in model.backend, model.backend
    assert [layer.describe() for layer in model.plan.layers] == [("Mean", "axes 1, 2 of [5, 3, 4]")]


@pytest.mark.parametrize("axes, in_scale, out_scale, reason", [
    ([0, 1], 0.1, 0.1, "over the batch axis"),
    # 2^28 times the input scale: the sums, shifted left, leave LiteRT's int32.
    ([1], 2.0**14, 2.0**-14, "overflow LiteRT's int32 arithmetic"),
])
def test_what_the_plan_does_not_run_goes_to_the_interpreter(axes, in_scale, out_scale, reason) -> None:
    content = mean_model((2, 3, 4), axes, True, (in_scale, 0), (out_scale, 0), dynamic_batch=False)
    model = pyedge.Model(content)
    assert model.backend.startswith("interpreter") and reason in model.backend, model.backend
    x = np.random.default_rng(0).integers(-128, 128, (2, 3, 4)).astype(np.int8)
    if "overflow" not in reason:  # LiteRT's own result is undefined behaviour there
        np.testing.assert_array_equal(model.predict(x), litert_output(content, x, "BUILTIN_REF"))
    else:
        assert model.predict(x).shape[0] == 2
