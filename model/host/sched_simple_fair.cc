// simple_fair: equal-weight fair sharing by virtual runtime, with a latency-derived slice
// and wake-up placement one half-latency behind the queue's minimum (CFS's
// place_entity idea without weights, buddies or hierarchy).
#include <algorithm>
#include <stdexcept>
#include <vector>

#include "host/sched_cfs.h"
#include "host/sched_eevdf.h"
#include "host/sched_policy.h"
#include "host/task.h"

namespace host {
namespace {

class SimpleFair : public SchedPolicy {
 public:
  explicit SimpleFair(const SchedParams& p) : p_(p) {}
  const char* name() const override { return "simple_fair"; }

  void enqueue(Task* t, bool wakeup) override {
    if (wakeup) {
      const uint64_t floor = min_vruntime_ > p_.sched_latency / 2 ? min_vruntime_ - p_.sched_latency / 2 : 0;
      t->vruntime = std::max(t->vruntime, floor);
    }
    queue_.push_back(t);
  }
  void dequeue(Task* t) override { std::erase(queue_, t); }
  Task* pick_next() override {
    if (queue_.empty()) return nullptr;
    // Lowest vruntime; ties by queue order, so the result is deterministic.
    auto it = std::min_element(queue_.begin(), queue_.end(),
                               [](const Task* a, const Task* b) { return a->vruntime < b->vruntime; });
    Task* t = *it;
    queue_.erase(it);
    min_vruntime_ = std::max(min_vruntime_, t->vruntime);
    t->slice_start_exec = t->sum_exec;
    return t;
  }
  void update_curr(Task* curr, sim::Picos delta) override { curr->vruntime += delta; }
  bool tick_preempt(Task* curr) override {
    if (queue_.empty()) return false;
    const sim::Picos slice = std::max(p_.min_granularity, p_.sched_latency / (queue_.size() + 1));
    return curr->sum_exec - curr->slice_start_exec >= slice;
  }
  bool wakeup_preempt(Task* curr, Task* t) override {
    return t->vruntime + p_.wakeup_granularity < curr->vruntime;
  }
  size_t nr_queued() const override { return queue_.size(); }

 private:
  SchedParams p_;
  std::vector<Task*> queue_;
  uint64_t min_vruntime_ = 0;
};

}  // namespace

std::unique_ptr<SchedPolicy> make_sched_policy(const std::string& name, const SchedParams& p) {
  if (name == "simple_fair") return std::make_unique<SimpleFair>(p);
  if (name == "cfs") return std::make_unique<Cfs>(p);
  if (name == "eevdf") return std::make_unique<Eevdf>(p);
  throw std::invalid_argument("unknown host scheduler '" + name + "'");
}

std::vector<std::string> sched_policy_names() { return {"simple_fair", "cfs", "eevdf"}; }

}  // namespace host
