#!/usr/bin/env bash
# The README's test command: sets up .venv, builds and installs pyedge from this checkout,
# builds and runs the C++ kernel tests, lints, and runs the Python test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q cmake ninja
.venv/bin/python -m pip install -q ".[test]"

echo "== C++ kernel tests"
# (CMake's configure summary stays in the log: which kernels this compiler builds.)
.venv/bin/cmake -S . -B build/cpp-tests -G Ninja -DCMAKE_MAKE_PROGRAM="$PWD/.venv/bin/ninja" \
  -DPYEDGE_BUILD_TESTS=ON -DPYEDGE_BUILD_PYTHON=OFF -DCMAKE_BUILD_TYPE=Release
.venv/bin/cmake --build build/cpp-tests
# The kernels this CPU must get, from /proc/cpuinfo: a kernel test fails if one is missing.
PYEDGE_EXPECT_SUPPORTED=${PYEDGE_EXPECT_SUPPORTED:-$(.venv/bin/python tests/expected_kernels.py)}
echo "kernels this CPU must support: ${PYEDGE_EXPECT_SUPPORTED:-(unknown here: not checked)}"
export PYEDGE_EXPECT_SUPPORTED
.venv/bin/ctest --test-dir build/cpp-tests --output-on-failure
bash tools/check_isa_isolation.sh build/cpp-tests

echo "== lint"
.venv/bin/ruff check pyedge tools tests

echo "== Python tests"
# The installed package is tested (not the source folder, which has no compiled _core):
# the pytest script, unlike `python -m pytest`, does not put the checkout on sys.path.
.venv/bin/pytest -q "$@"
