// Guest kernel spinlocks for the overcommit work (issue 5, seed 003).
//
// Native: a FIFO queued lock. Linux's qspinlock queues waiters MCS-style; the model keeps
// the FIFO hand-off and the PAUSE spinning with a ticket lock (`tail` hands out tickets,
// `owner` is the ticket being served): each waiter spins with PAUSE on `owner`, so PLE
// sees real pause loops, and a preempted holder or next waiter stalls everyone behind it
// (lock-holder and lock-waiter preemption emerge from host scheduling).
//
// PV (guest.pv_spinlock, kernel/locking/qspinlock_paravirt.h + arch/x86/kernel/kvm.c): a
// waiter spins SPIN_THRESHOLD (1 << 15) PAUSEs, then pv_wait: it records itself as halted
// on the lock and halts with interrupts off (kvm_wait) unless the lock moved meanwhile; the
// unlocker that hands the lock to a halted waiter kicks it with KVM_HC_KICK_CPU (as
// pv_kick_node + the SLOW unlock do for a halted successor). A waiter behind another
// waiter (pv_wait_node; the queue head is in pv_wait_head_or_lock) checks every 256 PAUSEs
// whether the waiter ahead of it has halted, and then halts at once (pv_wait_early); with
// `wait_early_preempted` (4.13 .. 5.3, reverted for a regression) also when that waiter's
// vCPU is preempted, read through the steal-time byte (guest/pv_preempted.h).
//
// Statistics: acquisitions, contended acquisitions, hold and wait times (ns), pv waits
// and kicks.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "guest/guest_cpu.h"
#include "hw/mem_line.h"
#include "sim/stats.h"

namespace guest {

inline constexpr uint64_t SPIN_THRESHOLD = 1ull << 15;
inline constexpr uint64_t PV_PREV_CHECK_MASK = 0xff;

struct SpinlockStats {
  uint64_t acquisitions = 0, contended = 0, pv_waits = 0, pv_kicks = 0;
  uint64_t pv_wait_early = 0;            // halts because the waiter ahead had halted
  uint64_t pv_wait_early_preempted = 0;  // ... or (4.13 .. 5.3) its vCPU was preempted
  sim::Summary hold_ns, wait_ns;
};

class GuestSpinlock {
 public:
  explicit GuestSpinlock(int nr_vcpus)
      : halted_(static_cast<size_t>(nr_vcpus), {UINT64_MAX, -1}), queued_(static_cast<size_t>(nr_vcpus), {UINT64_MAX, -1}) {}
  // spin_lock / spin_unlock from vCPU `self` (the APIC ids are the VM's, for the kick).
  Task<> lock(GuestCpu& g, int self, bool pv, SpinlockStats& st, double tsc_mhz, bool wait_early_preempted = false);
  Task<> unlock(GuestCpu& g, bool pv, const std::vector<uint32_t>& apic_ids, SpinlockStats& st, double tsc_mhz);
  uint64_t owner() const { return owner_.latest(); }

 private:
  hw::MemLine tail_{0}, owner_{0};
  // pv_wait_early: should the waiter with `ticket` stop spinning, seeing the one ahead?
  Task<bool> pv_wait_early(GuestCpu& g, uint64_t ticket, bool preempted_too, SpinlockStats& st);
  std::vector<std::pair<uint64_t, int>> halted_;  // by ticket % nr_vcpus: (ticket, vCPU) in pv_wait
  std::vector<std::pair<uint64_t, int>> queued_;  // by ticket % nr_vcpus: (ticket, vCPU) (pn->cpu)
  uint64_t acquired_tsc_ = 0;
};

}  // namespace guest
