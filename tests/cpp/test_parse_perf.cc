// perf kvm stat report/live parser: exact values from the samples, AMD names, live refreshes,
// mmio/ioport keys, old perf, and robustness (truncation at every byte, garbled lines).
#include <gtest/gtest.h>

#include "parse_test_util.h"

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>

#include "validation/detect.h"
#include "validation/json.h"
#include "validation/perf_kvm_stat.h"

using namespace validation;
using namespace parse_test;

namespace {

// Inserts 1-4 random bytes (never '\n', so lines stay lines) into one random line.
const char* const kSamples[] = {"perf-kvm-stat-report.txt", "perf-kvm-stat-amd.txt",
                                "perf-kvm-stat-live.txt"};

}  // namespace

TEST(ParsePerf, IntelReportExactValues) {
  PerfKvmStat r = parse_perf_kvm_stat(read_sample("perf-kvm-stat-report.txt"));
  EXPECT_EQ(r.event_set, "VM-EXIT");
  EXPECT_EQ(r.heading, "all VMs, all VCPUs");
  EXPECT_FALSE(r.vcpu.has_value());
  EXPECT_EQ(r.vendor, Vendor::Intel);
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.reports, 1u);
  EXPECT_FALSE(r.lost_events.has_value());
  ASSERT_EQ(r.rows.size(), 12u);
  const PerfKvmStatRow& w = r.rows[0];
  EXPECT_EQ(w.name, "MSR_WRITE");
  EXPECT_EQ(w.samples, 42521u);
  EXPECT_DOUBLE_EQ(w.samples_pct, 53.05);
  EXPECT_DOUBLE_EQ(w.time_pct, 0.06);
  EXPECT_DOUBLE_EQ(w.min_us, 0.50);
  EXPECT_DOUBLE_EQ(w.max_us, 52.94);
  EXPECT_DOUBLE_EQ(w.avg_us, 1.71);
  EXPECT_DOUBLE_EQ(w.stddev_pct, 0.48);
  EXPECT_TRUE(w.has_min_max);
  const PerfKvmStatRow* hlt = r.find("HLT");
  ASSERT_NE(hlt, nullptr);
  EXPECT_EQ(hlt->samples, 15885u);
  EXPECT_DOUBLE_EQ(hlt->time_pct, 99.90);
  EXPECT_DOUBLE_EQ(hlt->max_us, 17539.26);
  EXPECT_DOUBLE_EQ(hlt->avg_us, 8224.34);
  EXPECT_EQ(r.rows.back().name, "APIC_WRITE");
  EXPECT_EQ(r.rows.back().samples, 18u);
  EXPECT_EQ(r.total_samples, 80146u);
  EXPECT_DOUBLE_EQ(r.total_time_us, 130775534.94);
  uint64_t sum = 0;
  double pct = 0;
  for (const auto& row : r.rows) sum += row.samples, pct += row.samples_pct;
  EXPECT_EQ(sum, r.total_samples);
  EXPECT_NEAR(pct, 100.0, 0.1);
  EXPECT_EQ(r.stats.bad_lines, 0u);
  EXPECT_EQ(r.stats.lines, 21u);
  EXPECT_EQ(detect_format(read_sample("perf-kvm-stat-report.txt")), Format::PerfKvmStat);
}

TEST(ParsePerf, AmdLowerCaseNamesAndVcpuHeading) {
  PerfKvmStat r = parse_perf_kvm_stat(read_sample("perf-kvm-stat-amd.txt"));
  EXPECT_EQ(r.vendor, Vendor::Amd);
  EXPECT_EQ(r.heading, "pid(s) 4321, VCPU 1");
  ASSERT_TRUE(r.vcpu.has_value());
  EXPECT_EQ(*r.vcpu, 1);
  ASSERT_EQ(r.rows.size(), 11u);
  for (const char* n :
       {"msr", "hlt", "npf", "io", "interrupt", "cpuid", "pause", "hypercall", "nmi"})
    EXPECT_NE(r.find(n), nullptr) << n;
  const PerfKvmStatRow* pf = r.find("PF excp");  // SVM exception names hold a space
  ASSERT_NE(pf, nullptr);
  EXPECT_EQ(pf->samples, 4u);
  EXPECT_DOUBLE_EQ(pf->stddev_pct, 19.45);
  EXPECT_EQ(r.find("msr")->samples, 31877u);
  EXPECT_EQ(r.total_samples, 57021u);
  EXPECT_EQ(r.stats.bad_lines, 0u);
}

TEST(ParsePerf, LiveModeReturnsLastCompleteReport) {
  PerfKvmStat r = parse_perf_kvm_stat(read_sample("perf-kvm-stat-live.txt"));
  EXPECT_EQ(r.reports, 2u);
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.timestamp, "10:41:08.513102");
  ASSERT_EQ(r.rows.size(), 6u);
  ASSERT_NE(r.find("IO_INSTRUCTION"), nullptr);
  EXPECT_EQ(r.find("MSR_WRITE")->samples, 2388u);
  EXPECT_EQ(r.total_samples, 3841u);
  ASSERT_TRUE(r.lost_events.has_value());
  EXPECT_EQ(*r.lost_events, 12u);
  EXPECT_EQ(r.stats.bad_lines, 0u);
}

TEST(ParsePerf, LiveModeCutInSecondRefreshKeepsTheFirst) {
  std::string text = read_sample("perf-kvm-stat-live.txt");
  size_t second = text.find("\x1b[H", 1);
  ASSERT_NE(second, std::string::npos);
  std::string cut = text.substr(0, text.find("HLT", second));
  PerfKvmStat r = parse_perf_kvm_stat(cut);
  EXPECT_EQ(r.reports, 1u);
  EXPECT_EQ(r.timestamp, "10:41:07.512330");
  EXPECT_EQ(r.rows.size(), 5u);
  EXPECT_EQ(r.total_samples, 3507u);
  EXPECT_FALSE(r.lost_events.has_value());
}

TEST(ParsePerf, TruncatedSingleReportIsPartial) {
  std::string text = read_sample("perf-kvm-stat-report.txt");
  PerfKvmStat r = parse_perf_kvm_stat(text.substr(0, text.find("CPUID")));
  EXPECT_FALSE(r.complete);
  EXPECT_EQ(r.reports, 0u);
  EXPECT_EQ(r.rows.size(), 8u);
  EXPECT_EQ(r.stats.bad_lines, 0u);  // cut in the blanks before "CPUID"
  PerfKvmStat mid = parse_perf_kvm_stat(text.substr(0, text.find("CPUID") + 16));
  EXPECT_EQ(mid.rows.size(), 8u);
  ASSERT_EQ(mid.stats.bad_lines, 1u);  // "CPUID        311" is half a row
  EXPECT_EQ(mid.stats.bad_samples[0].first, 15u);
}

TEST(ParsePerf, MmioAndIoportKeysWithColonsAndSpaces) {
  const char* mmio =
      "Analyze events for all VMs, all VCPUs:\n\n"
      "         MMIO Access    Samples  Samples%     Time%"
      "    Min Time    Max Time         Avg time \n\n"
      "        0xfee00300:W       4021    71.21%    55.02%"
      "      2.10us     30.44us      3.11us ( +-   1.02% )\n"
      "        0xfee000b0:W       1625    28.79%    44.98%"
      "      3.88us     40.02us      6.29us ( +-   2.20% )\n\n"
      "Total Samples:5646, Total events handled time:22731.29us.\n\n";
  PerfKvmStat r = parse_perf_kvm_stat(mmio);
  EXPECT_EQ(r.event_set, "MMIO Access");
  EXPECT_EQ(r.vendor, Vendor::Unknown);
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0].name, "0xfee00300:W");
  const char* io =
      "      IO Port Access    Samples  Samples%     Time%"
      "    Min Time    Max Time         Avg time \n\n"
      "          0x3f8:POUT        210    80.00%    70.00%"
      "      4.00us      9.00us      5.00us ( +-   1.00% )\n"
      "    a name w spaces         52    20.00%    30.00%"
      "      4.00us     10.00us      8.65us ( +- 100.00% )\n\n"
      "Total Samples:262, Total events handled time:1500.00us.\n";
  PerfKvmStat p = parse_perf_kvm_stat(io);
  ASSERT_EQ(p.rows.size(), 2u);
  EXPECT_EQ(p.rows[0].name, "0x3f8:POUT");
  EXPECT_EQ(p.rows[1].name, "a name w spaces");
  EXPECT_DOUBLE_EQ(p.rows[1].stddev_pct, 100.0);
}

TEST(ParsePerf, OldPerfWithoutMinMaxColumns) {
  const char* old =
      "\n\nAnalyze events for all VMs, all VCPUs:\n\n"
      "             VM-EXIT    Samples  Samples%     Time%         Avg time \n\n"
      "         EXTERNAL_INTERRUPT      12000    60.00%    10.00%      2.00us ( +-   1.00% )\n"
      "                 HLT       8000    40.00%    90.00%     27.00us ( +-   5.00% )\n\n"
      "Total Samples:20000, Total events handled time:240000.00us.\n";
  PerfKvmStat r = parse_perf_kvm_stat(old);
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_FALSE(r.rows[0].has_min_max);
  EXPECT_DOUBLE_EQ(r.rows[1].avg_us, 27.0);
  nlohmann::json j = to_json(r);
  EXPECT_TRUE(j["exits"]["HLT"]["min_us"].is_null());
  EXPECT_EQ(j["exits"]["HLT"]["samples"], 8000);
}

TEST(ParsePerf, NanPercentagesAreZero) {
  PerfKvmStat r = parse_perf_kvm_stat(
      "           MSR_WRITE          3   100.00%      -nan%"
      "      0.00us      0.00us      0.00us ( +-   0.00% )\n"
      "Total Samples:3, Total events handled time:0.00us.\n");
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].time_pct, 0.0);
  EXPECT_TRUE(r.complete);
}

TEST(ParsePerf, JsonShape) {
  nlohmann::json j = to_json(parse_perf_kvm_stat(read_sample("perf-kvm-stat-report.txt")));
  EXPECT_EQ(j["total_samples"], 80146);
  const nlohmann::json& w = j["exits"]["MSR_WRITE"];
  for (const char* k : {"samples", "pct", "time_pct", "min_us", "max_us", "avg_us"})
    EXPECT_TRUE(w.contains(k)) << k;
  EXPECT_EQ(w["samples"], 42521);
  EXPECT_DOUBLE_EQ(w["pct"].get<double>(), 53.05);
  EXPECT_EQ(j["exits"].size(), 12u);
}

TEST(ParsePerf, GarbledRowIsCountedBadWithItsLine) {
  std::string text = read_sample("perf-kvm-stat-report.txt");
  size_t at = text.find("42521");
  text.replace(at, 5, "42x21");
  PerfKvmStat r = parse_perf_kvm_stat(text);
  EXPECT_EQ(r.rows.size(), 11u);
  EXPECT_EQ(r.find("MSR_WRITE"), nullptr);
  ASSERT_EQ(r.stats.bad_lines, 1u);
  EXPECT_EQ(r.stats.bad_samples[0].first, 7u);
  EXPECT_NE(r.stats.bad_samples[0].second.find("Samples"), std::string::npos);
}

TEST(ParsePerf, EmptyAndUnrecognizableInputThrowParseError) {
  try {
    parse_perf_kvm_stat("");
    FAIL();
  } catch (const ParseError& e) {
    EXPECT_EQ(e.line, 0u);
    EXPECT_NE(std::string(e.what()).find("line 0: input is empty"), std::string::npos);
  }
  try {
    parse_perf_kvm_stat("hello\nworld\n");
    FAIL();
  } catch (const ParseError& e) {
    EXPECT_EQ(e.line, 2u);
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos);
  }
}

TEST(ParsePerf, CrLfNulPaddingAndOverlongLines) {
  std::string text = read_sample("perf-kvm-stat-report.txt");
  std::string crlf;
  for (char c : text) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  crlf += std::string(64, '\0');  // a log cut by a crash ends in NULs, without a newline
  PerfKvmStat r = parse_perf_kvm_stat(crlf);
  EXPECT_EQ(r.rows.size(), 12u);
  EXPECT_EQ(r.total_samples, 80146u);
  EXPECT_EQ(r.stats.bad_lines, 0u);
  std::string longline = std::string(100 * 1024, 'x') + "\n" + text;
  PerfKvmStat l = parse_perf_kvm_stat(longline);
  EXPECT_EQ(l.rows.size(), 12u);
  ASSERT_EQ(l.stats.bad_lines, 1u);
  EXPECT_EQ(l.stats.bad_samples[0].first, 1u);
  EXPECT_NE(l.stats.bad_samples[0].second.find("longer than"), std::string::npos);
}

TEST(ParsePerf, TruncationAtEveryByteIsSane) {
  for (const char* name : kSamples) {
    std::string text = read_sample(name);
    size_t full_rows = parse_perf_kvm_stat(text).rows.size();
    size_t last_parsed = 0;
    for (size_t n = 0; n <= text.size(); ++n) {
      std::string_view cut(text.data(), n);
      try {
        PerfKvmStat r = parse_perf_kvm_stat(cut);
        EXPECT_EQ(r.stats.lines, count_lines(cut));
        EXPECT_LE(r.stats.parsed + r.stats.bad_lines, r.stats.lines);
        EXPECT_LE(r.rows.size(), 12u);
        EXPECT_LE(r.reports, 2u);
        if (n == text.size()) {
          EXPECT_EQ(r.rows.size(), full_rows);
        }
        if (n > 0 && text[n - 1] == '\n') {  // whole lines only: never fewer parsed lines
          EXPECT_GE(r.stats.parsed, last_parsed) << name << " at " << n;
          last_parsed = r.stats.parsed;
        }
      } catch (const ParseError& e) {
        EXPECT_LE(e.line, count_lines(cut));
      }
    }
  }
}

TEST(ParsePerf, GarbledLinesNeverCrash) {
  std::mt19937 rng(20240611);
  for (const char* name : kSamples) {
    std::string text = read_sample(name);
    PerfKvmStat full = parse_perf_kvm_stat(text);
    for (int i = 0; i < 300; ++i) {
      std::string g = garble(text, rng);
      try {
        PerfKvmStat r = parse_perf_kvm_stat(g);
        EXPECT_EQ(r.stats.lines, full.stats.lines);
        EXPECT_LE(r.stats.parsed + r.stats.bad_lines, r.stats.lines);
        EXPECT_LE(r.rows.size(), full.rows.size() + 1);
        (void)to_json(r).dump();
      } catch (const ParseError&) {
        ADD_FAILURE() << "one garbled line made the whole " << name << " unreadable";
      }
    }
  }
}
