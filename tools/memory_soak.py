#!/usr/bin/env python3
"""Resident memory over a million predicts and over load / unload cycles: it must stay flat.

    python tools/memory_soak.py [--calls 1000000] [--cycles 1000] [--plot rss.png]

An edge app calls predict for months. This script makes one Model (native backend, 2 pool
threads, unless --backend / --model say otherwise) and calls predict --calls times: single
rows, with every 1,000th call a batch of 1,000 rows (split over the pool) and every 10,000th a
batch holding NaN, whose ValueError must leave nothing behind. Then it loads, uses and drops
--cycles models. Resident memory (RSS, from /proc/self/statm) is read at the start, after a
warm-up (allocators and caches reach their working size there), and at the end; the check is
the growth after warm-up against --tolerance-mib. Prints a table and PASS / FAIL (exit 1).
Linux only (/proc).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import pyedge

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "tests" / "fixtures" / "seed_mlp.tflite"
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
MIB = 2**20


def rss_bytes() -> int:
    """Resident set size now (not the peak that getrusage reports)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


@dataclass
class Sample:
    phase: str
    calls: int
    rss: int


def soak_predict(model: pyedge.Model, calls: int, warmup: int, samples: int) -> list[Sample]:
    features = model.input_shape[1:]
    rng = np.random.default_rng(0)
    row = rng.standard_normal(features).astype(np.float32)
    batch = rng.standard_normal((1000, *features)).astype(np.float32)
    poisoned = batch[:10].copy()
    poisoned[3].flat[0] = np.nan
    every = max(1, calls // samples)
    trace = [Sample("start", 0, rss_bytes())]
    for call in range(1, calls + 1):
        if call % 10_000 == 0:
            try:
                model.predict(poisoned)
                raise AssertionError("a NaN row was accepted")
            except ValueError:
                pass
        elif call % 1000 == 0:
            model.predict(batch)
        else:
            model.predict(row)
        if call == warmup:
            gc.collect()
            trace.append(Sample("after warm-up", call, rss_bytes()))
        elif call % every == 0:
            trace.append(Sample("predict", call, rss_bytes()))
    gc.collect()
    trace.append(Sample("end", calls, rss_bytes()))
    return trace


def soak_load(content: bytes, backend: str, cycles: int, warmup: int) -> list[Sample]:
    x = np.random.default_rng(1).standard_normal((1000, *pyedge.Model(content).input_shape[1:]))
    trace = [Sample("start", 0, rss_bytes())]
    for cycle in range(1, cycles + 1):
        model = pyedge.Model(content, backend=backend, num_threads=1 + cycle % 3)
        model.predict(x)
        model.predict(x[0])
        del model
        if cycle == warmup:
            gc.collect()
            trace.append(Sample("after warm-up", cycle, rss_bytes()))
        elif cycle % max(1, cycles // 50) == 0:
            trace.append(Sample("load/unload", cycle, rss_bytes()))
    gc.collect()
    trace.append(Sample("end", cycles, rss_bytes()))
    return trace


def growth(trace: list[Sample]) -> int:
    """RSS at the end minus RSS after warm-up."""
    after_warmup = next(s for s in trace if s.phase == "after warm-up")
    return trace[-1].rss - after_warmup.rss


def table(title: str, unit: str, trace: list[Sample], tolerance: int) -> tuple[str, bool]:
    lines = [title, f"  {'point':<16}{unit:>12}{'RSS MiB':>10}"]
    for s in trace:
        if s.phase != "predict" and s.phase != "load/unload":
            lines.append(f"  {s.phase:<16}{s.calls:>12,}{s.rss / MIB:>10.2f}")
    peak = max(s.rss for s in trace)
    grew = growth(trace)
    ok = grew <= tolerance
    lines.append(f"  peak {peak / MIB:.2f} MiB; growth after warm-up {grew / MIB:+.2f} MiB "
                 f"(tolerance {tolerance / MIB:.2f} MiB): {'PASS' if ok else 'FAIL'}")
    return "\n".join(lines), ok


def plot(path: str, runs: list[tuple[str, str, list[Sample]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 3.6), squeeze=False)
    for ax, (title, unit, trace) in zip(axes[0], runs):
        ax.plot([s.calls for s in trace], [s.rss / MIB for s in trace], marker=".")
        warm = next(s for s in trace if s.phase == "after warm-up")
        ax.axvline(warm.calls, color="grey", linestyle=":", label="end of warm-up")
        ax.set_title(title)
        ax.set_xlabel(unit)
        ax.set_ylabel("resident memory (MiB)")
        low = min(s.rss for s in trace) / MIB
        ax.set_ylim(max(0.0, low - 5), max(s.rss for s in trace) / MIB + 5)
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(SEED), help="a .tflite file (default: seed MLP)")
    parser.add_argument("--backend", default="auto", choices=pyedge.model.BACKENDS)
    parser.add_argument("--num-threads", type=int, default=2)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--cycles", type=int, default=1000, help="load / unload cycles")
    parser.add_argument("--tolerance-mib", type=float, default=1.0,
                        help="allowed RSS growth after warm-up, per phase (default 1 MiB)")
    parser.add_argument("--plot", metavar="PNG", help="also draw RSS over calls (matplotlib)")
    args = parser.parse_args(argv)
    if not os.path.exists("/proc/self/statm"):
        print("memory_soak: needs Linux's /proc/self/statm", file=sys.stderr)
        return 2
    if args.calls < 20_000 or args.cycles < 20:
        parser.error("--calls must be at least 20000 and --cycles at least 20 (warm-up)")
    tolerance = int(args.tolerance_mib * MIB)
    content = Path(args.model).read_bytes()
    rss_at_start = rss_bytes()
    model = pyedge.Model(content, backend=args.backend, num_threads=args.num_threads)
    print(f"{args.model}: {model.backend}")
    print(f"RSS with Python, NumPy and pyedge imported: {rss_at_start / MIB:.2f} MiB\n")

    began = time.perf_counter()
    predict_trace = soak_predict(model, args.calls, warmup=10_000, samples=200)
    predict_time = time.perf_counter() - began
    del model
    began = time.perf_counter()
    load_trace = soak_load(content, args.backend, args.cycles, warmup=max(10, args.cycles // 10))
    load_time = time.perf_counter() - began

    text, predict_ok = table(f"predict: {args.calls:,} calls in {predict_time:.1f} s", "calls",
                             predict_trace, tolerance)
    print(text + "\n")
    text, load_ok = table(f"load / predict / unload: {args.cycles:,} models in {load_time:.1f} s",
                          "models", load_trace, tolerance)
    print(text)
    if args.plot:
        plot(args.plot, [(f"{args.calls:,} predicts", "calls", predict_trace),
                         (f"{args.cycles:,} load / unload cycles", "models", load_trace)])
        print(f"\nplot: {args.plot}")
    ok = predict_ok and load_ok
    print(f"\nmemory_soak: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
