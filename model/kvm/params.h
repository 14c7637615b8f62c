// KVM's module parameters and per-VM capabilities that the model implements, with the
// kernel's defaults (kvm.ko, kvm_intel.ko). Each is a scenario key under `kvm.`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kvm {

struct KvmParams {
  // kvm_intel
  bool enable_apicv = true;        // APICv: APIC-register virtualization + VID + posted interrupts
  bool preemption_timer = true;    // kvm_intel.preemption_timer: the hv timer may be used
  bool hv_timer = true;            // scenario switch: prefer the VMX-preemption timer ("hv timer")
  bool fastpath = true;            // handle_fastpath_* for ICR, TSC_DEADLINE, preemption timer
  uint32_t ple_gap = 128;          // 0 disables PLE
  uint32_t ple_window = 4096;
  uint32_t ple_window_grow = 2;
  uint32_t ple_window_shrink = 0;
  uint32_t ple_window_max = 0xFFFFFFFFu;
  bool pv_send_ipi = true;         // KVM_FEATURE_PV_SEND_IPI offered to the guest
  bool noexit_pv_ipi = false;      // seed 002: ICR not intercepted, descriptors mapped
  bool enable_ipiv = true;         // kvm_intel.enable_ipiv: IPI virtualization where the CPU has it (needs APICv)
  // issue 3: latency-critical guests (rt_timer.h)
  bool hlt_in_guest = false;       // KVM_CAP_X86_DISABLE_EXITS_HLT: HLT does not exit
  bool pi_inject_timer = false;    // kvm.pi_inject_timer: exitless timer, posted from a housekeeping CPU
  int housekeeping_cpu = 0;        // where the exitless timer's hrtimer runs
  bool timer_passthrough = false;  // seed 002: the guest owns the TSC-deadline timer
  bool direct_irq = false;         // seed 001: no external-interrupt exiting, direct EOI and LAPIC timer
  bool lazy_fpu = false;           // KVM <= 4.10: guest FPU put at every sched-out, CLTS/#NM exits (lazy_fpu.h)
  // kvm
  uint64_t halt_poll_ns = 200000;
  uint32_t halt_poll_ns_grow = 2;
  uint64_t halt_poll_ns_grow_start = 10000;
  uint32_t halt_poll_ns_shrink = 2;   // 0 = reset to 0 (before ~6.9)
  // Issue 5: directed yield. kvm_vcpu_on_spin's loop: two passes around last_boosted_vcpu
  // (<= 6.12), one loop that stores the loop counter as last_boosted_vcpu (commit
  // 7e513617da71, 6.13 .. 6.18), or one loop that stores the vCPU index (6.19, 6.18.y).
  enum class OnSpin : uint8_t { V5_6, V6_13, V6_19 } on_spin_version = OnSpin::V5_6;
  bool dy_pending_interrupt = false;  // ~5.13: a preempted vCPU with a pending interrupt counts as in-kernel
  bool ishiguro_ipi_aware = false;    // seed 003 patch 2
  bool trace_ple_window = false;      // record kvm_ple_window_update events
  // lapic
  int64_t lapic_timer_advance_ns = -1;  // -1: adaptive (start 1000 ns)
  uint32_t min_timer_period_us = 200;
  // Spectre-era mitigations applied on VM entry (subset of "l1d_flush", "mds_clear").
  std::vector<std::string> mitigations;
  // Ports and MMIO handled in the kernel; every other port exits to the VMM (QEMU).
  // Issue 6: reproduce CVE-2019-3016 (record_steal_time clears `preempted` with a
  // non-atomic read and write-back, losing a guest's KVM_VCPU_FLUSH_TLB in between).
  bool steal_time_nonatomic_clear = false;
  // KVM_CAP_X86_DISABLE_EXITS bits (kvm/disable_exits.h), from kvm.disable_exits.
  uint32_t disable_exits = 0;
  std::vector<int64_t> kernel_io_ports = {0x20, 0x21, 0x40, 0x41, 0x42, 0x43, 0x61, 0xa0, 0xa1, 0x4d0, 0x4d1};
};

}  // namespace kvm
