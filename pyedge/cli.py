"""The `pyedge` command: one subcommand per function.

    pyedge bench MODEL.tflite [--batch 1 1024] [--threads N] [--rounds R] [--markdown]
    pyedge info MODEL.tflite
    pyedge kernels
    pyedge train DATA --label COLUMN --out DIR    (these four need `pip install "pyedge[train]"`:
    pyedge evaluate MODEL.tflite DATA              pyedge/train/commands.py)
    pyedge quantize MODEL.keras --calibration CALIB.npz --out MODEL.tflite
    pyedge demo

To add a subcommand, write `add_NAME(subparsers)` that declares its parser and sets
`run=` to a function taking the parsed arguments and returning the exit code, then list it in
COMMANDS. Errors the user can fix (a missing or invalid model file) are one line on stderr
and exit code 2, not a traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Callable

from .train.commands import TRAINING_COMMANDS
from .usage import UsageError, model_path

EXIT_USAGE = 2


def load_model(path: Path, **kwargs):
    from .model import Model

    try:
        return Model(path, **kwargs)
    except (ValueError, RuntimeError, FileNotFoundError) as error:
        raise UsageError(str(error)) from None


def kernels_table() -> str:
    from .model import kernels

    rows = [("kernel", "compiled", "supported", "selected")]
    rows += [(k["name"], *("yes" if k[key] else "no" for key in ("compiled", "supported", "selected")))
             for k in kernels()]
    if len(rows) == 1:
        return "no kernels: the C++ extension pyedge._core does not load"
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


# -- bench ------------------------------------------------------------------------------------

def add_bench(subparsers) -> None:
    from . import bench

    parser = subparsers.add_parser(
        "bench", help="compare pyedge's speed with LiteRT and NumPy on a model",
        description="Times pyedge, LiteRT (XNNPACK and without delegates) and a NumPy float32 "
                    "version of MODEL side by side in this process, times loading it (to the "
                    "first answer) in pyedge and LiteRT, and checks that pyedge's outputs equal "
                    "LiteRT's reference kernels.")
    parser.add_argument("model", help="a .tflite file")
    parser.add_argument("--batch", type=int, nargs="+", default=list(bench.DEFAULT_BATCHES),
                        metavar="ROWS", help="batch sizes (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="pyedge threads for batches > 1 (default: all cores)")
    parser.add_argument("--rounds", type=int, default=bench.DEFAULT_ROUNDS,
                        help="interleaved timing rounds; the minimum is reported (default: %(default)s)")
    parser.add_argument("--target-ms", type=float, default=bench.DEFAULT_TARGET_SECONDS * 1e3,
                        help="length of one timed loop in ms (default: %(default)s)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.set_defaults(run=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    from . import bench

    path = model_path(args.model)
    load_model(path)  # an invalid model is a usage error, before any timing starts
    threads_ok = args.threads is None or args.threads >= 1
    if min(args.batch) < 1 or args.rounds < 1 or not args.target_ms > 0 or not threads_ok \
            or not math.isfinite(args.target_ms):
        raise UsageError("--batch, --threads, --rounds and --target-ms must be positive")
    result = bench.run_benchmark(path, batches=tuple(args.batch), threads=args.threads,
                                 rounds=args.rounds, target_seconds=args.target_ms / 1e3)
    print(bench.format_markdown(result) if args.markdown else bench.format_text(result))
    return 0


# -- info -------------------------------------------------------------------------------------

def add_info(subparsers) -> None:
    parser = subparsers.add_parser("info", help="print a model's layers and the kernel it runs on")
    parser.add_argument("model", help="a .tflite file")
    parser.set_defaults(run=run_info)


def run_info(args: argparse.Namespace) -> int:
    print(load_model(model_path(args.model)))
    print()
    print(kernels_table())
    return 0


# -- kernels ----------------------------------------------------------------------------------

def add_kernels(subparsers) -> None:
    parser = subparsers.add_parser("kernels", help="list the kernels compiled, supported and selected")
    parser.set_defaults(run=run_kernels)


def run_kernels(args: argparse.Namespace) -> int:
    # The command that lists the valid names works when PYEDGE_KERNEL holds a bad one: it says
    # what is wrong, and marks the kernel pyedge would pick without it.
    from .model import kernel_variable_problem

    problem = kernel_variable_problem()
    if problem is None:
        print(kernels_table())
        return 0
    saved = os.environ.pop("PYEDGE_KERNEL")
    try:
        print(kernels_table().replace("selected", "selected without PYEDGE_KERNEL", 1))
    finally:
        os.environ["PYEDGE_KERNEL"] = saved
    print(f"pyedge kernels: PYEDGE_KERNEL={saved!r} is not usable here: {problem}; models will not "
          "load until it names a kernel marked supported above, or is unset", file=sys.stderr)
    return 0


COMMANDS: list[Callable] = [add_bench, add_info, add_kernels, *TRAINING_COMMANDS]


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="pyedge", description="Bit-exact int8 inference for "
                                     "small TFLite MLPs: tools.")
    parser.add_argument("--version", action="version", version=f"pyedge {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (UsageError, ValueError) as error:  # pyedge raises ValueError for what users can fix
        print(f"pyedge {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"pyedge {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
