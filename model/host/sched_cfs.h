// CFS as in Linux <= 6.5 (kernel/sched/fair.c) for one flat run queue of nice-0 tasks:
// vruntime, sched_latency / min_granularity / wakeup_granularity scaled by the CPU count,
// place_entity on wake-up (GENTLE_FAIR_SLEEPERS), check_preempt_tick, check_preempt_wakeup,
// the next/last/skip buddies, and pick_next_entity's granularity checks that make a buddy
// far ahead in vruntime lose to the leftmost task ("the hint is ignored", seed 003 problem 1).
//
// The run queue holds every runnable task including the one that was running when
// pick_next() is called (Cpu::schedule puts it back first, as put_prev_entity does).
//
// Parameters: SchedParams (the three tunables, scaling, NEXT_BUDDY, LAST_BUDDY, the Ishiguro
// deboost). Statistics: buddy picks, hints ignored, deboosts.
#pragma once

#include <vector>

#include "host/sched_policy.h"
#include "host/task.h"

namespace host {

class Cfs : public SchedPolicy {
 public:
  explicit Cfs(const SchedParams& p);
  const char* name() const override { return "cfs"; }
  void enqueue(Task* t, bool wakeup) override;
  void dequeue(Task* t) override;
  Task* pick_next() override;
  void update_curr(Task* curr, sim::Picos delta) override;
  bool tick_preempt(Task* curr) override;
  bool wakeup_preempt(Task* curr, Task* t) override;
  size_t nr_queued() const override { return queue_.size(); }
  void curr_blocked(Task* curr) override { clear_buddies(curr); }
  bool yield_to_task(Task* curr, Task* target, SchedPolicy& target_rq) override;
  void yield_task(Task* curr) override;
  uint64_t queue_min_vruntime() const override { return min_vruntime_; }
  Task* detach_task(int dst_cpu) override;

  // pick_next_entity over the queue (not removing it); exposed for unit tests.
  Task* pick_next_entity() const;
  // wakeup_preempt_entity(a, b): -1 if a is not ahead of b, 1 if more than the wake-up
  // granularity ahead, else 0.
  int wakeup_preempt_entity(const Task* a, const Task* b) const;
  Task* leftmost() const;
  uint64_t min_vruntime() const { return min_vruntime_; }
  void set_next_buddy(Task* t) { next_ = t; }
  void set_skip_buddy(Task* t) { skip_ = t; }
  Task* next_buddy() const { return next_; }
  Task* skip_buddy() const { return skip_; }
  Task* last_buddy() const { return last_; }
  sim::Picos sched_latency() const { return latency_; }
  sim::Picos min_granularity() const { return min_gran_; }
  sim::Picos wakeup_granularity() const { return wakeup_gran_; }

  struct Stats {
    uint64_t next_buddy_picks = 0, next_buddy_ignored = 0, skip_honoured = 0, deboosts = 0;
  } stats;

 private:
  void clear_buddies(const Task* t);
  Task* second_after(const Task* left) const;  // __pick_next_entity
  sim::Picos sched_slice(const Task* t) const;

  SchedParams p_;
  sim::Picos latency_, min_gran_, wakeup_gran_;
  unsigned nr_latency_;
  std::vector<Task*> queue_;
  uint64_t min_vruntime_ = 0;
  uint64_t seq_ = 0;
  Task* next_ = nullptr;
  Task* last_ = nullptr;
  Task* skip_ = nullptr;
};

}  // namespace host
