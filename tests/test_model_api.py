"""The Model API as a user meets it: shapes, dtypes, errors, description, kernels, threads."""

from __future__ import annotations

import pickle
import resource
import subprocess
import sys
import threading

import numpy as np
import pytest
from conftest import fixture_path, supported_kernels
from inputs import make_inputs

import pyedge

SEED = fixture_path("seed_mlp")
INT8_IO = fixture_path("seed_mlp_int8_io")


@pytest.fixture(scope="module", params=["native", "reference"])
def seed_model(request) -> pyedge.Model:
    return pyedge.Model(SEED, backend=request.param)


def test_shapes_and_description(seed_model: pyedge.Model) -> None:
    assert seed_model.input_shape == (None, 100)
    assert seed_model.output_shape == (None, 10)
    scale, zero_point = seed_model.output_quantization
    assert (scale, zero_point) == (1 / 256, -128)  # softmax output encoding
    text = repr(seed_model)
    for expected in ("FullyConnected", "Softmax", "8,768 MACs per row", "backend", "relu",
                     "per-channel"):
        assert expected in text
    assert seed_model.plan.params == 100 * 64 + 64 + 64 * 32 + 32 + 32 * 10 + 10


def test_native_is_chosen_by_default() -> None:
    model = pyedge.Model(SEED)
    assert model.backend.startswith("native (kernel ")
    assert pyedge.__version__


def test_batch_and_single_row(seed_model: pyedge.Model) -> None:
    x = make_inputs(32, 100, seed=1)
    y = seed_model.predict(x)
    assert y.shape == (32, 10) and y.dtype == np.float32
    # Softmax probabilities: each row sums to ~1 (int8 output, so within 10 / 256).
    assert np.all(np.abs(y.sum(axis=1) - 1) <= 10 / 256)
    one = seed_model.predict(x[3])
    assert one.shape == (10,)
    np.testing.assert_array_equal(one, y[3])


def test_any_dtype_and_layout_gives_the_same_bits(seed_model: pyedge.Model) -> None:
    x = make_inputs(50, 100, seed=2)
    expected = seed_model.predict(x)
    np.testing.assert_array_equal(seed_model.predict(x.astype(np.float64)), expected)
    fortran = np.asfortranarray(x)
    np.testing.assert_array_equal(seed_model.predict(fortran), expected)
    strided = np.repeat(x, 2, axis=0)[::2]
    np.testing.assert_array_equal(seed_model.predict(strided), expected)
    np.testing.assert_array_equal(seed_model.predict(x.tolist()), expected)


def test_int8_input_is_taken_as_quantized() -> None:
    model = pyedge.Model(INT8_IO)
    x = make_inputs(20, 100, seed=3)
    from pyedge.quantization import quantize

    q = quantize(x, *model.input_quantization)
    np.testing.assert_array_equal(model.predict(q), model.predict(x))
    # For a float-input model, int8 arrays are numbers like any other.
    float_model = pyedge.Model(SEED)
    np.testing.assert_array_equal(float_model.predict(q), float_model.predict(q.astype(np.float32)))


def test_empty_batch(seed_model: pyedge.Model) -> None:
    y = seed_model.predict(np.zeros((0, 100), np.float32))
    assert y.shape == (0, 10) and y.dtype == np.float32


@pytest.mark.parametrize("bad, message", [
    (np.zeros((4, 99), np.float32), r"expected input of shape \(rows, 100\) or \(100,\), got \(4, 99\)"),
    (np.zeros((2, 4, 100), np.float32), r"got \(2, 4, 100\)"),
    (np.float32(1.0), r"got \(\)"),
])
def test_wrong_shape_says_what_is_expected(seed_model: pyedge.Model, bad, message) -> None:
    with pytest.raises(ValueError, match=message):
        seed_model.predict(bad)


def test_non_numeric_input(seed_model: pyedge.Model) -> None:
    with pytest.raises(TypeError, match="needs numbers"):
        seed_model.predict(np.array([["a"] * 100]))
    with pytest.raises(TypeError, match="needs numbers"):
        seed_model.predict(np.array([[object()] * 100]))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_input_names_the_first_bad_row(seed_model: pyedge.Model, value) -> None:
    x = make_inputs(300, 100, seed=4)
    x[137, 5] = value
    x[201, 0] = value
    with pytest.raises(ValueError, match="input row 137 contains NaN or Inf"):
        seed_model.predict(x)


def test_missing_file() -> None:
    with pytest.raises(FileNotFoundError, match="no model file"):
        pyedge.Model("/nonexistent/model.tflite")


def test_not_a_model(tmp_path) -> None:
    path = tmp_path / "notes.tflite"
    path.write_text("hello, this is not a flatbuffer at all")
    with pytest.raises(ValueError, match="not a TFLite model"):
        pyedge.Model(path)
    with pytest.raises(ValueError, match="not a TFLite model"):
        pyedge.Model(b"")


@pytest.mark.parametrize("keep", [8, 100, 1000, 5000, 14000])
def test_truncated_model(keep: int) -> None:
    content = SEED.read_bytes()[:keep]
    with pytest.raises(ValueError, match="TFLite model"):
        pyedge.Model(content)


def test_corrupted_model_never_crashes() -> None:
    # Flip bytes all over the file: every outcome must be a model or a ValueError.
    content = bytearray(SEED.read_bytes())
    rng = np.random.default_rng(0)
    outcomes = {"ran": 0, "ValueError": 0, "unsupported": 0}
    for _ in range(300):
        corrupt = bytearray(content)
        for position in rng.integers(8, len(corrupt), size=4):
            corrupt[position] = rng.integers(0, 256)
        try:
            model = pyedge.Model(bytes(corrupt), backend="native")
            model.predict(np.zeros((3, *model.input_shape[1:]), np.float32))
            outcomes["ran"] += 1
        except ValueError:
            outcomes["ValueError"] += 1
        except RuntimeError as error:  # still a valid model, of an op pyedge does not run
            assert "native backend cannot run this model" in str(error)
            outcomes["unsupported"] += 1
    assert sum(outcomes.values()) == 300 and outcomes["ValueError"] > 0


def test_corrupted_model_for_the_interpreter_is_a_value_error() -> None:
    pytest.importorskip("ai_edge_litert")
    # The interpreter itself rejects this one (a quantization zero point out of range).
    content = bytearray(fixture_path("unsupported_abs").read_bytes())
    rng = np.random.default_rng(3)
    rejected = 0
    for _ in range(200):
        corrupt = bytearray(content)
        for position in rng.integers(8, len(corrupt), size=3):
            corrupt[position] = rng.integers(0, 256)
        try:
            model = pyedge.Model(bytes(corrupt))
            model.predict(np.zeros((2, *model.input_shape[1:]), np.float32))
        except ValueError as error:
            rejected += "rejects this model" in str(error)
        except RuntimeError as error:  # fails only when it runs: still a Python error
            assert "tflite" in str(error).lower() or "unsupported" in str(error).lower()
    assert rejected > 0


def test_kernels_report() -> None:
    kernels = pyedge.kernels()
    names = [k["name"] for k in kernels]
    assert names[-1] == "scalar" and "avx2" in names and "neon" in names
    assert sum(k["selected"] for k in kernels) == 1
    for k in kernels:
        assert not k["supported"] or k["compiled"]


def test_forcing_an_unknown_kernel_is_an_error(monkeypatch) -> None:
    monkeypatch.setenv("PYEDGE_KERNEL", "quantum")
    with pytest.raises(ValueError, match="unknown kernel 'quantum'"):
        pyedge.Model(SEED)


@pytest.mark.parametrize("kernel", supported_kernels())
def test_num_threads_changes_nothing_but_speed(kernel: str, monkeypatch) -> None:
    monkeypatch.setenv("PYEDGE_KERNEL", kernel)
    x = make_inputs(5000, 100, seed=5)
    one = pyedge.Model(SEED, num_threads=1).predict(x)
    for threads in (2, 3, 8):
        model = pyedge.Model(SEED, num_threads=threads)
        assert f"{threads} threads" in model.backend
        np.testing.assert_array_equal(model.predict(x), one)


def test_shared_between_threads(seed_model: pyedge.Model) -> None:
    batches = [make_inputs(n, 100, seed=n) for n in (1, 7, 64, 1000, 3000)]
    expected = [seed_model.predict(b) for b in batches]
    errors: list[str] = []

    def worker(i: int) -> None:
        for round_ in range(20):
            k = (i + round_) % len(batches)
            if not np.array_equal(seed_model.predict(batches[k]), expected[k]):
                errors.append(f"thread {i} round {round_} batch {k}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_pickle_round_trip(seed_model: pyedge.Model) -> None:
    x = make_inputs(10, 100, seed=6)
    clone = pickle.loads(pickle.dumps(seed_model))
    assert clone.backend == seed_model.backend
    np.testing.assert_array_equal(clone.predict(x), seed_model.predict(x))


def test_invalid_arguments(tmp_path, monkeypatch) -> None:
    with pytest.raises(ValueError, match="backend must be one of"):
        pyedge.Model(SEED, backend="gpu")
    for threads in (0, 100_000, 2**40):
        with pytest.raises(ValueError, match=r"num_threads must be in \[1, 1024\]"):
            pyedge.Model(SEED, num_threads=threads)
    with pytest.raises(IsADirectoryError, match="is a directory, not a model file"):
        pyedge.Model(tmp_path)
    # A bad PYEDGE_KERNEL is an error whichever backend would run.
    monkeypatch.setenv("PYEDGE_KERNEL", "bogus")
    for backend in ("auto", "reference", "interpreter"):
        with pytest.raises(ValueError, match="unknown kernel 'bogus'"):
            pyedge.Model(SEED, backend=backend)


def test_threads_the_system_refuses_are_an_error_not_an_abort(tmp_path) -> None:
    # 1000 threads reserve ~8 GB of stacks: over a 3 GB address-space limit, thread creation
    # fails; the process must get a RuntimeError, not std::terminate (SIGABRT).
    code = (f"import pyedge\ntry:\n    m = pyedge.Model({str(SEED)!r}, num_threads=1000)\n"
            "    print('loaded:', m.backend)\n"
            "except RuntimeError as e:\n    print('RuntimeError', e)\n")
    limit = 3 * 2**30
    result = subprocess.run(  # not from the checkout: its pyedge/ has no compiled _core
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))
    assert result.returncode == 0, result.stderr
    assert "RuntimeError could not start 999 worker threads" in result.stdout


def test_trace_of_an_empty_batch_keeps_each_depth(seed_model: pyedge.Model) -> None:
    shapes = [t.shape for t in seed_model.trace(np.zeros((0, 100), np.float32)).values()]
    assert shapes == [(0, 100), (0, 64), (0, 32), (0, 10), (0, 10)]


def test_import_pyedge_imports_nothing_heavy() -> None:
    # `import pyedge` costs ~20 ms beyond NumPy (measured with -X importtime; see the README):
    # the flatbuffer schema (`tflite`, ~30 ms), importlib.metadata (~25 ms) and pathlib wait
    # for the first model read or are not needed at all; interpreters, pandas and the
    # training stack are imported only when used.
    import subprocess
    import sys

    code = ("import sys, numpy\n"
            "before = set(sys.modules)\n"
            "import pyedge\n"
            "print(' '.join(sorted(set(sys.modules) - before)))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/",
                            check=True)
    imported = set(result.stdout.split())
    heavy = {"tflite", "importlib.metadata", "pathlib", "ai_edge_litert", "tflite_runtime",
             "tensorflow", "pandas", "sklearn", "matplotlib", "pyedge._core"}
    assert "pyedge.model" in imported and not imported & heavy, sorted(imported & heavy)
