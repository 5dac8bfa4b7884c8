"""Coverage-guided fuzzing of the model loader: mutated .tflite files into pyedge.Model.

Every input must end in a loaded model or a ValueError; a loaded model must then predict a
small batch. Anything else is a finding: a crash (signal), any other Python exception, a hang
(-timeout) or an allocation past the address-space limit (a forged shape must not make pyedge
or the interpreter it falls back to reserve gigabytes).

    python tools/fuzz_loader.py --seconds 150            # CI: exits 1 if anything was found
    nice python tools/fuzz_loader.py --seconds 1800      # by hand, longer
    python tools/fuzz_loader.py --reproduce build/fuzz/crashes/crash-*   # rerun findings

Atheris (libFuzzer for Python) instruments the Python code that parses and checks the file
(pyedge, whose flatbuffer reader is pyedge/flatbuffer.py); the C++ extension and the TFLite
interpreter are not instrumented, so they get no coverage guidance, but a crash in
them is caught like any other. The driver runs the fuzzer in a child process and restarts it
after each finding (libFuzzer stops at the first), keeping the corpus, until time is up.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
# Past this the seeds are mostly weight bytes: mutations there test little and slow each run.
MAX_SEED_BYTES = 64 * 1024
ROWS_TO_PREDICT = (1, 3)


def unscaled_input(model) -> bool:
    """Whether the model's input is quantized (int8, uint8, int16) but has no scale to quantize
    float rows with: predict then takes rows of that dtype only (a ValueError for floats)."""
    graph_input = model.graph.tensors[model.graph.inputs[0]]
    return model._raw_input_dtype is not None and graph_input.scales.size == 0


# -- the target (runs in the child) ----------------------------------------------------------
def run_worker(backend: str, memory_limit_mb: int, libfuzzer_args: list[str]) -> None:
    import resource

    # Forged shapes must not make anyone allocate gigabytes: past this limit an allocation
    # fails (MemoryError, or std::bad_alloc and an abort in C++), which the fuzzer reports.
    if memory_limit_mb:  # 0 under AddressSanitizer, whose shadow memory needs terabytes
        limit = memory_limit_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import atheris
    import numpy as np

    # Only what is imported inside this block is instrumented (the TFLite interpreter, native
    # code imported at the first fallback, is not).
    with atheris.instrument_imports(include=["pyedge"]):
        import pyedge
        from pyedge.reference import ReferenceBackend

    def check_one_input(data: bytes) -> None:
        try:
            model = pyedge.Model(data, backend=backend, num_threads=2)
        except ValueError:
            return
        # A model that loads must also run: predict a small batch (two sizes, so the
        # interpreter fallback resizes its tensors) of inputs spread over the int8 range.
        features = model.input_shape[1:]
        for rows in (n * model.batch_multiple for n in ROWS_TO_PREDICT):
            x = np.linspace(-4, 4, rows * int(np.prod(features)), dtype=np.float32)
            x = x.reshape(rows, *features)
            if unscaled_input(model):  # quantized input without a scale: rows of its own dtype
                x = x.astype(model._raw_input_dtype)
            # (Its shape is the graph output's, as LiteRT computes it: tools/fuzz_models.py
            # compares shapes and values with LiteRT; here a forged file must not crash.)
            try:
                y = model.predict(x)
            except ValueError as error:
                # LiteRT itself refuses some models at some batches only (a weight that is the
                # graph input, a RESHAPE to a fixed shape): the fallback then raises this error,
                # as documented; any other exception is a finding.
                if "cannot run a batch of" in str(error) and not model.backend.startswith("native"):
                    continue
                raise
            if y.dtype != np.float32:
                raise AssertionError(f"predict returned {y.dtype} for {rows} rows")
            # Whatever the file says, the native kernels and the NumPy reference must agree
            # bit for bit: a forged scale or bias must not make pyedge silently wrong.
            if model.backend.startswith("native"):
                expected = ReferenceBackend(model.plan).predict(x.reshape(rows, -1))
                if not np.array_equal(y.ravel(), expected.ravel(), equal_nan=True):
                    raise AssertionError("the native backend and the NumPy reference disagree")

    atheris.Setup([sys.argv[0], *libfuzzer_args], check_one_input)
    atheris.Fuzz()


# -- the driver --------------------------------------------------------------------------------
def seed_corpus(corpus: Path) -> int:
    corpus.mkdir(parents=True, exist_ok=True)
    seeds = [p for p in sorted(FIXTURES.glob("*.tflite")) if p.stat().st_size <= MAX_SEED_BYTES]
    for seed in seeds:
        target = corpus / f"seed-{seed.name}"
        if not target.exists():
            shutil.copyfile(seed, target)
    return len(seeds)


def fuzz(args: argparse.Namespace, extra: list[str]) -> int:
    corpus, crashes = Path(args.corpus), Path(args.crashes)
    n_seeds = seed_corpus(corpus)
    crashes.mkdir(parents=True, exist_ok=True)
    log_path = Path(args.log)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    before = set(crashes.iterdir())
    start = time.monotonic()
    executions, restarts, last_status = 0, 0, ""
    unsaved: list[str] = []
    with open(log_path, "w+", errors="replace") as log:
        while (remaining := args.seconds - (time.monotonic() - start)) > 2:
            command = [sys.executable, str(Path(__file__).resolve()), "--worker",
                       "--backend", args.backend, "--memory-limit-mb", str(args.memory_limit_mb),
                       "--", str(corpus), f"-max_total_time={int(remaining)}",
                       f"-artifact_prefix={crashes}/", f"-timeout={args.timeout}",
                       "-rss_limit_mb=0", "-print_final_stats=1", f"-seed={args.seed + restarts}",
                       f"-max_len={MAX_SEED_BYTES}", *extra]
            # Streamed to the log (the interpreter's INFO lines on stdout too), read back after.
            begin, known = log.tell(), set(crashes.iterdir())
            worker = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT)
            log.seek(begin)
            output = log.read()
            runs = re.findall(r"stat::number_of_executed_units: (\d+)", output)
            statuses = re.findall(r"^#\d+\s+\w+\s+cov: .*$", output, re.MULTILINE)
            executions += int(runs[-1]) if runs else 0
            last_status = statuses[-1] if statuses else last_status
            if worker.returncode == 0:
                break
            restarts += 1
            if set(crashes.iterdir()) - known or "Test unit written" in output:
                continue
            if "Uncaught Python exception" in output:  # found, but the worker died unsaved
                unsaved.append(output[output.rindex("Uncaught Python exception"):][:1500])
            else:
                sys.stderr.write(output[-3000:])
                print(f"fuzz_loader: the fuzzer failed without a finding (exit {worker.returncode})")
                return 2
    found = sorted(set(crashes.iterdir()) - before)
    coverage = re.search(r"cov: (\d+) ft: (\d+) corp: (\d+)", last_status)
    cov, ft, corp = coverage.groups() if coverage else ("?", "?", "?")
    print(f"fuzz_loader: {executions} executions in {time.monotonic() - start:.0f} s "
          f"(backend={args.backend}, {n_seeds} seed models); coverage {cov} edges, {ft} features, "
          f"corpus {corp} inputs; findings: {len(found) + len(unsaved)}  (log: {log_path})")
    for path in found:
        print(f"  {path}  ({path.stat().st_size} bytes): rerun with "
              f"python tools/fuzz_loader.py --reproduce {path}")
    for text in unsaved:
        print("  not saved (the worker died first):\n    " + "\n    ".join(text.splitlines()))
    return 1 if found or unsaved else 0


def reproduce(paths: list[str], backend: str) -> int:
    """Runs each input once in its own process and says how it ends."""
    code = ("import sys, numpy as np, pyedge\n"
            "m = pyedge.Model(open(sys.argv[1], 'rb').read(), backend=sys.argv[2])\n"
            "print('loaded:', m.backend)\n"
            "for rows in (1 * m.batch_multiple, 3 * m.batch_multiple):\n"
            "    x = np.linspace(-4, 4, rows * int(np.prod(m.input_shape[1:])), dtype=np.float32)\n"
            "    t = m.graph.tensors[m.graph.inputs[0]]\n"
            "    x = x.astype(m._raw_input_dtype) if m._raw_input_dtype and not t.scales.size else x\n"
            "    print('predict', rows, '->', m.predict(x.reshape(rows, *m.input_shape[1:])).shape)\n")
    failures = 0
    for path in map(os.path.abspath, paths):  # the child runs in /
        result = subprocess.run([sys.executable, "-c", code, path, backend], capture_output=True,
                                text=True, cwd="/", errors="replace")
        ok = result.returncode == 0 or result.stderr.rstrip().splitlines()[-1:] and \
            result.stderr.rstrip().splitlines()[-1].startswith("ValueError")
        failures += not ok
        print(f"{path}: exit {result.returncode} {'ok' if ok else 'FINDING'}")
        print("  " + "\n  ".join((result.stdout + result.stderr).strip().splitlines()[-4:]))
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="total fuzzing time")
    parser.add_argument("--backend", default="auto", help="backend= of pyedge.Model (default auto)")
    parser.add_argument("--corpus", default=str(ROOT / "build" / "fuzz" / "corpus"))
    parser.add_argument("--crashes", default=str(ROOT / "build" / "fuzz" / "crashes"))
    parser.add_argument("--log", default=str(ROOT / "build" / "fuzz" / "fuzz.log"))
    parser.add_argument("--timeout", type=int, default=20, help="seconds per input: a hang")
    parser.add_argument("--memory-limit-mb", type=int, default=2048,
                        help="address space of the fuzzed process (a forged shape must not need "
                        "more); 0: no limit (under AddressSanitizer)")
    parser.add_argument("--seed", type=int, default=1, help="libFuzzer's random seed")
    parser.add_argument("--reproduce", nargs="+", metavar="FILE", help="rerun saved inputs")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    if args.worker:
        run_worker(args.backend, args.memory_limit_mb, extra)
        return 0
    if args.reproduce:
        return reproduce(args.reproduce, args.backend)
    return fuzz(args, extra)


if __name__ == "__main__":
    sys.exit(main())
