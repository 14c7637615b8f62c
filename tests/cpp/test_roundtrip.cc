// Simulator output in real tools' formats reads back, through the same parsers used on real
// machines, as the numbers in summary.json.
#include <gtest/gtest.h>

#include <cmath>

#include "run/runner.h"
#include "run/schema.h"
#include "validation/compare.h"
#include "validation/perf_kvm_stat.h"
#include "validation/vmexit_log.h"

namespace {

run::RunResult small_run() {
  const sim::Config cfg = sim::Config::load_text(
      run::scenario_schema(),
      "vmexit: {tests: [cpuid, vmcall, inl_from_qemu, tscdeadline, ipi], goal_cycles: 2000000}\nrun: {progress: false}\n",
      "roundtrip.yaml", {});
  return run::run_scenario(cfg);
}

TEST(RoundTrip, PerfKvmStatMatchesSummaryExits) {
  const run::RunResult r = small_run();
  const validation::PerfKvmStat p = validation::parse_perf_kvm_stat(r.files.at("perf-kvm-stat.txt"));
  EXPECT_EQ(p.stats.bad_lines, 0u);
  EXPECT_TRUE(p.complete);
  // perf counts an exit once its kvm_entry happened; exits still open at the end are not in it.
  const auto& open = r.summary.at("exits_open_at_end");
  uint64_t total = 0;
  for (const auto& [reason, count] : r.exits) {
    const validation::PerfKvmStatRow* row = p.find(reason);
    ASSERT_NE(row, nullptr) << reason;
    const uint64_t still_open = open.contains(reason) ? open.at(reason).get<uint64_t>() : 0;
    EXPECT_EQ(row->samples, count - still_open) << reason;
    total += count - still_open;
  }
  EXPECT_EQ(p.rows.size(), r.exits.size());
  EXPECT_EQ(p.total_samples, total);
}

TEST(RoundTrip, VmexitTxtMatchesMetrics) {
  const run::RunResult r = small_run();
  const validation::VmexitLog v = validation::parse_vmexit_log(r.files.at("vmexit.txt"));
  ASSERT_EQ(v.cycles.size(), 5u);
  for (const auto& [test, cycles] : v.cycles) EXPECT_EQ(cycles, r.metrics.at("vmexit." + test)) << test;
}

TEST(RoundTrip, ComparingARunWithItselfScoresPerfect) {
  const run::RunResult r = small_run();
  const std::string dir = ::testing::TempDir() + "/roundtrip-run";
  run::write_results(r, dir);
  const auto perf = validation::compare(r.files.at("perf-kvm-stat.txt"), "self", dir);
  EXPECT_NEAR(perf.score, 100.0, 0.01);
  const auto vm = validation::compare(r.files.at("vmexit.txt"), "self", dir);
  EXPECT_NEAR(vm.score, 100.0, 1e-9);
  // A real machine twice as slow on every test scores exp(-ln 2) = 50.
  std::string slow;
  for (const auto& [k, v] : r.metrics)
    if (k.rfind("vmexit.", 0) == 0) slow += k.substr(7) + " " + std::to_string(static_cast<long>(2 * v)) + "\n";
  EXPECT_NEAR(validation::compare(slow, "slow", dir).score, 50.0, 0.5);
}

}  // namespace
