// The real-time scheduling class above the fair one (kernel/sched/rt.c, simplified): tasks
// with rt_priority > 0 (SCHED_FIFO / SCHED_RR) always run before fair tasks, the highest
// priority first, FIFO within a priority; a waking RT task preempts a fair or lower-priority
// RT task at once; the tick never preempts an RT task (SCHED_RR's slice rotates only among
// equal priorities, and the model runs one RT task per CPU). Fair tasks go to the wrapped
// policy, so every fair policy (simple_fair, CFS, EEVDF) gets the RT class for free.
#pragma once

#include <memory>

#include "host/sched_policy.h"

namespace host {

std::unique_ptr<SchedPolicy> make_rt_class(std::unique_ptr<SchedPolicy> fair);

}  // namespace host
