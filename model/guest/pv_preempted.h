// vcpu_is_preempted() of a Linux guest on KVM (arch/x86/kernel/kvm.c): with
// KVM_FEATURE_STEAL_TIME, pv_ops.lock.vcpu_is_preempted is __kvm_vcpu_is_preempted, which
// reads the KVM_VCPU_PREEMPTED bit of that vCPU's struct kvm_steal_time (the byte KVM sets
// at vcpu_put of a preempted vCPU and clears at its next entry, kvm/steal_time.h); without
// steal time the native version answers false.
//
// One reader for every user: PV sched yield (kvm_smp_send_call_func_ipi) and pv qspinlock's
// pv_wait_early (4.13 .. 5.3). PV TLB flush reads and updates the same byte through the same
// StealTime area (tlb_flush.cc), so all of them see what the guest can see, not KVM's
// internal `preempted` flag (which is cleared earlier, at sched-in).
#pragma once

#include "guest/guest_cpu.h"
#include "guest/guest_vm.h"
#include "sim/coro.h"
#include "sim/time.h"

namespace guest {

// The byte as the guest sees it at `now` (false without steal time or out of range).
bool vcpu_is_preempted(const GuestVm& vm, int cpu, sim::Picos now);
// The read from running vCPU `g`, at its core's time (a zero-cost access to host-written
// memory: the line is cached until KVM writes it).
sim::Task<bool> vcpu_is_preempted(GuestCpu& g, int cpu);

}  // namespace guest
