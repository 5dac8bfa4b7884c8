"""On this CPU (or qemu's model of one): the CPU features are read right, the native backend runs
on the kernel this CPU must get, and a kernel the CPU lacks is refused, not run into SIGILL.

What to expect comes from tests/expected_kernels.py: Linux's /proc/cpuinfo, or, under qemu,
PYEDGE_EXPECT_SUPPORTED (every kernel that CPU runs, comma-separated) and PYEDGE_EXPECT_KERNEL
(the one chosen without PYEDGE_KERNEL, e.g. "neon" on a Cortex-A72 / Pi 4), which
tools/cross/test-arm.sh sets per emulated CPU model. Only where neither says anything (not
Linux) do these tests skip.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import fixture_path
from expected_kernels import expected_supported

import pyedge

# Of the kernels this CPU has, those this build compiled (CMake leaves out AMX and AVX-VNNI
# with a compiler older than GCC 11 / Clang 12; its configure output says which it built).
COMPILED = {k["name"] for k in pyedge.kernels() if k["compiled"]}
EXPECT_SUPPORTED = [k for k in expected_supported() or [] if k in COMPILED]
# pyedge takes the first kernel of its list that the CPU supports.
EXPECT_KERNEL = os.environ.get("PYEDGE_EXPECT_KERNEL") or (EXPECT_SUPPORTED or [""])[0]
pytestmark = pytest.mark.skipif(
    not EXPECT_SUPPORTED, reason="what this CPU must run is unknown here (not Linux, and "
                                 "PYEDGE_EXPECT_SUPPORTED not set)")


@pytest.fixture(autouse=True)
def _automatic_kernel_choice(monkeypatch) -> None:
    monkeypatch.delenv("PYEDGE_KERNEL", raising=False)


def test_the_cpu_supports_exactly_the_expected_kernels() -> None:
    supported = [k["name"] for k in pyedge.kernels() if k["supported"]]
    assert supported == EXPECT_SUPPORTED


def test_the_expected_kernel_is_selected() -> None:
    selected = [k["name"] for k in pyedge.kernels() if k["selected"]]
    assert selected == [EXPECT_KERNEL]


def test_a_model_runs_natively_on_the_expected_kernel() -> None:
    model = pyedge.Model(fixture_path("seed_mlp"))
    assert model.backend.startswith(f"native (kernel {EXPECT_KERNEL},"), model.backend
    assert model.predict(np.zeros((3, 100), np.float32)).shape == (3, 10)


def test_kernels_this_cpu_lacks_are_refused(monkeypatch) -> None:
    unsupported = [k["name"] for k in pyedge.kernels() if k["compiled"] and not k["supported"]]
    if not unsupported:
        pytest.skip("this CPU runs every kernel compiled into this build")
    for name in unsupported:
        monkeypatch.setenv("PYEDGE_KERNEL", name)
        with pytest.raises(ValueError, match=f"kernel '{name}' is not supported by this CPU"):
            pyedge.Model(fixture_path("seed_mlp"))


# Each family's ops take their best implementation within its instructions (kernel_registry.cc):
# the quantizer and softmax of the widest ISA the family includes.
QUANTIZE_OF = {"amx": "avx512", "avx512vnni": "avx512", "avxvnni": "avx2", "avx2": "avx2",
               "i8mm": "neon", "neondot": "neon", "neon": "neon", "scalar": "scalar"}
SOFTMAX_OF = {"amx": "avx512", "avx512vnni": "avx512"}


def test_each_op_runs_the_best_implementation_its_kernel_family_allows(monkeypatch) -> None:
    # The seed MLP quantizes its float input, then FULLY_CONNECTED x 3 and SOFTMAX.
    for family in EXPECT_SUPPORTED:
        monkeypatch.setenv("PYEDGE_KERNEL", family)
        backend = pyedge.Model(fixture_path("seed_mlp"), num_threads=1).backend
        assert backend == (f"native (kernel {family}, 1 thread; quantize {QUANTIZE_OF[family]}, "
                           f"fully_connected {family}, softmax {SOFTMAX_OF.get(family, 'scalar')})")
