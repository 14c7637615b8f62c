// Workloads for PLE storms under overcommit (seed 003): every vCPU loops over user-mode
// work (CPL 3) and kernel entries (CPL 0) that either
//  - take one of a few kernel spinlocks and run a short critical section (a hackbench /
//    dedup-like mix: threads contending on kernel locks), or
//  - send call-function IPIs to other vCPUs and spin until their handlers ran
//    (smp_call_function_many with wait, as user threads trigger via TLB shootdowns),
// with exponential phase lengths. `spinlock` uses only locks, `ipi_wait` only IPIs,
// `ple_mix` draws each operation by `ipi_share`.
//
// Metrics: workload.ops_per_s (operations per simulated second over the VM), lock.* (hold
// and wait times, contention, pv waits and kicks), ipi.wait_ns_* (IPI send to last ack).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "guest/workload.h"

namespace guest {

struct OvercommitParams {
  double ipi_share = 0.5;           // share of operations that are IPI-and-wait
  double user_cycles = 20000;       // mean user-mode work per operation
  double kernel_cycles = 2000;      // mean kernel work before taking the lock
  double hold_cycles = 2000;        // mean critical section
  int locks = 1;                    // kernel spinlocks the vCPUs contend on
  int ipi_targets = 1;              // destinations of each call-function IPI
  bool pv_spinlock = false;         // guest.pv_spinlock
  bool pv_wait_early_preempted = false;  // guest.pv_wait_early_preempted (4.13 .. 5.3)
  double idle_share = 0;            // share of operations preceded by an idle halt (timer-bounded)
  double idle_us = 50;              // mean idle time
  double duration_ms = 100;
  uint64_t seed = 1;
};

// What each vCPU of the VM is doing, so that a directed yield's target can be classified
// (metrics yield_target.*): the workload writes the state, KVM's directed_yield_observer
// calls on_yield. `awaited`: the target holds a lock the yielder waits for, or is the
// receiver of the yielder's call-function IPI.
struct OvercommitProbe {
  enum State : uint8_t { User, Kernel, LockWait, LockHeld, IpiWait, Idle, kStates };
  static constexpr const char* kNames[kStates] = {"user", "kernel", "lock_waiter", "lock_holder", "ipi_waiter", "idle"};
  std::vector<uint8_t> state;    // by vCPU index
  std::vector<int> ipi_target;   // the first receiver an IPI waiter waits for
  std::array<uint64_t, kStates> yields_to{};
  uint64_t yields = 0, yields_to_awaited = 0, yields_by_lock_waiters = 0, yields_by_ipi_waiters = 0;
  void on_yield(int me, int target) {
    ++yields;
    const uint8_t ms = state[static_cast<size_t>(me)], ts = state[static_cast<size_t>(target)];
    ++yields_to[ts];
    if (ms == LockWait) ++yields_by_lock_waiters;
    if (ms == IpiWait) ++yields_by_ipi_waiters;
    if ((ms == LockWait && ts == LockHeld) || (ms == IpiWait && ipi_target[static_cast<size_t>(me)] == target)) ++yields_to_awaited;
  }
};

// PV sched yield follows the VM's kvm_guest_init choice (GuestVm::pv_sched_yield, in
// guest/pv_sched_yield.h). It and pv_wait_early ask vcpu_is_preempted() (guest/pv_preempted.h: the
// steal-time byte). `probe` (optional) receives the vCPU states for yield_target.*.
std::unique_ptr<Workload> make_overcommit_workload(const OvercommitParams& p, std::shared_ptr<OvercommitProbe> probe = nullptr);

}  // namespace guest
