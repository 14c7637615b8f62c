// A cache line of guest memory that vCPUs communicate through (flags, lock words, ack
// counters). A store becomes visible to a reader after the line-transfer latency between
// the writer's and the reader's CPUs; spinning cores are woken then instead of polling.
#pragma once

#include <cstdint>
#include <vector>

#include "sim/time.h"

namespace hw {

class Core;

class MemLine {
 public:
  explicit MemLine(uint64_t initial = 0) : old_(initial), new_(initial) {}
  // Value seen by a reader on `cpu` at time t, `transfer` after the store it may see.
  uint64_t load(int cpu, sim::Picos t, sim::Picos transfer) const {
    return (cpu == writer_ || t >= stored_at_ + transfer) ? new_ : old_;
  }
  uint64_t latest() const { return new_; }
  void store(uint64_t v, int cpu, sim::Picos t);  // wakes watchers
  void watch(Core* c);
  void unwatch(Core* c);
  int last_writer() const { return writer_; }
  sim::Picos stored_at() const { return stored_at_; }

 private:
  uint64_t old_, new_;
  int writer_ = -1;
  sim::Picos stored_at_ = 0;
  std::vector<Core*> watchers_;
};

}  // namespace hw
