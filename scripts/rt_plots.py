#!/usr/bin/python3
"""Plots for issue 3 (seed 001's cyclictest), from result folders written by kvmsim:

  1. the latency histograms of the modes side by side, one panel per load
     (from scripts/rt_seed001.py's runs/rt_seed001/<load>_<mode>/cyclictest_histogram.csv);
  2. how the maximum converges over hours of simulated time (--long: runs one mode for
     --hours of simulated time first, then plots cyclictest_max.csv).

    /usr/bin/python3 scripts/rt_plots.py [--runs runs/rt_seed001] [--long] [--hours 2] [--out runs/rt_plots]
"""
import argparse
import csv
import os
import subprocess

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODES = ["bare", "kvm", "kvm_isolated", "kvm_directirq", "kvm_timer_passthrough", "kvm_exitless_timer"]


def read_hist(path):
    xs, ys = [], []
    with open(path) as f:
        for row in csv.DictReader(f):
            xs.append(int(row["latency_us"]))
            ys.append(int(row["thread0"]))
    return xs, ys


def histograms(runs, out):
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), sharey=True)
    for ax, load in zip(axes, ("host_cpu", "iperf")):
        for mode in MODES:
            p = os.path.join(runs, "%s_%s" % (load, mode), "cyclictest_histogram.csv")
            if not os.path.exists(p):
                continue
            xs, ys = read_hist(p)
            ax.step(xs, ys, where="post", label=mode)
        ax.set_yscale("log")
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlabel("wake-up latency (us, 1-us buckets)")
        ax.set_title("guest idle, host CPU load" if load == "host_cpu" else "guest under iperf (SR-IOV VF)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("samples")
    axes[1].legend(fontsize=8)
    fig.suptitle("cyclictest on core-i7-3770 (seed 001), by mode")
    fig.tight_layout()
    path = os.path.join(out, "rt_histograms.png")
    fig.savefig(path, dpi=110)
    print(path)


def convergence(out, hours, kvmsim):
    fig, ax = plt.subplots(figsize=(8, 4.5))
    loops = int(hours * 3600 * 1000)
    for mode in ("bare", "kvm"):
        d = os.path.join(out, "long_" + mode)
        if not os.path.exists(os.path.join(d, "cyclictest_max.csv")):
            subprocess.run([kvmsim, "run", os.path.join(ROOT, "scenarios/rt_cyclictest.yaml"), "--quiet", "--out", d,
                            "--set", "rt.mode=" + mode, "--set", "cyclictest.loops=%d" % loops,
                            "--set", "run.max_sim_ms=%d" % (loops + 1000)],
                           check=True, env=dict(os.environ, SC_COPYRIGHT_MESSAGE="DISABLE"))
        t, m = [], []
        with open(os.path.join(d, "cyclictest_max.csv")) as f:
            for row in csv.DictReader(f):
                t.append(float(row["sim_s"]) / 60.0)
                m.append(float(row["max_us"]))
        t.append(loops / 60000.0)
        m.append(m[-1])
        ax.step(t, m, where="post", label=mode)
    ax.axvline(5, color="grey", ls="--", lw=1)
    ax.text(5.2, ax.get_ylim()[1] * 0.9, "seed's 5-minute run", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("simulated minutes")
    ax.set_ylabel("running max latency (us)")
    ax.set_title("cyclictest max over %.1f hours, host CPU load" % hours)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = os.path.join(out, "rt_max_convergence.png")
    fig.savefig(path, dpi=110)
    print(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default=os.path.join(ROOT, "runs/rt_seed001"))
    ap.add_argument("--out", default=os.path.join(ROOT, "runs/rt_plots"))
    ap.add_argument("--long", action="store_true", help="also run and plot the max convergence")
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--kvmsim", default=os.path.join(ROOT, "build/apps/kvmsim"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    histograms(a.runs, a.out)
    if a.long:
        convergence(a.out, a.hours, a.kvmsim)


if __name__ == "__main__":
    main()
