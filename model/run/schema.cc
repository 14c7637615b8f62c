#include "run/schema.h"

#include "guest/workload_vmexit.h"
#include "host/sched_policy.h"
#include "sim/fault.h"

namespace run {
namespace {

using sim::ParamSpec;
using sim::ParamType;

ParamSpec P(const char* key, ParamType t, const char* def, const char* doc, const char* group,
            std::optional<double> min = {}, std::optional<double> max = {}, std::vector<std::string> choices = {}) {
  ParamSpec s;
  s.key = key;
  s.type = t;
  s.default_yaml = def;
  s.doc = doc;
  s.group = group;
  s.min = min;
  s.max = max;
  s.choices = std::move(choices);
  return s;
}

sim::Schema build() {
  sim::Schema s;
  // Every guest workload (workload.kind and each entry of vm.workloads).
  const std::vector<std::string> workload_kinds = {"vmexit", "ipi_bench", "vm_mix", "idle"};
  const auto B = ParamType::Bool;
  const auto I = ParamType::Int;
  const auto D = ParamType::Double;
  const auto S = ParamType::String;
  const auto E = ParamType::Enum;
  const auto SL = ParamType::StringList;
  const auto IL = ParamType::IntList;
  // Run
  s.add(P("name", S, "", "a short name for the experiment", "run"));
  s.add(P("description", S, "", "what the scenario shows", "run"));
  s.add(P("platform", S, "skylake-sp-2s", "platform file in platforms/ (name) or a path to one", "run"));
  s.add(P("seed", I, "1", "seed of every random stream", "run", 0, 9.2e18));
  s.add(P("run.max_sim_ms", D, "60000", "stop after this much simulated time even if the workload is not done", "run", 0.001, 3.6e9));
  s.add(P("run.progress", B, "true", "show a progress line on a terminal", "run"));
  // Host
  s.add(P("host.scheduler", E, "simple_fair", "host scheduling policy", "host", {}, {}, host::sched_policy_names()));
  s.add(P("host.hz", I, "250", "host tick rate (CONFIG_HZ)", "host", 100, 1000));
  s.add(P("host.sched_latency_us", D, "6000", "scheduler latency target (sysctl sched_latency_ns)", "host", 100, 1e6));
  s.add(P("host.min_granularity_us", D, "750", "minimum slice (sched_min_granularity_ns)", "host", 10, 1e6));
  s.add(P("host.wakeup_granularity_us", D, "1000", "wake-up preemption granularity", "host", 0, 1e6));
  s.add(P("host.busy_cpus", IL, "[]", "host CPUs that also run a CPU-bound host task", "host", 0, 4095));
  // VM
  s.add(P("vm.count", I, "1", "identical VMs on the host (more than the CPUs hold is overcommit); VM 0's workload metrics are unprefixed, every VM's also appear as vm<k>.<metric>", "vm", 1, 64));
  s.add(P("vm.vcpus", I, "2", "vCPUs of each VM", "vm", 1, 4096));
  s.add(P("vm.pin", IL, "[]", "host CPU of each vCPU: vm.vcpus entries shared by every VM, or vm.vcpus x vm.count in VM order (default: vCPU i on CPU i)", "vm", 0, 4095));
  s.add(P("vm.workloads", SL, "[]", "workload kind of each VM, one entry per VM (empty: every VM runs workload.kind)", "vm", {}, {}, workload_kinds));
  // KVM
  s.add(P("kvm.enable_apicv", B, "true", "use APICv (APIC-register virtualization, virtual-interrupt delivery, posted interrupts) when the CPU has it", "kvm"));
  s.add(P("kvm.hv_timer", B, "true", "back the guest's LAPIC timer with the VMX-preemption timer (else a host hrtimer)", "kvm"));
  s.add(P("kvm.preemption_timer", B, "true", "kvm_intel.preemption_timer", "kvm"));
  s.add(P("kvm.pv_send_ipi", B, "true", "offer KVM_FEATURE_PV_SEND_IPI (the KVM_HC_SEND_IPI hypercall)", "kvm"));
  s.add(P("kvm.fastpath", B, "true", "handle ICR/TSC_DEADLINE writes and the preemption timer on the IRQs-off fastpath", "kvm"));
  s.add(P("kvm.ple_gap", I, "128", "kvm_intel.ple_gap (0 disables pause-loop exiting)", "kvm", 0, 4294967295.0));
  s.add(P("kvm.ple_window", I, "4096", "kvm_intel.ple_window (TSC cycles)", "kvm", 0, 4294967295.0));
  s.add(P("kvm.ple_window_grow", I, "2", "kvm_intel.ple_window_grow", "kvm", 0, 4294967295.0));
  s.add(P("kvm.ple_window_shrink", I, "0", "kvm_intel.ple_window_shrink", "kvm", 0, 4294967295.0));
  s.add(P("kvm.ple_window_max", I, "4294967295", "kvm_intel.ple_window_max", "kvm", 0, 4294967295.0));
  s.add(P("kvm.halt_poll_ns", I, "200000", "kvm.halt_poll_ns (0 disables halt polling)", "kvm", 0, 1e10));
  s.add(P("kvm.halt_poll_ns_grow", I, "2", "kvm.halt_poll_ns_grow", "kvm", 0, 1000));
  s.add(P("kvm.halt_poll_ns_grow_start", I, "10000", "kvm.halt_poll_ns_grow_start", "kvm", 0, 1e10));
  s.add(P("kvm.halt_poll_ns_shrink", I, "2", "kvm.halt_poll_ns_shrink (0 resets the window to 0)", "kvm", 0, 1000));
  s.add(P("kvm.lapic_timer_advance_ns", I, "-1", "kvm.lapic_timer_advance_ns (-1: adaptive)", "kvm", -1, 5000));
  s.add(P("kvm.mitigations", SL, "[platform]", "entry mitigations: 'platform' (the platform's default set), 'none', or a list", "kvm", {}, {}, {"platform", "none", "mds_clear", "l1d_flush"}));
  s.add(P("kvm.kernel_io_ports", IL, "[0x20, 0x21, 0x40, 0x41, 0x42, 0x43, 0x61, 0xa0, 0xa1, 0x4d0, 0x4d1]", "I/O ports emulated in the kernel; others exit to the VMM", "kvm", 0, 65535));
  // Guest
  s.add(P("guest.ipi_mode", E, "x2apic_physical", "how the guest's APIC driver sends IPIs: x2APIC physical (an ICR write each), x2APIC cluster (one per cluster of 16), pv (KVM_HC_SEND_IPI bitmaps), noexit_pv (seed 002: post into the target's PI descriptor, ICR not intercepted)", "guest", {}, {}, {"x2apic_physical", "x2apic_cluster", "pv", "noexit_pv"}));
  s.add(P("guest.idle", E, "halt", "guest idle loop: halt (sti; hlt) or poll (idle=poll: PAUSE loop)", "guest", {}, {}, {"halt", "poll"}));
  // Workload
  s.add(P("workload.kind", E, "vmexit", "guest workload", "workload", {}, {}, workload_kinds));
  s.add(P("mix.timer_rearm_hz", D, "2000", "vm_mix: TSC-deadline reprogrammings per vCPU per second", "workload", 0, 1e7));
  s.add(P("mix.timer_cancel_share", D, "0.2", "vm_mix: share of reprogrammings that cancel the timer", "workload", 0, 1));
  s.add(P("mix.resched_ipi_hz", D, "500", "vm_mix: rescheduling IPIs sent per vCPU per second", "workload", 0, 1e7));
  s.add(P("mix.call_function_hz", D, "100", "vm_mix: call-function IPIs sent per vCPU per second", "workload", 0, 1e7));
  s.add(P("mix.call_function_targets", I, "4", "vm_mix: destinations of each call-function IPI", "workload", 1, 4095));
  s.add(P("mix.busy_share", D, "0.5", "vm_mix: share of time computing; the rest halts until the timer", "workload", 0, 1));
  s.add(P("mix.duration_ms", D, "100", "vm_mix: simulated milliseconds", "workload", 0.01, 1e7));
  s.add(P("ipi.iterations", I, "200", "ipi_bench: iterations of each measurement", "workload", 1, 1e9));
  s.add(P("ipi.target", I, "1", "ipi_bench: the vCPU the single and round-trip IPIs go to", "workload", 1, 4095));
  s.add(P("vmexit.tests", SL, "[]", "kvm-unit-tests vmexit tests to run (empty: all)", "workload", {}, {}, guest::vmexit_test_names()));
  s.add(P("vmexit.goal_cycles", I, "1073741824", "TSC cycles each test's loop must last (GOAL, 2^30)", "workload", 1024, 1e15));
  // Fault injection
  s.add(P("fault.inject", E, "none", "deliberately break one thing once, to see the matching invariant.* checker catch it (tests; never in experiments)", "fault", {}, {}, sim::fault_names()));
  s.add(P("fault.at_ms", D, "0.5", "simulated time after which fault.inject strikes at its first opportunity", "fault", 0, 3.6e9));
  // Platform cost overrides
  s.add(P("cost.*", D, "", "override one cost-table entry of the platform, e.g. cost.vmx.vmexit: 500", "costs", 0, 1e12));
  return s;
}

}  // namespace

const sim::Schema& scenario_schema() {
  static const sim::Schema schema = build();
  return schema;
}

}  // namespace run
