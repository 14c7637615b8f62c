#include "host/sched_cfs.h"

#include <algorithm>
#include <bit>

namespace host {

unsigned sched_tunable_factor(const SchedParams& p) {
  const unsigned cpus = static_cast<unsigned>(std::clamp(p.nr_cpus, 1, 8));
  switch (p.tunable_scaling) {
    case SchedParams::Scaling::None: return 1;
    case SchedParams::Scaling::Linear: return cpus;
    case SchedParams::Scaling::Log: return 1 + static_cast<unsigned>(std::bit_width(cpus) - 1);
  }
  return 1;
}

namespace {
// entity_before, with the rbtree's tie order (equal keys go right of earlier insertions).
bool before(const Task* a, const Task* b) {
  return a->vruntime != b->vruntime ? static_cast<int64_t>(a->vruntime - b->vruntime) < 0 : a->rq_seq < b->rq_seq;
}
}  // namespace

Cfs::Cfs(const SchedParams& p) : p_(p) {
  const unsigned f = sched_tunable_factor(p);
  latency_ = p.sched_latency * f;
  min_gran_ = p.min_granularity * f;
  wakeup_gran_ = p.wakeup_granularity * f;
  nr_latency_ = static_cast<unsigned>(std::max<sim::Picos>(1, latency_ / std::max<sim::Picos>(1, min_gran_)));
  queue_.reserve(16);
}

Task* Cfs::leftmost() const {
  Task* best = nullptr;
  for (Task* t : queue_)
    if (!best || before(t, best)) best = t;
  return best;
}

Task* Cfs::second_after(const Task* left) const {
  Task* best = nullptr;
  for (Task* t : queue_)
    if (t != left && before(left, t) && (!best || before(t, best))) best = t;
  return best;
}

// wakeup_gran() is scaled by the waking entity's weight (calc_delta_fair): nice-0 here.
int Cfs::wakeup_preempt_entity(const Task* curr, const Task* se) const {
  const int64_t vdiff = static_cast<int64_t>(curr->vruntime - se->vruntime);
  if (vdiff <= 0) return -1;
  const int64_t gran = static_cast<int64_t>(wakeup_gran_) * 1024 / se->weight;
  return vdiff > gran ? 1 : 0;
}

// pick_next_entity (fair.c, 4.x .. 6.2; 6.3-6.5 dropped only the `last` buddy's
// wakeup_preempt use): the leftmost entity, unless it is the skip buddy and the second is
// close enough; a next (or last) buddy only if it is within the granularity of `left`.
Task* Cfs::pick_next_entity() const {
  Task* left = leftmost();
  if (!left) return nullptr;
  Task* se = left;
  if (skip_ && skip_ == se) {
    Task* second = second_after(left);
    if (second && wakeup_preempt_entity(second, left) < 1) se = second;
  }
  if (next_ && std::find(queue_.begin(), queue_.end(), next_) != queue_.end() && wakeup_preempt_entity(next_, left) < 1) {
    se = next_;
  } else if (last_ && std::find(queue_.begin(), queue_.end(), last_) != queue_.end() &&
             wakeup_preempt_entity(last_, left) < 1) {
    se = last_;
  }
  return se;
}

Task* Cfs::pick_next() {
  Task* se = pick_next_entity();
  if (!se) return nullptr;
  if (next_ && std::find(queue_.begin(), queue_.end(), next_) != queue_.end()) {
    if (se == next_) ++stats.next_buddy_picks;
    else ++stats.next_buddy_ignored;
  }
  if (skip_ && se != leftmost() && leftmost() == skip_) ++stats.skip_honoured;
  clear_buddies(se);
  std::erase(queue_, se);
  se->slice_start_exec = se->sum_exec;  // set_next_entity: prev_sum_exec_runtime
  return se;
}

void Cfs::clear_buddies(const Task* t) {
  if (next_ == t) next_ = nullptr;
  if (last_ == t) last_ = nullptr;
  if (skip_ == t) skip_ = nullptr;
}

void Cfs::enqueue(Task* t, bool wakeup) {
  if (wakeup) {
    // place_entity(initial=0) with GENTLE_FAIR_SLEEPERS: at most half a latency of credit.
    const uint64_t thresh = static_cast<uint64_t>(latency_ / 2);
    const uint64_t floor = min_vruntime_ > thresh ? min_vruntime_ - thresh : 0;
    t->vruntime = std::max(t->vruntime, floor);
  }
  t->rq_seq = ++seq_;
  queue_.push_back(t);
}

void Cfs::dequeue(Task* t) {
  clear_buddies(t);
  std::erase(queue_, t);
}

void Cfs::update_curr(Task* curr, sim::Picos delta) {
  curr->vruntime += static_cast<uint64_t>(delta) * 1024 / curr->weight;
  // update_min_vruntime: min(curr, leftmost), never going back.
  uint64_t v = curr->vruntime;
  if (Task* l = leftmost(); l && static_cast<int64_t>(l->vruntime - v) < 0) v = l->vruntime;
  if (static_cast<int64_t>(v - min_vruntime_) > 0) min_vruntime_ = v;
}

// sched_slice: the period (sched_latency, or nr * min_granularity beyond sched_nr_latency)
// shared by weight among the runnable tasks (the queue plus curr).
sim::Picos Cfs::sched_slice(const Task* t) const {
  const size_t nr = queue_.size() + 1;
  const sim::Picos period = nr > nr_latency_ ? static_cast<sim::Picos>(nr) * min_gran_ : latency_;
  uint64_t total = t->weight;
  for (const Task* q : queue_) total += q->weight;
  return static_cast<sim::Picos>(static_cast<double>(period) * t->weight / static_cast<double>(total));
}

// check_preempt_tick.
bool Cfs::tick_preempt(Task* curr) {
  if (queue_.empty()) return false;
  const sim::Picos ideal = sched_slice(curr);
  const sim::Picos delta_exec = curr->sum_exec - curr->slice_start_exec;
  if (delta_exec > ideal) {
    clear_buddies(curr);
    return true;
  }
  if (delta_exec < min_gran_) return false;
  const Task* se = leftmost();
  const int64_t delta = static_cast<int64_t>(curr->vruntime - se->vruntime);
  return delta > static_cast<int64_t>(ideal);
}

// check_preempt_wakeup: the woken task preempts when curr is more than the wake-up
// granularity ahead of it; it becomes the next buddy, and curr the last buddy once the
// queue holds sched_nr_latency tasks.
bool Cfs::wakeup_preempt(Task* curr, Task* t) {
  const bool scale = queue_.size() + 1 >= nr_latency_;
  bool marked = false;
  if (p_.next_buddy && scale) {
    set_next_buddy(t);
    marked = true;
  }
  if (wakeup_preempt_entity(curr, t) != 1) return false;
  if (!marked) set_next_buddy(t);
  if (p_.last_buddy && scale) last_ = curr;
  return true;
}

// yield_task_fair: curr becomes the skip buddy (after update_curr, done by the caller).
void Cfs::yield_task(Task* curr) {
  if (queue_.empty()) return;
  clear_buddies(curr);
  set_skip_buddy(curr);
}

// yield_to_task_fair: the target becomes the next buddy of its queue and curr yields.
// Seed 003 patch 1 (kvm.ishiguro.deboost): when both are vCPUs of one VM on this queue and
// the target is more than a granularity ahead, curr's vruntime moves up to target - gran,
// so that pick_next_entity's check lets the next buddy run.
bool Cfs::yield_to_task(Task* curr, Task* target, SchedPolicy& target_rq) {
  auto* trq = dynamic_cast<Cfs*>(&target_rq);
  if (!trq || std::find(trq->queue_.begin(), trq->queue_.end(), target) == trq->queue_.end()) return false;
  trq->set_next_buddy(target);
  yield_task(curr);
  if (p_.ishiguro_deboost && trq == this && curr->vm && curr->vm == target->vm &&
      wakeup_preempt_entity(target, curr) >= 1) {
    const uint64_t gran = static_cast<uint64_t>(wakeup_gran_) * 1024 / curr->weight;
    curr->vruntime = target->vruntime - gran;
    ++stats.deboosts;
  }
  return true;
}

// detach_tasks (simplified): the most recently queued task allowed on dst that is not a
// buddy (can_migrate_task keeps cache-hot and buddy tasks).
Task* Cfs::detach_task(int dst_cpu) {
  for (auto it = queue_.rbegin(); it != queue_.rend(); ++it) {
    Task* t = *it;
    if (t == next_ || t == last_ || !t->may_run_on(dst_cpu)) continue;
    dequeue(t);
    return t;
  }
  return nullptr;
}

}  // namespace host
