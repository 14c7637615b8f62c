// A large VM's housekeeping mix, as in seed 002's T1 (72 vCPUs) and T2 (104 vCPUs): on
// every vCPU, the guest kernel reprograms its TSC-deadline timer (arm and cancel), its
// timer interrupts re-arm the next event, and it sends rescheduling IPIs and call-function
// IPIs (waiting for their handlers), at configurable rates with exponential inter-arrival
// times; between events it computes or, for the idle share, halts until its timer. With
// nmi_hz, a vCPU also triggers all-CPU NMI backtraces (one at a time, as backtrace_flag
// serializes them) and waits until every other vCPU's NMI handler ran.
#pragma once

#include <cstdint>

#include "guest/workload.h"

namespace guest {

struct VmMixParams {
  double timer_rearm_hz = 2000;      // hrtimer reprogramming per vCPU (arm or cancel)
  double timer_cancel_share = 0.2;   // of reprogrammings that cancel (deadline 0)
  double resched_ipi_hz = 500;       // rescheduling IPIs sent per vCPU
  double call_function_hz = 100;     // call-function IPIs sent per vCPU
  int call_function_targets = 4;     // destinations of each
  double busy_share = 0.5;           // share of time computing (the rest idles in HLT)
  double nmi_hz = 0;                 // nmi_backtrace-style all-CPU NMIs started per vCPU (issue 4)
  double duration_ms = 100;          // simulated time per run
  uint64_t seed = 1;
};

std::unique_ptr<Workload> make_vm_mix_workload(const VmMixParams& p);

}  // namespace guest
