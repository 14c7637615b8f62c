#!/usr/bin/env bash
# Speed and memory figures for the README's performance section (not a test: timings on a
# shared machine are noisy). Builds first.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
export SC_COPYRIGHT_MESSAGE=DISABLE
B=${KVMSIM_BUILD_DIR:-build}
"$B/bench/kvmsim_bench" --benchmark_counters_tabular=true
echo
echo "Peak memory, 104-vCPU large-VM mix (goal: under 500 MB):"
/usr/bin/time -f "  max RSS %M KB, wall %e s" "$B/apps/kvmsim" run scenarios/large_vm_mix.yaml \
  --set vm.vcpus=104 --quiet --out /tmp/kvmsim-bench-mix
echo "Full kvm-unit-tests vmexit scenario (2^30 cycles per test):"
/usr/bin/time -f "  wall %e s, max RSS %M KB" "$B/apps/kvmsim" run scenarios/vmexit.yaml --quiet --out /tmp/kvmsim-bench-vmexit
