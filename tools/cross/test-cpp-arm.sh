#!/usr/bin/env bash
# Cross-compiles the C++ tests for aarch64 and armhf (32-bit ARM) and runs them with ctest
# under qemu-user on the CPU models of the boards pyedge targets: cortex-a72 (Pi 4),
# cortex-a76 (Pi 5) and max (every extension qemu knows: dotprod, i8mm) for aarch64;
# cortex-a7 (Pi 2) and cortex-a15 for armv7. qemu raises SIGILL on an instruction the model
# lacks, so a dispatch bug that lets a Pi 4 meet sdot fails here. Every kernel a model
# supports is tested against the scalar reference (cpp/tests iterate over list_kernels());
# the summary checks that each model reports exactly the kernels it should.
# Emulation is 5-25x slower than native: PYEDGE_TEST_SHORT=1 narrows test_quantize's
# exhaustive sweep (the test says so in its output).
#
# Usage: tools/cross/test-cpp-arm.sh [aarch64] [armhf]     (default: both)
# Build dirs: ${PYEDGE_CROSS_BUILD_DIR:-<checkout>/build}/cross-cpp-<arch>.
# Needs: cmake (3.15+) and ninja (or make) on PATH, and Debian's g++-aarch64-linux-gnu,
# g++-arm-linux-gnueabihf and qemu-user-static (tools/cross/setup-host.sh installs them).
# Exits non-zero on any failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build_root=${PYEDGE_CROSS_BUILD_DIR:-$root/build}
arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(aarch64 armhf)

fail_setup() {
  echo "test-cpp-arm: $*" >&2
  echo "test-cpp-arm: on Debian 12: apt-get install g++-aarch64-linux-gnu g++-arm-linux-gnueabihf" \
       "qemu-user-static (or run tools/cross/setup-host.sh as root); pip install cmake ninja" >&2
  exit 2
}
command -v cmake >/dev/null || fail_setup "cmake not found on PATH"
command -v ctest >/dev/null || fail_setup "ctest not found on PATH"
if command -v ninja >/dev/null; then generator=Ninja; else generator="Unix Makefiles"; fi

# arch -> toolchain file, compiler, qemu, sysroot, CPU models
toolchain_of() { case $1 in aarch64) echo aarch64-linux-gnu ;; armhf) echo arm-linux-gnueabihf ;; esac; }
qemu_of() { case $1 in aarch64) echo qemu-aarch64-static ;; armhf) echo qemu-arm-static ;; esac; }
loader_of() { case $1 in aarch64) echo lib/ld-linux-aarch64.so.1 ;; armhf) echo lib/ld-linux-armhf.so.3 ;; esac; }
cpus_of() { case $1 in aarch64) echo cortex-a72 cortex-a76 max ;; armhf) echo cortex-a7 cortex-a15 ;; esac; }
# The kernels each model must report as supported (when compiled); all others unsupported.
expected_of() {
  case $1 in
    cortex-a72 | cortex-a7 | cortex-a15) echo "neon scalar" ;;
    cortex-a76) echo "neondot neon scalar" ;;
    max) echo "i8mm neondot neon scalar" ;;
  esac
}

for arch in "${arches[@]}"; do
  triple=$(toolchain_of "$arch")
  [ -n "$triple" ] || fail_setup "unknown arch '$arch' (aarch64 or armhf)"
  command -v "$triple-g++" >/dev/null || fail_setup "$triple-g++ not found"
  command -v "/usr/bin/$(qemu_of "$arch")" >/dev/null || fail_setup "/usr/bin/$(qemu_of "$arch") not found"
  [ -e "/usr/$triple/$(loader_of "$arch")" ] || fail_setup "/usr/$triple/$(loader_of "$arch") (the cross libc) not found"
done

start=$(date +%s)
summary=()
status=0
for arch in "${arches[@]}"; do
  triple=$(toolchain_of "$arch")
  build="$build_root/cross-cpp-$arch"
  echo "== $arch: configure and build in $build"
  mkdir -p "$build"
  cmake -S "$root" -B "$build" -G "$generator" -DCMAKE_TOOLCHAIN_FILE="$root/tools/cross/$triple.cmake" \
    -DPYEDGE_BUILD_TESTS=ON -DPYEDGE_BUILD_PYTHON=OFF -DCMAKE_BUILD_TYPE=Release >"$build/configure.log" 2>&1 ||
    { cat "$build/configure.log"; exit 1; }
  cmake --build "$build" -j "$(nproc)"
  bash "$root/tools/check_isa_isolation.sh" "$build" || status=1

  for cpu in $(cpus_of "$arch"); do
    log="$build/ctest-$cpu.log"
    echo "== $arch: ctest under QEMU_CPU=$cpu (log: $log)"
    t0=$(date +%s)
    result=passed
    (cd "$build" && QEMU_CPU=$cpu PYEDGE_TEST_SHORT=1 ctest -V --timeout 600) >"$log" 2>&1 || result=FAILED
    seconds=$(( $(date +%s) - t0 ))
    grep -E "^[0-9]+: .*(passed|failed|FAIL|under test|PYEDGE_TEST_SHORT)|tests passed|Test +#" "$log" |
      sed 's/^[0-9]*: /   /' | cut -c1-200 || true
    # "kernels: amx=not-compiled ... neon=supported scalar=supported" from test_fully_connected
    kernels_line=$(grep -m1 -o "test_fully_connected: kernels:.*" "$log" | sed 's/.*kernels://' || true)
    tested=$(grep -m1 -o "kernels under test:.*" "$log" | sed 's/kernels under test: *//' || true)
    supported=""
    expected=" $(expected_of "$cpu") "
    for entry in $kernels_line; do
      name=${entry%%=*} state=${entry#*=}
      [ "$state" = supported ] && supported="$supported $name"
      should=no
      [[ "$expected" == *" $name "* && "$state" != not-compiled ]] && should=yes
      if { [ $should = yes ] && [ "$state" != supported ]; } || { [ $should = no ] && [ "$state" = supported ]; }; then
        echo "   FAIL: $cpu reports $name=$state" && result=FAILED
      fi
    done
    [ -n "$kernels_line" ] || { echo "   FAIL: no kernel list in the log"; result=FAILED; }
    [ "$result" = passed ] || status=1
    summary+=("$(printf '| %-10s | %-7s | %-24s | %-19s | %4s s | %-6s |' "$cpu" "$arch" \
      "${supported# }" "${tested:-none}" "$seconds" "$result")")
  done
done

echo
echo "C++ tests under qemu-user (PYEDGE_TEST_SHORT=1), $(( $(date +%s) - start )) s in all:"
printf '| %-10s | %-7s | %-24s | %-19s | %6s | %-6s |\n' "CPU model" arch "kernels supported" \
  "kernels tested" time result
printf '| %-10s | %-7s | %-24s | %-19s | %6s | %-6s |\n' ---------- ------- ------------------------ \
  ------------------- ------ ------
printf '%s\n' "${summary[@]}"
echo "(\"kernels tested\": the SIMD kernels checked against the scalar reference; scalar is the reference.)"
exit $status
