#!/usr/bin/env bash
# A SIMD kernel file is compiled with its own ISA flags. If it defined an inline function or
# template instance that other files also use (a weak symbol: std::vector<int>::resize, say),
# the linker could keep the AVX-512 copy for the whole library, and a CPU without AVX-512
# would die with SIGILL far from any kernel. So: no weak code symbols in those objects.
# Meaningful for optimized builds (at -O0 GCC emits weak copies of even trivial inlines).
# Usage: tools/check_isa_isolation.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR}
status=0
objects=0
while IFS= read -r object; do
  objects=$((objects + 1))
  weak=$(nm -C --defined-only "$object" | awk '$2 == "W" || $2 == "w"' || true)
  if [ -n "$weak" ]; then
    echo "$object defines weak code symbols that could replace baseline code:"
    echo "$weak"
    status=1
  fi
done < <(find "$build" -name '*_avx*.o' -o -name '*_amx*.o' -o -name '*_neon*.o' -o -name '*_i8mm*.o' |
           sort)
if [ $objects -eq 0 ]; then
  # x86-64 and ARM builds have SIMD kernels: none means a wrong folder or a broken build.
  # Other architectures (riscv64, ppc64le, ...) have only the scalar kernel: nothing to check.
  processor=$(sed -n 's/^set(CMAKE_SYSTEM_PROCESSOR "\(.*\)")$/\1/p' \
                "$build"/CMakeFiles/*/CMakeSystem.cmake 2>/dev/null | head -1 || true)
  if [ -z "$processor" ] || [[ $processor =~ ^(x86_64|AMD64|aarch64|arm64|armv[6-9].*|arm)$ ]]; then
    echo "ISA isolation: no SIMD kernel objects under $build: nothing was checked" >&2
    exit 1
  fi
  echo "ISA isolation: this architecture has no SIMD kernels: nothing to check"
  exit 0
fi
[ $status -eq 0 ] && echo "ISA isolation: no shared code symbols in the $objects SIMD kernel objects"
exit $status
