// A host scheduling policy for per-CPU run queues. The CPU owns the queue and the clock;
// the policy decides order and preemption. `simple_fair` is the foundation's policy;
// CFS and EEVDF plug in here.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sim/time.h"

namespace host {

class Task;

struct SchedParams {
  sim::Picos sched_latency = sim::ms(6);         // target period to run every task once
  sim::Picos min_granularity = sim::us(750);     // shortest slice
  sim::Picos wakeup_granularity = sim::ms(1);    // a waking task preempts if this far behind
};

class SchedPolicy {
 public:
  virtual ~SchedPolicy() = default;
  virtual const char* name() const = 0;
  virtual void enqueue(Task* t, bool wakeup) = 0;
  virtual void dequeue(Task* t) = 0;
  // Next task to run (removed from the queue), or nullptr when empty.
  virtual Task* pick_next() = 0;
  // The running task ran `delta`; account it.
  virtual void update_curr(Task* curr, sim::Picos delta) = 0;
  // At a tick: should `curr` give way?
  virtual bool tick_preempt(Task* curr) = 0;
  // Should waking `t` preempt `curr`?
  virtual bool wakeup_preempt(Task* curr, Task* t) = 0;
  virtual size_t nr_queued() const = 0;
};

std::unique_ptr<SchedPolicy> make_sched_policy(const std::string& name, const SchedParams& p);
std::vector<std::string> sched_policy_names();

}  // namespace host
