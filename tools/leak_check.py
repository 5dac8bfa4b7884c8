"""Load / predict / unload cycles: nothing pyedge allocates may outlive its Model.

    python tools/leak_check.py [--cycles 200]

For each backend (native with a thread pool, the NumPy reference, the TFLite interpreter
fallback when one is installed) it loads a model from bytes, predicts a batch of one row and
a batch large enough to use every thread, traces, and drops the model, over and over. After
a warm-up it compares CPython's allocated blocks and the objects the garbage collector tracks
before and after two windows of cycles: they must stay flat (exit 1 if not). Loads that fail
half way (broken files the reader, the plan or the interpreter refuse) are cycled too.

Native allocations (the C++ plan, packed weights, the thread pool's threads and scratch
buffers) are not Python objects: run this under LeakSanitizer (tools/sanitize.sh does) or
valgrind --leak-check=full, which report any block nothing points to at exit.
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

import numpy as np

import pyedge
from pyedge.interpreter import find_interpreter

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
WARM_UP = 50  # CPython, NumPy and LiteRT fill their caches and free lists the first times


def resident_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4


def one_cycle(content: bytes, backend: str) -> None:
    model = pyedge.Model(content, backend=backend, num_threads=2)
    features = model.input_shape[1:]
    for rows in (1, 2000):  # 2000 rows: past the threshold where the thread pool splits work
        x = np.linspace(-3, 3, rows * int(np.prod(features)), dtype=np.float32)
        model.predict(x.reshape(rows, *features))
    if model.plan is not None:
        model.trace(np.zeros((3, *features), np.float32))
    del model


def failed_loads(contents: list[bytes]) -> None:
    """Loads that fail half way (the reader, the plan, the interpreter refuse the file) must
    free what they built too."""
    for content in contents:
        if loads(content):
            raise AssertionError("a broken model loaded")


def loads(content: bytes) -> bool:
    try:
        pyedge.Model(content, num_threads=2)
    except ValueError:
        return False
    return True


def broken_models() -> list[bytes]:
    """Two corrupted seeds, and the fuzzer's inputs that pyedge refuses (some are models
    LiteRT's reference kernels run, which load, as tests/test_loader_hardening.py expects)."""
    seed = (FIXTURES / "seed_mlp.tflite").read_bytes()
    corrupt = bytearray(seed)
    corrupt[len(corrupt) // 2:] = bytes(len(corrupt) - len(corrupt) // 2)
    found = [p.read_bytes() for p in sorted((FIXTURES / "crashes").glob("*.tflite"))]
    return [seed[:5000], bytes(corrupt)] + [c for c in found if not loads(c)]


def measure(name: str, backend: str, cycles: int) -> bool:
    """Two windows of `cycles` cycles after a warm-up. Free lists and caches make the counts
    jitter by a bounded amount; a leak of even one block per cycle grows every window by at
    least `cycles`."""
    if name == "broken models":
        contents = broken_models()

        def cycle() -> None:
            failed_loads(contents)
    else:
        content = (FIXTURES / f"{name}.tflite").read_bytes()

        def cycle() -> None:
            one_cycle(content, backend)
    for _ in range(WARM_UP):
        cycle()
    growth = []
    rss = resident_kb()
    for _ in range(2):
        gc.collect()
        blocks, objects = sys.getallocatedblocks(), len(gc.get_objects())
        for _ in range(cycles):
            cycle()
        gc.collect()
        growth.append((sys.getallocatedblocks() - blocks, len(gc.get_objects()) - objects))
    d_rss = resident_kb() - rss
    # A leak grows both windows by at least one block per cycle; the interpreter's free lists
    # alone moved a window by up to 0.9 blocks per cycle (measured in CI).
    leak = all(b >= cycles or o >= cycles for b, o in growth)
    what = "failed loads of each" if name == "broken models" else "load/predict/unload cycles"
    print(f"leak_check: {name} backend={backend}: 2 x {cycles} {what}: "
          f"allocated blocks {growth[0][0]:+d} then {growth[1][0]:+d}, gc objects "
          f"{growth[0][1]:+d} then {growth[1][1]:+d}, resident {d_rss:+d} KB"
          f"{'  LEAK' if leak else ''}", flush=True)
    return not leak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=200)
    args = parser.parse_args()
    runs = [("seed_mlp", "native"), ("seed_mlp", "reference")]
    if find_interpreter() is not None:
        runs.append(("unsupported_abs", "auto"))  # falls back to the interpreter
    runs.append(("broken models", "auto"))
    results = [measure(name, backend, args.cycles) for name, backend in runs]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
