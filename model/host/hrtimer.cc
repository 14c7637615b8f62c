#include "host/hrtimer.h"

#include <algorithm>

namespace host {

void HrTimerQueue::add(HrTimer* t, sim::Picos expires, int cpu) {
  t->expires = expires;
  t->cpu = cpu;
  t->seq = ++seq_;
  heap_.push_back({expires, t->seq, t});
  std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
}

void HrTimerQueue::drop_stale() {
  while (!heap_.empty()) {
    const Entry& e = heap_.front();
    if (e.timer->active() && e.timer->seq == e.seq) return;
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
    heap_.pop_back();
  }
}

sim::Picos HrTimerQueue::next() {
  drop_stale();
  return heap_.empty() ? sim::kNever : heap_.front().expires;
}

HrTimer* HrTimerQueue::pop_expired(sim::Picos now) {
  drop_stale();
  if (heap_.empty() || heap_.front().expires > now) return nullptr;
  HrTimer* t = heap_.front().timer;
  std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
  heap_.pop_back();
  t->cpu = -1;
  return t;
}

}  // namespace host
