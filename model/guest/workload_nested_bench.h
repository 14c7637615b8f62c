// Seed 004's guest programs (issue 7), plain guest code that runs the same at any level:
//  - cpuid_loop: the tight CPUID(1) loop timed with RDTSC, cycles per iteration;
//  - clock_gettime: clock_gettime(CLOCK_REALTIME) in a loop through the vDSO, which reads
//    the guest's clocksource or falls back to a system call when the clocksource page says
//    it is not stable; per-batch cycles show the re-enlightenment window;
//  - kbuild: a kernel-build-like mix of computation, in-guest page faults, EPT violations,
//    virtio notifications (I/O), timer reprogramming with timer interrupts (HZ) and
//    IPIs, at configurable rates; reports the time to finish a fixed amount of work.
#pragma once

#include <cstdint>
#include <memory>

#include "guest/clocksource.h"
#include "guest/workload.h"

namespace guest {

struct CpuidLoopParams {
  uint64_t iterations = 10000000;  // seed 004's COUNT
};
std::unique_ptr<Workload> make_cpuid_loop_workload(const CpuidLoopParams& p);

struct ClockGettimeParams {
  uint64_t iterations = 10000000;
  uint64_t batch = 1000;  // calls per time-series sample
  Clocksource clocksource;
};
std::unique_ptr<Workload> make_clock_gettime_workload(const ClockGettimeParams& p);

struct KbuildParams {
  double work_ms = 20;            // CPU work per vCPU (guest computation), simulated ms
  double page_fault_hz = 20000;   // in-guest page faults per second of work
  double ept_violation_hz = 200; // accesses to guest memory the EPT does not map yet
  double ept_l1_share = 0.5;      // of those, the share also absent from L1's EPT12 (at L2)
  double io_hz = 100;            // virtio notifications (ioeventfd MMIO writes)
  double timer_hz = 1000;         // timer interrupts (the tick: CONFIG_HZ=1000 in Fedora)
  double timer_rearm_hz = 1000;   // TSC-deadline reprogrammings (hrtimers) per second
  double ipi_hz = 500;           // IPIs sent (reschedule / call-function)
  uint64_t seed = 1;
};
std::unique_ptr<Workload> make_kbuild_workload(const KbuildParams& p);

}  // namespace guest
