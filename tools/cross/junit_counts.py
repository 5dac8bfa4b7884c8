"""Counts one pytest JUnit XML report for tools/cross/test-arm.sh's summary.

Prints "passed failed skipped bitexact": bitexact is how many bit-exactness tests
(test_native_kernel_matches_litert) passed on the given kernel, so the summary can insist that
the kernel a CPU selects was really compared with the x86 reference digests, not skipped.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET


def counts(report: str, kernel: str) -> tuple[int, int, int, int]:
    passed = failed = skipped = bitexact = 0
    for case in ET.parse(report).getroot().iter("testcase"):
        outcomes = {child.tag for child in case}
        if outcomes & {"failure", "error"}:
            failed += 1
        elif "skipped" in outcomes:
            skipped += 1
        else:
            passed += 1
            name = case.get("name", "")
            if name.startswith("test_native_kernel_matches_litert[") and name.endswith(f"-{kernel}]"):
                bitexact += 1
    return passed, failed, skipped, bitexact


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: junit_counts.py REPORT.xml KERNEL")
    print(*counts(sys.argv[1], sys.argv[2]))
