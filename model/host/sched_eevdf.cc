#include "host/sched_eevdf.h"

#include <algorithm>

namespace host {

Eevdf::Eevdf(const SchedParams& p) : p_(p) {
  slice_ = p.min_granularity * sched_tunable_factor(p);  // sysctl_sched_base_slice
  queue_.reserve(16);
}

// avg_vruntime: sum w_i (v_i - v0) / sum w_i over the queue and curr, v0 = min_vruntime.
int64_t Eevdf::avg_vruntime(const Task* curr) const {
  __int128 sum = 0;
  int64_t load = 0;
  auto add = [&](const Task* t) {
    sum += static_cast<__int128>(static_cast<int64_t>(t->vruntime - min_vruntime_)) * t->weight;
    load += t->weight;
  };
  for (const Task* t : queue_) add(t);
  if (curr) add(curr);
  if (!load) return 0;
  // Rounds toward -inf like the kernel (it subtracts load-1 from negative sums).
  if (sum < 0) sum -= load - 1;
  return static_cast<int64_t>(sum / load);
}

// entity_eligible: lag >= 0, i.e. sum w_i (v_i - v0) >= (v - v0) * sum w_i (no division).
bool Eevdf::entity_eligible(const Task* t, const Task* curr) const {
  __int128 sum = 0;
  int64_t load = 0;
  for (const Task* q : queue_) {
    sum += static_cast<__int128>(static_cast<int64_t>(q->vruntime - min_vruntime_)) * q->weight;
    load += q->weight;
  }
  if (curr) {
    sum += static_cast<__int128>(static_cast<int64_t>(curr->vruntime - min_vruntime_)) * curr->weight;
    load += curr->weight;
  }
  return sum >= static_cast<__int128>(static_cast<int64_t>(t->vruntime - min_vruntime_)) * load;
}

// pick_eevdf (6.6, linear instead of the augmented rbtree): the eligible entity with the
// earliest deadline; the buddy first when a buddy feature is on and it is eligible.
Task* Eevdf::pick_eevdf(Task* curr) const {
  if (honours_next_buddy() && next_ && entity_eligible(next_, curr)) return next_;
  Task* best = nullptr;
  auto consider = [&](Task* t) {
    if (!entity_eligible(t, curr)) return;
    if (!best || static_cast<int64_t>(t->deadline - best->deadline) < 0 ||
        (t->deadline == best->deadline && t->rq_seq < best->rq_seq))
      best = t;
  };
  for (Task* t : queue_) consider(t);
  if (curr) consider(curr);
  if (!best) {  // rounding can leave nobody eligible: the kernel falls back to the leftmost
    for (Task* t : queue_)
      if (!best || static_cast<int64_t>(t->vruntime - best->vruntime) < 0) best = t;
    if (curr && (!best || static_cast<int64_t>(curr->vruntime - best->vruntime) < 0)) best = curr;
  }
  return best;
}

Task* Eevdf::pick_next() {
  if (queue_.empty()) return nullptr;
  Task* se = pick_eevdf(nullptr);
  if (next_ && std::find(queue_.begin(), queue_.end(), next_) != queue_.end()) {
    if (se == next_) ++stats.next_buddy_picks;
    else ++stats.next_buddy_ignored;
  }
  if (next_ == se) next_ = nullptr;  // clear_buddies
  std::erase(queue_, se);
  se->slice_start_exec = se->sum_exec;
  return se;
}

void Eevdf::update_min_vruntime(const Task* curr) {
  uint64_t v = curr ? curr->vruntime : UINT64_MAX;
  for (const Task* t : queue_)
    if (v == UINT64_MAX || static_cast<int64_t>(t->vruntime - v) < 0) v = t->vruntime;
  if (v != UINT64_MAX && static_cast<int64_t>(v - min_vruntime_) > 0) min_vruntime_ = v;
}

// place_entity (PLACE_LAG, PLACE_DEADLINE_INITIAL): a waking task comes back with the lag
// it had, inflated by (W + w) / W so that adding it does not move the average; its
// deadline is one slice (half a slice for a new task) after its vruntime.
void Eevdf::place_entity(Task* t, bool wakeup) {
  const int64_t avg = avg_vruntime(nullptr);
  int64_t lag = 0;
  int64_t load = 0;
  for (const Task* q : queue_) load += q->weight;
  if (wakeup && !queue_.empty()) {
    lag = t->vlag;
    lag = load ? lag * (load + t->weight) / load : lag;
  }
  t->vruntime = min_vruntime_ + static_cast<uint64_t>(avg - lag);
  const uint64_t vs = vslice(t);
  t->slice = static_cast<uint64_t>(slice_);
  t->deadline = t->vruntime + (wakeup ? vs : vs / 2);
}

void Eevdf::enqueue(Task* t, bool wakeup) {
  // A task put back by schedule() (still runnable) keeps its vruntime and deadline;
  // only a wake-up or the first enqueue places it.
  if (wakeup || t->slice == 0) place_entity(t, wakeup);
  t->rq_seq = ++seq_;
  queue_.push_back(t);
}

// dequeue_entity: remember the lag (clamped to about two slices) for place_entity.
void Eevdf::curr_blocked(Task* t) {
  const int64_t limit = static_cast<int64_t>(2 * vslice(t));
  const int64_t lag = avg_vruntime(t) - static_cast<int64_t>(t->vruntime - min_vruntime_);
  t->vlag = std::clamp(lag, -limit, limit);
  if (next_ == t) next_ = nullptr;
}

void Eevdf::dequeue(Task* t) {
  std::erase(queue_, t);
  curr_blocked(t);
}

// update_curr + update_deadline: past its deadline the task gets a new slice and the CPU
// is rescheduled (at the next tick here) if someone else is runnable.
void Eevdf::update_curr(Task* curr, sim::Picos delta) {
  curr->vruntime += static_cast<uint64_t>(delta) * 1024 / curr->weight;
  if (static_cast<int64_t>(curr->vruntime - curr->deadline) >= 0) {
    curr->slice = static_cast<uint64_t>(slice_);
    curr->deadline = curr->vruntime + vslice(curr);
    if (!queue_.empty()) {
      deadline_passed_ = true;
      if (next_ == curr) next_ = nullptr;
    }
  }
  update_min_vruntime(curr);
}

bool Eevdf::tick_preempt(Task* curr) {
  const bool r = deadline_passed_ && !queue_.empty();
  deadline_passed_ = false;
  return r;
}

// check_preempt_wakeup_fair (6.6): preempt when the woken task is what pick_eevdf would
// run now; NEXT_BUDDY makes it the next buddy first.
bool Eevdf::wakeup_preempt(Task* curr, Task* t) {
  if (p_.next_buddy) set_next_buddy(t);
  return pick_eevdf(curr) == t;
}

// yield_task_fair (6.6): the yielder's deadline moves one slice forward.
void Eevdf::yield_task(Task* curr) {
  if (queue_.empty()) return;
  if (next_ == curr) next_ = nullptr;
  curr->deadline += vslice(curr);
}

bool Eevdf::yield_to_task(Task* curr, Task* target, SchedPolicy& target_rq) {
  auto* trq = dynamic_cast<Eevdf*>(&target_rq);
  if (!trq || std::find(trq->queue_.begin(), trq->queue_.end(), target) == trq->queue_.end()) return false;
  trq->set_next_buddy(target);
  yield_task(curr);
  return true;
}

Task* Eevdf::detach_task(int dst_cpu) {
  for (auto it = queue_.rbegin(); it != queue_.rend(); ++it) {
    Task* t = *it;
    if (t == next_ || !t->may_run_on(dst_cpu)) continue;
    std::erase(queue_, t);
    return t;
  }
  return nullptr;
}

}  // namespace host
