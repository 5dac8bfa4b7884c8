#!/usr/bin/env bash
# Builds pyedge's aarch64 and armv7l wheels and runs the test suite on them under qemu, on the
# CPU models of the Raspberry Pis (and qemu's `max`), from an x86-64 Debian 12 host as root:
#   - aarch64: the wheel in an emulated Python 3.11 venv (Debian's arm64 interpreter);
#   - armv7l: the wheel in an armhf Debian bookworm rootfs (chroot; Debian's NumPy);
#   - each CPU model: the native backend must run, on the kernel that CPU must get
#     (tests/test_cpu_kernels.py), and every kernel the CPU supports must give the int8 tensors
#     recorded from LiteRT on x86 (tests/fixtures/expected.json), bit for bit;
#   - the baseline CPU of each architecture (Pi 4's Cortex-A72, Pi 2's Cortex-A7) also runs the
#     rest of the suite; tests that need TensorFlow or LiteRT skip there (neither installs);
#   - the C++ kernel tests (tools/cross/test-cpp-arm.sh, when present);
#   - the sdist: pip builds and installs it inside the emulated aarch64 Python, then its own tests
#     run against it.
# Prints a summary table; exits non-zero on any failure.
#
#   tools/cross/test-arm.sh [--compiler auto|zig|gcc]   (the wheels' compiler: build-wheels.sh)
# Folders: PYEDGE_CROSS_CACHE (~/.cache/pyedge-cross), PYEDGE_CROSS_BUILD (build/cross),
# PYEDGE_CROSS_DIST (dist).
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=$PWD
COMPILER=auto
while [ $# -gt 0 ]; do
  case $1 in
    --compiler) COMPILER=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "test-arm: unknown argument $1" >&2; exit 2 ;;
  esac
done
START=$(date +%s)
elapsed() { echo "$(( $(date +%s) - START )) s"; }
step() { echo; echo "== [$(elapsed)] $*"; }
export PIP_DISABLE_PIP_VERSION_CHECK=1

# CPU model, the Pi it stands for, the kernel it must select, every kernel it must support
# (in pyedge.kernels() order), and which tests: "all" (the device suite) or "kernels" (only the
# kernel-dependent files; the rest does not change with the CPU model, and under `max` NumPy's
# SVE paths make the NumPy reference backend ~10x slower to emulate).
AARCH64_CPUS=(
  "cortex-a72  Pi-4        neon     neon,scalar          all"
  "cortex-a76  Pi-5        neondot  neondot,neon,scalar  kernels"
  "max         qemu-max    i8mm     i8mm,neondot,neon,scalar  kernels"
)
ARMV7_CPUS=(
  "cortex-a7   Pi-2        neon     neon,scalar          all"
  "cortex-a15  Cortex-A15  neon     neon,scalar          kernels"
)
KERNEL_TESTS=(tests/test_bitexact.py tests/test_cpu_kernels.py -k "not reference_backend")
# Left out under emulation only (tools/test.sh runs them natively):
EMULATION_DESELECT=(
  # qemu-user runs the guest's threads as host threads in x86 memory order, so this stress test
  # cannot find an ARM-only race, and it takes ~9 minutes emulated.
  --deselect tests/test_threads.py::test_shared_model_gives_the_serial_results
  # RLIMIT_AS does not bound the thread stacks of a qemu-user guest: 1000 threads do start.
  --deselect tests/test_model_api.py::test_threads_the_system_refuses_are_an_error_not_an_abort
)
FIXTURES=$(python3 -c "import json; print(len(json.load(open('tests/fixtures/expected.json'))))")

step "host setup (tools/cross/setup-host.sh)"
eval "$(tools/cross/setup-host.sh --print-env)"
OUT=${PYEDGE_CROSS_BUILD:-$SRC/build/cross}/test-arm
rm -rf "$OUT" && mkdir -p "$OUT"

step "wheels (tools/cross/build-wheels.sh --compiler $COMPILER)"
DIST=${PYEDGE_CROSS_DIST:-$SRC/dist}
tools/cross/build-wheels.sh --compiler "$COMPILER" --out "$DIST"
WHEEL_A64=$(ls "$DIST"/pyedge-*_aarch64.whl)
WHEEL_ARMV7=$(ls "$DIST"/pyedge-*_armv7l.whl)

# The runners: `RUNNER probe` prints the kernel pyedge selects; `RUNNER pytest REPORT ARGS...`
# runs pytest on the installed wheel and leaves the JUnit report at $OUT/REPORT. Both inherit
# QEMU_CPU and PYEDGE_EXPECT_* from the environment (also through chroot).
PROBE="import pyedge; print(*[k['name'] for k in pyedge.kernels() if k['selected']])"

# aarch64: the emulated venv's python runs under qemu through binfmt_misc, tests straight from
# the checkout; -P keeps the checkout (whose pyedge/ has no compiled _core) off sys.path.
run_aarch64() {
  local what=$1; shift
  case $what in
    probe) (cd "$SRC" && "$VENV_A64/bin/python" -P -c "$PROBE") ;;
    pytest) local report=$1; shift
            (cd "$SRC" && "$VENV_A64/bin/python" -P -m pytest --junitxml="$OUT/$report" "$@") ;;
  esac
}
# armv7l: chroot into the armhf rootfs, whose /srv/pyedge holds the tests and pyproject.toml.
run_armv7l() {
  local what=$1; shift
  case $what in
    probe) chroot "$ROOTFS" /usr/bin/env HOME=/root sh -c \
             'cd /srv/pyedge && exec /opt/venv/bin/python -P -c "$0"' "$PROBE" ;;
    pytest) local report=$1 rc=0; shift
            chroot "$ROOTFS" /usr/bin/env HOME=/root sh -c \
              'cd /srv/pyedge && exec /opt/venv/bin/python -P -m pytest "$@"' sh \
              --junitxml="/srv/pyedge/$report" "$@" || rc=$?
            if [ -f "$ROOTFS/srv/pyedge/$report" ]; then cp "$ROOTFS/srv/pyedge/$report" "$OUT/"; fi
            return $rc ;;
  esac
}

# One CPU model: probe the selected kernel, run pytest, add a row to $OUT/summary-ARCH.
run_cpu() {  # ARCH "CPU-LINE"
  local arch=$1 cpu pi kernel supported tests
  read -r cpu pi kernel supported tests <<<"$2"
  local report=$arch-$cpu.xml log=$OUT/$arch-$cpu.log started selected rc=0
  local args=(-p no:cacheprovider -q -rfEs "${EMULATION_DESELECT[@]}")
  if [ "$tests" = kernels ]; then args+=("${KERNEL_TESTS[@]}"); else args+=(tests); fi
  started=$(date +%s)
  export QEMU_CPU=$cpu PYEDGE_EXPECT_KERNEL=$kernel PYEDGE_EXPECT_SUPPORTED=$supported
  selected=$("run_$arch" probe 2>&1 | tail -1) || selected="crash"
  "run_$arch" pytest "$report" "${args[@]}" >"$log" 2>&1 || rc=$?
  unset QEMU_CPU PYEDGE_EXPECT_KERNEL PYEDGE_EXPECT_SUPPORTED
  local counts="- - - -" passed failed skipped bitexact verdict=ok
  [ -f "$OUT/$report" ] \
    && counts=$("$HOST_VENV/bin/python" tools/cross/junit_counts.py "$OUT/$report" "$kernel")
  read -r passed failed skipped bitexact <<<"$counts"
  if [ $rc != 0 ] || [ "$selected" != "$kernel" ] || [ "$bitexact" != "$FIXTURES" ]; then
    verdict="FAIL"
    {
      echo "-- $arch $cpu: pytest rc $rc; selected kernel '$selected' (expected $kernel);" \
           "bit-exact tests passed on $kernel: $bitexact of $FIXTURES; $log ends:"
      tail -40 "$log"
    } >>"$OUT/failures-$arch"
  fi
  printf '%-8s %-11s %-10s %-8s %-8s %6s %6s %7s %8s %6s  %s\n' "$arch" "$cpu" "$pi" "$selected" \
    "$tests" "$passed" "$failed" "$skipped" "$bitexact/$FIXTURES" \
    "$(( $(date +%s) - started ))s" "$verdict" >>"$OUT/summary-$arch"
}

quiet_pip() { grep -v "^WARNING: Location '.*' is ignored" || true; }

test_aarch64() {
  "$VENV_A64/bin/python" -m pip install -q --force-reinstall --no-deps "$WHEEL_A64" 2>&1 | quiet_pip
  local line
  for line in "${AARCH64_CPUS[@]}"; do run_cpu aarch64 "$line"; done
}

test_armv7l() {
  rm -rf "$ROOTFS/srv/pyedge" && mkdir -p "$ROOTFS/srv/pyedge"
  cp -r tests pyproject.toml "$WHEEL_ARMV7" "$ROOTFS/srv/pyedge/"
  find "$ROOTFS/srv/pyedge" -name __pycache__ -prune -exec rm -rf {} +
  chroot "$ROOTFS" /opt/venv/bin/pip install -q --force-reinstall --no-deps \
    "/srv/pyedge/$(basename "$WHEEL_ARMV7")" 2>&1 | quiet_pip
  local line
  for line in "${ARMV7_CPUS[@]}"; do run_cpu armv7l "$line"; done
}

# The sdist, as `pip install pyedge-*.tar.gz` on a Pi builds it: pip under qemu, build isolation
# fetching scikit-build-core, pybind11 and aarch64 cmake/ninja from PyPI, CMake's native (not
# cross) aarch64 configuration with the emulated interpreter and its headers. Only the compiler
# is Debian's x86-hosted aarch64 GCC 12 (bookworm's arm64 g++ is the same GCC 12.2): an
# emulated cc1plus would add minutes to every run, and an arm64 build-essential rootfs several
# more to CI's cold start.
test_sdist() {
  local sdist_dir=$OUT/sdist log=$OUT/sdist.log started rc=0 bitexact="-" passed="-" failed="-"
  started=$(date +%s)
  (
    rm -rf "$sdist_dir" && mkdir -p "$sdist_dir"
    "$HOST_VENV/bin/python" -m build --sdist --no-isolation --outdir "$sdist_dir" "$SRC"
    local sdist
    sdist=$(ls "$sdist_dir"/pyedge-*.tar.gz)
    # PATH holds only aarch64 programs, as on a Pi: the venv and the interpreter's folder (with
    # an aarch64 uname for CMake); cmake and ninja come from PyPI into pip's build environment.
    PATH=$VENV_A64/bin:$PYROOT/usr/bin CXX=/usr/bin/aarch64-linux-gnu-g++ QEMU_CPU=cortex-a72 \
      "$VENV_A64/bin/python" -m pip install --force-reinstall --no-deps --no-cache-dir "$sdist" 2>&1 \
      | quiet_pip
    tar xzf "$sdist" -C "$sdist_dir"
    # The sdist's own tests, on the module it built: device checks and bit-exactness on the
    # seed models (Pi 4 model).
    cd "$sdist_dir"/pyedge-*/
    QEMU_CPU=cortex-a72 PYEDGE_EXPECT_KERNEL=neon PYEDGE_EXPECT_SUPPORTED=neon,scalar \
      "$VENV_A64/bin/python" -P -m pytest -p no:cacheprovider -q --junitxml="$OUT/sdist.xml" \
      tests/test_cpu_kernels.py tests/test_bitexact.py -k "cpu_kernels or (native_kernel and seed_mlp)"
  ) >"$log" 2>&1 || rc=$?
  local skipped=- verdict=ok
  [ -f "$OUT/sdist.xml" ] && read -r passed failed skipped bitexact \
    <<<"$("$HOST_VENV/bin/python" tools/cross/junit_counts.py "$OUT/sdist.xml" neon)"
  if [ $rc != 0 ] || [ "$passed" = - ] || [ "$passed" = 0 ]; then
    verdict=FAIL
    { echo "-- sdist (rc $rc); $log ends:"; tail -40 "$log"; } >>"$OUT/failures-sdist"
  fi
  printf '%-8s %-11s %-10s %-8s %-8s %6s %6s %7s %8s %6s  %s\n' aarch64 cortex-a72 sdist-build \
    neon seed "$passed" "$failed" "$skipped" "$bitexact/3" "$(( $(date +%s) - started ))s" \
    "$verdict" >"$OUT/summary-sdist"
}

test_cpp() {
  local started log=$OUT/cpp.log
  started=$(date +%s)
  if [ ! -f tools/cross/test-cpp-arm.sh ]; then
    echo "C++ kernel tests: tools/cross/test-cpp-arm.sh not present, not run" >"$OUT/summary-cpp"
    return 0
  fi
  # cmake, ninja and ctest from the host venv; build dirs beside the others.
  if PATH=$HOST_VENV/bin:$PATH PYEDGE_CROSS_BUILD_DIR=$OUT/cpp-build \
       bash tools/cross/test-cpp-arm.sh >"$log" 2>&1; then
    # Its own table (from the line that introduces it) follows ours.
    { echo "C++ kernel tests (tools/cross/test-cpp-arm.sh): ok in $(( $(date +%s) - started )) s"
      sed -n '/^C++ tests under qemu/,$p' "$log"; } >"$OUT/summary-cpp"
  else
    echo "C++ kernel tests (tools/cross/test-cpp-arm.sh): FAIL, log $log" >"$OUT/summary-cpp"
    { echo "-- C++ kernel tests; $log ends:"; tail -40 "$log"; } >>"$OUT/failures-cpp"
  fi
}

FAILED=0
step "under qemu, side by side: aarch64 pytest then the sdist; armv7l pytest; C++ tests"
echo "(logs in $OUT)"
{ test_aarch64; test_sdist; } &
a64_job=$!
test_armv7l &
armv7_job=$!
test_cpp &
cpp_job=$!
wait $a64_job || FAILED=1
wait $armv7_job || FAILED=1
wait $cpp_job || FAILED=1

step "summary ($(elapsed) in all)"
cat "$OUT"/failures-* 2>/dev/null && FAILED=1
echo
printf '%-8s %-11s %-10s %-8s %-8s %6s %6s %7s %8s %6s  %s\n' arch "CPU model" device kernel tests \
  passed failed skipped bit-exact time verdict
cat "$OUT"/summary-aarch64 "$OUT"/summary-armv7l "$OUT"/summary-sdist "$OUT"/summary-cpp || FAILED=1
echo "wheels: $(basename "$WHEEL_A64") $(basename "$WHEEL_ARMV7")"
echo "bit-exact: tests/test_bitexact.py on the selected kernel that passed, of $FIXTURES fixtures" \
     "(digests of LiteRT BUILTIN_REF's int8 tensors, recorded on x86)"
echo "left out under emulation (see EMULATION_DESELECT):" \
     "$(printf '%s ' "${EMULATION_DESELECT[@]}" | sed 's/--deselect //g')"
if grep -q FAIL "$OUT"/summary-* 2>/dev/null || [ $FAILED != 0 ]; then
  echo "test-arm: FAILED"; exit 1
fi
echo "test-arm: all passed"
