"""Regression tests for models LiteRT runs that pyedge refused or got wrong: fixed batches,
a refused layer followed by RESHAPE, and quantized (uint8) inputs on the fallback."""

from __future__ import annotations

import numpy as np
import pytest
from tflite_builder import BufferSpec, ModelSpec, OperatorSpec, TensorSpec, build, small_mlp

import pyedge

pytest.importorskip("ai_edge_litert")
from litert_reference import litert_interpreter  # noqa: E402


def _litert_float(content: bytes, x: np.ndarray) -> np.ndarray:
    interpreter = litert_interpreter(content)
    detail = interpreter.get_input_details()[0]
    interpreter.allocate_tensors()
    rows = []
    for row in x:  # at the model's own batch of 1
        interpreter.set_tensor(detail["index"], row[None].astype(detail["dtype"]))
        interpreter.invoke()
        rows.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0])
    return np.array(rows)


def _fixed_batch_with_reshape() -> bytes:
    # The seed MLP without a shape signature (batch fixed at 1) and a RESHAPE to the fixed
    # shape [1, 3] before the softmax, as the converter writes for Keras' Reshape at batch 1.
    spec = small_mlp()
    spec.tensors.append(TensorSpec("dense/reshaped", "INT8", [1, 3], scales=[0.1], zero_points=[-128]))
    spec.operators.insert(2, OperatorSpec("RESHAPE", [4], [7], new_shape=[1, 3]))
    spec.operators[3].inputs = [7]
    return build(spec)


@pytest.mark.parametrize("backend", ["native", "reference", "interpreter"])
def test_a_fixed_batch_model_runs_any_rows_as_litert_runs_each(backend: str) -> None:
    content = _fixed_batch_with_reshape()
    x = np.random.default_rng(1).normal(0, 3, (7, 4)).astype(np.float32)
    model = pyedge.Model(content, backend=backend)
    np.testing.assert_array_equal(model.predict(x), _litert_float(content, x))


def test_a_fixed_batch_of_two_takes_multiples_of_two_rows() -> None:
    spec = small_mlp()
    for t in spec.tensors:
        if t.shape[0] == 1 and len(t.shape) == 2 and "dense/" not in t.name:
            t.shape = [2, t.shape[1]]
    content = build(spec)
    for backend in ("native", "interpreter"):
        model = pyedge.Model(content, backend=backend)
        assert model.predict(np.zeros((4, 4), np.float32)).shape == (4, 3)
        with pytest.raises(ValueError, match="batch is fixed at 2 rows"):
            model.predict(np.zeros((3, 4), np.float32))


def test_a_refused_layer_before_reshape_falls_back_with_its_reason() -> None:
    # FULLY_CONNECTED with a fused TANH (not native) then RESHAPE: was an AttributeError.
    spec = small_mlp()
    spec.operators[1].activation = "TANH"
    spec.tensors.append(TensorSpec("dense/reshaped", "INT8", [1, 3], scales=[0.1], zero_points=[-128]))
    spec.operators.insert(2, OperatorSpec("RESHAPE", [4], [7], new_shape=[1, 3]))
    spec.operators[3].inputs = [7]
    try:
        model = pyedge.Model(build(spec))
    except ValueError as error:  # LiteRT refuses a fused TANH on int8: so must pyedge
        assert "rejects this model" in str(error)
        return
    assert "fused activation TANH" in model.backend


def test_float_rows_for_a_uint8_input_are_quantized_not_cast() -> None:
    # A uint8 graph input (an old TFLite model): float rows must be quantized with its scale.
    spec = small_mlp()
    spec.tensors[0] = TensorSpec("input", "UINT8", [1, 4], scales=[0.05], zero_points=[131])
    content = build(spec)
    model = pyedge.Model(content)
    assert model.backend.startswith("interpreter"), model.backend
    x = np.array([[0.5, -1.0, 2.0, 0.1]], np.float32)
    q = np.clip(np.round(x / 0.05) + 131, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(model.predict(x), _litert_float(content, q))


def _svdf_model() -> bytes:
    # A float SVDF (rank 1, 2 filters, memory of 3 steps) at batch 1: its activation state is
    # a variable tensor, so each call's output depends on the calls before it.
    rng = np.random.default_rng(3)
    feature, time, bias = (rng.normal(size=shape).astype(np.float32) for shape in [(2, 4), (2, 3), (2,)])
    spec = ModelSpec(
        tensors=[TensorSpec("input", "FLOAT32", [1, 4]),
                 TensorSpec("svdf/weights_feature", "FLOAT32", [2, 4], buffer=1),
                 TensorSpec("svdf/weights_time", "FLOAT32", [2, 3], buffer=2),
                 TensorSpec("svdf/bias", "FLOAT32", [2], buffer=3),
                 TensorSpec("svdf/state", "FLOAT32", [1, 6], is_variable=True),
                 TensorSpec("output", "FLOAT32", [1, 2])],
        buffers=[BufferSpec(), BufferSpec(feature.tobytes()), BufferSpec(time.tobytes()),
                 BufferSpec(bias.tobytes())],
        operators=[OperatorSpec("SVDF", [0, 1, 2, 3, 4], [5])],
        inputs=[0], outputs=[5])
    return build(spec)


def test_a_stateful_model_carries_its_state_from_call_to_call_as_litert_does() -> None:
    content = _svdf_model()
    model = pyedge.Model(content)
    assert model.stateful and "stateful" in str(model)
    x = np.random.default_rng(4).normal(size=(6, 4)).astype(np.float32)
    expected = _litert_float(content, x)  # one interpreter, one row per invoke, in order
    assert not np.array_equal(expected[1], _litert_float(content, x[1:2])[0])  # state matters
    # Split over calls, the rows still see the state the earlier calls left behind.
    np.testing.assert_array_equal(np.concatenate([model.predict(x[:2]), model.predict(x[2:])]),
                                  expected)
    model.reset_state()
    np.testing.assert_array_equal(model.predict(x), expected)
