"""Bit-exactness: every int8 tensor pyedge computes equals LiteRT's BUILTIN_REF kernels', bit for
bit, on 10,000 inputs per fixture (10 % of them far outside the calibration range), on every
kernel this CPU supports and on the NumPy reference backend.

The fixtures' expected digests were recorded from LiteRT by tools/make_fixtures.py, so these
tests also run where LiteRT does not install; where it does, test_live_against_litert repeats
the comparison live and reports the first difference.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
from conftest import EXPECTED, QUANTIZED_FIXTURES, fixture_path, supported_kernels
from inputs import make_inputs

import pyedge


def _inputs(name: str) -> np.ndarray:
    spec = EXPECTED[name]
    shape = pyedge.Model(fixture_path(name), backend="reference").input_shape[1:]
    x = make_inputs(spec["rows"], math.prod(shape), seed=spec["input_seed"])
    return x.reshape(-1, *shape)


def _assert_digests(name: str, tensors: dict[str, np.ndarray]) -> None:
    expected = EXPECTED[name]["tensors"]
    assert set(tensors) == set(expected), "pyedge's tensors are not LiteRT's tensors"
    for tensor, digest in expected.items():
        got = hashlib.sha256(np.ascontiguousarray(tensors[tensor]).tobytes()).hexdigest()
        assert got == digest, f"{name}: tensor {tensor!r} differs from LiteRT BUILTIN_REF"


@pytest.mark.parametrize("kernel", supported_kernels())
@pytest.mark.parametrize("name", QUANTIZED_FIXTURES)
def test_native_kernel_matches_litert(name: str, kernel: str, monkeypatch) -> None:
    monkeypatch.setenv("PYEDGE_KERNEL", kernel)
    model = pyedge.Model(fixture_path(name), backend="native")
    assert model.backend.startswith(f"native (kernel {kernel},")
    _assert_digests(name, model.trace(_inputs(name)))


@pytest.mark.parametrize("name", QUANTIZED_FIXTURES)
def test_reference_backend_matches_litert(name: str) -> None:
    model = pyedge.Model(fixture_path(name), backend="reference")
    _assert_digests(name, model.trace(_inputs(name)))


@pytest.mark.parametrize("name", QUANTIZED_FIXTURES)
def test_predict_equals_trace_dequantized(name: str) -> None:
    # predict (tiled, threaded, fused quantize/dequantize) gives the traced output, dequantized.
    model = pyedge.Model(fixture_path(name), num_threads=2)
    x = _inputs(name)
    last = model.trace(x)[model.plan.layers[-1].name]
    scale, zero_point = model.output_quantization
    expected = np.float32(scale) * (last.astype(np.float32) - np.float32(zero_point))
    np.testing.assert_array_equal(model.predict(x), expected)


@pytest.mark.parametrize("name", QUANTIZED_FIXTURES)
def test_live_against_litert(name: str) -> None:
    pytest.importorskip("ai_edge_litert")
    from litert_reference import litert_output, reference_tensors

    content = fixture_path(name).read_bytes()
    x = _inputs(name)
    reference = reference_tensors(content, x)
    ours = pyedge.Model(content).trace(x)
    for tensor, ref in reference.items():
        diff = np.flatnonzero(ours[tensor].reshape(-1) != ref["array"].reshape(-1))
        assert diff.size == 0, (
            f"{name}: {tensor!r} differs in {diff.size} of {ref['array'].size} values; first at "
            f"flat index {diff[0]}: pyedge {ours[tensor].reshape(-1)[diff[0]]}, "
            f"LiteRT {ref['array'].reshape(-1)[diff[0]]}")
    # The float32 output LiteRT returns (after its own DEQUANTIZE) is ours, bit for bit.
    # (Float rows: an int8-input model quantizes them with its input's scale, as LiteRT does.)
    expected = litert_output(content, x).reshape(x.shape[0], -1)
    np.testing.assert_array_equal(pyedge.Model(content).predict(x), expected)


def test_every_fixture_runs_natively() -> None:
    for name in QUANTIZED_FIXTURES:
        assert pyedge.Model(fixture_path(name)).backend.startswith("native"), name
