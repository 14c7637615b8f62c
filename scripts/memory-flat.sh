#!/usr/bin/env bash
# Long-run memory: runs the largest steady-state scenario (scenarios/large_vm_mix.yaml, 72
# vCPUs) for SIM_MINUTES simulated minutes (default 10), samples the process's resident set
# every SAMPLE_S seconds, and checks it stays flat after warm-up: the growth from the
# sample at 20% of the run to the last one must stay under 5%.
# Usage: scripts/memory-flat.sh [extra kvmsim run options]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh > /dev/null
export SC_COPYRIGHT_MESSAGE=DISABLE
minutes=${SIM_MINUTES:-10}
sample_s=${SAMPLE_S:-5}
ms=$((minutes * 60000))
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
build/apps/kvmsim run scenarios/large_vm_mix.yaml --quiet --out "$out/run" \
  --set mix.duration_ms=$ms --set run.max_sim_ms=$ms "$@" &
pid=$!
start=$(date +%s)
echo "wall_s rss_kb"
samples=()
while kill -0 $pid 2>/dev/null; do
  rss=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status 2>/dev/null || true)
  [ -n "$rss" ] && { echo "$(( $(date +%s) - start )) $rss"; samples+=("$rss"); }
  sleep "$sample_s"
done
wait $pid
n=${#samples[@]}
[ "$n" -ge 5 ] || { echo "too few samples ($n): raise SIM_MINUTES or lower SAMPLE_S"; exit 1; }
warm=${samples[$((n / 5))]}
last=${samples[$((n - 1))]}
peak=$(printf '%s\n' "${samples[@]}" | sort -n | tail -1)
/usr/bin/python3 - "$out/run/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"simulated {s['sim_time_ns'] / 1e9:.1f} s in {s['wall_time_s']:.0f} s wall, {s['events']} events")
PY
echo "rss after warm-up (20% of samples): $warm kB, at the end: $last kB, peak: $peak kB"
growth=$(( (last - warm) * 1000 / warm ))
echo "growth after warm-up: $((growth / 10)).$((growth % 10))%"
[ $growth -lt 50 ] || { echo "memory is not flat"; exit 1; }
