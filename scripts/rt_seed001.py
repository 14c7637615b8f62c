#!/usr/bin/python3
"""Seed 001's cyclictest tables from scenarios/rt_cyclictest.yaml: every mode under both of
the seed's loads, 300,000 loops at 1 ms each (the seed's 5 minutes) unless --loops says
otherwise. Prints the simulated table beside the seed's and writes runs/rt_seed001/<load>_<mode>/.

    /usr/bin/python3 scripts/rt_seed001.py [--loops N] [--kvmsim build/apps/kvmsim] [--jobs 2]
"""
import argparse
import concurrent.futures
import json
import os
import subprocess
import sys

SEED = {  # seed 001 (Hitachi), linux-3.4.0 guest: min, avg, max in us
    "host_cpu": {"bare": (1, 1, 376), "kvm_directirq": (2, 2, 15), "kvm": (7, 13, 558)},
    "iperf": {"bare": (3, 6, 324), "kvm_directirq": (2, 14, 157), "kvm": (6, 35, 855)},
}
MODES = ["bare", "kvm", "kvm_isolated", "kvm_directirq", "kvm_timer_passthrough", "kvm_exitless_timer"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(kvmsim, load, mode, loops, out):
    sets = ["rt.mode=" + mode, "rt.load=" + load, "cyclictest.loops=%d" % loops]
    if mode == "kvm_exitless_timer":
        sets.append("rt.whatif_posted_interrupts=true")
    if mode == "kvm_timer_passthrough":
        sets.append("guest.clockevent=tsc_deadline")  # seed 002's guest: passthrough hands over IA32_TSC_DEADLINE
    cmd = [kvmsim, "run", os.path.join(ROOT, "scenarios/rt_cyclictest.yaml"), "--quiet", "--out", out]
    for s in sets:
        cmd += ["--set", s]
    subprocess.run(cmd, check=True, env=dict(os.environ, SC_COPYRIGHT_MESSAGE="DISABLE"))
    with open(os.path.join(out, "summary.json")) as f:
        return load, mode, json.load(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loops", type=int, default=300000)
    ap.add_argument("--kvmsim", default=os.path.join(ROOT, "build/apps/kvmsim"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(ROOT, "runs/rt_seed001"))
    a = ap.parse_args()
    jobs = [(l, m) for l in ("host_cpu", "iperf") for m in MODES]
    results = {}
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as ex:
        futs = [ex.submit(run, a.kvmsim, l, m, a.loops, os.path.join(a.out, "%s_%s" % (l, m))) for l, m in jobs]
        for f in futs:
            l, m, s = f.result()
            results[(l, m)] = s
    print("| load | mode | loops | min | avg | max | p99 | p99.99 | seed min/avg/max | exits/s | timer exits/s | host.cpu_pct | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for l, m in jobs:
        s = results[(l, m)]
        x = s["metrics"]
        seed = SEED[l].get(m)
        print("| %s | %s | %d | %.2f | %.2f | %.1f | %.2f | %.1f | %s | %.0f | %.0f | %.2f | %.1f |" % (
            l, m, x["cyclictest.loops"], x["cyclictest.min_us"], x["cyclictest.avg_us"], x["cyclictest.max_us"], x["cyclictest.p99_us"],
            x["cyclictest.p9999_us"], "%d / %d / %d" % seed if seed else "-", x["exits.per_s"], x["rt.timer_exits_per_s"],
            x["host.cpu_pct"], s["wall_time_s"]))
    bad = [k for (l, m), s in results.items() for k, v in s["metrics"].items() if k.startswith("invariant.") and v]
    if bad:
        print("invariants violated:", bad)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
