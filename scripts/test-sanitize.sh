#!/usr/bin/env bash
# The C++ test suite under AddressSanitizer and UndefinedBehaviorSanitizer, in ./build-asan.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVMSIM_SANITIZE=ON \
      -DKVMSIM_BUILD_PYTHON=OFF -DKVMSIM_BUILD_BENCH=OFF > /tmp/kvmsim-asan-cmake.log 2>&1 \
  || { cat /tmp/kvmsim-asan-cmake.log; exit 1; }
cmake --build build-asan -j "$(nproc)" --target kvmsim kvmsim_tests
export SC_COPYRIGHT_MESSAGE=DISABLE
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp
ctest --test-dir build-asan --output-on-failure -j "$(nproc)"
