// Invariant violations: every checker counts its own, and the first of each invariant is
// kept here with where and when it happened and the CPU's recent events before it, so a
// failed run says what went wrong instead of only that something did.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "sim/time.h"

namespace sim {

struct Violation {
  std::string invariant;              // the metric's name without "invariant."
  Picos at = 0;                       // simulated time of the violation
  int cpu = -1;                       // host CPU where it was seen (-1: the whole run)
  std::string what;                   // the check that failed, with the values it saw
  std::vector<std::string> timeline;  // the CPU's last events before it, oldest first
};

class ViolationLog {
 public:
  // Keeps `v` if it is the first violation of its invariant; later ones are only counted
  // by their checkers.
  void record(Violation v) {
    for (const auto& f : firsts_)
      if (f.invariant == v.invariant) return;
    firsts_.push_back(std::move(v));
  }
  bool has(const std::string& invariant) const {
    for (const auto& f : firsts_)
      if (f.invariant == invariant) return true;
    return false;
  }
  // The first violation of each invariant, in the order they were recorded.
  const std::vector<Violation>& firsts() const { return firsts_; }

 private:
  std::vector<Violation> firsts_;
};

}  // namespace sim
