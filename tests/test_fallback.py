"""Models the native plan cannot run go to a TFLite interpreter, safely shared by threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import fixture_path
from inputs import make_inputs

import pyedge
from pyedge import model as model_module


@pytest.mark.parametrize("name, reason", [("unsupported_abs", "unsupported op ABS"),
                                          ("float_model", "not quantized to int8"),
                                          ("dynamic_range", "not quantized to int8")])
def test_unsupported_model_falls_back_and_says_why(name: str, reason: str) -> None:
    pytest.importorskip("ai_edge_litert")
    model = pyedge.Model(fixture_path(name))
    assert model.backend.startswith("interpreter (ai_edge_litert, reference kernels; "
                                    "native backend cannot run")
    assert reason in model.backend
    # The real cause only: no knock-on reasons for the ops after it ("outside the chain").
    assert model.backend.count("; ") == 1 and "outside the chain" not in model.backend
    assert model.input_shape[1] in (12, 40) and model.output_shape == (None, 3)
    x = make_inputs(40, model.input_shape[1], seed=1)
    y = model.predict(x)
    assert y.shape == (40, 3) and y.dtype == np.float32
    from litert_reference import litert_output

    np.testing.assert_array_equal(y, litert_output(fixture_path(name).read_bytes(), x))
    np.testing.assert_array_equal(model.predict(x[5]), y[5])
    with pytest.raises(pyedge.UnsupportedModel):
        pyedge.plan.build_plan(model.graph)
    with pytest.raises(RuntimeError, match="native backend cannot run"):
        pyedge.Model(fixture_path(name), backend="native")


def test_fallback_rejects_bad_input_like_native() -> None:
    pytest.importorskip("ai_edge_litert")
    model = pyedge.Model(fixture_path("unsupported_abs"))
    with pytest.raises(ValueError, match=r"expected input of shape \(rows, 12\) or \(12,\)"):
        model.predict(np.zeros((3, 11)))
    x = make_inputs(5, 12, seed=2)
    x[2, 3] = np.nan
    with pytest.raises(ValueError, match="input row 2 contains NaN or Inf"):
        model.predict(x)
    assert model.predict(np.zeros((0, 12))).shape == (0, 3)


def test_int8_rows_for_an_int8_input_fallback_model_are_used_as_is() -> None:
    pytest.importorskip("ai_edge_litert")
    from litert_reference import litert_interpreter

    path = fixture_path("unsupported_abs_int8_io")
    model = pyedge.Model(path)
    assert model.backend.startswith("interpreter")
    q = ((np.arange(5 * 12).reshape(5, 12) * 37) % 256 - 128).astype(np.int8)
    interpreter = litert_interpreter(path.read_bytes(), "AUTO")
    interpreter.resize_tensor_input(0, [5, 12])
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], q)
    interpreter.invoke()
    out = interpreter.get_output_details()[0]
    scale, zero_point = out["quantization"]
    expected = np.float32(scale) * (interpreter.get_tensor(out["index"]).astype(np.float32)
                                    - np.float32(zero_point))
    np.testing.assert_array_equal(model.predict(q), expected)


def test_fallback_is_thread_safe() -> None:
    pytest.importorskip("ai_edge_litert")
    model = pyedge.Model(fixture_path("unsupported_abs"), num_threads=1)
    batches = [make_inputs(n, 12, seed=n) for n in (1, 5, 33, 500)]
    expected = [model.predict(b) for b in batches]
    errors: list[int] = []

    def worker(i: int) -> None:
        for round_ in range(30):
            k = (i + round_) % len(batches)
            if not np.array_equal(model.predict(batches[k]), expected[k]):
                errors.append(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_interpreter_backend_matches_native_on_supported_models() -> None:
    pytest.importorskip("ai_edge_litert")
    # LiteRT's default kernels (XNNPACK) agree with BUILTIN_REF on FullyConnected; softmax is
    # where optimized TFLite kernels differ, so compare the last FullyConnected's model.
    x = make_inputs(200, 1, seed=3)
    native = pyedge.Model(fixture_path("tiny_width_1"))
    interpreted = pyedge.Model(fixture_path("tiny_width_1"), backend="interpreter")
    assert interpreted.backend == "interpreter (ai_edge_litert, reference kernels; requested)"
    np.testing.assert_array_equal(interpreted.predict(x), native.predict(x))


def test_no_interpreter_installed_is_a_clear_error(monkeypatch) -> None:
    import re

    from pyedge.interpreter import install_hint

    monkeypatch.setattr(model_module, "find_interpreter", lambda: None)
    # The hint is the platform's: ai-edge-litert where it has wheels, else tflite-runtime.
    with pytest.raises(RuntimeError, match=r"unsupported op ABS\. No TFLite interpreter is installed "
                                           rf".*works with NumPy .*: {re.escape(install_hint())}$"):
        pyedge.Model(fixture_path("unsupported_abs"))
    # A supported model still runs natively, and the NumPy reference is the last resort.
    monkeypatch.setattr(model_module, "_core", lambda: ImportError("no extension"))
    model = pyedge.Model(fixture_path("seed_mlp"))
    assert model.backend.startswith("reference (NumPy; the C++ extension")


def test_a_broken_interpreter_package_is_named_with_its_version_and_error(tmp_path) -> None:
    # tflite-runtime built for NumPy 1, under NumPy 2, fails to import with a SystemError. The
    # message must name it, its version and its error, and suggest only what works here.
    import subprocess
    import sys

    package = tmp_path / "tflite_runtime"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "interpreter.py").write_text(
        "raise SystemError('initialization of _pywrap_tensorflow_interpreter_wrapper raised "
        "unreported exception')\n")
    info = tmp_path / "tflite_runtime-2.14.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tflite-runtime\nVersion: 2.14.0\n")
    code = ("import sys; sys.modules['ai_edge_litert'] = sys.modules['tensorflow'] = None\n"
            f"sys.path.insert(0, {str(tmp_path)!r})\n"
            "import pyedge\n"
            f"try: pyedge.Model({str(fixture_path('unsupported_abs'))!r})\n"
            "except RuntimeError as e: print(e)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    message = result.stdout
    assert "unsupported op ABS. No TFLite interpreter is installed to run it instead" in message
    assert ("tflite-runtime 2.14.0 is installed but does not import (SystemError: initialization "
            "of _pywrap_tensorflow_interpreter_wrapper raised unreported exception)") in message
    assert f"install one that works with NumPy {np.__version__}: " in message
    if int(np.__version__.split(".")[0]) >= 2:
        assert "pip install tflite-runtime" not in message


def test_loading_prints_nothing_to_stderr() -> None:
    # Not the interpreter's INFO lines either (written by C++ straight to file descriptor 2).
    import subprocess
    import sys

    pytest.importorskip("ai_edge_litert")
    code = ("import sys, numpy as np, pyedge\n"
            "for path in sys.argv[1:]:\n"
            "    m = pyedge.Model(path); m.predict(np.zeros((2, *m.input_shape[1:]), np.float32))\n")
    paths = [str(fixture_path(n)) for n in ("seed_mlp", "unsupported_abs", "float_model", "dynamic_range")]
    result = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, text=True, cwd="/")
    assert result.returncode == 0 and result.stdout == "" and result.stderr == ""


def test_tensors_the_interpreter_sizes_beyond_the_budget_are_refused() -> None:
    # The interpreter computes its own shapes (a FULLY_CONNECTED flattening a row into the
    # batch): they are bounded again as allocated, before anything runs.
    from pyedge.interpreter import _check_tensor_bytes
    from pyedge.tflite_reader import MAX_ACTIVATION_BYTES

    class Allocated:
        def __init__(self, rows_of_output: int) -> None:
            self.shape = np.array([rows_of_output, 3])

        def get_tensor_details(self) -> list[dict]:
            return [{"shape": np.array([2, 12]), "dtype": np.int8},
                    {"shape": self.shape, "dtype": np.float32}, {"shape": np.array([]), "dtype": np.int8}]

    _check_tensor_bytes(Allocated(1000), rows=2, constant_bytes=0)
    too_many = 2 * MAX_ACTIVATION_BYTES // 12 + 1
    with pytest.raises(ValueError, match=r"its tensors take [\d,]+ bytes for 2 rows as the interpreter"):
        _check_tensor_bytes(Allocated(too_many), rows=2, constant_bytes=0)
    _check_tensor_bytes(Allocated(too_many), rows=2, constant_bytes=12 * too_many)  # weights


@pytest.mark.parametrize("dtype", ["INT8", "UINT8", "INT16"])
def test_an_unscaled_quantized_input_takes_rows_of_its_own_dtype(dtype: str) -> None:
    # A model whose integer input has no scale (LiteRT runs it on raw integers): predict takes
    # rows of that dtype as they are, and says so for float rows, which it cannot quantize.
    pytest.importorskip("ai_edge_litert")
    from tflite_builder import ModelSpec, OperatorSpec, TensorSpec, build

    spec = ModelSpec(tensors=[TensorSpec("x", dtype, [1, 4]), TensorSpec("y", dtype, [1, 4])],
                     buffers=[], operators=[OperatorSpec("RESHAPE", [0], [1], new_shape=[-1, 4])],
                     inputs=[0], outputs=[1])
    model = pyedge.Model(build(spec))
    assert model.backend.startswith("interpreter")
    rows = np.array([[1, 2, 3, 4], [5, 6, 7, 100]], dtype=dtype.lower())
    np.testing.assert_array_equal(model.predict(rows), rows.astype(np.float32))
    with pytest.raises(ValueError, match=f"input has no quantization scale: give {dtype.lower()} rows"):
        model.predict(rows.astype(np.float32))


def test_a_softmax_the_reference_kernel_could_abort_on_runs_on_the_builtin_kernels() -> None:
    # Found by tools/fuzz_models.py: LiteRT's reference SOFTMAX aborts the process on a row of
    # 512 or more equal values (zero rows, the load-time probe, are such rows). Natively pyedge
    # runs it; on the interpreter it runs on LiteRT's builtin kernels (which do not abort), and
    # the backend says so. (Refusing it would refuse a model LiteRT runs.)
    from tflite_builder import BufferSpec, build, small_mlp

    spec = small_mlp()
    units = 600
    spec.tensors[2].shape, spec.tensors[2].scales = [units, 4], [0.01]
    spec.tensors[2].zero_points = [0]
    spec.tensors[3].shape, spec.tensors[3].scales, spec.tensors[3].zero_points = [units], [0.0005], [0]
    spec.tensors[4].shape = spec.tensors[5].shape = spec.tensors[6].shape = [1, units]
    spec.buffers[1] = BufferSpec(np.ones((units, 4), np.int8).tobytes())
    spec.buffers[2] = BufferSpec(np.zeros(units, np.int32).tobytes())
    content = build(spec)
    assert pyedge.Model(content).backend.startswith("native")
    pytest.importorskip("ai_edge_litert")
    from litert_reference import litert_output

    model = pyedge.Model(content, backend="interpreter")
    assert model.backend == (
        "interpreter (ai_edge_litert, builtin kernels, since the reference SOFTMAX (operator 2, "
        "rows of 600 values) aborts the process on a row of more than 511 equal values; requested)")
    x = np.concatenate([np.zeros((1, 4), np.float32), make_inputs(20, 4, seed=4)])  # row 0: ties
    np.testing.assert_array_equal(model.predict(x),
                                  litert_output(content, x, "BUILTIN_WITHOUT_DEFAULT_DELEGATES"))


def test_a_batch_the_interpreter_refuses_is_a_value_error_naming_the_batch() -> None:
    # Found by tools/fuzz_models.py: a FULLY_CONNECTED of depth 2 on rows of 3 values (TFLite
    # flattens to [-1, 2], the native plan refuses it) then a RESHAPE to rows of 3 is valid at
    # the declared batch of 2 (6 values) and not at 3 (8 values): LiteRT refuses that batch at Prepare.
    pytest.importorskip("ai_edge_litert")
    from tflite_builder import BufferSpec, ModelSpec, OperatorSpec, TensorSpec, build

    q = {"scales": [0.1], "zero_points": [0]}
    spec = ModelSpec(
        tensors=[TensorSpec("x", "INT8", [2, 3], shape_signature=[-1, 3], **q),
                 TensorSpec("w", "INT8", [2, 2], buffer=1, scales=[0.1], zero_points=[0]),
                 TensorSpec("fc", "INT8", [3, 2], shape_signature=[-1, 2], **q),
                 TensorSpec("y", "INT8", [2, 3], shape_signature=[-1, 3], **q)],
        buffers=[BufferSpec(), BufferSpec(np.ones((2, 2), np.int8).tobytes())],
        operators=[OperatorSpec("FULLY_CONNECTED", [0, 1, -1], [2]),
                   OperatorSpec("RESHAPE", [2], [3], new_shape=[-1, 3])],
        inputs=[0], outputs=[3])
    model = pyedge.Model(build(spec))
    assert model.backend.startswith("interpreter")
    assert model.predict(np.ones((2, 3), np.int8)).shape == (2, 3)
    with pytest.raises(ValueError, match=r"cannot run a batch of 3 rows: the TFLite interpreter "
                                         r"refuses it: .*RESHAPE"):
        model.predict(np.ones((3, 3), np.int8))
    assert model.predict(np.ones((4, 3), np.int8)).shape == (4, 3)  # and it still runs after
