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

#include <cstdint>
#include <functional>
#include <memory>

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
  double idle_share = 0;            // share of operations preceded by an idle halt (timer-bounded)
  double idle_us = 50;              // mean idle time
  double duration_ms = 100;
  uint64_t seed = 1;
};

// PV sched yield follows the VM's kvm_guest_init choice (GuestVm::pv_sched_yield).
std::unique_ptr<Workload> make_overcommit_workload(const OvercommitParams& p);

}  // namespace guest
