"""The model fuzzer (tools/fuzz_models.py) as a gate: random valid int8 models must run on pyedge
as on LiteRT's BUILTIN_REF kernels, bit for bit, on every kernel, and be refused alike.

The bounded run also asserts that it tested something: models ran natively on each kernel this
CPU supports, each native op (the CNN ops too) ran natively in some model, and some went to
the interpreter. Findings promoted to tests/fixtures/fuzz_models/
(a .tflite with its inputs .npz, once the bug it shows is fixed) are replayed one by one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FUZZER = ROOT / "tools" / "fuzz_models.py"
FIXTURES = ROOT / "tests" / "fixtures" / "fuzz_models"
MODELS = 200

pytest.importorskip("ai_edge_litert.interpreter")


def supported_kernels() -> list[str]:
    import pyedge

    return [k["name"] for k in pyedge.kernels() if k["supported"]]


def test_fuzzed_models_agree_with_litert(tmp_path: Path) -> None:
    stats = tmp_path / "stats.json"
    run = subprocess.run(
        [sys.executable, str(FUZZER), "--models", str(MODELS), "--seed", "1",
         "--save", str(tmp_path / "findings"), "--stats", str(stats)],
        capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert stats.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    counts = json.loads(stats.read_text())
    # The gate must not pass while testing nothing.
    assert counts["models"] >= MODELS
    for kernel in supported_kernels():
        assert counts["per_kernel"].get(kernel, 0) > 0, f"no model ran natively on {kernel}"
    assert counts["fallback"] > 0, "no model went to the interpreter"
    for op in ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D",
               "SOFTMAX"):
        assert counts["native_ops"].get(op, 0) > 0, f"no model ran {op} natively"
    assert run.returncode == 0, run.stdout[-5000:]


def saved_findings() -> list[Path]:
    return sorted(FIXTURES.glob("*.tflite"))


@pytest.mark.parametrize("path", saved_findings(), ids=lambda p: p.stem)
def test_saved_finding_agrees(path: Path) -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    import fuzz_models

    content, batches = fuzz_models.load_finding(path)
    outcome = fuzz_models.check_model(content, batches, fuzz_models.supported_kernels())
    assert not outcome.cause, f"{outcome.cause}: {outcome.detail}"
