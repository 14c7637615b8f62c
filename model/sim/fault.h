// Deliberate faults (scenario key fault.inject), to show that the invariant checkers catch
// what they claim to: each corrupts one thing, once, at the first opportunity after
// fault.at_ms. Never set in a real experiment.
#pragma once

#include <string>
#include <vector>

#include "sim/time.h"

namespace sim {

enum class Fault {
  None,
  LostInterrupt,      // KVM drops one interrupt it was asked to deliver  -> lost_interrupts
  IllegalTransition,  // a vCPU enters the guest while marked in guest mode -> illegal_transitions
  VmentryCheck,       // KVM sets virtual-interrupt delivery without external-interrupt
                      // exiting for one entry (SDM 26.2.1.1)            -> vmentry_check_failures
  TimeRegression,     // a core's local clock steps back 1 ns once        -> time_regressions
  TscMismatch,        // KVM writes a TSC offset it does not believe in   -> tsc_mismatches
  LostTlbFlush,       // record_steal_time ignores one KVM_VCPU_FLUSH_TLB -> stale_tlb_uses
};

inline const std::vector<std::string>& fault_names() {
  static const std::vector<std::string> names = {"none", "lost_interrupt", "illegal_transition", "vmentry_check",
                                                 "time_regression", "tsc_mismatch", "lost_tlb_flush"};
  return names;
}

inline Fault fault_from_string(const std::string& s) {
  const auto& n = fault_names();
  for (size_t i = 0; i < n.size(); ++i)
    if (n[i] == s) return static_cast<Fault>(i);
  return Fault::None;
}

struct FaultPlan {
  Fault kind = Fault::None;
  Picos at = 0;
  bool fired = false;
  // True exactly once: at the first call for this fault at or after `at`.
  bool due(Fault f, Picos now) {
    if (kind != f || fired || now < at) return false;
    fired = true;
    return true;
  }
};

}  // namespace sim
