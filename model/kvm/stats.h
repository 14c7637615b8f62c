// Per-vCPU statistics, named as KVM's binary stats where they mean the same thing.
#pragma once

#include <array>
#include <cstdint>

#include "hw/vmx.h"
#include "sim/stats.h"

namespace kvm {

// Why an exit happened, in the terms of seed 002's charts: the guest's own timer
// programming and expiry, IPIs it sends, halts, host interrupts (ticks, kicks), I/O, other.
enum class ExitCause : uint8_t { Timer, Ipi, Halt, HostInterrupt, Io, Other, kCount };
inline constexpr const char* kExitCauseNames[] = {"timer", "ipi", "halt", "host_interrupt", "io", "other"};

struct VcpuStats {
  std::array<uint64_t, static_cast<size_t>(ExitCause::kCount)> exits_by_cause{};
  // Exits by basic reason, and the time from each kvm_exit to the next kvm_entry (ns),
  // which is what `perf kvm stat` reports as an event's time.
  std::array<uint64_t, hw::kNumExitReasons> exits_by_reason{};
  std::array<sim::Summary, hw::kNumExitReasons> exit_time_ns{};
  uint64_t exits = 0;
  uint64_t exits_unknown_reason = 0;
  uint64_t fastpath_exits = 0;
  uint64_t userspace_exits = 0;   // KVM_RUN returned to the VMM
  uint64_t halt_exits = 0;
  uint64_t halt_attempted_poll = 0;
  uint64_t halt_successful_poll = 0;
  uint64_t halt_poll_invalid = 0;
  uint64_t halt_wakeup = 0;
  uint64_t halt_poll_success_ns = 0;
  uint64_t halt_poll_fail_ns = 0;
  uint64_t halt_wait_ns = 0;
  uint64_t irq_injections = 0;     // events injected through VM-entry
  uint64_t nmi_injections = 0;     // NMIs injected through VM-entry (issue 4)
  uint64_t init_resets = 0;        // INITs acted on: kvm_vcpu_reset, wait for SIPI
  uint64_t sipi_starts = 0;        // SIPIs that started a vCPU waiting for one
  uint64_t smi_count = 0;          // SMIs taken: enter_smm (vcpu->arch.smi_count)
  uint64_t rsm_emulated = 0;       // RSMs emulated: leave_smm
  uint64_t posted_interrupts = 0;  // interrupts posted to this vCPU's descriptor
  uint64_t hypercalls = 0;
  uint64_t ple_window_updates = 0;
  uint64_t ept_violations = 0;  // handle_ept_violation (EPT entries installed)
  uint64_t hv_timer_armed = 0, sw_timer_armed = 0;
  uint64_t timer_fired = 0;
  uint64_t preemption_reported = 0;
  int64_t lapic_timer_advance_ns = 0;
  // Interrupt conservation (invariant.lost_interrupts): every interrupt KVM accepts for
  // this vCPU is delivered to the guest, still pending, merged with one already pending
  // (coalesced), or dropped for an architectural reason (a masked LVT).
  uint64_t interrupts_sent = 0;
  uint64_t interrupts_coalesced = 0;
  uint64_t interrupts_dropped_masked = 0;  // masked LVT, or cleared by an INIT reset
  uint64_t illegal_transitions = 0;   // vCPU state machine violations
  uint64_t tsc_mismatches = 0;        // entries whose VMCS TSC offset/multiplier KVM does not believe
  // Issue 5: overcommit.
  uint64_t on_spin = 0;                    // kvm_vcpu_on_spin calls
  uint64_t directed_yield_attempted = 0;   // kvm_vcpu_yield_to calls (on_spin and PV yields)
  uint64_t directed_yield_successful = 0;  // of which yield_to returned > 0
  uint64_t directed_yield_esrch = 0;       // of which yield_to returned -ESRCH
  uint64_t pv_sched_yield = 0, pv_kick = 0;
  uint64_t preempted_in_kernel = 0, preempted_in_user = 0;
  uint64_t ple_window_sum = 0;             // PLE_WINDOW in effect at each PAUSE exit
  uint64_t ple_exits = 0;
};

}  // namespace kvm
