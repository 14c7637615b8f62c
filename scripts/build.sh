#!/usr/bin/env bash
# Configures and builds kvmsim (Release) in ./build, installing missing Debian packages
# first. Idempotent: a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
BUILD_DIR=${KVMSIM_BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=${KVMSIM_BUILD_TYPE:-Release} \
      -DPython3_EXECUTABLE=/usr/bin/python3 ${KVMSIM_CMAKE_ARGS:-} > "/tmp/kvmsim-cmake.log" 2>&1 \
  || { cat /tmp/kvmsim-cmake.log; exit 1; }
cmake --build "$BUILD_DIR" -j "$(nproc)"
