// model/kvm/trace: output.trace writes KVM's tracepoints as trace-cmd text; read back by the
// ftrace parser used on real hosts, it gives the exit counts and mean times of summary.json
// and exits_by_vcpu.csv.
#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <tuple>

#include "run/runner.h"
#include "run/schema.h"
#include "validation/ftrace_kvm.h"

namespace {

const char* kMix =
    "name: trace\nrun: {progress: false, max_sim_ms: 50}\nvm: {vcpus: 4}\nworkload: {kind: vm_mix}\n"
    "mix: {timer_rearm_hz: 2000, resched_ipi_hz: 2000, call_function_hz: 500, call_function_targets: 2, duration_ms: 10}\n";

run::RunResult run_mix(const std::vector<std::string>& sets) {
  return run::run_scenario(sim::Config::load_text(run::scenario_schema(), kMix, "trace.yaml", sets));
}

// (vm, vcpu, reason) -> (count, mean_us) from exits_by_vcpu.csv
std::map<std::tuple<std::string, int, std::string>, std::pair<uint64_t, double>> csv_rows(const std::string& csv) {
  std::map<std::tuple<std::string, int, std::string>, std::pair<uint64_t, double>> out;
  for (const run::ExitRow& r : run::parse_exits_by_vcpu_csv(csv)) out[{r.vm, r.vcpu, r.reason}] = {r.count, r.mean_us};
  return out;
}

void expect_round_trip(const run::RunResult& r) {
  ASSERT_TRUE(r.files.count("trace.txt"));
  const validation::KvmTrace t = validation::parse_ftrace_kvm(r.files.at("trace.txt"));
  EXPECT_EQ(t.stats.bad_lines, 0u);
  EXPECT_EQ(t.lost_events, 0u);
  // Every kvm_exit is in the trace, including the exits still open at the end.
  ASSERT_EQ(t.by_reason.size(), r.exits.size());
  for (const auto& [reason, count] : r.exits) {
    ASSERT_TRUE(t.by_reason.count(reason)) << reason;
    EXPECT_EQ(t.by_reason.at(reason).count, count) << reason;
  }
  uint64_t open = 0;
  for (const auto& [reason, n] : r.summary.at("exits_open_at_end").items()) open += n.get<uint64_t>();
  EXPECT_EQ(t.unpaired_exits, open);
  // Per vCPU and reason: the same count and mean exit-to-entry time as exits_by_vcpu.csv
  // (trace timestamps are whole nanoseconds: means agree to about a nanosecond).
  std::map<std::tuple<std::string, int, std::string>, std::pair<uint64_t, double>> traced;  // n, sum
  for (const auto& s : t.exits) {
    auto& [n, sum] = traced[{"vm" + std::to_string(s.pid / 10000 - 1), s.vcpu, s.reason}];
    ++n;
    sum += s.duration_us;
  }
  const auto rows = csv_rows(r.exits_by_vcpu_csv);
  ASSERT_FALSE(rows.empty());
  for (const auto& [key, row] : rows) {
    const auto it = traced.find(key);
    ASSERT_NE(it, traced.end()) << std::get<2>(key);
    EXPECT_LE(it->second.first, row.first);
    EXPECT_GE(it->second.first + 1, row.first);  // at most one exit still open per vCPU
    EXPECT_NEAR(it->second.second / static_cast<double>(it->second.first), row.second, 2e-3) << std::get<2>(key);
  }
  EXPECT_EQ(static_cast<double>(t.injections.size()), r.metrics.at("interrupts.injected"));
  EXPECT_EQ(static_cast<double>(t.ple_window_updates.size()), r.metrics.at("ple.window_updates"));
}

TEST(Trace, RoundTripThroughTheFtraceParserWithApicv) {
  const run::RunResult r = run_mix({"output.trace=true"});
  expect_round_trip(r);
  EXPECT_GT(r.metrics.at("exits.total"), 100.0);
}

TEST(Trace, RoundTripWithoutApicvHasInjectionsAndIpis) {
  const run::RunResult r = run_mix({"output.trace=true", "kvm.enable_apicv=false"});
  expect_round_trip(r);
  const validation::KvmTrace t = validation::parse_ftrace_kvm(r.files.at("trace.txt"));
  EXPECT_GT(t.injections.size(), 10u);
  ASSERT_GT(t.ipis.size(), 10u);
  EXPECT_EQ(t.ipis.front().delivery_mode, "Fixed");
  EXPECT_EQ(t.ipis.front().dest_mode, "physical");
}

TEST(Trace, TracingDoesNotChangeResults) {
  const run::RunResult off = run_mix({});
  const run::RunResult on = run_mix({"output.trace=true"});
  EXPECT_FALSE(off.files.count("trace.txt"));
  for (const auto& [k, v] : off.metrics) EXPECT_EQ(on.metrics.at(k), v) << k;
  EXPECT_EQ(on.exits_by_vcpu_csv, off.exits_by_vcpu_csv);
}

TEST(Trace, TscDeadlineTimersShowWaitLapicExpire) {
  // kvm-unit-tests tscdeadline: the hv timer fires, KVM waits for the deadline at entry
  // (__kvm_wait_lapic_expire) and traces how early or late it was.
  const run::RunResult r = run::run_scenario(sim::Config::load_text(
      run::scenario_schema(),
      "run: {progress: false, max_sim_ms: 200}\nvmexit: {tests: [tscdeadline], goal_cycles: 200000}\noutput: {trace: true}\n",
      "trace.yaml", {}));
  const validation::KvmTrace t = validation::parse_ftrace_kvm(r.files.at("trace.txt"));
  EXPECT_EQ(t.stats.bad_lines, 0u);
  ASSERT_GT(t.lapic_expire.size(), 10u);
  EXPECT_EQ(t.lapic_expire.front().vcpu, 0);
  EXPECT_EQ(t.lapic_expire.front().early, t.lapic_expire.front().delta < 0);
}

TEST(Trace, LineCapCountsLostEvents) {
  const run::RunResult r = run_mix({"output.trace=true", "output.trace_max_lines=50"});
  const validation::KvmTrace t = validation::parse_ftrace_kvm(r.files.at("trace.txt"));
  EXPECT_EQ(t.kvm_exit_events + t.kvm_entry_events + t.ipis.size() + t.injections.size() + t.lapic_expire.size() +
                t.ple_window_updates.size(),
            50u);
  EXPECT_GT(r.metrics.at("trace.lost_events"), 0.0);
  EXPECT_NE(r.files.at("trace.txt").find("entries-in-buffer/entries-written: 50/"), std::string::npos);
}

}  // namespace
