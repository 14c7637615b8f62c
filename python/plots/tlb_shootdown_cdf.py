#!/usr/bin/python3
"""CDF of TLB-shootdown latency, PV TLB flush on against off (seed 000's figure).

Runs scenarios/pv_tlb_ebizzy.yaml (or another scenario with a TLB workload) twice with
guest.pv_tlb_flush=true/false and plots the distribution each run wrote to
tlb_shootdown_us.csv (histogram buckets: lo_us, hi_us, count).

    /usr/bin/python3 python/plots/tlb_shootdown_cdf.py --vms 2 --out tlb_cdf.png
    /usr/bin/python3 python/plots/tlb_shootdown_cdf.py --scenario scenarios/pv_tlb_ebizzy.yaml \
        --set workload.kind=dedup --vms 3
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def run(kvmsim, scenario, sets, out):
    cmd = [kvmsim, "run", scenario, "--quiet", "--out", out]
    for s in sets:
        cmd += ["--set", s]
    subprocess.run(cmd, check=True)
    with open(os.path.join(out, "tlb_shootdown_us.csv")) as f:
        return [(float(r["hi_us"]), int(r["count"])) for r in csv.DictReader(f)]


def cdf(buckets):
    total = sum(c for _, c in buckets) or 1
    xs, ys, acc = [], [], 0
    for hi, c in sorted(buckets):
        acc += c
        xs.append(hi)
        ys.append(acc / total)
    return xs, ys


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kvmsim", default=os.path.join(ROOT, "build", "apps", "kvmsim"))
    ap.add_argument("--scenario", default=os.path.join(ROOT, "scenarios", "pv_tlb_ebizzy.yaml"))
    ap.add_argument("--vms", type=int, default=2, help="vm.count (overcommit)")
    ap.add_argument("--set", action="append", default=[], help="extra --set key=value")
    ap.add_argument("--out", default="tlb_shootdown_cdf.png")
    a = ap.parse_args()
    fig, ax = plt.subplots(figsize=(6, 4))
    with tempfile.TemporaryDirectory() as tmp:
        for pv, style in (("false", "-"), ("true", "--")):
            sets = a.set + [f"vm.count={a.vms}", f"guest.pv_tlb_flush={pv}"]
            xs, ys = cdf(run(a.kvmsim, a.scenario, sets, os.path.join(tmp, pv)))
            ax.step(xs, ys, style, where="post", label="PV TLB flush" if pv == "true" else "native (IPIs)")
    ax.set_xscale("log")
    ax.set_xlabel("TLB shootdown latency (us)")
    ax.set_ylabel("CDF")
    ax.set_title(f"TLB shootdown latency, {a.vms} VM(s) on the host")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(a.out, dpi=120)
    print(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
