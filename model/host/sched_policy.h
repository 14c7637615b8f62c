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
  // cfs/eevdf (issue 5): the tunables above are the unscaled sysctl values; the kernel
  // multiplies them by 1+ilog2(min(ncpus, 8)) (SCHED_TUNABLESCALING_LOG, the default).
  int nr_cpus = 1;
  enum class Scaling : uint8_t { None, Log, Linear } tunable_scaling = Scaling::Log;
  bool next_buddy = false;       // sched_feat NEXT_BUDDY (off by default in both)
  bool last_buddy = true;        // sched_feat LAST_BUDDY (CFS <= 6.5)
  bool pick_buddy = false;       // sched_feat PICK_BUDDY (EEVDF, on from about 6.13)
  bool ishiguro_deboost = false; // seed 003 patch 1 (CFS yield_to_task_fair)
};

// The factor the kernel scales its latency tunables by (get_update_sysctl_factor).
unsigned sched_tunable_factor(const SchedParams& p);

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
  // `curr` stopped being runnable (it blocked): dequeue_entity's bookkeeping (buddies, lag).
  virtual void curr_blocked(Task* curr) {}
  // yield_to's class hook (yield_to_task_fair): `curr` runs on this queue, `target` is
  // queued on `target_rq` (possibly this one). False: the class refuses the yield.
  virtual bool yield_to_task(Task* curr, Task* target, SchedPolicy& target_rq) { return false; }
  // sched_yield (yield_task_fair).
  virtual void yield_task(Task* curr) {}
  // Load balancing: the queue's min_vruntime (vruntimes are relative to it when a task
  // moves), and detach_tasks: remove a queued task allowed on `dst_cpu` (nullptr: none).
  virtual uint64_t queue_min_vruntime() const { return 0; }
  virtual Task* detach_task(int dst_cpu) { return nullptr; }
  // The fair policy itself (a class wrapper such as the RT class returns the one it wraps).
  virtual SchedPolicy* fair_class() { return this; }
};

std::unique_ptr<SchedPolicy> make_sched_policy(const std::string& name, const SchedParams& p);
std::vector<std::string> sched_policy_names();

}  // namespace host
