#!/usr/bin/env python3
"""PLE (PAUSE) exits over time, per VM, from a result folder's ple_exits_per_ms.csv
(written by every run that had PAUSE exits).

  build/apps/kvmsim run scenarios/ple_overcommit.yaml --out runs/ple
  scripts/plot_ple_exits.py runs/ple [more result folders...] --out ple_exits.png
"""
import argparse
import csv
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", help="result folders (kvmsim run --out)")
    ap.add_argument("--out", default="ple_exits.png")
    ap.add_argument("--total", action="store_true", help="one line per run (sum over its VMs)")
    a = ap.parse_args()
    fig, ax = plt.subplots(figsize=(8, 4))
    for run in a.runs:
        with open(os.path.join(run, "ple_exits_per_ms.csv")) as f:
            rows = list(csv.reader(f))
        head, data = rows[0], rows[1:]
        ms = [int(r[0]) for r in data]
        if a.total:
            ax.plot(ms, [sum(int(x) for x in r[1:]) for r in data], label=os.path.basename(run.rstrip("/")))
        else:
            for j, vm in enumerate(head[1:], start=1):
                ax.plot(ms, [int(r[j]) for r in data], label=f"{os.path.basename(run.rstrip('/'))} {vm}")
    ax.set_xlabel("simulated time (ms)")
    ax.set_ylabel("PAUSE exits per ms")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(a.out, dpi=120)
    print(a.out)


if __name__ == "__main__":
    main()
