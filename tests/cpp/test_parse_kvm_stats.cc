// KVM statistics dump parser (debugfs grep output, "name value" lists), plus format detection
// over every sample.
#include <gtest/gtest.h>

#include "parse_test_util.h"

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>

#include "validation/detect.h"
#include "validation/json.h"
#include "validation/kvm_stats.h"

using namespace validation;
using namespace parse_test;

namespace {

const std::string kSample = "kvm-stats.txt";

}  // namespace

TEST(ParseKvmStats, DebugfsGrepSample) {
  KvmStats s = parse_kvm_stats(read_sample(kSample));
  EXPECT_EQ(s.stats.lines, 53u);
  EXPECT_EQ(s.stats.parsed, 52u);
  EXPECT_EQ(s.stats.bad_lines, 0u);  // "grep: ...: Is a directory" is noise
  EXPECT_EQ(s.values.size(), 52u);
  EXPECT_TRUE(s.unknown.empty());
  EXPECT_EQ(std::get<uint64_t>(s.values.at("exits")), 48215530u);
  EXPECT_EQ(std::get<uint64_t>(s.values.at("halt_wait_ns")), 98123340981u);
  EXPECT_DOUBLE_EQ(*s.get("remote_tlb_flush_requests"), 91245.0);
  EXPECT_FALSE(s.get("no_such_stat").has_value());
  EXPECT_EQ(detect_format(read_sample(kSample)), Format::KvmStats);
}

TEST(ParseKvmStats, AllLineFormsUnknownNamesAndHistograms) {
  const char* text =
      "# kvm stats of vm 1\n"
      "exits 12\n"
      "halt_exits: 3\n"
      "irq_exits=4\n"
      "/sys/kernel/debug/kvm/io_exits:5\n"
      "my_counter 7\n"
      "tsc_scale 1.25\n"
      "halt_poll_success_hist: 0 1 2 3\n";
  KvmStats s = parse_kvm_stats(text);
  EXPECT_EQ(s.stats.bad_lines, 0u);
  EXPECT_EQ(*s.get("exits"), 12);
  EXPECT_EQ(*s.get("halt_exits"), 3);
  EXPECT_EQ(*s.get("irq_exits"), 4);
  EXPECT_EQ(*s.get("io_exits"), 5);
  EXPECT_EQ(*s.get("my_counter"), 7);
  EXPECT_DOUBLE_EQ(std::get<double>(s.values.at("tsc_scale")), 1.25);
  EXPECT_EQ(s.histograms.at("halt_poll_success_hist"), (std::vector<uint64_t>{0, 1, 2, 3}));
  EXPECT_EQ(s.unknown, (std::vector<std::string>{"my_counter", "tsc_scale"}));
  nlohmann::json j = to_json(s);
  EXPECT_EQ(j["stats"]["exits"], 12);
  EXPECT_EQ(j["unknown"].size(), 2u);
}

TEST(ParseKvmStats, RecursiveGrepPrefersTheVmWideFile) {
  const char* text =
      "/sys/kernel/debug/kvm/18971-14/vcpu0/exits:100\n"
      "/sys/kernel/debug/kvm/exits:300\n"
      "/sys/kernel/debug/kvm/18971-14/vcpu1/exits:200\n"
      "/sys/kernel/debug/kvm/18971-14/vcpu1/halt_exits:7\n";
  KvmStats s = parse_kvm_stats(text);
  EXPECT_EQ(*s.get("exits"), 300);
  EXPECT_EQ(*s.get("halt_exits"), 7);
  EXPECT_EQ(s.stats.parsed, 4u);
}

TEST(ParseKvmStats, ScopesOfKnownNames) {
  for (const char* n : {"exits", "halt_exits", "irq_exits", "io_exits", "mmio_exits",
                        "irq_window_exits", "hypercalls", "irq_injections", "tlb_flush",
                        "halt_successful_poll", "halt_attempted_poll", "halt_poll_invalid",
                        "halt_wakeup", "halt_poll_success_ns", "halt_poll_fail_ns", "halt_wait_ns",
                        "directed_yield_attempted", "directed_yield_successful",
                        "preemption_reported", "preemption_other", "nested_run"})
    EXPECT_EQ(kvm_stat_scope(n), StatScope::Vcpu) << n;
  EXPECT_EQ(kvm_stat_scope("remote_tlb_flush"), StatScope::Vm);
  EXPECT_EQ(kvm_stat_scope("remote_tlb_flush_requests"), StatScope::Vm);
  EXPECT_EQ(kvm_stat_scope("bogus"), StatScope::Unknown);
}

TEST(ParseKvmStats, BadValuesOfKnownOrNumericLookingLines) {
  const char* text =
      "exits abc\n"
      "hello world\n"
      "halt_exits 12 x\n"
      "my_counter 1.2.3\n"
      "irq_exits 9\n";
  KvmStats s = parse_kvm_stats(text);
  EXPECT_EQ(s.values.size(), 1u);
  ASSERT_EQ(s.stats.bad_lines, 3u);
  EXPECT_EQ(s.stats.bad_samples[0].first, 1u);
  EXPECT_EQ(s.stats.bad_samples[1].first, 3u);
  EXPECT_EQ(s.stats.bad_samples[2].first, 4u);
}

TEST(ParseKvmStats, EmptyAndStatlessInputThrow) {
  try {
    parse_kvm_stats("");
    FAIL();
  } catch (const ParseError& e) {
    EXPECT_EQ(e.line, 0u);
  }
  EXPECT_THROW(parse_kvm_stats("hello world\nfoo bar\n"), ParseError);
}

TEST(ParseKvmStats, TruncationAndGarbling) {
  std::string text = read_sample(kSample);
  for (size_t n = 0; n <= text.size(); ++n) {
    std::string_view cut(text.data(), n);
    try {
      KvmStats s = parse_kvm_stats(cut);
      EXPECT_EQ(s.stats.lines, count_lines(cut));
      EXPECT_LE(s.stats.parsed + s.stats.bad_lines, s.stats.lines);
      EXPECT_LE(s.values.size(), 52u);
    } catch (const ParseError& e) {
      EXPECT_LE(e.line, count_lines(cut));
    }
  }
  std::mt19937 rng(5);
  for (int i = 0; i < 500; ++i) {
    KvmStats s = parse_kvm_stats(garble(text, rng));
    EXPECT_EQ(s.stats.lines, 53u);
    EXPECT_GE(s.values.size() + 1, 52u);
    (void)to_json(s).dump();
  }
}

TEST(DetectFormat, EverySampleAndUnknownText) {
  EXPECT_EQ(detect_format(read_sample("perf-kvm-stat-amd.txt")), Format::PerfKvmStat);
  EXPECT_EQ(detect_format(read_sample("perf-kvm-stat-live.txt")), Format::PerfKvmStat);
  EXPECT_EQ(detect_format(read_sample("trace-cmd-report.txt")), Format::Ftrace);
  EXPECT_EQ(detect_format(read_sample("cyclictest-h.txt")), Format::Cyclictest);
  EXPECT_EQ(detect_format(read_sample("vmexit.log")), Format::VmexitLog);
  EXPECT_EQ(detect_format(read_sample("kvm-stats.txt")), Format::KvmStats);
  EXPECT_EQ(detect_format(""), Format::Unknown);
  EXPECT_EQ(detect_format("lorem ipsum\ndolor sit amet\n"), Format::Unknown);
  EXPECT_STREQ(to_string(Format::Ftrace), "ftrace");
}
