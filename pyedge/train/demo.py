"""`pyedge demo`: the whole pipeline on real data in about a minute.

Trains an MLP (Dense 64 relu -> Dense 32 relu -> Dense 10 softmax) on
scikit-learn's handwritten digits, quantizes it to int8, compares float32 and int8 on the
validation split, runs the .tflite with pyedge.Model on raw pixel values, checks it against
LiteRT's reference kernels bit for bit, and times pyedge next to LiteRT when LiteRT is there.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from ..model import Model
from .datasets import digits
from .pipeline import fit
from .report import evaluation_lines, model_lines
from .tensorflow_import import quiet_native_output

DEFAULT_OUT = Path("runs") / "demo"


def run_demo(out: str | os.PathLike = DEFAULT_OUT, epochs: int = 10, speed: bool = True,
             verbose: int | str = 2, log: Callable[[str], None] = print) -> int:
    """Runs the demo, printing as it goes; returns 0, or 1 if pyedge and LiteRT disagree."""
    start = time.perf_counter()
    log("pyedge demo: scikit-learn's handwritten digits (1,797 real 8x8 images, 64 pixel "
        "features, 10 classes)")
    log(f"1/4 training Dense(64, relu) -> Dense(32, relu) -> Dense(10, softmax), {epochs} epochs, "
        "then quantizing to int8 with the TFLite converter")
    result = fit(digits(), out=out, epochs=epochs, verbose=verbose)
    report = result.report

    log("\n2/4 float32 (Keras) vs int8 (pyedge) on the validation split")
    for line in [*model_lines(report["model"]), "", *evaluation_lines(report["validation"], "validation")]:
        log(f"  {line}".rstrip())

    log("\n3/4 the .tflite on a device: pyedge.Model(path).predict(raw pixel values)")
    model = Model(result.files["tflite"])
    for line in model.summary().splitlines():
        log("  " + line)
    rows = result.validation
    probabilities = model.predict(rows.x[:8])
    predicted = model.classes[probabilities.argmax(axis=1)]
    log(f"  first 8 validation images: predicted {' '.join(str(c) for c in predicted)}")
    log(f"                             true      {' '.join(str(c) for c in rows.labels()[:8])}")
    litert = report["validation"]["litert"]
    same = litert is None or litert["identical"]

    if speed:
        log("\n4/4 speed, in this process, 1 thread each")
        log(speed_lines(result.files["tflite"]))
    else:
        log("\n4/4 speed: skipped")
    log(f"\ndone in {time.perf_counter() - start:.0f} s; files:")
    for name, path in result.files.items():
        log(f"  {name:<10} {path}")
    if not same:
        log("pyedge and LiteRT BUILTIN_REF DIFFER on this model: please report it")
    return 0 if same else 1


def speed_lines(path: Path) -> str:
    from ..bench import LITERT_XNNPACK, run_benchmark
    from ..interpreter import litert_module

    if litert_module() is None:
        return ('  LiteRT is not installed: no comparison (pip install "pyedge[litert]"); '
                f"pyedge bench {path} times pyedge alone")
    with quiet_native_output():  # LiteRT announces its XNNPACK delegate on stderr
        result = run_benchmark(path, batches=(1, 1024), threads=1, rounds=5, target_seconds=0.02)
    header = ("batch", "pyedge", f"{LITERT_XNNPACK}", "pyedge vs LiteRT")
    rows = [header]
    for batch in result.batches:
        mine, theirs = batch.pyedge, batch.find(LITERT_XNNPACK)
        unit = (lambda r: f"{r.seconds_per_call * 1e6:.2f} us") if batch.batch == 1 else \
            (lambda r: f"{r.rows_per_second / 1e6:.2f} M rows/s")
        rows.append((str(batch.batch), unit(mine), unit(theirs),
                     f"{theirs.seconds_per_call / mine.seconds_per_call:.2f}x the speed"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  " + "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.append("  pyedge's times include standardizing the raw features; LiteRT gets them "
                 f"standardized. Full comparison: pyedge bench {path}")
    return "\n".join(lines)
