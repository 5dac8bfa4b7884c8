"""Many threads sharing one Model get exactly the serial results, byte for byte, whatever the
backend (native with 1, 2 or 3 pool threads, the interpreter fallback, the NumPy reference),
the batch sizes they mix and the errors other threads run into. num_threads changes speed,
never results.

The figures docs/reliability.md quotes (threads x calls) are the constants below.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from conftest import fixture_path
from inputs import make_inputs

import pyedge

THREADS = 16
Predict = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Stress:
    fixture: str
    backend: str
    num_threads: int
    calls_per_thread: int
    batch_sizes: tuple[int, ...]


# Batch sizes: one row given as (features,), tiny batches, a tile (64), and batches that the
# native plan splits over its pool (seed_mlp splits above ~480 rows, mlp_784 above ~18).
STRESS = {
    "native-1-thread": Stress("seed_mlp", "native", 1, 1000, (1, 3, 64, 1000)),
    "native-2-threads": Stress("seed_mlp", "native", 2, 1000, (1, 3, 64, 1000)),
    "native-3-threads": Stress("seed_mlp", "native", 3, 1000, (1, 3, 64, 1000)),
    "native-3-threads-784": Stress("mlp_784", "native", 3, 200, (1, 3, 64, 1000)),
    "interpreter-fallback": Stress("unsupported_abs", "auto", 1, 500, (1, 3, 64, 1000)),
    "interpreter-fallback-2-threads": Stress("unsupported_abs", "auto", 2, 500, (1, 3, 64, 1000)),
    "reference": Stress("seed_mlp", "reference", 1, 20, (1, 3, 64, 200)),
}


def batches_for(model: pyedge.Model, sizes: tuple[int, ...]) -> list[np.ndarray]:
    """Float32 rows of each size, a single row of shape (features,), and a float64 batch in
    Fortran order (converted inside predict, concurrently)."""
    features = model.input_shape[1]
    batches = [make_inputs(n, features, seed=100 + n) for n in sizes]
    batches.append(make_inputs(1, features, seed=7)[0])
    batches.append(np.asfortranarray(make_inputs(97, features, seed=8).astype(np.float64)))
    return batches


def poisoned(batch: np.ndarray) -> np.ndarray:
    bad = np.array(batch, np.float32, ndmin=2)
    bad[len(bad) // 2, 0] = np.nan
    return bad


def same_bytes(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def hammer(predict_of: Callable[[int], Predict], batches: list[np.ndarray],
           expected: list[np.ndarray], threads: int, calls_per_thread: int) -> tuple[list[str], int]:
    """`threads` threads released at once, thread i calling predict_of(i) `calls_per_thread`
    times on the batches in its own order; every 10th call is a batch with a NaN row, which must raise
    ValueError naming that row and disturb nobody else. Returns (mismatches, calls made)."""
    start = threading.Barrier(threads)
    errors: list[str] = []
    calls = [0] * threads

    def worker(i: int) -> None:
        predict = predict_of(i)
        start.wait()
        for call in range(calls_per_thread):
            k = (i * 7 + call * (i % 3 + 1)) % len(batches)
            calls[i] += 1
            if call % 10 == 9:
                bad = poisoned(batches[k])
                try:
                    predict(bad)
                    errors.append(f"thread {i} call {call}: NaN row accepted")
                except ValueError as error:
                    if f"input row {len(bad) // 2} " not in str(error):
                        errors.append(f"thread {i} call {call}: {error}")
                continue
            y = predict(batches[k])
            if not same_bytes(y, expected[k]):
                errors.append(f"thread {i} call {call}: batch {k} ({batches[k].shape}) differs")

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return errors, sum(calls)


@pytest.mark.parametrize("name", STRESS)
def test_shared_model_gives_the_serial_results(name: str) -> None:
    s = STRESS[name]
    if s.backend == "auto":
        pytest.importorskip("ai_edge_litert")
    model = pyedge.Model(fixture_path(s.fixture), backend=s.backend, num_threads=s.num_threads)
    expected_backend = {"native": "native", "auto": "interpreter", "reference": "reference"}
    assert model.backend.startswith(expected_backend[s.backend])
    batches = batches_for(model, s.batch_sizes)
    serial = [model.predict(b) for b in batches]
    errors, calls = hammer(lambda i: model.predict, batches, serial, THREADS, s.calls_per_thread)
    assert errors == []
    assert calls == THREADS * s.calls_per_thread


def test_num_threads_never_changes_a_bit() -> None:
    # The serial results of native models with 1 to 4 pool threads, and of the NumPy
    # reference, are the same bytes; then all those models run at once, their pools competing
    # for the cores, each still giving exactly those bytes.
    path = fixture_path("mlp_784")
    models = [pyedge.Model(path, num_threads=n) for n in (1, 2, 3, 4)]
    reference = pyedge.Model(path, backend="reference")
    batches = batches_for(models[0], (1, 3, 64, 300))
    expected = [reference.predict(b) for b in batches]
    for model in models:
        assert all(same_bytes(model.predict(b), e) for b, e in zip(batches, expected))

    errors, calls = hammer(lambda i: models[i % len(models)].predict, batches, expected, THREADS,
                           40)
    assert errors == []
    assert calls == THREADS * 40


def test_models_loaded_and_dropped_while_others_predict() -> None:
    # An app that reloads its model while requests are served: pools start and stop in some
    # threads while a shared model keeps predicting in others.
    content = fixture_path("seed_mlp").read_bytes()
    shared = pyedge.Model(content, num_threads=2)
    x = make_inputs(1000, 100, seed=31)
    expected = shared.predict(x)
    errors: list[str] = []
    start = threading.Barrier(8)

    def reloader(i: int) -> None:
        start.wait()
        for round_ in range(15):
            model = pyedge.Model(content, num_threads=1 + (i + round_) % 3)
            if not same_bytes(model.predict(x), expected):
                errors.append(f"reloader {i} round {round_}")
            del model

    def predictor(i: int) -> None:
        start.wait()
        for round_ in range(60):
            if not same_bytes(shared.predict(x), expected):
                errors.append(f"predictor {i} round {round_}")

    threads = [threading.Thread(target=reloader if i % 2 else predictor, args=(i,))
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
