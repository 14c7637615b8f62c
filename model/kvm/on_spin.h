// Directed yield (virt/kvm/kvm_main.c kvm_vcpu_on_spin, kvm_vcpu_yield_to; x86.c
// kvm_arch_dy_runnable, kvm_sched_yield, kvm_pv_kick_cpu_op): a vCPU that spins (PAUSE-loop
// exit) or waits for a preempted vCPU (PV sched yield, PV unlock kick) gives its CPU to a
// vCPU of the same VM that is likely to be holding what it waits for.
//
// Candidate filters of kvm_vcpu_on_spin, in order: not me; `ready` (preempted or woken and
// not yet running); a blocked vCPU only if dy_runnable (PV-unhalted, an event request or a
// pending posted interrupt); a preempted vCPU in user mode is skipped when yielding to
// kernel mode (unless, with kvm.dy_pending_interrupt, it has a pending interrupt); the
// eligibility toggle of vCPUs that are themselves in a spin loop. Seed 003 patch 2
// (kvm.ishiguro.ipi_aware, the RFC's code) adds: a ready candidate that is not preempted
// (woken from a halt) or is preempted in user mode is skipped unless my bit is in its
// ipi_received mask (set by my IPIs while it was scheduled out, or by my previous skip of
// it); a skip sets the bit. The mask is cleared at every entry and at sched-in.
#pragma once

#include "hw/vmx_cpu.h"

namespace kvm {

class Vcpu;

// Candidate checks before the eligibility toggle (exposed for unit tests).
bool vcpu_dy_runnable(const Vcpu& v);
bool vcpu_dy_has_pending_interrupt(const Vcpu& v);
// Seed 003 patch 2 may set my bit in the candidate's ipi_received mask (hence non-const).
bool on_spin_candidate(const Vcpu& me, Vcpu& c, bool yield_to_kernel_mode);
// kvm_vcpu_eligible_for_directed_yield (toggles dy_eligible of a spinning candidate).
bool eligible_for_directed_yield(Vcpu& c);
// kvm_vcpu_yield_to, counting directed_yield.* on `me`.
int kvm_vcpu_yield_to(hw::VmxCpu& cpu, Vcpu& me, Vcpu& target);
// kvm_vcpu_on_spin; returns the vCPU index yielded to, or -1.
int kvm_vcpu_on_spin(hw::VmxCpu& cpu, Vcpu& me, bool yield_to_kernel_mode);
// kvm_sched_yield (KVM_HC_SCHED_YIELD and after KICK_CPU): yield to the vCPU with APIC id
// `dest_id` if it is ready.
void kvm_sched_yield(hw::VmxCpu& cpu, Vcpu& me, uint64_t dest_id);

}  // namespace kvm
