#include "host/sched_rt.h"

#include <algorithm>
#include <vector>

#include "host/task.h"

namespace host {
namespace {

class RtClass : public SchedPolicy {
 public:
  explicit RtClass(std::unique_ptr<SchedPolicy> fair) : fair_(std::move(fair)) {}
  const char* name() const override { return fair_->name(); }
  void enqueue(Task* t, bool wakeup) override {
    if (t->rt_priority <= 0) return fair_->enqueue(t, wakeup);
    // Highest priority first, FIFO among equals: insert after the last of >= priority.
    auto it = std::find_if(rt_.begin(), rt_.end(), [&](const Task* o) { return o->rt_priority < t->rt_priority; });
    rt_.insert(it, t);
  }
  void dequeue(Task* t) override {
    if (t->rt_priority <= 0) return fair_->dequeue(t);
    std::erase(rt_, t);
  }
  Task* pick_next() override {
    if (rt_.empty()) return fair_->pick_next();
    Task* t = rt_.front();
    rt_.erase(rt_.begin());
    t->slice_start_exec = t->sum_exec;
    return t;
  }
  void update_curr(Task* curr, sim::Picos delta) override {
    if (curr->rt_priority <= 0) fair_->update_curr(curr, delta);
  }
  bool tick_preempt(Task* curr) override {
    if (curr->rt_priority > 0) return false;
    return !rt_.empty() || fair_->tick_preempt(curr);
  }
  bool wakeup_preempt(Task* curr, Task* t) override {
    if (t->rt_priority > curr->rt_priority) return true;
    if (t->rt_priority > 0 || curr->rt_priority > 0) return false;
    return fair_->wakeup_preempt(curr, t);
  }
  size_t nr_queued() const override { return rt_.size() + fair_->nr_queued(); }
  // Issue 5: the fair class's yield_to, blocking bookkeeping and load balancing (RT tasks
  // are neither yielded to across classes nor migrated).
  void curr_blocked(Task* curr) override {
    if (curr->rt_priority <= 0) fair_->curr_blocked(curr);
  }
  bool yield_to_task(Task* curr, Task* target, SchedPolicy& target_rq) override {
    if (curr->rt_priority > 0 || target->rt_priority > 0) return false;  // another class
    return fair_->yield_to_task(curr, target, *target_rq.fair_class());
  }
  void yield_task(Task* curr) override {
    if (curr->rt_priority <= 0) fair_->yield_task(curr);
  }
  uint64_t queue_min_vruntime() const override { return fair_->queue_min_vruntime(); }
  Task* detach_task(int dst_cpu) override { return fair_->detach_task(dst_cpu); }
  SchedPolicy* fair_class() override { return fair_.get(); }

 private:
  std::unique_ptr<SchedPolicy> fair_;
  std::vector<Task*> rt_;
};

}  // namespace

std::unique_ptr<SchedPolicy> make_rt_class(std::unique_ptr<SchedPolicy> fair) {
  return std::make_unique<RtClass>(std::move(fair));
}

}  // namespace host
