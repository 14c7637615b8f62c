#!/usr/bin/env bash
# Builds the libFuzzer targets with clang 14 (in ./build-fuzz) and runs each for
# $FUZZ_SECONDS (default 20) on a copy of its seed corpus. A long run: FUZZ_SECONDS=3600.
set -euo pipefail
cd "$(dirname "$0")/.."
KVMSIM_WITH_FUZZ=1 ./scripts/install-deps.sh
cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVMSIM_FUZZ=ON \
      -DKVMSIM_BUILD_PYTHON=OFF -DKVMSIM_BUILD_BENCH=OFF -DKVMSIM_BUILD_TESTS=OFF > /tmp/kvmsim-fuzz-cmake.log 2>&1 \
  || { cat /tmp/kvmsim-fuzz-cmake.log; exit 1; }
targets="fuzz_scenario fuzz_perf_kvm_stat fuzz_trace fuzz_cyclictest fuzz_vmexit_log fuzz_kvm_stats fuzz_platform"
cmake --build build-fuzz -j "$(nproc)" --target $targets
export SC_COPYRIGHT_MESSAGE=DISABLE
mkdir -p fuzz-artifacts
status=0
for t in $targets; do
  work=$(mktemp -d)
  log=$(mktemp)
  cp -r "fuzz/corpus/$t/." "$work/"
  echo "== $t (${FUZZ_SECONDS:-20} s)"
  if ! build-fuzz/fuzz/$t -max_total_time="${FUZZ_SECONDS:-20}" -rss_limit_mb=2048 -timeout=10 \
       -artifact_prefix=fuzz-artifacts/ -print_final_stats=1 "$work" > "$log" 2>&1; then
    grep -E "ERROR|SUMMARY|Test unit written" "$log" || tail -20 "$log"
    echo "$t: FAILED (the input is in fuzz-artifacts/)"
    status=1
  fi
  grep -E "stat::number_of_executed_units" "$log" || true
  rm -rf "$work" "$log"
done
exit $status
