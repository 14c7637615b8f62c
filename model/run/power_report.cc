#include "run/power_report.h"

#include <algorithm>

#include "run/system.h"

namespace run {

// Per VM: host.cpu_pct (its vCPU threads' run time, 100 per fully busy thread, as top shows
// a qemu process), and with a power table: freq_mhz (mean frequency of its CPUs while in
// C0), cstate.c0_pct and cstate.deep_pct (C6 + C7 core residency of its CPUs' cores).
// Unprefixed: freq.busy_mhz over the VMs that run a workload other than idle/idle_wakeup,
// cstate.deep_pct / cstate.c0_pct over the idle ones, unixbench.score = loops/s scaled to
// the busy cores' frequency (a CPU-bound loop scales with the clock; simulated time itself
// runs at the nominal clock). halt_poll.ns_per_s: KVM halt polling (successful + failed
// poll ns) per simulated second, per idle VM; cstate.c0_poll_pct: its share of the idle
// cores' C0 residency (the C0 time that is only host halt polling).
void report_power(System& sys, sim::Picos end, std::map<std::string, double>& m, std::map<std::string, std::string>& files) {
  const double span = static_cast<double>(std::max<sim::Picos>(end, 1));
  hw::PackagePower* pw = sys.power.get();
  if (pw) pw->finish(end);
  double busy_mhz_w = 0, busy_c0 = 0, idle_deep = 0, idle_c0 = 0, idle_n = 0, idle_poll_ns = 0, idle_vms = 0;
  std::vector<int> table_cpus;
  for (const auto& vm : sys.vms) {
    const std::string prefix = "vm" + std::to_string(vm->index) + ".";
    const bool idle_vm = vm->workload_kind == "idle" || vm->workload_kind == "idle_wakeup";
    double exec = 0, mhz_w = 0, c0 = 0, deep = 0, c0_core = 0, poll_ns = 0;
    for (int i = 0; i < vm->kvm->nr_vcpus(); ++i) {
      const kvm::VcpuStats& st = vm->kvm->vcpu(i).stat;
      poll_ns += static_cast<double>(st.halt_poll_success_ns + st.halt_poll_fail_ns);
    }
    for (kvm::VcpuThread* t : vm->vcpu_threads) {
      exec += static_cast<double>(sys.kernel->cpu(t->cpu).task_sched_runtime(*t, end));
      if (!pw) continue;
      const int cpu = t->cpu;
      table_cpus.push_back(cpu);
      const double t_c0 = static_cast<double>(pw->thread_residency(cpu, hw::CState::C0));
      mhz_w += pw->mean_c0_mhz(cpu) * t_c0;
      c0 += t_c0;
      deep += static_cast<double>(pw->core_residency(cpu, hw::CState::C6) + pw->core_residency(cpu, hw::CState::C7));
      c0_core += static_cast<double>(pw->core_residency(cpu, hw::CState::C0));
    }
    const double n = static_cast<double>(std::max<size_t>(vm->vcpu_threads.size(), 1));
    m[prefix + "host.cpu_pct"] = 100.0 * exec / span;
    if (!pw) continue;
    m[prefix + "freq_mhz"] = c0 > 0 ? mhz_w / c0 : 0.0;
    m[prefix + "cstate.deep_pct"] = 100.0 * deep / (span * n);
    m[prefix + "cstate.c0_pct"] = 100.0 * c0_core / (span * n);
    m[prefix + "halt_poll.ns_per_s"] = poll_ns * static_cast<double>(sim::kPsPerSec) / span;
    if (idle_vm) {
      idle_poll_ns += poll_ns;
      ++idle_vms;
      idle_deep += deep;
      idle_c0 += c0_core;
      idle_n += n;
    } else {
      busy_mhz_w += mhz_w;
      busy_c0 += c0;
    }
  }
  if (!pw) return;
  const double nominal = sys.platform.freq_mhz;
  const double busy = busy_c0 > 0 ? busy_mhz_w / busy_c0 : nominal;
  m["freq.busy_mhz"] = busy;
  if (idle_n > 0) {
    m["cstate.deep_pct"] = 100.0 * idle_deep / (span * idle_n);
    m["cstate.c0_pct"] = 100.0 * idle_c0 / (span * idle_n);
    m["halt_poll.ns_per_s"] = idle_poll_ns * static_cast<double>(sim::kPsPerSec) / span / idle_vms;
    m["cstate.c0_poll_pct"] = idle_c0 > 0 ? 100.0 * idle_poll_ns * sim::kPsPerNs / idle_c0 : 0.0;
  }
  // account: loops/s at the nominal clock scaled by the busy cores' mean frequency;
  // feedback: the loops already ran at the turbo clock, the simulated count is the score.
  const double scale = sys.power_model == "feedback" ? 1.0 : busy / nominal;
  if (auto it = m.find("unixbench.loops_per_s"); it != m.end()) m["unixbench.score"] = it->second * scale;
  std::sort(table_cpus.begin(), table_cpus.end());
  table_cpus.erase(std::unique(table_cpus.begin(), table_cpus.end()), table_cpus.end());
  files["turbostat.csv"] = pw->turbostat_csv(table_cpus);
}

}  // namespace run
