#include "run/overcommit_report.h"

#include <cstdio>
#include <sstream>

#include "host/sched_cfs.h"
#include "host/sched_eevdf.h"
#include "run/system.h"

namespace run {

void collect_overcommit(System& sys, sim::Picos end, RunResult& r) {
  auto& m = r.metrics;
  uint64_t attempted = 0, successful = 0, esrch = 0, on_spin = 0, kicks = 0, pv_yields = 0;
  uint64_t in_kernel = 0, in_user = 0, ple_exits = 0, window_sum = 0, window_now = 0, nv = 0;
  double ops_all = 0;
  std::map<std::string, double> yield_targets;  // yield_target.* over every VM
  std::ostringstream trace, timeline;
  timeline << "ms";
  sim::Picos width = sim::ms(1);  // the coarsest VM's bin width (powers of two of 1 ms)
  for (const auto& vm : sys.vms) width = std::max(width, vm->kvm->pause_exits_per_ms.bin());
  size_t bins = 0;
  for (const auto& vm : sys.vms) {
    timeline << ',' << vm->kvm->name();
    const auto& t = vm->kvm->pause_exits_per_ms;
    bins = std::max(bins, static_cast<size_t>((static_cast<sim::Picos>(t.counts().size()) * t.bin() + width - 1) / width));
    for (int i = 0; i < vm->kvm->nr_vcpus(); ++i) {
      const kvm::Vcpu& v = vm->kvm->vcpu(i);
      attempted += v.stat.directed_yield_attempted;
      successful += v.stat.directed_yield_successful;
      esrch += v.stat.directed_yield_esrch;
      on_spin += v.stat.on_spin;
      kicks += v.stat.pv_kick;
      pv_yields += v.stat.pv_sched_yield;
      in_kernel += v.stat.preempted_in_kernel;
      in_user += v.stat.preempted_in_user;
      ple_exits += v.stat.ple_exits;
      window_sum += v.stat.ple_window_sum;
      window_now += v.ple_window;
      ++nv;
    }
    if (sys.vms.size() > 1 && vm->workload) {
      std::map<std::string, double> wm;
      std::map<std::string, std::string> wf;
      vm->workload->report(wm, wf);
      if (auto it = wm.find("workload.ops_per_s"); it != wm.end()) ops_all += it->second;
      for (const auto& [k, v] : wm)
        if (k.rfind("yield_target.", 0) == 0) yield_targets[k + "_all_vms"] += v;
    }
    // trace-cmd report lines: "<comm>-<pid> [<cpu>] <secs>: kvm_ple_window_update: ..."
    char line[200];
    for (const auto& e : vm->kvm->ple_window_trace) {
      std::snprintf(line, sizeof line, "  CPU %d/KVM-%d [%03d] %.6f: kvm_ple_window_update: vcpu %d old %u new %u (%s)\n",
                    e.vcpu, 1000 * (vm->index + 1) + e.vcpu, e.cpu, sim::to_sec(e.at), e.vcpu, e.old_window,
                    e.new_window, e.new_window > e.old_window ? "growed" : "shrinked");
      trace << line;
    }
  }
  for (size_t b = 0; b < bins; ++b) {  // "ms": each bin's start
    timeline << '\n' << static_cast<uint64_t>(b) * static_cast<uint64_t>(width / sim::ms(1));
    for (const auto& vm : sys.vms) timeline << ',' << vm->kvm->pause_exits_per_ms.count_in(width, b);
  }
  timeline << '\n';
  m["directed_yield.attempted"] = static_cast<double>(attempted);
  m["directed_yield.successful"] = static_cast<double>(successful);
  m["directed_yield.esrch"] = static_cast<double>(esrch);
  m["on_spin.calls"] = static_cast<double>(on_spin);
  m["ple.exits"] = static_cast<double>(ple_exits);
  m["ple.window_mean"] = ple_exits ? static_cast<double>(window_sum) / static_cast<double>(ple_exits)
                                   : (nv ? static_cast<double>(window_now) / static_cast<double>(nv) : 0.0);
  m["pv.kick_cpu"] = static_cast<double>(kicks);
  m["pv.sched_yield"] = static_cast<double>(pv_yields);
  m["preemptions.in_kernel"] = static_cast<double>(in_kernel);
  m["preemptions.in_user"] = static_cast<double>(in_user);
  if (sys.vms.size() > 1) m["workload.ops_per_s_all_vms"] = ops_all;
  for (const auto& [k, v] : yield_targets) m[k] = v;
  // Host scheduler: yield_to calls and the buddy statistics of cfs/eevdf.
  uint64_t y = 0, ys = 0, same_rq = 0, repicked = 0, picks = 0, ignored = 0, deboosts = 0;
  for (int c = 0; c < sys.kernel->nr_cpus(); ++c) {
    host::Cpu& cpu = sys.kernel->cpu(c);
    y += cpu.yield_to_calls();
    ys += cpu.yield_to_success();
    same_rq += cpu.yield_to_same_rq();
    repicked += cpu.yield_repicked();
    if (auto* cfs = dynamic_cast<host::Cfs*>(cpu.policy().fair_class())) {
      picks += cfs->stats.next_buddy_picks;
      ignored += cfs->stats.next_buddy_ignored;
      deboosts += cfs->stats.deboosts;
    } else if (auto* e = dynamic_cast<host::Eevdf*>(cpu.policy().fair_class())) {
      picks += e->stats.next_buddy_picks;
      ignored += e->stats.next_buddy_ignored;
    }
  }
  m["host.yield_to"] = static_cast<double>(y);
  m["host.migrations"] = static_cast<double>(sys.kernel->migrations());
  m["host.yield_to_taken"] = static_cast<double>(ys);
  m["host.yield_to_same_rq"] = static_cast<double>(same_rq);
  m["host.yield_repicked"] = static_cast<double>(repicked);
  m["sched.next_buddy_picks"] = static_cast<double>(picks);
  m["sched.next_buddy_ignored"] = static_cast<double>(ignored);
  m["sched.ishiguro_deboosts"] = static_cast<double>(deboosts);
  if (ple_exits) r.files["ple_exits_per_ms.csv"] = timeline.str();
  if (!trace.str().empty()) r.files["trace-ple.txt"] = "# tracer: nop\n#\n" + trace.str();
  (void)end;
}

}  // namespace run
