from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "fixtures"
sys.path.insert(0, str(TESTS))  # tests/inputs.py, tests/litert_reference.py

EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
QUANTIZED_FIXTURES = sorted(EXPECTED)


def fixture_path(name: str) -> Path:
    return FIXTURES / f"{name}.tflite"


def pyedge_command(*args: str, cwd: str | Path = "/", **environment: str) -> subprocess.CompletedProcess:
    """The installed `pyedge` command in its own process, as a user runs it."""
    script = Path(sys.executable).with_name("pyedge")
    return subprocess.run([str(script), *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **environment})


def supported_kernels() -> list[str]:
    import pyedge

    return [k["name"] for k in pyedge.kernels() if k["supported"]]


@pytest.fixture(params=QUANTIZED_FIXTURES)
def quantized_fixture(request) -> str:
    return request.param
