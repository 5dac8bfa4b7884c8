"""The kernels this CPU must get, from what the operating system says it has, not from pyedge.

pyedge reads CPUID (x86) or the auxiliary vector (ARM) itself; this reads Linux's
/proc/cpuinfo instead, so that a CPU-detection regression fails a test rather than passing on
the scalar kernel (the tests compare the kernels compiled into the build). When set,
PYEDGE_EXPECT_SUPPORTED wins: under qemu-user /proc/cpuinfo is the host's, so
tools/cross/test-arm.sh sets it per emulated CPU model. Run as a script, it prints the list
(comma-separated; empty when unknown), which tools/test.sh hands to the C++ kernel tests.
"""

from __future__ import annotations

import os
import platform
import struct

# Each kernel with the /proc/cpuinfo flags it needs (Linux's names; cpu_features.cc asks CPUID
# for the same), in pyedge.kernels() order.
_AVX512 = {"avx2", "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_vnni"}
TABLES = {
    "x86_64": [("amx", _AVX512 | {"amx_tile", "amx_int8"}), ("avx512vnni", _AVX512),
               ("avxvnni", {"avx2", "avx_vnni"}), ("avx2", {"avx2"})],
    "aarch64": [("i8mm", {"i8mm"}), ("neondot", {"asimddp"}), ("neon", {"asimd"})],
    "armv7l": [("neon", {"neon"})],
}


def _cpuinfo_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return set()
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def expected_supported() -> list[str] | None:
    """The supported kernels, in pyedge.kernels() order; None where this cannot be known."""
    if os.environ.get("PYEDGE_EXPECT_SUPPORTED"):
        return os.environ["PYEDGE_EXPECT_SUPPORTED"].split(",")
    machine = platform.machine().lower()
    if machine in ("aarch64", "arm64") and struct.calcsize("P") == 4:
        machine = "armv7l"  # a 32-bit userland on a 64-bit kernel (Raspberry Pi OS 32-bit)
    table = TABLES.get(machine)
    flags = _cpuinfo_flags()
    if table is None or not flags or platform.system() != "Linux":
        return None
    return [name for name, needs in table if needs <= flags] + ["scalar"]


if __name__ == "__main__":
    kernels = expected_supported()
    print(",".join(kernels) if kernels else "")
