#!/usr/bin/env python3
"""pyedge's benchmark on the standard models, checked against pyedge's speed targets.

    python tools/bench.py [--rounds 20] [--write docs/benchmarks.md]

Runs pyedge.bench on tests/fixtures/seed_mlp.tflite (100-64-32-10) and
tests/fixtures/mlp_784.tflite (784-256-128-10), prints the tables and PASS/MISS for each goal
with the measured ratio. A miss is a measurement, not an error: the exit code is 0 either way.
With --write, also writes the Markdown report (machine, versions, method, tables, goals).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

import pyedge
from pyedge import bench

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
MODELS = {"seed": FIXTURES / "seed_mlp.tflite", "mlp_784": FIXTURES / "mlp_784.tflite"}


@dataclass
class Goal:
    text: str
    model: str  # key of MODELS
    batch: int
    kind: str  # "latency": pyedge time / LiteRT time <= limit; "throughput": rows/s ratio >= limit
    limit: float

    def measure(self, results: dict[str, bench.BenchResult]) -> float | None:
        batch = next((b for b in results[self.model].batches if b.batch == self.batch), None)
        if batch is None or batch.find(bench.LITERT_XNNPACK) is None:
            return None
        speedup = batch.speedup(batch.pyedge, bench.LITERT_XNNPACK)
        return 1 / speedup if self.kind == "latency" else speedup

    def check(self, results: dict[str, bench.BenchResult]) -> str:
        value = self.measure(results)
        if value is None:
            return f"SKIP  {self.text}: not measured (LiteRT missing?)"
        ok = value <= self.limit if self.kind == "latency" else value >= self.limit
        what = "latency ratio" if self.kind == "latency" else "throughput ratio"
        return f"{'PASS' if ok else 'MISS'}  {self.text}: measured {what} {value:.2f}x"


# pyedge's speed targets: 1 thread, float in and out, against LiteRT's default (XNNPACK), 1 thread.
GOALS = [
    Goal("seed 100-64-32-10 batch-1 predict latency <= 0.5x LiteRT XNNPACK", "seed", 1,
         "latency", 0.5),
    Goal("seed 100-64-32-10 batch-1024 throughput >= 1.5x LiteRT XNNPACK", "seed", 1024,
         "throughput", 1.5),
    Goal("784-256-128-10 batch-1024 throughput >= 1.0x LiteRT XNNPACK", "mlp_784", 1024,
         "throughput", 1.0),
]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model", "Hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def scaling_lines(results: dict[str, bench.BenchResult]) -> list[str]:
    lines = []
    for key, result in results.items():
        for batch in result.batches:
            scaling = batch.thread_scaling()
            if scaling:
                lines.append(f"{key} batch {batch.batch}: {scaling[0]} threads give "
                             f"{scaling[1]:.2f}x the 1-thread rows/s")
    return lines


def kernel_rows(rounds: int, target_seconds: float) -> list[list[str]]:
    """Every kernel this CPU supports, forced with PYEDGE_KERNEL, against LiteRT XNNPACK
    (1 thread): which goals hold on a CPU that has only that kernel."""
    header = ["kernel", "seed batch 1", "seed batch 1024", "784 batch 1024"]
    rows = [header]
    for kernel in [k["name"] for k in pyedge.kernels() if k["supported"]]:
        os.environ["PYEDGE_KERNEL"] = kernel
        cells = [kernel]
        for key, batch in (("seed", 1), ("seed", 1024), ("mlp_784", 1024)):
            result = bench.run_benchmark(MODELS[key], batches=(batch,), threads=1, rounds=rounds,
                                         target_seconds=target_seconds).batches[0]
            ours, speedup = result.pyedge, result.speedup(result.pyedge, bench.LITERT_XNNPACK)
            vs = f" ({speedup:.2f}x LiteRT)" if speedup else ""
            cells.append(f"{ours.seconds_per_call * 1e6:.2f} us{vs}" if batch == 1
                         else f"{ours.rows_per_second / 1e6:.2f} M rows/s{vs}")
        rows.append(cells)
    os.environ.pop("PYEDGE_KERNEL", None)
    return rows


def markdown_report(results: dict[str, bench.BenchResult], checks: list[str],
                    kernels: list[list[str]]) -> str:
    first = next(iter(results.values()))
    lines = [
        "# Benchmarks",
        "",
        "Written by `python tools/bench.py --write docs/benchmarks.md`; run `pyedge bench "
        "MODEL.tflite` for the same comparison on your own model and device.",
        "",
        "## Machine",
        "",
        f"- CPU: {cpu_model()}, {first.cpus} cores available ({platform.machine()}, "
        f"{platform.system()})",
        f"- pyedge kernel: {first.backend}",
        f"- pyedge {pyedge.__version__} (git {git_commit()}), LiteRT (ai-edge-litert) "
        f"{package_version('ai-edge-litert')}, NumPy {np.__version__}, Python "
        f"{platform.python_version()}",
        f"- date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
        "",
        "## Method",
        "",
        "All runners in one process, on the same float32 rows, float in and float out: pyedge "
        "`model.predict(x)` (1 thread, and all cores for batch 1024); LiteRT "
        "`set_tensor` + `invoke` + `get_tensor` on an interpreter allocated for the batch "
        "beforehand, with its default XNNPACK delegate and with "
        "`BUILTIN_WITHOUT_DEFAULT_DELEGATES`, 1 thread each; a NumPy float32 MLP with the "
        "model's dequantized weights (NumPy's BLAS limited to 1 thread with threadpoolctl).",
        "",
        f"Timing: {first.method}. The machine is shared, so noise can only add time: the "
        "minimum is the best estimate of each runner's cost.",
        "",
        "Ratios are speeds relative to the LiteRT runner: >1 means faster than LiteRT.",
        "",
        "## Goals",
        "",
        "Against LiteRT XNNPACK, 1 thread. Latency ratio = pyedge time / LiteRT time; "
        "throughput ratio = pyedge rows/s / LiteRT rows/s.",
        "",
        *[f"- **{check[:4]}** {check[4:].strip()}" for check in checks],
        "",
        "Thread scaling (pyedge, all cores vs 1 thread):",
        "",
        *[f"- {line}" for line in scaling_lines(results)],
        "",
        "## Each kernel",
        "",
        "pyedge with each kernel this CPU supports (forced with `PYEDGE_KERNEL`), 1 thread, "
        "against LiteRT XNNPACK (speed ratio, >1 = faster). LiteRT keeps using this CPU's best "
        "instructions, so for the narrower kernels the ratios understate what a CPU with only "
        "that ISA would see:",
        "",
        "| " + " | ".join(kernels[0]) + " |",
        "| --- |" + " ---: |" * (len(kernels[0]) - 1),
        *["| " + " | ".join(row) + " |" for row in kernels[1:]],
        "",
        "## Results",
        "",
    ]
    for result in results.values():
        lines += [bench.format_markdown(result), ""]
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="interleaved rounds (default 20)")
    parser.add_argument("--target-ms", type=float, default=25.0, help="one timed loop, ms")
    parser.add_argument("--threads", type=int, default=None, help="pyedge threads for batch 1024")
    parser.add_argument("--write", type=Path, metavar="MARKDOWN", help="write the report here")
    args = parser.parse_args()

    results = {}
    for key, path in MODELS.items():
        result = bench.run_benchmark(path, batches=(1, 1024), threads=args.threads,
                                     rounds=args.rounds, target_seconds=args.target_ms / 1e3)
        result.model = str(path.relative_to(ROOT))
        results[key] = result
        print(bench.format_text(result), end="\n\n", flush=True)
    checks = [goal.check(results) for goal in GOALS]
    print("goals (1 thread, vs LiteRT XNNPACK 1 thread):")
    print("\n".join(f"  {check}" for check in checks))
    print("\n".join(f"  {line}" for line in scaling_lines(results)))
    kernels = kernel_rows(max(3, args.rounds // 4), args.target_ms / 1e3)
    print("\neach kernel, 1 thread:")
    print("\n".join("  " + "  ".join(cell.ljust(30) for cell in row).rstrip() for row in kernels))
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(markdown_report(results, checks, kernels))
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
