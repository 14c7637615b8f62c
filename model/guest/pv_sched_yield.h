// The guest's choice of PV features at boot (arch/x86/kernel/kvm.c kvm_guest_init) and PV
// sched yield itself (kvm_smp_send_call_func_ipi).
//
// pv_tlb_flush_supported() and pv_sched_yield_supported() both require the feature bit,
// KVM_FEATURE_STEAL_TIME, no KVM_HINTS_REALTIME, no X86_FEATURE_MWAIT in the guest's CPUID
// (KVM shows MWAIT only when MWAIT exits are disabled, i.e. when the vCPUs own their
// CPUs) and more than one possible CPU. With PV sched yield, smp_ops.send_call_func_ipi
// becomes kvm_smp_send_call_func_ipi: after the native IPIs, yield (KVM_HC_SCHED_YIELD) to
// the first target that is not idle and whose steal-time area says it is preempted.
// Every multi-target call-function IPI goes through it (smp_call_function_many_cond, so
// TLB shootdowns too); a single target uses send_call_function_single_ipi (no yield).
#pragma once

#include <cstdint>
#include <vector>

#include "guest/guest_cpu.h"

namespace guest {

struct PvFeatures {
  bool pv_tlb_flush = false;     // KVM setup pv remote TLB flush
  bool pv_sched_yield = false;   // setup PV sched yield
};

// What kvm_guest_init enables, from what KVM offers and what the guest wants.
struct PvOffer {
  bool want_pv_tlb_flush = true;    // guest.pv_tlb_flush (KVM_FEATURE_PV_TLB_FLUSH offered)
  bool want_pv_sched_yield = false; // guest.pv_sched_yield (KVM_FEATURE_PV_SCHED_YIELD offered)
  bool steal_time = true;           // KVM_FEATURE_STEAL_TIME (guest.steal_time)
  bool hints_realtime = false;      // KVM_HINTS_REALTIME (kvm.hints_realtime)
  bool mwait = false;               // X86_FEATURE_MWAIT: kvm.disable_exits has mwait
  int possible_cpus = 1;
};
PvFeatures kvm_guest_init(const PvOffer& o);

// smp_ops.send_call_func_ipi for `targets` (vCPU indices): native IPIs, then (PV sched
// yield) the yield to the first preempted, non-idle target in CPU order. Returns that
// target or -1; `yields` counts the hypercalls.
Task<int> send_call_func_ipi(GuestCpu& g, std::vector<int> targets, uint64_t* yields = nullptr);

// The IPI step of smp_call_function_many_cond: one CPU to interrupt takes
// send_call_function_single_ipi (native, never a PV yield), several take
// smp_ops.send_call_func_ipi above.
Task<int> send_call_function_ipis(GuestCpu& g, std::vector<int> targets, uint64_t* yields = nullptr);

}  // namespace guest
