#!/usr/bin/env bash
# Every test: set up, build, then ctest (GoogleTest and scenario tests) and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
export SC_COPYRIGHT_MESSAGE=DISABLE
BUILD_DIR=${KVMSIM_BUILD_DIR:-build}
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)"
if [ -d tests/python ] && ls tests/python/test_*.py >/dev/null 2>&1; then
  KVMSIM_BUILD_DIR="$(cd "$BUILD_DIR" && pwd)" /usr/bin/python3 -m pytest tests/python -q
fi
