"""Speed of pyedge next to LiteRT and plain NumPy, side by side in one process.

    result = run_benchmark("model.tflite")          # batches 1 and 1024
    print(format_text(result))                      # or format_markdown(result)

Runners: pyedge native with 1 thread (and with all cores for batches > 1), LiteRT with its
default XNNPACK delegate and without delegates (1 thread each), and a NumPy float32 MLP built
from the model's dequantized weights (what a user would write without an inference library).
LiteRT and NumPy are optional: a runner whose library is missing is skipped with a note.
TensorFlow is never imported.

Method, for a noisy shared machine: every runner is warmed up, then its loop is calibrated to
about `target_seconds`; the runners take turns in `rounds` rounds (A, B, C, A, B, C, ...), and
the minimum time per call over the rounds is reported (noise only ever adds time).
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .interpreter import litert_interpreter, litert_module, run_litert
from .model import Model, default_num_threads
from .ops.fully_connected import FullyConnectedLayer
from .quantization import quantize

PYEDGE = "pyedge"
LITERT_XNNPACK = "LiteRT XNNPACK"
LITERT_NO_DELEGATE = "LiteRT no delegates"
NUMPY = "NumPy float32"
NUMPY_THREADS = ("NumPy's BLAS is limited to 1 thread (threadpoolctl) when it can be, "
                 "else runs on its default threads")
DEFAULT_BATCHES = (1, 1024)
DEFAULT_ROUNDS = 10
DEFAULT_TARGET_SECONDS = 0.025
LOAD_ROUNDS = 20
METHOD = ("each runner warmed up, its loop calibrated to ~{ms:.0f} ms; runners interleaved in "
          "{rounds} rounds (A, B, C, A, B, C, ...); the minimum time per call over the rounds "
          "is reported")


@dataclass
class RunnerResult:
    name: str  # PYEDGE, LITERT_XNNPACK, LITERT_NO_DELEGATE or NUMPY
    threads: int  # 0 for NumPy (whatever its BLAS uses)
    batch: int
    seconds_per_call: float  # minimum over the rounds
    calls_per_round: int

    @property
    def label(self) -> str:
        if self.threads == 0:
            return self.name
        return f"{self.name} ({self.threads} thread{'s' if self.threads > 1 else ''})"

    @property
    def rows_per_second(self) -> float:
        return self.batch / self.seconds_per_call


@dataclass
class BatchResult:
    batch: int
    runners: list[RunnerResult]

    def find(self, name: str, threads: int | None = None) -> RunnerResult | None:
        for r in self.runners:
            if r.name == name and (threads is None or r.threads == threads):
                return r
        return None

    def speedup(self, runner: RunnerResult, baseline: str) -> float | None:
        """How many times faster `runner` is than `baseline` (>1 = faster; same batch, so it
        is both the latency ratio inverted and the throughput ratio)."""
        base = self.find(baseline)
        return None if base is None else base.seconds_per_call / runner.seconds_per_call

    @property
    def pyedge(self) -> RunnerResult:
        return self.find(PYEDGE, 1)

    def thread_scaling(self) -> tuple[int, float] | None:
        """(N, rows/s with N threads / rows/s with 1 thread) for pyedge, when measured."""
        many = [r for r in self.runners if r.name == PYEDGE and r.threads > 1]
        if not many:
            return None
        return many[0].threads, self.pyedge.seconds_per_call / many[0].seconds_per_call


@dataclass
class BenchResult:
    model: str
    architecture: str  # "100-64-32-10", or the input and output shapes
    macs_per_row: int  # 0 when pyedge has no native plan
    backend: str  # pyedge's model.backend with 1 thread: the kernel that ran
    cpus: int
    rounds: int
    target_seconds: float
    batches: list[BatchResult]
    bitexact: str  # one line: pyedge vs LiteRT BUILTIN_REF on the largest batch
    load: str = ""  # one line: load + first predict, pyedge vs LiteRT
    notes: list[str] = field(default_factory=list)  # skipped runners and why

    @property
    def method(self) -> str:
        return METHOD.format(ms=self.target_seconds * 1e3, rounds=self.rounds)


# -- the NumPy float32 peer -------------------------------------------------------------------

class NumpyMLP:
    """The model as plain float32 NumPy: dequantized weights (W = scale * w per channel),
    float biases (bias * input_scale * weight_scale), float activations. Nothing is quantized,
    so its outputs approximate the int8 model's; it is the baseline, not an oracle."""

    def __init__(self, model: Model):
        if model.plan is None:
            raise ValueError(f"no native plan to build a NumPy MLP from ({model.backend})")
        self.input_depth = model.plan.input_depth
        self.steps = [layer.float_step() for layer in model.plan.layers]

    def predict(self, x: np.ndarray) -> np.ndarray:
        y = np.asarray(x, np.float32).reshape(-1, self.input_depth)
        for step in self.steps:
            y = step(y)
        return y


# -- LiteRT -----------------------------------------------------------------------------------

def _litert_step(interpreter) -> Callable[[np.ndarray], np.ndarray]:
    # What a LiteRT user writes per call, on an interpreter allocated beforehand.
    set_tensor, invoke, get_tensor = interpreter.set_tensor, interpreter.invoke, interpreter.get_tensor
    index_in = interpreter.get_input_details()[0]["index"]
    index_out = interpreter.get_output_details()[0]["index"]

    def step(x: np.ndarray) -> np.ndarray:
        set_tensor(index_in, x)
        invoke()
        return get_tensor(index_out)

    return step


# -- timing -----------------------------------------------------------------------------------

@dataclass
class _Runner:
    name: str
    threads: int
    fn: Callable[[np.ndarray], object]
    arg: np.ndarray
    calls: int = 1
    best: float = math.inf


def _time_loop(fn: Callable, arg: np.ndarray, calls: int) -> float:
    start = time.perf_counter()
    for _ in itertools.repeat(None, calls):
        fn(arg)
    return time.perf_counter() - start


def _calibrate(runner: _Runner, target_seconds: float) -> None:
    """Warm up (caches, thread pools, lazy allocations), then size the loop to the target."""
    calls = 1
    while True:
        elapsed = _time_loop(runner.fn, runner.arg, calls)
        if elapsed >= target_seconds / 5 or calls >= 1 << 24:
            break
        calls *= 10 if elapsed < target_seconds / 100 else 2
    runner.calls = max(1, round(calls * target_seconds / max(elapsed, 1e-9)))
    _time_loop(runner.fn, runner.arg, runner.calls)  # one full untimed loop: warm


def _single_threaded_blas():
    """NumPy's BLAS threads keep spinning after a call and would steal the second core from
    the multi-threaded pyedge runner interleaved after them; pin them to 1 thread (fair too:
    every other runner is measured with 1 thread) when threadpoolctl is there to do it."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _measure(runners: list[_Runner], rounds: int, target_seconds: float) -> None:
    gc_was_enabled = gc.isenabled()
    gc.disable()  # as timeit: no collection pauses inside the loops
    try:
        for runner in runners:
            _calibrate(runner, target_seconds)
        for _ in range(rounds):
            for runner in runners:
                elapsed = _time_loop(runner.fn, runner.arg, runner.calls)
                runner.best = min(runner.best, elapsed / runner.calls)
    finally:
        if gc_was_enabled:
            gc.enable()


# -- the benchmark ----------------------------------------------------------------------------

def bench_inputs(model: Model, rows: int, seed: int = 0) -> np.ndarray:
    """Float32 rows spread over the model's input quantization range (as standardized features
    are over a calibrated range): normal, 3 sigma = half the range, few rows saturate."""
    rng = np.random.default_rng(seed)
    features = int(np.prod(model.input_shape[1:]))
    x = rng.standard_normal((rows, features))
    q = model.input_quantization
    if q is not None:
        scale, zero_point = q
        lo, hi = scale * (-128 - zero_point), scale * (127 - zero_point)
        x = (lo + hi) / 2 + x * (hi - lo) / 6
    if model.standardization is not None:  # raw features, which predict standardizes back
        mean, std = model.standardization
        x = x * std + mean
    return x.reshape(rows, *model.input_shape[1:]).astype(np.float32)


def architecture(model: Model) -> str:
    if model.plan is None:
        return f"input {model.input_shape}, output {model.output_shape}"
    depths = [model.plan.input_depth]
    depths += [layer.output_depth for layer in model.plan.layers if isinstance(layer, FullyConnectedLayer)]
    return "-".join(str(d) for d in depths)


def run_benchmark(path: str | os.PathLike, batches: tuple[int, ...] = DEFAULT_BATCHES,
                  threads: int | None = None, rounds: int = DEFAULT_ROUNDS,
                  target_seconds: float = DEFAULT_TARGET_SECONDS,
                  log: Callable[[str], None] | None = None) -> BenchResult:
    """Measures every available runner on `path` for each batch size. threads: pyedge's
    thread count for batches > 1 (default: all cores; 1 = single-threaded runs only)."""
    if rounds < 1 or target_seconds <= 0 or any(b < 1 for b in batches):
        raise ValueError("rounds, target_seconds and batch sizes must be positive")
    cpus = default_num_threads()
    threads = cpus if threads is None else threads
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    model = Model(path, num_threads=1)
    content = model.content
    many = Model(content, num_threads=threads) if threads > 1 else None
    notes: list[str] = []
    litert = litert_module()
    if litert is None:
        notes.append("LiteRT skipped: neither ai_edge_litert nor tflite_runtime imports "
                     '(pip install "pyedge[litert]")')
    numpy_mlp = None
    try:
        numpy_mlp = NumpyMLP(model)
    except ValueError:
        notes.append("NumPy float32 skipped: pyedge has no native int8 plan of this model to "
                     "build it from")

    results = []
    x_all = bench_inputs(model, max(batches))
    int8_input = model.plan is not None and not model.plan.float_input
    for batch in batches:
        if log:
            log(f"batch {batch}: measuring")
        x = x_all[:batch]
        x_graph = model.standardize(x)  # what the graph takes (pyedge's predict standardizes x)
        # An int8-input model takes int8 rows: both pyedge and LiteRT get them pre-quantized.
        x_model = quantize(x_graph, *model.input_quantization) if int8_input else x
        runners = [_Runner(PYEDGE, 1, model.predict, x_model[0] if batch == 1 else x_model)]
        if many is not None and batch > 1:
            runners.append(_Runner(PYEDGE, threads, many.predict, x_model))
        if litert is not None:
            for name, resolver in ((LITERT_XNNPACK, "AUTO"),
                                   (LITERT_NO_DELEGATE, "BUILTIN_WITHOUT_DEFAULT_DELEGATES")):
                interpreter = litert_interpreter(litert, content, resolver, batch)
                dtype = interpreter.get_input_details()[0]["dtype"]
                x_litert = x_model if int8_input else x_graph
                runners.append(_Runner(name, 1, _litert_step(interpreter), x_litert.astype(dtype)))
        if numpy_mlp is not None:
            runners.append(_Runner(NUMPY, 0, numpy_mlp.predict, x_graph))
        with _single_threaded_blas():
            _measure(runners, rounds, target_seconds)
        results.append(BatchResult(batch, [RunnerResult(r.name, r.threads, batch, r.best, r.calls)
                                           for r in runners]))

    first_row = quantize(model.standardize(x_all[:1]), *model.input_quantization) if int8_input else x_all[:1]
    return BenchResult(model=str(path), architecture=architecture(model),
                       macs_per_row=model.plan.macs if model.plan else 0, backend=model.backend,
                       cpus=cpus, rounds=rounds, target_seconds=target_seconds, batches=results,
                       bitexact=check_bitexact(model, litert, x_all),
                       load=load_time(content, litert, first_row), notes=notes)


def load_time(content: bytes, litert, first_row: np.ndarray, rounds: int = LOAD_ROUNDS) -> str:
    """One line: the time from a model's bytes to its first answer, the cost an app pays at
    every start. pyedge: Model(content) + predict(one row); LiteRT: Interpreter(model_content)
    + allocate_tensors() + set_tensor + invoke() (XNNPACK, its default). Best of `rounds`,
    interleaved."""
    def pyedge_load() -> None:
        Model(content, num_threads=1).predict(first_row)

    def litert_load() -> None:
        interpreter = litert.Interpreter(model_content=content, num_threads=1)
        interpreter.allocate_tensors()
        detail = interpreter.get_input_details()[0]
        interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
        interpreter.invoke()

    loads = {"pyedge": pyedge_load, LITERT_XNNPACK: litert_load} if litert else {"pyedge": pyedge_load}
    best = dict.fromkeys(loads, math.inf)
    for _ in range(rounds):
        for name, load in loads.items():
            start = time.perf_counter()
            load()
            best[name] = min(best[name], time.perf_counter() - start)
    line = f"load + first predict (best of {rounds}): pyedge {_time(best['pyedge'])}"
    if litert is None:
        return line + " (LiteRT not installed: no comparison)"
    return (line + f", {LITERT_XNNPACK} {_time(best[LITERT_XNNPACK])}: "
            f"{_ratio(best[LITERT_XNNPACK] / best['pyedge'])} (>1 = pyedge faster)")


def check_bitexact(model: Model, litert, x: np.ndarray) -> str:
    """One line: do pyedge's outputs equal LiteRT BUILTIN_REF's (its exactness target) on x?"""
    what = f"pyedge output == LiteRT BUILTIN_REF on the {x.shape[0]}-row benchmark batch"
    if model.plan is None:  # the fallback: exact only where its interpreter runs BUILTIN_REF too
        module = model.backend.split("(")[1].split(",")[0]
        what = f"{what} (pyedge runs this model on {module}'s {model._backend.kernels})"
    if litert is None:
        return f"{what}: not checked (LiteRT not installed)"
    interpreter = litert_interpreter(litert, model.content, "BUILTIN_REF", x.shape[0])
    expected = run_litert(interpreter, model.standardize(x))  # the graph's rows for features x
    got = model.predict(x).reshape(expected.shape)
    if np.array_equal(got, expected):
        return f"{what}: yes, bit for bit"
    bad = int(np.sum(np.any(got != expected, axis=1)))
    return (f"{what}: NO, {bad} rows differ (max |difference| "
            f"{float(np.max(np.abs(got - expected))):.3g})")


# -- formatting -------------------------------------------------------------------------------

def _time(seconds: float) -> str:
    for unit, factor in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= factor:
            return f"{seconds / factor:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _rate(rows_per_second: float) -> str:
    for unit, factor in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if rows_per_second >= factor:
            return f"{rows_per_second / factor:.3g} {unit}"
    return f"{rows_per_second:.3g}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


HEADER = ("runner", "time/call", "rows/s", "vs LiteRT XNNPACK", "vs LiteRT no-deleg.")


def _rows(batch: BatchResult) -> list[tuple[str, ...]]:
    return [(r.label, _time(r.seconds_per_call), _rate(r.rows_per_second),
             _ratio(batch.speedup(r, LITERT_XNNPACK)), _ratio(batch.speedup(r, LITERT_NO_DELEGATE)))
            for r in batch.runners]


def _summary_lines(result: BenchResult) -> list[str]:
    macs = f", {result.macs_per_row:,} MACs/row" if result.macs_per_row else ""
    return [f"model: {result.model} ({result.architecture}{macs})",
            f"pyedge backend: {result.backend}; {result.cpus} CPUs",
            f"method: {result.method}",
            "ratios: speed relative to the LiteRT runner (>1 = faster); " + NUMPY_THREADS]


def _scaling_line(batch: BatchResult) -> str | None:
    scaling = batch.thread_scaling()
    if scaling is None:
        return None
    n, factor = scaling
    return f"pyedge {n}-thread scaling at batch {batch.batch}: {factor:.2f}x the 1-thread rows/s"


def format_text(result: BenchResult) -> str:
    lines = _summary_lines(result)
    for batch in result.batches:
        rows = _rows(batch)
        widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER))]
        lines += ["", f"batch {batch.batch}"]
        for row in [HEADER, *rows]:
            cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
            lines.append("  " + "  ".join(cells).rstrip())
        scaling = _scaling_line(batch)
        if scaling:
            lines.append("  " + scaling)
    lines += ["", result.load, result.bitexact, *result.notes]
    return "\n".join(lines)


def format_markdown(result: BenchResult, heading: str = "###") -> str:
    macs = f", {result.macs_per_row:,} MACs/row" if result.macs_per_row else ""
    lines = [f"{heading} `{os.path.basename(result.model)}` ({result.architecture}{macs})", "",
             f"pyedge backend: {result.backend}; {result.cpus} CPUs. "
             "Ratios: speed relative to the LiteRT runner (>1 = faster); " + NUMPY_THREADS + ".",
             ""]
    for batch in result.batches:
        lines += [f"**batch {batch.batch}**", "", "| " + " | ".join(HEADER) + " |",
                  "| --- |" + " ---: |" * (len(HEADER) - 1)]
        lines += ["| " + " | ".join(row) + " |" for row in _rows(batch)]
        scaling = _scaling_line(batch)
        lines += ["", scaling, ""] if scaling else [""]
    lines += [result.load + ".", "", result.bitexact + ".", *[f"{note}." for note in result.notes]]
    return "\n".join(lines)

