#!/usr/bin/python3
"""Seed 004 (KVM on Hyper-V): run scenarios/nested_microbench.yaml in each configuration of
the seed's tables, print cycles against the targets with the counts behind them, and draw
where the cycles of one L2 CPUID exit go, phase by phase (stacked bars, PNG).

    scripts/nested_breakdown.py [--kvmsim build/apps/kvmsim] [--out nested_breakdown.png]
                                [--iterations 200000]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCENARIO = os.path.join(ROOT, "scenarios", "nested_microbench.yaml")
PHASES = ["l2_exit_hw", "l0_reflect", "emulated_vmexit", "l1_handler", "vmcs_traps", "l1_vmresume", "l0_entry_to_l2"]

CPUID = [  # (label, --set overrides, seed target)
    ("bare metal", ["nested.level=0"], 180),
    ("L1", ["nested.level=1"], 1350),
    ("L2", [], 20700),
    ("L2 + eVMCS", ["nested.evmcs=true"], 8900),
    ("L2 shadow VMCS", ["nested.shadow_vmcs=true"], None),
    ("L2 on KVM (shadow)", ["nested.l0=kvm", "nested.shadow_vmcs=true"], None),
]
CLOCK = [
    ("bare metal (TSC)", ["nested.level=0"], 55),
    ("L1 (TSC page)", ["nested.level=1"], 70),
    ("L2 unstable kvm-clock", [], 1500),
    ("L2 stable (TSC page counted)", ["nested.stable_clock=true"], 80),
]


def run(kvmsim, sets, iterations):
    with tempfile.TemporaryDirectory() as out:
        cmd = [kvmsim, "run", SCENARIO, "--quiet", "--out", out,
               "--set", f"cpuid_loop.iterations={iterations}", "--set", f"clock_gettime.iterations={iterations}"]
        for s in sets:
            cmd += ["--set", s]
        subprocess.run(cmd, check=True, env=dict(os.environ, SC_COPYRIGHT_MESSAGE="DISABLE"))
        with open(os.path.join(out, "summary.json")) as f:
            return json.load(f)["metrics"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kvmsim", default=os.path.join(ROOT, "build", "apps", "kvmsim"))
    ap.add_argument("--out", default="nested_breakdown.png")
    ap.add_argument("--iterations", type=int, default=200000)
    a = ap.parse_args()

    print(f"{'CPUID loop':28} {'cycles':>8} {'target':>8} {'dev':>6} {'L0 exits/L2 exit':>17} {'VMREAD/VMWRITE traps/L2 exit':>29} {'rare syncs':>10}")
    bars = []
    for label, sets, target in CPUID:
        m = run(a.kvmsim, sets + ["workload.kind=cpuid_loop"], a.iterations)
        c = m["cpuid_loop.cycles"]
        dev = f"{100 * (c - target) / target:+.0f}%" if target else ""
        fmt = lambda k, w, p: f"{m[k]:{w}.{p}f}" if k in m else f"{'-':>{w}}"  # absent without L2
        print(f"{label:28} {c:8.0f} {target or '':>8} {dev:>6} {fmt('nested.l0_exits_per_l2_exit', 17, 2)} "
              f"{fmt('nested.vmread_vmwrite_traps_per_l2_exit', 29, 2)} {fmt('nested.vmcs02_rare_syncs', 10, 0)}")
        if "nested.phase.total_cycles" in m:
            bars.append((label, [m[f"nested.phase.{p}_cycles"] for p in PHASES]))
    print()
    print(f"{'clock_gettime':28} {'cycles':>8} {'target':>8} {'dev':>6} {'syscalls':>9}")
    for label, sets, target in CLOCK:
        m = run(a.kvmsim, sets + ["workload.kind=clock_gettime"], a.iterations)
        c = m["clock_gettime.cycles"]
        print(f"{label:28} {c:8.0f} {target:8} {100 * (c - target) / target:+5.0f}% {m['clock_gettime.syscalls']:9.0f}")
    print()
    print("one L2 CPUID exit, cycles by phase:")
    print(f"{'':28}" + "".join(f"{p:>16}" for p in PHASES))
    for label, v in bars:
        print(f"{label:28}" + "".join(f"{x:16.0f}" for x in v))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not found: no chart", file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(9, 4.5))
    left = [0.0] * len(bars)
    for i, p in enumerate(PHASES):
        vals = [v[i] for _, v in bars]
        ax.barh([l for l, _ in bars], vals, left=left, label=p)
        left = [x + y for x, y in zip(left, vals)]
    ax.set_xlabel("cycles per L2 CPUID exit (Xeon E5-2667 v4 model)")
    ax.set_title("Seed 004: where one L2 CPUID exit's cycles go")
    ax.invert_yaxis()
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(a.out, dpi=120)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
