// Seed 000's "disable mwait/hlt/pause exits" test (issue 6): one VM runs a Unixbench-like
// CPU-bound load, the other is idle but for its own timers.
//
// unixbench: every vCPU runs CPU-bound loops of unixbench.loop_cycles (Dhrystone-like: no
// exits, no memory traffic). Reports unixbench.loops_per_s; the runner turns it into
// unixbench.score with the busy cores' turbo frequency (hw/power.h).
// idle_wakeup: every vCPU idles (guest.idle) and wakes on its TSC-deadline timer at random
// intervals (mean 1 / idle.wakeup_hz), the way an idle Linux guest's housekeeping timers
// do. The timer handler measures its wake-up latency (deadline to handler, guest TSC):
// idle.wakeup_latency_us.p50/p99.
#pragma once

#include <cstdint>
#include <memory>

#include "guest/workload.h"

namespace guest {

struct IdlePowerParams {
  uint64_t loop_cycles = 100000;
  double wakeup_hz = 100;
  double duration_ms = 200;
  uint64_t seed = 1;
};

std::unique_ptr<Workload> make_unixbench_workload(const IdlePowerParams& p);
std::unique_ptr<Workload> make_idle_wakeup_workload(const IdlePowerParams& p);

}  // namespace guest
