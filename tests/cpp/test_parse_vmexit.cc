// kvm-unit-tests vmexit log parser: exact values from the sample (ipi/eoi sub-lines, pci tests,
// skipped tests), noise versus malformed results, and robustness.
#include <gtest/gtest.h>

#include "parse_test_util.h"

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>

#include "validation/detect.h"
#include "validation/json.h"
#include "validation/vmexit_log.h"

using namespace validation;
using namespace parse_test;

namespace {

const std::string kSample = "vmexit.log";

}  // namespace

TEST(ParseVmexit, SampleExactValues) {
  VmexitLog v = parse_vmexit_log(read_sample(kSample));
  EXPECT_EQ(v.stats.bad_lines, 0u);
  EXPECT_EQ(v.stats.lines, 72u);
  EXPECT_EQ(v.cycles.size(), 35u);
  EXPECT_DOUBLE_EQ(v.cycles.at("cpuid"), 1439);
  EXPECT_DOUBLE_EQ(v.cycles.at("vmcall"), 1472);
  EXPECT_DOUBLE_EQ(v.cycles.at("tscdeadline"), 4033);
  EXPECT_DOUBLE_EQ(v.cycles.at("x2apic_self_ipi_sti_nop"), 425);
  EXPECT_DOUBLE_EQ(v.cycles.at("ipi"), 2442);
  EXPECT_DOUBLE_EQ(v.cycles.at("mmio-no-eventfd:pci-mem"), 8743);
  EXPECT_DOUBLE_EQ(v.cycles.at("portio-datamatch-eventfd:pci-io"), 3055);
  EXPECT_EQ(v.ipi_cycles.size(), 11u);
  EXPECT_DOUBLE_EQ(v.ipi_cycles.at("self_ipi_sti_nop"), 1233);
  EXPECT_DOUBLE_EQ(v.ipi_cycles.at("ipi"), 2401);
  EXPECT_EQ(v.eoi_cycles.size(), 10u);
  EXPECT_DOUBLE_EQ(v.eoi_cycles.at("x2apic_self_ipi_tpr_sti_hlt"), 59);
  EXPECT_EQ(v.skipped, (std::vector<std::string>{"wr_tsx_ctrl_msr", "wr_ibrs_msr", "wr_ibpb_msr"}));
  EXPECT_EQ(detect_format(read_sample(kSample)), Format::VmexitLog);
}

TEST(ParseVmexit, SkippedTestsAreNotInCycles) {
  VmexitLog v = parse_vmexit_log(read_sample(kSample));
  for (const auto& s : v.skipped) EXPECT_EQ(v.cycles.count(s), 0u) << s;
  nlohmann::json j = to_json(v);
  for (const auto& s : v.skipped) EXPECT_FALSE(j["vmexit"].contains(s)) << s;
  EXPECT_EQ(j["skipped"].size(), 3u);
  EXPECT_EQ(j["vmexit"]["cpuid"], 1439.0);
}

TEST(ParseVmexit, NoiseIsNotBadButMalformedResultsAre) {
  const char* text =
      "enabling apic\n"
      "paging enabled\n"
      "cr0 = 80010011\n"
      "PM timer port is 608\n"
      "\x1b[32mPASS\x1b[0m vmexit_cpuid\n"
      "cpuid abc\n"
      "vmcall 12x\n"
      "  ipi self_ipi_tpr nope\n"
      "mov_dr 1102\n"
      "SUMMARY: 1 tests\n";
  VmexitLog v = parse_vmexit_log(text);
  EXPECT_EQ(v.cycles.size(), 1u);
  EXPECT_DOUBLE_EQ(v.cycles.at("mov_dr"), 1102);
  ASSERT_EQ(v.stats.bad_lines, 3u);
  EXPECT_EQ(v.stats.bad_samples[0].first, 6u);
  EXPECT_NE(v.stats.bad_samples[0].second.find("cpuid"), std::string::npos);
  EXPECT_EQ(v.stats.bad_samples[1].first, 7u);
  EXPECT_EQ(v.stats.bad_samples[2].first, 8u);
}

TEST(ParseVmexit, ColouredAndCrLfLines) {
  VmexitLog v = parse_vmexit_log("\x1b[1mcpuid 1500\x1b[0m\r\nvmcall 1600\r\n");
  EXPECT_DOUBLE_EQ(v.cycles.at("cpuid"), 1500);
  EXPECT_DOUBLE_EQ(v.cycles.at("vmcall"), 1600);
}

TEST(ParseVmexit, EmptyAndResultlessInputThrow) {
  try {
    parse_vmexit_log("");
    FAIL();
  } catch (const ParseError& e) {
    EXPECT_EQ(e.line, 0u);
  }
  try {
    parse_vmexit_log("enabling apic\npaging enabled\n");
    FAIL();
  } catch (const ParseError& e) {
    EXPECT_EQ(e.line, 2u);
  }
  try {
    parse_vmexit_log("hello\ncpuid abc\n");
    FAIL();
  } catch (const ParseError& e) {
    EXPECT_EQ(e.line, 2u);  // the malformed result line
  }
}

TEST(ParseVmexit, TruncationAtEveryByteIsSane) {
  std::string text = read_sample(kSample);
  size_t last_parsed = 0;
  for (size_t n = 0; n <= text.size(); ++n) {
    std::string_view cut(text.data(), n);
    try {
      VmexitLog v = parse_vmexit_log(cut);
      EXPECT_EQ(v.stats.lines, count_lines(cut));
      EXPECT_LE(v.stats.parsed + v.stats.bad_lines, v.stats.lines);
      EXPECT_LE(v.cycles.size(), 35u);
      if (n > 0 && text[n - 1] == '\n') {
        EXPECT_GE(v.stats.parsed, last_parsed) << n;
        last_parsed = v.stats.parsed;
      }
    } catch (const ParseError& e) {
      EXPECT_LE(e.line, count_lines(cut));
    }
  }
}

TEST(ParseVmexit, GarbledLinesNeverCrash) {
  std::string text = read_sample(kSample);
  VmexitLog full = parse_vmexit_log(text);
  std::mt19937 rng(31337);
  for (int i = 0; i < 500; ++i) {
    VmexitLog v = parse_vmexit_log(garble(text, rng));
    EXPECT_EQ(v.stats.lines, full.stats.lines);
    EXPECT_LE(v.stats.parsed + v.stats.bad_lines, v.stats.lines);
    EXPECT_GE(v.cycles.size() + 1, full.cycles.size());
    (void)to_json(v).dump();
  }
}
