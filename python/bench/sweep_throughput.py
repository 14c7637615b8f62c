#!/usr/bin/python3
"""Sweep throughput: 8 medium runs (~0.5-1 s each) with jobs=1, then jobs=2.

    PYTHONPATH=build/python /usr/bin/python3 python/bench/sweep_throughput.py [--runs 8]
        [--goal 150000000] [--jobs 1,2]

Prints runs/s for each job count and the speed-up over jobs=1 (target: >= 1.8x on 2 cores).
No store is used, so every run is simulated. Not a test: timings depend on the machine.
"""
import argparse
import os
import sys
import time

import kvmsim


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--goal", type=int, default=150_000_000,
                    help="vmexit.goal_cycles of each run (sets the run length)")
    ap.add_argument("--jobs", default="1,2")
    a = ap.parse_args()

    scenario = {"vmexit": {"tests": ["ipi", "tscdeadline"], "goal_cycles": a.goal}}
    # Distinct points (so nothing is shared) that cost the same: vary only the seed.
    seeds = list(range(1, a.runs + 1))
    t = time.perf_counter()
    one = kvmsim.run(scenario)
    print(f"one run in this process: {time.perf_counter() - t:.2f} s, "
          f"{one.metrics['exits.total']:.0f} exits; cores: {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    if os.getloadavg()[0] > 0.5:
        print("note: the machine is busy; the speed-up measures what is left of it")

    base = None
    reference = None
    for jobs in [int(j) for j in a.jobs.split(",")]:
        t, c0 = time.perf_counter(), os.times()
        df = kvmsim.sweep(scenario, seeds=seeds, jobs=jobs, store=None, progress=False)
        el, c1 = time.perf_counter() - t, os.times()
        # CPU seconds of the (reaped) worker processes: how many cores the sweep really got
        cpu = (c1.children_user + c1.children_system) - (c0.children_user + c0.children_system)
        rate = len(df) / el
        if reference is None:
            reference = df
        elif not df.equals(reference):
            print("results differ between job counts!", file=sys.stderr)
            return 1
        base = base or rate
        print(f"jobs={jobs}: {len(df)} runs in {el:.2f} s = {rate:.2f} runs/s "
              f"(x{rate / base:.2f} vs jobs={a.jobs.split(',')[0]}); workers used "
              f"{cpu:.2f} CPU-s = {cpu / el:.2f} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
