#!/bin/sh
# Simulator speed for issue 3's target: 300,000 cyclictest loops at 1 ms (seed 001's
# 5-minute run) in at most 10 s of wall time. Prints the wall time kvmsim reports for each
# mode under host CPU load (and iperf, which adds ~20k device interrupts per second).
#   scripts/rt_speed.sh [build/apps/kvmsim]
kvmsim=${1:-build/apps/kvmsim}
here=$(dirname "$0")/..
export SC_COPYRIGHT_MESSAGE=DISABLE
for load in host_cpu iperf; do
  for mode in bare kvm kvm_isolated kvm_directirq kvm_timer_passthrough; do
    out=$(mktemp -d)
    extra=""; [ "$mode" = kvm_timer_passthrough ] && extra="--set guest.clockevent=tsc_deadline"
    "$kvmsim" run "$here/scenarios/rt_cyclictest.yaml" --quiet --out "$out" --set rt.mode=$mode --set rt.load=$load \
      --set cyclictest.loops=300000 $extra >/dev/null
    /usr/bin/python3 -c "import json,sys; d=json.load(open('$out/summary.json')); print('%-9s %-22s %7d loops, %7.0f simulated s in %6.2f s wall (%d events)' % ('$load', '$mode', d['metrics']['cyclictest.loops'], d['sim_time_ns']/1e9, d['wall_time_s'], d['events']))"
    rm -rf "$out"
  done
done
