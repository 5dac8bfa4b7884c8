"""A Model crosses process boundaries as its bytes: it pickles (and so does model.predict),
runs in multiprocessing and concurrent.futures pools under every start method, keeps working
in a child forked after its thread pool started, and scores a large array partition by
partition on a Dask cluster, each time giving exactly the bytes of one call in this process.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial

import numpy as np
import pytest
from conftest import fixture_path
from inputs import make_inputs

import pyedge
from pyedge.interpreter import find_interpreter

SEED = fixture_path("seed_mlp")
FALLBACK = fixture_path("unsupported_abs")
START_METHODS = [m for m in ("fork", "spawn", "forkserver")
                 if m in multiprocessing.get_all_start_methods()]
# Python 3.12+ warns when a process with threads forks: forking such a process is the point.
FORKING_THREADS = pytest.mark.filterwarnings(
    "ignore:This process .* is multi-threaded:DeprecationWarning")

# name -> (fixture, backend, num_threads, rows scored): the NumPy reference gets fewer rows.
BACKENDS = {
    "native": (SEED, "native", 2, 20_000),
    "interpreter": (FALLBACK, "auto", 2, 20_000),
    "reference": (SEED, "reference", 1, 2_000),
}
BACKEND_PREFIX = {"native": "native", "auto": "interpreter", "reference": "reference"}


def runnable(name: str) -> bool:
    return name != "interpreter" or find_interpreter() is not None


def load(name: str) -> tuple[pyedge.Model, np.ndarray]:
    path, backend, num_threads, rows = BACKENDS[name]
    if not runnable(name):
        pytest.skip("no TFLite interpreter installed for the fallback backend")
    model = pyedge.Model(path, backend=backend, num_threads=num_threads)
    assert model.backend.startswith(BACKEND_PREFIX[backend])
    return model, make_inputs(rows, model.input_shape[1], seed=41)


def same_bytes(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# -- run in the workers (module level, so that spawned processes can import them) ------------
def backend_in_worker(model: pyedge.Model) -> str:
    """What the worker runs: a worker importing a pyedge without its extension would fall back
    to the NumPy reference and still give the same bytes, so the tests check this too."""
    return model.backend


INSTALLED: dict[str, pyedge.Model] = {}  # each worker's models, loaded once


def install(models: dict[str, pyedge.Model]) -> None:
    """A pool's initializer: under fork the worker inherits the parent's very objects (thread
    pools started and all), under spawn and forkserver it unpickles them."""
    INSTALLED.update(models)


def predict_with_installed(name: str, rows: np.ndarray) -> np.ndarray:
    return INSTALLED[name].predict(rows)


# -- pickling -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", BACKENDS)
def test_pickle_carries_the_bytes_not_the_path(name: str, tmp_path) -> None:
    original, x = load(name)
    path = tmp_path / "model.tflite"
    shutil.copy(BACKENDS[name][0], path)
    model = pyedge.Model(path, backend=BACKENDS[name][1], num_threads=BACKENDS[name][2])
    blob, predict_blob = pickle.dumps(model), pickle.dumps(model.predict)
    path.unlink()  # what travels must not need the file
    assert str(path).encode() not in blob and str(path).encode() not in predict_blob
    clone, predict = pickle.loads(blob), pickle.loads(predict_blob)
    assert clone.backend == model.backend and clone.size_bytes == model.size_bytes
    expected = original.predict(x)
    assert same_bytes(clone.predict(x), expected)
    assert same_bytes(predict(x), expected)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs sched_setaffinity and 2 CPUs")
def test_default_num_threads_is_decided_where_the_model_lands(tmp_path) -> None:
    # A model loaded with the default (this process's CPUs) must not impose this machine's
    # count on a worker with fewer (or more) CPUs; an explicit num_threads travels as it is.
    code = "import pickle, sys; print(pickle.loads(sys.stdin.buffer.read()).backend)"
    one_cpu = {min(os.sched_getaffinity(0))}

    def backend_on_one_cpu(model: pyedge.Model) -> str:
        result = subprocess.run(  # not from the checkout: its pyedge/ has no compiled _core
            [sys.executable, "-c", code], input=pickle.dumps(model), capture_output=True,
            timeout=120, cwd=tmp_path, preexec_fn=lambda: os.sched_setaffinity(0, one_cpu))
        assert result.returncode == 0, result.stderr.decode()
        return result.stdout.decode().strip()

    assert f", {len(os.sched_getaffinity(0))} threads;" in pyedge.Model(SEED).backend
    landed = backend_on_one_cpu(pyedge.Model(SEED))
    assert landed.startswith("native (kernel ") and ", 1 thread;" in landed
    assert ", 3 threads;" in backend_on_one_cpu(pyedge.Model(SEED, num_threads=3))


# -- pools ----------------------------------------------------------------------------------
@FORKING_THREADS
@pytest.mark.parametrize("start_method", START_METHODS)
def test_pool_maps_predict_over_partitions(start_method: str) -> None:
    loaded = {name: load(name) for name in BACKENDS if runnable(name)}
    models = {name: model for name, (model, _) in loaded.items()}
    context = multiprocessing.get_context(start_method)
    with context.Pool(2, initializer=install, initargs=(models,)) as pool:
        for name, (model, x) in loaded.items():
            expected = model.predict(x)
            parts = np.array_split(x, 8)
            backends = pool.map(backend_in_worker, [model] * 4)
            assert {b.split(" (")[0] for b in backends} == {BACKEND_PREFIX[BACKENDS[name][1]]}
            # The model loaded once per worker (the efficient way), then model.predict itself,
            # which pickles with every task.
            y = np.concatenate(pool.map(partial(predict_with_installed, name), parts))
            assert same_bytes(y, expected), f"{name}, model installed in the workers"
            y = np.concatenate(pool.map(model.predict, parts))
            assert same_bytes(y, expected), f"{name}, model.predict pickled"


@FORKING_THREADS
def test_process_pool_executor_with_the_default_start_method() -> None:
    model, x = load("native")
    expected = model.predict(x)
    parts = np.array_split(x, 5)
    with ProcessPoolExecutor(max_workers=2) as executor:
        assert all(b.startswith("native") for b in executor.map(backend_in_worker, [model] * 2))
        y = np.concatenate(list(executor.map(model.predict, parts)))
        # The unbound method with the model as argument: what cloudpickle-based engines need.
        futures = [executor.submit(pyedge.Model.predict, model, part) for part in parts]
        y_submitted = np.concatenate([f.result() for f in futures])
    assert same_bytes(y, expected) and same_bytes(y_submitted, expected)


# -- fork -----------------------------------------------------------------------------------
def forked(child) -> int:
    """Runs child() in a forked process and returns its exit code (-signal if killed): 0 when
    it returned True. A child stuck for 60 s dies of SIGALRM instead of hanging the tests."""
    # Garbage left by other tests is collected here, not in the child: TensorFlow's objects
    # (when an earlier test trained a model) abort or hang if destroyed after a fork, as
    # TensorFlow does not support fork.
    gc.collect()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.alarm(60)
            code = 0 if child() else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def thread_count() -> int | None:
    return len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else None


def thread_count_back_to(count: int) -> bool:
    # A joined thread has ended a moment before Linux drops it from /proc/self/task.
    for _ in range(1000):
        if thread_count() == count:
            return True
        time.sleep(0.01)
    return False


@FORKING_THREADS
@pytest.mark.parametrize("name", BACKENDS)
def test_forked_child_predicts_and_drops_the_model(name: str) -> None:
    # The parent's pool (or interpreter) threads do not exist in the child: the child starts
    # its own at its first large call, gets the same bytes, and can drop the model (waiting
    # there on locks the parent's threads held at the fork would hang for ever).
    model, x = load(name)
    expected = model.predict(x)
    holder = {"model": model}
    del model

    def child() -> bool:
        model = holder.pop("model")
        before = thread_count()
        ok = same_bytes(model.predict(x), expected)
        # The native pool's own threads, counted (NumPy's BLAS may start threads of its own).
        native_threads = model._native.num_threads if name == "native" else 0
        started = thread_count()
        del model
        gc.collect()
        if native_threads and before is not None:
            ok &= started == before + native_threads - 1 and thread_count_back_to(before)
        return ok

    for _ in range(3):
        assert forked(child) == 0
    assert same_bytes(holder["model"].predict(x), expected)  # the parent's pool still works


@FORKING_THREADS
def test_fork_while_another_thread_predicts() -> None:
    # Another thread of the parent may hold one of the model's locks at the moment of fork():
    # the child must not inherit it locked.
    model, x = load("native")
    expected = model.predict(x)
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            model.predict(x[:5000])

    thread = threading.Thread(target=busy)
    thread.start()
    try:
        codes = [forked(lambda: same_bytes(model.predict(x), expected)) for _ in range(30)]
    finally:
        stop.set()
        thread.join()
    assert codes == [0] * 30


# -- Dask -----------------------------------------------------------------------------------
def test_dask_cluster_scores_partitions_like_one_call() -> None:
    pytest.importorskip("distributed")
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster

    model = pyedge.Model(SEED, num_threads=1)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        assert all(b.startswith("native") for b in client.run(backend_in_worker, model).values())
        # 100,000 rows made on the workers, in 10 partitions; model.predict travels pickled.
        xs = da.random.default_rng(5).standard_normal((100_000, 100), chunks=(10_000, 100),
                                                       dtype=np.float32)
        ys = xs.map_blocks(model.predict, dtype=np.float32, chunks=(10_000, 10))
        x, y = dask.compute(xs, ys)
        # The same with futures: partitions scattered to the workers, the model as argument.
        parts = client.scatter(np.array_split(x, 7))
        y_futures = np.concatenate(client.gather(client.map(pyedge.Model.predict,
                                                            [model] * 7, parts)))
    expected = model.predict(x)
    assert x.shape == (100_000, 100)
    assert same_bytes(y, expected)
    assert same_bytes(y_futures, expected)


@pytest.mark.parametrize("scheduler", ["threads", "processes"])
def test_dask_local_schedulers_take_model_predict_directly(scheduler: str) -> None:
    # The processes scheduler pickles with cloudpickle; model.predict used to be the C++
    # bound method, whose pybind11 function record does not pickle.
    da = pytest.importorskip("dask.array")

    model = pyedge.Model(SEED, num_threads=1)
    x = make_inputs(4_000, model.input_shape[1], seed=43)
    y = da.from_array(x, chunks=(1_000, -1)).map_blocks(
        model.predict, dtype=np.float32, chunks=(1_000, model.output_shape[1])
    ).compute(scheduler=scheduler, num_workers=2)
    assert same_bytes(y, model.predict(x))


@pytest.mark.parametrize("name", ["native", "interpreter"])
def test_joblib_loky_takes_model_predict_directly(name: str) -> None:
    joblib = pytest.importorskip("joblib")
    model, x = load(name)
    parts = np.array_split(x, 4)
    results = joblib.Parallel(n_jobs=2, backend="loky")(joblib.delayed(model.predict)(p) for p in parts)
    assert same_bytes(np.concatenate(results), model.predict(x))
