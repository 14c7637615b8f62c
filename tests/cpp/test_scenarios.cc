// Scenario-level checks of whole runs (run::run_scenario in-process, what `kvmsim run`
// does): kvm-unit-tests vmexit orderings the model must reproduce, the hv timer against
// the hrtimer, configuration errors, and determinism.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "hw/platform.h"
#include "run/runner.h"
#include "run/schema.h"
#include "run_helpers.h"
#include "sim/config.h"

namespace {

using testutil::exits;
using testutil::metric;
using testutil::run_vmexit;

// One run shared by the ordering tests of this process (each TEST is its own process
// under ctest, so this costs one run per test there, and one in total in a plain run).
const run::RunResult& vmexit_suite() {
  static const run::RunResult r =
      run_vmexit({"cpuid", "ipi", "ipi_halt", "tscdeadline", "tscdeadline_immed"}, 2000000);
  return r;
}

TEST(Scenario, CpuidIsHardwareExitPlusHandlerPlusEntry) {
  const hw::Platform p = hw::Platform::load("skylake-sp-2s");
  EXPECT_NEAR(metric(vmexit_suite(), "vmexit.cpuid"), testutil::cpuid_round_trip_cycles(p), 1.0);
}

TEST(Scenario, IpiCostsMoreThanOneAndAHalfCpuids) {
  // An IPI round trip: the sender's ICR exit, delivery, the target's handler and the
  // cache-line handoff back, on top of an exit.
  const auto& r = vmexit_suite();
  EXPECT_GT(metric(r, "vmexit.ipi"), 1.5 * metric(r, "vmexit.cpuid"));
}

TEST(Scenario, IpiHaltCostsMoreThanIpi) {
  const auto& r = vmexit_suite();
  EXPECT_GT(metric(r, "vmexit.ipi_halt"), metric(r, "vmexit.ipi"));
}

TEST(Scenario, TscdeadlineCostsMoreThanTscdeadlineImmed) {
  // An armed timer adds the timer exit (or hrtimer interrupt) and the wait to the deadline.
  const auto& r = vmexit_suite();
  EXPECT_GT(metric(r, "vmexit.tscdeadline"), metric(r, "vmexit.tscdeadline_immed"));
}

TEST(Scenario, EveryRequestedTestReportsAResult) {
  const auto& r = vmexit_suite();
  for (const char* t : {"cpuid", "ipi", "ipi_halt", "tscdeadline", "tscdeadline_immed"})
    EXPECT_GT(metric(r, std::string("vmexit.") + t), 0.0) << t;
  EXPECT_EQ(r.metrics.count("vmexit.vmcall"), 0u);  // not requested
  ASSERT_TRUE(r.files.count("vmexit.txt"));
  EXPECT_NE(r.files.at("vmexit.txt").find("tscdeadline_immed "), std::string::npos);
}

TEST(Scenario, PreemptionTimerBeatsTheHrtimer) {
  const run::RunResult hv = run_vmexit({"tscdeadline"}, 2000000, {"kvm.hv_timer=true"});
  const run::RunResult sw = run_vmexit({"tscdeadline"}, 2000000, {"kvm.hv_timer=false"});
  EXPECT_GT(metric(sw, "vmexit.tscdeadline"), metric(hv, "vmexit.tscdeadline"));

  // Why: with the hv timer each deadline ends in a PREEMPTION_TIMER exit handled on the
  // fastpath; with the sw timer the host's LAPIC timer interrupt (the hrtimer) forces an
  // EXTERNAL_INTERRUPT exit, which takes the full exit path plus the host's hrtimer
  // interrupt, and arming costs an hrtimer_start instead of a VMCS write.
  const double fired_hv = metric(hv, "timer.fired");
  const double fired_sw = metric(sw, "timer.fired");
  ASSERT_GT(fired_hv, 100.0);
  ASSERT_GT(fired_sw, 100.0);
  EXPECT_GE(static_cast<double>(exits(hv, "PREEMPTION_TIMER")), fired_hv - 2);
  EXPECT_LE(static_cast<double>(exits(hv, "EXTERNAL_INTERRUPT")), metric(hv, "host.ticks"));
  EXPECT_EQ(metric(hv, "timer.sw_armed"), 0.0);
  EXPECT_EQ(exits(sw, "PREEMPTION_TIMER"), 0u);
  EXPECT_GE(static_cast<double>(exits(sw, "EXTERNAL_INTERRUPT")), fired_sw);
  EXPECT_EQ(metric(sw, "timer.hv_armed"), 0.0);
  EXPECT_GE(metric(sw, "timer.sw_armed"), fired_sw);
  // The fastpath takes every TSC_DEADLINE write in both (all MSR_WRITE exits but the LVTT
  // setup write), and the timer exits only with the hv timer.
  const double deadline_writes_hv = static_cast<double>(exits(hv, "MSR_WRITE")) - 1;
  const double deadline_writes_sw = static_cast<double>(exits(sw, "MSR_WRITE")) - 1;
  EXPECT_EQ(metric(hv, "exits.fastpath"), deadline_writes_hv + static_cast<double>(exits(hv, "PREEMPTION_TIMER")));
  EXPECT_EQ(metric(sw, "exits.fastpath"), deadline_writes_sw);
}

// ---------------------------------------------------------------------------------------
// Configuration errors name the key

sim::ConfigError config_error(const std::string& yaml, const std::vector<std::string>& sets = {}) {
  try {
    testutil::scenario(yaml, sets);
  } catch (const sim::ConfigError& e) {
    return e;
  }
  ADD_FAILURE() << "expected a ConfigError for:\n" << yaml;
  return sim::ConfigError("", 0, "", "", "");
}

TEST(Scenario, UnknownKeyInFileIsNamedWithASuggestion) {
  const sim::ConfigError e = config_error("kvm: {hv_timr: true}\n");
  const std::string what = e.what();
  EXPECT_NE(what.find("kvm.hv_timr"), std::string::npos) << what;
  EXPECT_NE(what.find("did you mean"), std::string::npos) << what;
  EXPECT_NE(what.find("kvm.hv_timer"), std::string::npos) << what;
  EXPECT_NE(what.find("test.yaml"), std::string::npos) << what;
  EXPECT_EQ(e.key, "kvm.hv_timr");
  EXPECT_EQ(e.line, 1);
}

TEST(Scenario, UnknownKeyInSetIsNamedWithASuggestion) {
  const sim::ConfigError e = config_error("", {"kvm.hv_timr=true"});
  const std::string what = e.what();
  EXPECT_NE(what.find("kvm.hv_timr"), std::string::npos) << what;
  EXPECT_NE(what.find("did you mean"), std::string::npos) << what;
}

TEST(Scenario, WrongTypeNamesTheKeyAndTheType) {
  const sim::ConfigError e = config_error("", {"kvm.hv_timer=maybe"});
  const std::string what = e.what();
  EXPECT_NE(what.find("kvm.hv_timer"), std::string::npos) << what;
  EXPECT_NE(what.find("bool"), std::string::npos) << what;
  EXPECT_NE(what.find("maybe"), std::string::npos) << what;
}

TEST(Scenario, WrongTypeInFileNamesTheKey) {
  const sim::ConfigError e = config_error("vmexit:\n  goal_cycles: lots\n");
  const std::string what = e.what();
  EXPECT_NE(what.find("vmexit.goal_cycles"), std::string::npos) << what;
  EXPECT_EQ(e.line, 2);
}

TEST(Scenario, UnknownVmexitTestIsRejected) {
  const sim::ConfigError e = config_error("vmexit: {tests: [cpuid, cpuidd]}\n");
  EXPECT_NE(std::string(e.what()).find("cpuidd"), std::string::npos) << e.what();
}

// ---------------------------------------------------------------------------------------
// Determinism

TEST(Scenario, SameConfigTwiceGivesIdenticalResults) {
  const std::vector<std::string> tests = {"cpuid", "ipi", "tscdeadline"};
  const run::RunResult a = run_vmexit(tests, 1000000);
  const run::RunResult b = run_vmexit(tests, 1000000);
  EXPECT_EQ(a.summary["metrics"], b.summary["metrics"]);
  EXPECT_EQ(a.summary["exits"], b.summary["exits"]);
  EXPECT_EQ(a.summary["sim_time_ns"], b.summary["sim_time_ns"]);
  EXPECT_EQ(a.summary["events"], b.summary["events"]);
  EXPECT_EQ(a.exits_by_vcpu_csv, b.exits_by_vcpu_csv);
  EXPECT_EQ(a.files.at("perf-kvm-stat.txt"), b.files.at("perf-kvm-stat.txt"));
}

TEST(Scenario, SummaryEchoesTheResolvedScenario) {
  const run::RunResult r = run_vmexit({"cpuid"}, 1000000, {"kvm.hv_timer=false"});
  EXPECT_EQ(r.summary["scenario"]["kvm"]["hv_timer"], false);
  EXPECT_EQ(r.summary["scenario"]["vmexit"]["goal_cycles"], 1000000);
  EXPECT_EQ(r.summary["platform"]["name"], "skylake-sp-2s");
  EXPECT_EQ(r.summary["exits"]["CPUID"], exits(r, "CPUID"));
}

}  // namespace
