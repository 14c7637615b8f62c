#!/bin/sh
# Every shipped scenario runs, short, and reports invariant.* = 0 (kvmsim exits 3 otherwise).
set -e
kvmsim=$1
dir=$2
for f in "$dir"/*.yaml; do
  echo "== $f"
  "$kvmsim" run "$f" --quiet --out "smoke-$(basename "$f" .yaml)" \
    --set vmexit.goal_cycles=1000000 --set ipi.iterations=20 --set mix.duration_ms=5 --set cyclictest.loops=200 --set overcommit.duration_ms=3 \
    --set cpuid_loop.iterations=2000 --set clock_gettime.iterations=2000 --set kbuild.work_ms=2 \
    --set ebizzy.duration_ms=2 --set dedup.duration_ms=2 --set unixbench.duration_ms=5 --set idle.duration_ms=5
done
