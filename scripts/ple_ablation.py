#!/usr/bin/env python3
"""Seed 003's three problems against each patch: runs scenarios/ple_overcommit.yaml under
each configuration and prints a Markdown table (docs/overcommit.md shows its output).

  scripts/ple_ablation.py [--kvmsim build/apps/kvmsim] [--duration-ms 100] [--seed 1] [--only TEXT]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (label, workload kind, overrides)
ROWS = [
    ("1 VM (undercommitted)", "ple_mix", ["vm.count=1"]),
    ("CFS, no patch", "ple_mix", []),
    ("CFS + deboost (patch 1)", "ple_mix", ["kvm.ishiguro.deboost=true"]),
    ("CFS + ipi_aware (patch 2)", "ple_mix", ["kvm.ishiguro.ipi_aware=true"]),
    ("CFS + both patches", "ple_mix", ["kvm.ishiguro.deboost=true", "kvm.ishiguro.ipi_aware=true"]),
    ("CFS + pending-interrupt boost (~5.13)", "ple_mix", ["kvm.dy_pending_interrupt=true"]),
    ("CFS, on_spin 6.13 (loop counter as last_boosted)", "ple_mix", ["kvm.on_spin_version=6.13"]),
    ("CFS + PV sched yield", "ple_mix", ["guest.pv_sched_yield=true"]),
    ("ple_mix, 4 targets per IPI, no patch", "ple_mix", ["overcommit.ipi_targets=4"]),
    ("ple_mix, 4 targets per IPI, PV sched yield", "ple_mix", ["overcommit.ipi_targets=4", "guest.pv_sched_yield=true"]),
    ("CFS + pv spinlocks", "ple_mix", ["guest.pv_spinlock=true"]),
    ("EEVDF (6.6, NEXT_BUDDY off)", "ple_mix", ["host.scheduler=eevdf"]),
    ("EEVDF + PICK_BUDDY", "ple_mix", ["host.scheduler=eevdf", "host.sched_feat_pick_buddy=true"]),
    ("EEVDF + both patches' KVM half", "ple_mix", ["host.scheduler=eevdf", "kvm.ishiguro.ipi_aware=true"]),
    ("spinlock only, no patch", "spinlock", []),
    ("spinlock only, both patches", "spinlock", ["kvm.ishiguro.deboost=true", "kvm.ishiguro.ipi_aware=true"]),
    ("ipi_wait only, no patch", "ipi_wait", []),
    ("ipi_wait only, both patches", "ipi_wait", ["kvm.ishiguro.deboost=true", "kvm.ishiguro.ipi_aware=true"]),
    ("ple_mix + 30% idle halts, no patch", "ple_mix", ["overcommit.idle_share=0.3"]),
    ("ple_mix + 30% idle halts, ipi_aware", "ple_mix", ["overcommit.idle_share=0.3", "kvm.ishiguro.ipi_aware=true"]),
    ("ple_mix + 30% idle halts, both patches", "ple_mix", ["overcommit.idle_share=0.3", "kvm.ishiguro.deboost=true", "kvm.ishiguro.ipi_aware=true"]),
    ("ple_mix, 200k user cycles per op, no patch", "ple_mix", ["overcommit.user_cycles=200000"]),
    ("ple_mix, 200k user cycles, deboost", "ple_mix", ["overcommit.user_cycles=200000", "kvm.ishiguro.deboost=true"]),
    ("ple_mix, 200k user cycles, ipi_aware", "ple_mix", ["overcommit.user_cycles=200000", "kvm.ishiguro.ipi_aware=true"]),
    ("ple_mix, 200k user cycles, both patches", "ple_mix", ["overcommit.user_cycles=200000", "kvm.ishiguro.deboost=true", "kvm.ishiguro.ipi_aware=true"]),
    ("spinlock only, PAUSE 10 cycles (pre-Skylake), native", "spinlock", ["cost.cpu.pause=10"]),
    ("spinlock only, PAUSE 10 cycles, pv spinlocks", "spinlock", ["cost.cpu.pause=10", "guest.pv_spinlock=true"]),
    ("spinlock only, PAUSE 10 cycles, pv spinlocks + 4.13-5.3 pv_wait_early", "spinlock",
     ["cost.cpu.pause=10", "guest.pv_spinlock=true", "guest.pv_wait_early_preempted=true"]),
]


def run(kvmsim, kind, sets, duration, seed):
    with tempfile.TemporaryDirectory() as out:
        cmd = [kvmsim, "run", os.path.join(ROOT, "scenarios", "ple_overcommit.yaml"), "--quiet", "--out", out,
               "--set", f"workload.kind={kind}", "--set", f"overcommit.duration_ms={duration}", "--set", f"seed={seed}"]
        for s in sets:
            cmd += ["--set", s]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=dict(os.environ, SC_COPYRIGHT_MESSAGE="DISABLE"))
        with open(os.path.join(out, "summary.json")) as f:
            return json.load(f)["metrics"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kvmsim", default=os.path.join(ROOT, "build", "apps", "kvmsim"))
    ap.add_argument("--duration-ms", type=float, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", default="", help="run only the rows whose label contains TEXT")
    a = ap.parse_args()
    print("| configuration | PAUSE exits | vs no patch | ops/s (all VMs) | hints ignored | yields to awaited / spinners / user | lock wait us | IPI wait us | preempted user/kernel |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    base = {}
    for label, kind, sets in ROWS:
        if a.only not in label:
            continue
        m = run(a.kvmsim, kind, sets, a.duration_ms, a.seed)
        ops = m.get("workload.ops_per_s_all_vms", m.get("workload.ops_per_s", 0))
        picks, ign = m.get("sched.next_buddy_picks", 0), m.get("sched.next_buddy_ignored", 0)
        group = (kind, tuple(s for s in sets if s.startswith(("overcommit.", "cost."))))
        patched = [s for s in sets if not s.startswith(("overcommit.", "cost.", "vm.count"))]
        y = m.get("yield_target.yields_all_vms", 0)
        pct = lambda k: 100.0 * m.get("yield_target." + k + "_all_vms", 0) / y if y else 0.0
        targets = f"{pct('awaited'):.0f}% / {pct('lock_waiter') + pct('ipi_waiter'):.0f}% / {pct('user'):.0f}%" if y else "-"
        if "vm.count=1" in sets:
            ref = None
        elif not patched:
            base.setdefault(group, m["ple.exits"])
            ref = None
        else:
            ref = base.get(group)
        rel = f"{100.0 * (m['ple.exits'] - ref) / ref:+.0f}%" if ref else ""
        share = f"{100.0 * ign / (picks + ign):.0f}%" if picks + ign else "-"
        print(f"| {label} | {m['ple.exits']:.0f} | {rel} | {ops:.0f} | {share} | {targets} | {m.get('lock.wait_ns_mean', 0) / 1e3:.1f} | "
              f"{m.get('ipi.wait_ns_mean', 0) / 1e3:.1f} | {m.get('preemptions.in_user', 0):.0f}/{m.get('preemptions.in_kernel', 0):.0f} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
