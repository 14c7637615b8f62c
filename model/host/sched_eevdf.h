// EEVDF as in Linux 6.6+ (kernel/sched/fair.c) for one flat run queue: every entity has a
// vruntime, a request size (slice = base_slice scaled by the CPU count) and a virtual
// deadline vruntime + slice/weight. An entity is eligible when its lag is not negative
// (vruntime <= the load-weighted average vruntime); pick_eevdf runs the eligible entity with
// the earliest deadline. Wake-up placement keeps the lag the task had when it slept
// (PLACE_LAG). yield pushes the yielder's deadline one slice forward. The next buddy set by
// yield_to_task_fair is honoured only when NEXT_BUDDY (6.6 .. ~6.12, off by default) or
// PICK_BUDDY (~6.13+, `sched_feat_pick_buddy`) is on, and only if the buddy is eligible.
//
// Parameters: SchedParams (min_granularity = base slice, scaling, NEXT_BUDDY, PICK_BUDDY).
// Statistics: buddy picks, hints ignored.
#pragma once

#include <vector>

#include "host/sched_policy.h"
#include "host/task.h"

namespace host {

class Eevdf : public SchedPolicy {
 public:
  explicit Eevdf(const SchedParams& p);
  const char* name() const override { return "eevdf"; }
  void enqueue(Task* t, bool wakeup) override;
  void dequeue(Task* t) override;
  Task* pick_next() override;
  void update_curr(Task* curr, sim::Picos delta) override;
  bool tick_preempt(Task* curr) override;
  bool wakeup_preempt(Task* curr, Task* t) override;
  size_t nr_queued() const override { return queue_.size(); }
  void curr_blocked(Task* curr) override;
  bool yield_to_task(Task* curr, Task* target, SchedPolicy& target_rq) override;
  void yield_task(Task* curr) override;
  uint64_t queue_min_vruntime() const override { return min_vruntime_; }
  Task* detach_task(int dst_cpu) override;

  // The arithmetic, exposed for unit tests. `curr` (may be null) is the running task,
  // which is not in the queue but counts in the average.
  int64_t avg_vruntime(const Task* curr) const;      // relative to min_vruntime
  bool entity_eligible(const Task* t, const Task* curr) const;
  Task* pick_eevdf(Task* curr) const;                 // may return curr
  uint64_t vslice(const Task* t) const { return static_cast<uint64_t>(slice_) * 1024 / t->weight; }
  sim::Picos base_slice() const { return slice_; }
  uint64_t min_vruntime() const { return min_vruntime_; }
  Task* next_buddy() const { return next_; }
  void set_next_buddy(Task* t) { next_ = t; }
  bool honours_next_buddy() const { return p_.next_buddy || p_.pick_buddy; }

  struct Stats {
    uint64_t next_buddy_picks = 0, next_buddy_ignored = 0;
  } stats;

 private:
  void place_entity(Task* t, bool wakeup);
  void update_min_vruntime(const Task* curr);

  SchedParams p_;
  sim::Picos slice_;
  std::vector<Task*> queue_;
  uint64_t min_vruntime_ = 0;
  uint64_t seq_ = 0;
  Task* next_ = nullptr;
  bool deadline_passed_ = false;
};

}  // namespace host
