// The invariant checkers of every run (invariant.* in the metrics): each deliberate fault
// of fault.inject must be caught by its own checker, reported with where and when it
// happened, and leave the other checkers at 0.
#include <gtest/gtest.h>

#include <string>

#include "run_helpers.h"

namespace {

using testutil::metric;

const char* const kInvariants[] = {"lost_interrupts", "illegal_transitions", "vmentry_check_failures",
                                   "time_regressions", "isolation_violations", "tsc_mismatches"};

run::RunResult run_with_fault(const std::string& fault) {
  // ipi needs a second vCPU to receive; cpuid keeps entries coming after the fault time.
  return testutil::run_vmexit({"cpuid", "ipi"}, 1u << 22, {"fault.inject=" + fault, "fault.at_ms=0.2"});
}

void expect_caught_only_by(const run::RunResult& r, const std::string& invariant, bool with_timeline) {
  for (const char* inv : kInvariants) {
    const double n = metric(r, std::string("invariant.") + inv);
    if (inv == invariant) EXPECT_GT(n, 0) << inv;
    else EXPECT_EQ(n, 0) << inv;
  }
  const auto& v = r.summary["first_violations"];
  ASSERT_EQ(v.size(), 1u) << v.dump();
  EXPECT_EQ(v[0]["invariant"], invariant);
  EXPECT_FALSE(v[0]["what"].get<std::string>().empty());
  if (with_timeline) {
    // Not before fault.at_ms (less the one exit a stepped-back clock may go back over).
    EXPECT_GE(v[0]["at_us"].get<double>(), 199.0);
    EXPECT_GE(v[0]["cpu"].get<int>(), 0);
    EXPECT_FALSE(v[0]["timeline"].empty());  // what the CPU did just before
  }
}

TEST(Invariants, CleanRunHasNoViolation) {
  const auto r = run_with_fault("none");
  for (const char* inv : kInvariants) EXPECT_EQ(metric(r, std::string("invariant.") + inv), 0) << inv;
  EXPECT_TRUE(r.summary["first_violations"].empty());
}

TEST(Invariants, DroppedInterruptIsCaughtByConservation) {
  expect_caught_only_by(run_with_fault("lost_interrupt"), "lost_interrupts", false);
}

TEST(Invariants, EntryWhileInGuestModeIsCaught) {
  expect_caught_only_by(run_with_fault("illegal_transition"), "illegal_transitions", true);
}

TEST(Invariants, BadControlsAreCaughtByTheEntryChecks) {
  const auto r = run_with_fault("vmentry_check");
  expect_caught_only_by(r, "vmentry_check_failures", true);
  EXPECT_EQ(metric(r, "invariant.vmentry_check_failures"), 1);  // one bad entry, then restored
}

TEST(Invariants, ClockSteppingBackIsCaught) {
  expect_caught_only_by(run_with_fault("time_regression"), "time_regressions", true);
}

TEST(Invariants, VmcsTscOffsetKvmDoesNotBelieveIsCaught) {
  expect_caught_only_by(run_with_fault("tsc_mismatch"), "tsc_mismatches", true);
}

// isolation_violations has its own fault test with a misbehaving NoExit-PV guest
// (PvIpi.* in test_pv_ipi.cc), since it needs guest code rather than a model fault.

TEST(Invariants, UnknownFaultIsNamed) {
  try {
    testutil::scenario("", {"fault.inject=everything"});
    ADD_FAILURE() << "expected a ConfigError";
  } catch (const sim::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("fault.inject"), std::string::npos) << e.what();
  }
}

}  // namespace
