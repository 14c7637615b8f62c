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
  const std::vector<std::string> workload_kinds = {"vmexit", "ipi_bench", "vm_mix", "spinlock", "ipi_wait", "ple_mix", "cyclictest", "cpuid_loop", "clock_gettime", "kbuild", "ebizzy", "dedup", "unixbench", "idle_wakeup", "idle"};
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
  s.add(P("output.trace", B, "false", "write trace.txt: KVM's kvm_exit/kvm_entry/kvm_inj_virq/kvm_apic_ipi/kvm_ple_window_update/kvm_wait_lapic_expire tracepoints as trace-cmd report text", "run"));
  s.add(P("output.trace_max_lines", I, "1000000", "events trace.txt holds at most; later ones are counted as lost (like a full ring buffer)", "run", 1, 1e9));
  // Host
  s.add(P("host.scheduler", E, "simple_fair", "host scheduling policy", "host", {}, {}, host::sched_policy_names()));
  s.add(P("host.hz", I, "250", "host tick rate (CONFIG_HZ)", "host", 100, 1000));
  s.add(P("host.skew_tick", B, "false", "the skew_tick=1 boot option: CPU i's tick is offset by i * (tick period / 2) / CPUs, so CPUs do not all preempt at the same instant", "host"));
  s.add(P("host.power_model", E, "auto", "package power (C-states, turbo; needs the platform's power table): off (table ignored: HLT is C1 with no exit latency, no turbo), account (residency and turbo accounted; time runs at the nominal clock), feedback (account + a guest compute op's cycles run at its core's turbo frequency, sampled when the op starts); auto: the table's default_model (off unless the platform says so)", "host", {}, {}, {"auto", "off", "account", "feedback"}));
  s.add(P("host.cpuidle", E, "c1", "host idle states: c1 (HLT) or menu (intel_idle: the deepest C-state of the platform's power table whose target residency fits before the next timer)", "host", {}, {}, {"c1", "menu"}));
  s.add(P("host.sched_latency_us", D, "6000", "scheduler latency target (sysctl sched_latency_ns)", "host", 100, 1e6));
  s.add(P("host.min_granularity_us", D, "750", "minimum slice (sched_min_granularity_ns)", "host", 10, 1e6));
  s.add(P("host.wakeup_granularity_us", D, "1000", "wake-up preemption granularity", "host", 0, 1e6));
  s.add(P("host.sched_tunable_scaling", E, "log", "cfs/eevdf: scale sched_latency, min_granularity (EEVDF's base slice) and wakeup_granularity by 1+ilog2(min(cpus,8)) (log), min(cpus,8) (linear) or not (none)", "host", {}, {}, {"none", "log", "linear"}));
  s.add(P("host.sched_feat_next_buddy", B, "false", "sched_feat NEXT_BUDDY: cfs: a waking task becomes the next buddy; eevdf (6.6..~6.12): pick honours the next buddy (yield_to's hint) if eligible", "host"));
  s.add(P("host.sched_feat_pick_buddy", B, "false", "eevdf: sched_feat PICK_BUDDY (~6.13+, on upstream): pick honours an eligible next buddy", "host"));
  s.add(P("host.load_balance", B, "false", "simplified load balancing of tasks that may move (vm.placement: scattered): newidle pulls, a periodic pull from the busiest CPU every 4 ticks, and busy CPUs pushing to idle ones", "host"));
  s.add(P("host.busy_cpus", IL, "[]", "host CPUs that also run a CPU-bound host task", "host", 0, 4095));
  // VM
  s.add(P("vm.count", I, "1", "identical VMs on the host (more than the CPUs hold is overcommit); VM 0's workload metrics are unprefixed, every VM's also appear as vm<k>.<metric>", "vm", 1, 64));
  s.add(P("vm.vcpus", I, "2", "vCPUs of each VM", "vm", 1, 4096));
  s.add(P("vm.pin", IL, "[]", "host CPU of each vCPU: vm.vcpus entries shared by every VM, or vm.vcpus x vm.count in VM order (default: vCPU i on CPU i)", "vm", 0, 4095));
  s.add(P("vm.placement", E, "pinned", "pinned: vm.pin as given; scattered: the CPUs named in vm.pin form a cpuset and every vCPU of every VM goes to a random one of them, evenly (seeded), as a load-balanced unpinned host leaves them", "vm", {}, {}, {"pinned", "scattered"}));
  s.add(P("vm.workloads", SL, "[]", "workload kind of each VM, one entry per VM (empty: every VM runs workload.kind)", "vm", {}, {}, workload_kinds));
  // KVM
  s.add(P("kvm.enable_apicv", B, "true", "use APICv (APIC-register virtualization, virtual-interrupt delivery, posted interrupts) when the CPU has it", "kvm"));
  s.add(P("kvm.hv_timer", B, "true", "back the guest's LAPIC timer with the VMX-preemption timer (else a host hrtimer)", "kvm"));
  s.add(P("kvm.preemption_timer", B, "true", "kvm_intel.preemption_timer", "kvm"));
  s.add(P("kvm.pv_send_ipi", B, "true", "offer KVM_FEATURE_PV_SEND_IPI (the KVM_HC_SEND_IPI hypercall)", "kvm"));
  s.add(P("kvm.enable_ipiv", B, "true", "kvm_intel.enable_ipiv: IPI virtualization (tertiary control bit 4, PID-pointer table) where the platform has it (vmx ipiv) and APICv is on; the CPU posts fixed physical ICR writes without an exit. Off under guest.ipi_mode=noexit_pv", "kvm"));
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
  s.add(P("kvm.steal_time_nonatomic_clear", B, "false", "reproduce CVE-2019-3016: record_steal_time clears the steal-time preempted byte with a non-atomic read and write-back, losing a KVM_VCPU_FLUSH_TLB the guest adds in between (a deliberately broken variant)", "kvm"));
  s.add(P("kvm.disable_exits", SL, "[]", "KVM_CAP_X86_DISABLE_EXITS: exits the guest runs without: mwait (MWAIT/MONITOR exiting off; no hv timer), hlt (HLT exiting off), pause (PAUSE exiting and PLE off), cstate (C-state residency MSRs readable)", "kvm", {}, {}, {"mwait", "hlt", "pause", "cstate"}));
  s.add(P("kvm.kernel_io_ports", IL, "[0x20, 0x21, 0x40, 0x41, 0x42, 0x43, 0x61, 0xa0, 0xa1, 0x4d0, 0x4d1]", "I/O ports emulated in the kernel; others exit to the VMM", "kvm", 0, 65535));
  s.add(P("kvm.on_spin_version", E, "5.6", "kvm_vcpu_on_spin's loop: 5.6 (two passes after and up to last_boosted_vcpu, the seed's kernel; unchanged through 6.12, so 6.10 is the same), 6.13 (one wrapping loop that stores the loop counter, not the vCPU index, as last_boosted_vcpu: 6.13 to 6.18) or 6.19 (the fixed single loop: the 5.6 order)", "kvm", {}, {}, {"5.6", "6.10", "6.13", "6.19"}));
  s.add(P("kvm.dy_pending_interrupt", B, "false", "~5.13 upstream: a vCPU preempted in user mode with a pending (posted) interrupt is a directed-yield candidate", "kvm"));
  s.add(P("kvm.ishiguro.deboost", B, "false", "seed 003 patch 1 (not upstream): yield_to_task_fair raises the yielder's vruntime to target - wakeup_granularity when both are vCPUs of one VM on one run queue, so CFS takes the next-buddy hint", "kvm"));
  s.add(P("kvm.ishiguro.ipi_aware", B, "false", "seed 003 patch 2 (not upstream): remember which vCPUs IPI'd a scheduled-out vCPU; on_spin boosts such receivers preempted in user mode and skips halted receivers that I did not IPI", "kvm"));
  s.add(P("kvm.trace_ple_window", B, "false", "write kvm_ple_window_update events (trace-cmd report format) to trace-ple.txt", "kvm"));
  // Guest
  s.add(P("guest.ipi_mode", E, "x2apic_physical", "how the guest's APIC driver sends IPIs: x2APIC physical (an ICR write each), x2APIC cluster (one per cluster of 16), pv (KVM_HC_SEND_IPI bitmaps), noexit_pv (seed 002: post into the target's PI descriptor, ICR not intercepted; NMI/INIT/SIPI through MSR_KVM_PV_ICR), ipiv (x2APIC physical sends that require IPI virtualization: a platform with vmx ipiv and kvm.enable_ipiv)", "guest", {}, {}, {"x2apic_physical", "x2apic_cluster", "pv", "noexit_pv", "ipiv"}));
  s.add(P("guest.pv_spinlock", B, "false", "pv qspinlocks: spin SPIN_THRESHOLD PAUSEs, then halt (pv_wait) until the unlocker's KVM_HC_KICK_CPU", "guest"));
  s.add(P("guest.pv_wait_early_preempted", B, "false", "pv qspinlock's pv_wait_early also halts a waiter whose predecessor's vCPU is preempted (vcpu_is_preempted through steal time), as 4.13 to 5.3 did before the revert of commit 75437bb304b2; off: only a halted predecessor (upstream)", "guest"));
  s.add(P("guest.pv_sched_yield", B, "false", "PV sched yield (kvm_smp_send_call_func_ipi): after sending call-function IPIs to several CPUs (TLB shootdowns included), KVM_HC_SCHED_YIELD to the first non-idle target whose steal-time area says preempted; needs guest.steal_time; off by itself with kvm.hints_realtime or when the guest sees MWAIT", "guest"));
  s.add(P("guest.steal_time", B, "true", "the guest registers struct kvm_steal_time (MSR_KVM_STEAL_TIME): steal accounting and the preempted byte behind vcpu_is_preempted", "guest"));
  s.add(P("guest.pv_tlb_flush", B, "true", "the guest uses kvm_flush_tlb_multi (KVM_FEATURE_PV_TLB_FLUSH): preempted vCPUs get KVM_VCPU_FLUSH_TLB instead of an IPI; needs guest.steal_time; off by itself with kvm.hints_realtime or when the guest sees MWAIT (kvm.disable_exits has mwait)", "guest"));
  s.add(P("kvm.hints_realtime", B, "false", "KVM_HINTS_REALTIME in CPUID 0x40000001.EDX (QEMU kvm-hint-dedicated=on: vCPUs are never preempted): the guest does not enable PV TLB flush nor PV sched yield", "kvm"));
  s.add(P("guest.idle", E, "halt", "guest idle loop: halt (sti; hlt), poll (idle=poll: PAUSE loop), mwait (intel_idle: MWAIT with the deepest C-state that fits before the next timer; needs kvm.disable_exits mwait) or haltpoll (cpuidle-haltpoll: adaptive guest polling, then HLT; host polling off via MSR_KVM_POLL_CONTROL)", "guest", {}, {}, {"halt", "poll", "mwait", "haltpoll"}));
  s.add(P("guest.haltpoll_ns", I, "200000", "cpuidle-haltpoll's guest_halt_poll_ns: the most the guest polls before HLT (guest.idle=haltpoll)", "guest", 0, 1e10));
  // Workload
  s.add(P("workload.kind", E, "vmexit", "guest workload", "workload", {}, {}, workload_kinds));
  s.add(P("mix.timer_rearm_hz", D, "2000", "vm_mix: TSC-deadline reprogrammings per vCPU per second", "workload", 0, 1e7));
  s.add(P("mix.timer_cancel_share", D, "0.2", "vm_mix: share of reprogrammings that cancel the timer", "workload", 0, 1));
  s.add(P("mix.resched_ipi_hz", D, "500", "vm_mix: rescheduling IPIs sent per vCPU per second", "workload", 0, 1e7));
  s.add(P("mix.call_function_hz", D, "100", "vm_mix: call-function IPIs sent per vCPU per second", "workload", 0, 1e7));
  s.add(P("mix.call_function_targets", I, "4", "vm_mix: destinations of each call-function IPI", "workload", 1, 4095));
  s.add(P("mix.nmi_hz", D, "0", "vm_mix: all-CPU NMI backtraces (nmi_backtrace: NMI every other vCPU, wait for each handler; one at a time) started per vCPU per second", "workload", 0, 1e6));
  s.add(P("mix.busy_share", D, "0.5", "vm_mix: share of time computing; the rest halts until the timer", "workload", 0, 1));
  s.add(P("mix.duration_ms", D, "100", "vm_mix: simulated milliseconds", "workload", 0.01, 1e7));
  s.add(P("overcommit.duration_ms", D, "100", "spinlock/ipi_wait/ple_mix: simulated milliseconds each vCPU runs operations", "workload", 0.01, 1e7));
  s.add(P("overcommit.idle_share", D, "0", "spinlock/ipi_wait/ple_mix: share of operations preceded by an idle halt (sti; hlt until a TSC-deadline timer or an IPI): halted IPI receivers, seed 003 problem 3", "workload", 0, 1));
  s.add(P("overcommit.idle_us", D, "50", "spinlock/ipi_wait/ple_mix: mean idle time of such a halt", "workload", 0.01, 1e7));
  s.add(P("overcommit.ipi_share", D, "0.5", "ple_mix: share of operations that send call-function IPIs and wait (the rest take a kernel spinlock)", "workload", 0, 1));
  s.add(P("overcommit.user_cycles", D, "20000", "spinlock/ipi_wait/ple_mix: mean user-mode (CPL 3) cycles per operation", "workload", 1, 1e12));
  s.add(P("overcommit.kernel_cycles", D, "2000", "spinlock/ple_mix: mean kernel cycles before taking the lock", "workload", 1, 1e12));
  s.add(P("overcommit.hold_cycles", D, "2000", "spinlock/ple_mix: mean critical-section cycles", "workload", 1, 1e12));
  s.add(P("overcommit.locks", I, "1", "spinlock/ple_mix: kernel spinlocks the vCPUs contend on", "workload", 1, 4096));
  s.add(P("overcommit.ipi_targets", I, "1", "ipi_wait/ple_mix: destinations of each call-function IPI", "workload", 1, 4095));
  s.add(P("ebizzy.threads", I, "0", "ebizzy: threads, one per vCPU from vCPU 0 (0: one per vCPU)", "workload", 0, 4096));
  s.add(P("ebizzy.chunk_kib", D, "512", "ebizzy: chunk size in KiB (ebizzy -s; default 512 KiB, above glibc's mmap threshold, so every free is a munmap)", "workload", 4, 1048576));
  s.add(P("ebizzy.cycles_per_kib", D, "300", "ebizzy: memcpy plus linear search cycles per KiB of chunk (estimate: ~10 GB/s copy and one record compare per cycle)", "workload", 0, 1e7));
  s.add(P("ebizzy.touches", I, "8", "ebizzy: TLB-checked memory accesses per record", "workload", 1, 100000));
  s.add(P("ebizzy.duration_ms", D, "50", "ebizzy: simulated milliseconds measured (ebizzy -S)", "workload", 0.01, 1e7));
  s.add(P("dedup.threads", I, "0", "dedup: pipeline threads, one per vCPU from vCPU 0 (0: one per vCPU)", "workload", 0, 4096));
  s.add(P("dedup.buffer_kib", D, "64", "dedup: buffer allocated and freed per chunk, in KiB", "workload", 4, 1048576));
  s.add(P("dedup.cycles_per_kib", D, "1500", "dedup: hashing and compression cycles per KiB (estimate: SHA-1 plus a fast compressor)", "workload", 0, 1e7));
  s.add(P("dedup.duration_ms", D, "50", "dedup: simulated milliseconds measured", "workload", 0.01, 1e7));
  s.add(P("unixbench.loop_cycles", I, "100000", "unixbench: cycles of one CPU-bound loop (Dhrystone-like: no exits)", "workload", 1, 1e12));
  s.add(P("unixbench.duration_ms", D, "200", "unixbench: simulated milliseconds measured", "workload", 0.01, 1e7));
  s.add(P("idle.wakeup_hz", D, "100", "idle_wakeup: mean rate of each vCPU's timer wake-ups (exponential gaps)", "workload", 0.001, 1e6));
  s.add(P("idle.duration_ms", D, "200", "idle_wakeup: simulated milliseconds of timer wake-ups", "workload", 0.01, 1e7));
  s.add(P("ipi.iterations", I, "200", "ipi_bench: iterations of each measurement", "workload", 1, 1e9));
  s.add(P("ipi.nmi", B, "false", "ipi_bench: a fourth measurement, ipi.nmi_broadcast_ns: an NMI to all other vCPUs, waiting until each handler ran (trigger_all_cpu_backtrace / nmi_backtrace)", "workload"));
  s.add(P("ipi.hotplug", B, "false", "ipi_bench: a CPU offline/online measurement of ipi.target: play_dead, then INIT, INIT de-assert and two SIPIs (Linux's wakeup_secondary_cpu_via_init); ipi.init_sipi_ns to the AP's first instruction, ipi.cpu_up_us to the AP online. Under noexit_pv they go through MSR_KVM_PV_ICR", "workload"));
  s.add(P("ipi.smi", B, "false", "ipi_bench: an SMI IPI to ipi.target, waiting until its SMI handler ran (KVM's enter_smm, the firmware handler, RSM emulated after its #UD exit): ipi.smi_ns", "workload"));
  s.add(P("ipi.target", I, "1", "ipi_bench: the vCPU the single and round-trip IPIs go to", "workload", 1, 4095));
  s.add(P("vmexit.tests", SL, "[]", "kvm-unit-tests vmexit tests to run (empty: all)", "workload", {}, {}, guest::vmexit_test_names()));
  s.add(P("vmexit.goal_cycles", I, "1073741824", "TSC cycles each test's loop must last (GOAL, 2^30)", "workload", 1024, 1e15));
  // Fault injection
  s.add(P("fault.inject", E, "none", "deliberately break one thing once, to see the matching invariant.* checker catch it (tests; never in experiments)", "fault", {}, {}, sim::fault_names()));
  s.add(P("fault.at_ms", D, "0.5", "simulated time after which fault.inject strikes at its first opportunity", "fault", 0, 3.6e9));
  // Issue 3: latency-critical guests (model/run/rt_setup.h)
  const std::vector<std::string> tri = {"auto", "true", "false"};
  s.add(P("rt.mode", E, "none", "real-time mode: sets the defaults of the mechanism switches below (auto). none: no defaults; bare: vm.bare_metal; kvm: KVM with a SCHED_RR vCPU thread, host tick and kthreads on its core; kvm_isolated: + host.isolation; kvm_directirq: + kvm.direct_irq and kvm.hlt_in_guest (seed 001); kvm_exitless_timer: + kvm.pi_inject_timer and kvm.hlt_in_guest; kvm_timer_passthrough: kvm.timer_passthrough (seed 002)", "rt", {}, {}, {"none", "bare", "kvm", "kvm_isolated", "kvm_directirq", "kvm_exitless_timer", "kvm_timer_passthrough"}));
  s.add(P("rt.load", E, "idle", "interrupt source besides the timer: idle; host_cpu (an endless-loop host task on every non-isolated CPU, the vCPU's included unless isolated); iperf (an SR-IOV VF receiving packets, iperf.*)", "rt", {}, {}, {"idle", "host_cpu", "iperf"}));
  s.add(P("rt.whatif_posted_interrupts", B, "false", "what-if: give the platform APICv and posted interrupts (core-i7-3770 has neither), for the exitless timer or VT-d posting", "rt"));
  s.add(P("vm.bare_metal", B, "false", "no virtualization: the workload's programs run natively as host tasks on the vm.pin CPUs (rt.mode=bare sets it)", "vm"));
  s.add(P("vm.vcpu_rt_priority", I, "-1", "SCHED_RR priority of the vCPU threads (0: SCHED_OTHER; -1: 1 when rt.mode is set, else 0)", "vm", -1, 99));
  s.add(P("host.isolation", E, "auto", "CPU isolation of host.isolated_cpus (or of the vCPUs' CPUs when that is empty): no host tasks or kthreads, nohz_full (no tick while one task runs); auto follows rt.mode", "host", {}, {}, tri));
  s.add(P("host.isolated_cpus", IL, "[]", "CPUs isolated when host.isolation is on (empty: the vCPUs' CPUs)", "host", 0, 4095));
  s.add(P("host.nohz_full_residual_hz", I, "0", "nohz_full CPUs (host.isolation): rate of the residual scheduler tick kept while one task runs; 0 = none (Linux >= 4.17 offloads it to a housekeeping CPU, sched_tick_remote, commit d84b31313ef8); 1 = older kernels' 1 Hz tick", "host", 0, 1000));
  s.add(P("host.kthread_hz", D, "0", "wake-ups per second of a host kernel thread on every non-isolated CPU that runs kernel code with preemption off (0: none)", "host", 0, 1e6));
  s.add(P("host.kthread_run_us", D, "30", "mean length (exponential) of such a kernel thread's non-preemptible stretch", "host", 0.01, 1e6));
  s.add(P("kvm.hlt_in_guest", E, "auto", "KVM_CAP_X86_DISABLE_EXITS_HLT: HLT does not exit (auto: rt.mode kvm_directirq or kvm_exitless_timer)", "kvm", {}, {}, tri));
  s.add(P("kvm.direct_irq", E, "auto", "seed 001 DirectIRQ on isolated vCPU cores: no external-interrupt exiting, host requests as NMIs, direct EOI while no virtual IRQ is in service, TMICT/TMCCT/TDCR passthrough with LVTT and TSC_DEADLINE converted (auto: rt.mode kvm_directirq)", "kvm", {}, {}, tri));
  s.add(P("kvm.pi_inject_timer", E, "auto", "exitless timer: the LAPIC timer's hrtimer runs on kvm.housekeeping_cpu and posts the timer vector (needs posted interrupts and kvm.hlt_in_guest; auto: rt.mode kvm_exitless_timer)", "kvm", {}, {}, tri));
  s.add(P("kvm.housekeeping_cpu", I, "0", "the CPU where the exitless timer's hrtimers (and isolated cores' device interrupts) run", "kvm", 0, 4095));
  s.add(P("kvm.timer_passthrough", E, "auto", "seed 002 timer passthrough: IA32_TSC_DEADLINE not intercepted, the host's timer on the VMX-preemption timer while in the guest (auto: rt.mode kvm_timer_passthrough)", "kvm", {}, {}, tri));
  s.add(P("guest.clockevent", E, "tsc_deadline", "the cyclictest guest's clockevent: tsc_deadline (lapic-deadline) or lapic_oneshot (TMICT; seed 001's qemu64 guest had no tsc-deadline, and DirectIRQ passes TMICT through)", "guest", {}, {}, {"tsc_deadline", "lapic_oneshot"}));
  s.add(P("kvm.lazy_fpu", B, "false", "KVM's lazy guest FPU (Linux <= 4.10, the seed 001 host): the guest FPU is saved at every vcpu_put and CR0.TS made host-owned, so a lazy-FPU guest's next CLTS exits (CR_ACCESS) to reload it", "kvm"));
  s.add(P("kvm.assigned_irq", E, "hardirq", "how KVM forwards a passed-through device's MSI (iperf.delivery=forwarded): hardirq (kvm_set_irq_inatomic / irqfd from the hard handler, Linux 3.7+) or threaded (Linux 3.5's assigned-dev: an irq/N SCHED_FIFO 50 thread raises the vIRQ)", "kvm", {}, {}, {"hardirq", "threaded"}));
  s.add(P("guest.lazy_fpu", B, "false", "the cyclictest guest kernel switches the FPU lazily (Linux < 4.2 on most CPUs): CLTS when it switches to cyclictest (which uses the FPU every loop) from its idle task", "guest"));
  s.add(P("guest.hz", D, "250", "the guest kernel's tick rate (its NO_HZ idle tick restart after waking)", "guest", 100, 1000));
  s.add(P("cyclictest.loops", I, "10000", "cyclictest -l: wake-ups per thread", "workload", 1, 1e10));
  s.add(P("cyclictest.interval_us", D, "1000", "cyclictest -i: the absolute sleep interval", "workload", 10, 1e7));
  s.add(P("cyclictest.threads", I, "1", "cyclictest -t: threads, thread i on vCPU i", "workload", 1, 4096));
  s.add(P("cyclictest.priority", I, "99", "cyclictest -p: SCHED_FIFO priority (also the bare-metal task's)", "workload", 1, 99));
  s.add(P("cyclictest.histogram_us", I, "1000", "cyclictest -h: histogram buckets of 1 us in cyclictest.txt", "workload", 1, 1000000));
  s.add(P("iperf.pps", D, "812744", "packets per second the VF receives (rt.load=iperf; default: 10GbE line rate with 1500-byte frames, 10e9 / (1538 * 8))", "workload", 0, 1e8));
  s.add(P("iperf.itr_us", D, "50", "the VF's interrupt throttle interval (ixgbevf's 20K ITR)", "workload", 1, 1e6));
  s.add(P("iperf.clock_ppm", D, "50", "the NIC oscillator's offset from the CPU clock (its moderation timer drifts through the timer grid)", "workload", -1000, 1000));
  s.add(P("iperf.delivery", E, "auto", "how the VF's interrupt reaches the guest: forwarded (host handler + virtual IRQ), posted (VT-d posted interrupts), direct (DirectIRQ, the guest's vector), host (bare metal); auto: by mode", "workload", {}, {}, {"auto", "forwarded", "posted", "direct", "host"}));
  // Nested virtualization and L2 clocksources (issue 7; seed 004)
  s.add(P("nested.level", I, "1", "where the workload runs: 0 bare metal (as vm.bare_metal), 1 a guest of KVM (L1), 2 a nested guest (L2) of a KVM L1 hypervisor running in VM 0", "nested", 0, 2));
  s.add(P("nested.l0", E, "kvm", "the L0 hypervisor: kvm, or hyperv (Hyper-V-like: offers the enlightened VMCS, the TSC page and re-enlightenment)", "nested", {}, {}, {"kvm", "hyperv"}));
  s.add(P("nested.evmcs", B, "false", "L1 keeps vmcs12 in a Hyper-V enlightened VMCS (plain memory, clean-field groups; eVMCSv1 limits L1's controls); needs nested.l0=hyperv", "nested"));
  s.add(P("nested.shadow_vmcs", B, "true", "L0 uses VMCS shadowing for L1's VMREAD/VMWRITE of the shadowed fields (others trap); false: every one traps", "nested"));
  s.add(P("nested.stable_clock", B, "false", "L1's KVM counts the Hyper-V TSC page as a TSC-based host clocksource, so L2's kvm-clock is stable (the seed's patches)", "nested"));
  s.add(P("nested.migrate_at_ms", D, "0", "simulated time of one L1 migration (0: none): L0 emulates the TSC until L1's re-enlightenment handler updated the pvclocks; needs nested.level=2, nested.l0=hyperv", "nested", 0, 1e7));
  s.add(P("nested.reenlightenment_delay_us", D, "100", "from the migration to L1's re-enlightenment notifier running (interrupt plus L1's workqueue latency)", "nested", 0, 1e7));
  s.add(P("cpuid_loop.iterations", I, "10000000", "cpuid_loop: CPUID(1) iterations (seed 004: 10,000,000)", "workload", 1, 1e12));
  s.add(P("clock_gettime.iterations", I, "10000000", "clock_gettime: calls (seed 004: 10,000,000)", "workload", 1, 1e12));
  s.add(P("clock_gettime.batch", I, "1000", "clock_gettime: calls per time-series sample (clock_gettime_batches.csv)", "workload", 1, 1e9));
  s.add(P("kbuild.work_ms", D, "20", "kbuild: guest computation per vCPU, simulated ms", "workload", 0.01, 1e7));
  s.add(P("kbuild.page_fault_hz", D, "20000", "kbuild: in-guest page faults per second of work (no exit)", "workload", 0, 1e8));
  s.add(P("kbuild.ept_violation_hz", D, "200", "kbuild: first touches of guest memory the EPT does not map, per second of work", "workload", 0, 1e8));
  s.add(P("kbuild.ept_l1_share", D, "0.5", "kbuild: at L2, the share of EPT violations also absent from L1's EPT12 (reflected to L1)", "workload", 0, 1));
  s.add(P("kbuild.io_hz", D, "100", "kbuild: virtio notifications (ioeventfd MMIO writes) per second of work", "workload", 0, 1e8));
  s.add(P("kbuild.timer_hz", D, "1000", "kbuild: timer interrupts per second (the tick, TSC-deadline mode)", "workload", 0, 1e6));
  s.add(P("kbuild.timer_rearm_hz", D, "1000", "kbuild: extra TSC-deadline writes (hrtimer reprogramming) per second of work", "workload", 0, 1e8));
  s.add(P("kbuild.ipi_hz", D, "500", "kbuild: IPIs sent per second of work", "workload", 0, 1e8));
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
