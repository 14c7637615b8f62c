// Host high-resolution timers: per-CPU queues that program the core's TSC-deadline
// LAPIC timer with the earliest expiry (Linux's hrtimer + clockevents, simplified).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "sim/time.h"

namespace host {

class Cpu;

struct HrTimer {
  std::function<void(Cpu&)> fn;   // runs in hard-IRQ context on the timer's CPU
  sim::Picos expires = sim::kNever;
  int cpu = -1;                   // queued on this CPU, -1 when inactive
  uint64_t seq = 0;               // matches the live queue entry (others are stale)
  bool active() const { return cpu >= 0; }
};

class HrTimerQueue {
 public:
  void add(HrTimer* t, sim::Picos expires, int cpu);
  void remove(HrTimer* t) { t->cpu = -1; t->expires = sim::kNever; }
  // Earliest live expiry (drops stale heads).
  sim::Picos next();
  // Pops the earliest live timer if it expired by `now`.
  HrTimer* pop_expired(sim::Picos now);

 private:
  struct Entry {
    sim::Picos expires;
    uint64_t seq;
    HrTimer* timer;
    bool operator>(const Entry& o) const { return expires != o.expires ? expires > o.expires : seq > o.seq; }
  };
  void drop_stale();
  std::vector<Entry> heap_;
  uint64_t seq_ = 0;
};

}  // namespace host
