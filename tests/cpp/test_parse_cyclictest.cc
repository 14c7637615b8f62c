// cyclictest parser: thread lines (interactive redraws, quiet mode, -N), the -h histogram and its
// footer, and robustness (truncation at every byte, garbled lines).
#include <gtest/gtest.h>

#include "parse_test_util.h"

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>

#include "validation/cyclictest.h"
#include "validation/detect.h"
#include "validation/json.h"

using namespace validation;
using namespace parse_test;

namespace {

const std::string kSample = "cyclictest-h.txt";

}  // namespace

TEST(ParseCyclictest, SampleThreadsKeepTheLastRedraw) {
  Cyclictest c = parse_cyclictest(read_sample(kSample));
  EXPECT_EQ(c.unit, "us");
  EXPECT_EQ(c.stats.bad_lines, 0u);
  ASSERT_EQ(c.threads.size(), 2u);
  const CyclictestThread& t0 = c.threads[0];
  EXPECT_EQ(t0.id, 0);
  EXPECT_EQ(t0.pid, 7730);
  EXPECT_EQ(t0.prio, 95);
  EXPECT_EQ(t0.interval_us, 1000);
  EXPECT_EQ(t0.count, 60000u);  // the last of three redraws (19873, 41230, 60000)
  EXPECT_EQ(t0.min, 2);
  EXPECT_EQ(t0.act, 3);
  EXPECT_EQ(t0.avg, 3);
  EXPECT_EQ(t0.max, 21);
  EXPECT_EQ(t0.smi, -1);
  EXPECT_EQ(c.threads[1].pid, 7731);
  EXPECT_EQ(c.threads[1].act, 2);
  EXPECT_EQ(c.threads[1].max, 17);
  EXPECT_EQ(detect_format(read_sample(kSample)), Format::Cyclictest);
}

TEST(ParseCyclictest, SampleHistogramAndFooter) {
  Cyclictest c = parse_cyclictest(read_sample(kSample));
  ASSERT_EQ(c.histogram.size(), 22u);
  EXPECT_FALSE(c.has_all_column);
  EXPECT_EQ(c.histogram[3].bucket, 3);
  EXPECT_DOUBLE_EQ(c.histogram[3].bucket_us, 3.0);
  ASSERT_EQ(c.histogram[3].counts.size(), 2u);
  EXPECT_EQ(c.histogram[3].counts[0], 31877u);
  EXPECT_EQ(c.histogram[3].counts[1], 33012u);
  EXPECT_EQ(c.totals, (std::vector<uint64_t>{60000, 60000}));
  EXPECT_EQ(c.min, (std::vector<uint64_t>{2, 2}));
  EXPECT_EQ(c.avg, (std::vector<uint64_t>{3, 3}));
  EXPECT_EQ(c.max, (std::vector<uint64_t>{21, 17}));
  EXPECT_EQ(c.overflows, (std::vector<uint64_t>{0, 0}));
  ASSERT_EQ(c.overflow_cycles.size(), 2u);
  EXPECT_TRUE(c.overflow_cycles[0].empty());
}

TEST(ParseCyclictest, HistogramTotalsMatchBucketSums) {
  Cyclictest c = parse_cyclictest(read_sample(kSample));
  ASSERT_EQ(c.totals.size(), 2u);
  for (size_t th = 0; th < 2; ++th) {
    uint64_t sum = 0;
    int64_t lo = -1, hi = -1;
    for (const auto& b : c.histogram) {
      sum += b.counts[th];
      if (b.counts[th]) {
        if (lo < 0) lo = b.bucket;
        hi = b.bucket;
      }
    }
    EXPECT_EQ(sum, c.totals[th]) << "thread " << th;
    EXPECT_EQ(sum, c.threads[th].count);
    EXPECT_EQ(static_cast<uint64_t>(lo), c.min[th]);
    EXPECT_EQ(static_cast<uint64_t>(hi), c.max[th]);
  }
}

TEST(ParseCyclictest, QuietModeSummaryOnly) {
  const char* text =
      "# /dev/cpu_dma_latency set to 0us\n"
      "T: 0 ( 4411) P:80 I:200 C: 500000 Min:      1 Act:    2 Avg:    2 Max:      37\n"
      "T: 1 ( 4412) P:80 I:700 C: 142857 Min:      1 Act:    3 Avg:    2 Max:      44\n";
  Cyclictest c = parse_cyclictest(text);
  ASSERT_EQ(c.threads.size(), 2u);
  EXPECT_EQ(c.threads[1].interval_us, 700);
  EXPECT_EQ(c.threads[1].count, 142857u);
  EXPECT_TRUE(c.histogram.empty());
  EXPECT_EQ(c.stats.parsed, 2u);
}

TEST(ParseCyclictest, InteractiveCursorUpRedraws) {
  std::string text = "policy: fifo: loadavg: 0.01 0.02 0.00 1/99 42          \n\n";
  for (int i = 1; i <= 5; ++i) {
    text += "T: 0 ( 4000) P:99 I:1000 C:" + std::to_string(i * 1000) +
            " Min:      1 Act:    2 Avg:    2 Max:      " + std::to_string(10 + i) + "\n";
    text += "\x1b[3A";  // cursor up, no newline: the next "policy:" line starts with it
    text += "policy: fifo: loadavg: 0.01 0.02 0.00 1/99 42          \n\n";
  }
  Cyclictest c = parse_cyclictest(text);
  ASSERT_EQ(c.threads.size(), 1u);
  EXPECT_EQ(c.threads[0].count, 5000u);
  EXPECT_EQ(c.threads[0].max, 15);
  EXPECT_EQ(c.stats.bad_lines, 0u);
}

TEST(ParseCyclictest, NanosecondMode) {
  const char* text =
      "T: 0 ( 5001) P:99 I:1000 C:  10000 Min:    812 Act:    1540 Avg:    1622 Max:   12090\n"
      "T: 1 ( 5002) P:99 I:1000 C:  10000 Min:    798 Act:    1701 Avg:    1580 Max:    9871\n";
  Cyclictest c = parse_cyclictest(text);
  EXPECT_EQ(c.unit, "ns");
  ASSERT_EQ(c.threads.size(), 2u);
  EXPECT_EQ(c.threads[0].max, 12090);
  nlohmann::json j = to_json(c);
  EXPECT_DOUBLE_EQ(j["threads"][0]["max_us"].get<double>(), 12.09);
  EXPECT_DOUBLE_EQ(j["threads"][1]["min_us"].get<double>(), 0.798);
}

TEST(ParseCyclictest, AllThreadsColumnAndOverflowsAndSmis) {
  const char* text =
      "T: 0 ( 6001) P:90 I:1000 C:    100 Min:      1 Act:    2"
      " Avg:    2 Max:       5 SMI:       0\n"
      "T: 1 ( 6002) P:90 I:1500 C:     67 Min:      1 Act:    2"
      " Avg:    2 Max:       4 SMI:       1\n"
      "# Histogram\n"
      "000000 000000\t000000\t000000\n"
      "000001 000040\t000030\t000070\n"
      "000002 000050\t000030\t000080\n"
      "000003 000009\t000007\t000016\n"
      "# Total: 000000099 000000067 000000166\n"
      "# Min Latencies: 00001 00001\n"
      "# Avg Latencies: 00002 00002\n"
      "# Max Latencies: 00005 00004 00005\n"
      "# Histogram Overflows: 00001 00000 00001\n"
      "# Histogram Overflow at cycle number:\n"
      "# Thread 0: 00077\n"
      "# Thread 1:\n"
      "# SMIs: 00000 00001\n";
  Cyclictest c = parse_cyclictest(text);
  EXPECT_EQ(c.stats.bad_lines, 0u);
  EXPECT_TRUE(c.has_all_column);
  ASSERT_EQ(c.histogram.size(), 4u);
  EXPECT_EQ(c.histogram[1].counts, (std::vector<uint64_t>{40, 30}));
  EXPECT_EQ(c.histogram[1].all, 70u);
  EXPECT_EQ(c.totals, (std::vector<uint64_t>{99, 67}));
  EXPECT_EQ(c.max, (std::vector<uint64_t>{5, 4}));
  EXPECT_EQ(c.overflows, (std::vector<uint64_t>{1, 0}));
  ASSERT_EQ(c.overflow_cycles.size(), 2u);
  EXPECT_EQ(c.overflow_cycles[0], (std::vector<uint64_t>{77}));
  EXPECT_EQ(c.smis, (std::vector<uint64_t>{0, 1}));
  EXPECT_EQ(c.threads[1].smi, 1);
}

TEST(ParseCyclictest, OverflowListWithOthers) {
  Cyclictest c =
      parse_cyclictest("# Histogram\n000000 000001\n# Thread 0: 00012 00345 # 00003 others\n");
  ASSERT_EQ(c.overflow_cycles.size(), 1u);
  EXPECT_EQ(c.overflow_cycles[0], (std::vector<uint64_t>{12, 345}));
}

TEST(ParseCyclictest, BadLinesAreCountedWithReasons) {
  const char* text =
      "T: 0 ( 4411) P:80 I:200 C: 500000 Min:      1 Act:    2 Avg:    2 Max:      37\n"
      "T: 1 ( 4412) P:80 I:700 C: 14z857 Min:      1 Act:    3 Avg:    2 Max:      44\n"
      "# Histogram\n"
      "000000 000001\n"
      "000001 000001\t000002\n"
      "# Total: 00000000x\n";
  Cyclictest c = parse_cyclictest(text);
  EXPECT_EQ(c.threads.size(), 1u);
  EXPECT_EQ(c.histogram.size(), 1u);
  ASSERT_EQ(c.stats.bad_lines, 3u);
  EXPECT_EQ(c.stats.bad_samples[0].first, 2u);
  EXPECT_EQ(c.stats.bad_samples[1].first, 5u);
  EXPECT_NE(c.stats.bad_samples[1].second.find("columns"), std::string::npos);
  EXPECT_EQ(c.stats.bad_samples[2].first, 6u);
}

TEST(ParseCyclictest, JsonShape) {
  nlohmann::json j = to_json(parse_cyclictest(read_sample(kSample)));
  ASSERT_EQ(j["threads"].size(), 2u);
  EXPECT_EQ(j["threads"][0]["count"], 60000);
  EXPECT_DOUBLE_EQ(j["threads"][0]["max_us"].get<double>(), 21.0);
  ASSERT_EQ(j["histogram"].size(), 22u);
  EXPECT_EQ(j["histogram"][3], nlohmann::json::parse("[3.0, 31877, 33012]"));
}

TEST(ParseCyclictest, EmptyAndUnrecognizableInputThrow) {
  try {
    parse_cyclictest("");
    FAIL();
  } catch (const ParseError& e) {
    EXPECT_EQ(e.line, 0u);
  }
  try {
    parse_cyclictest("policy: fifo\nsomething\nelse\n");
    FAIL();
  } catch (const ParseError& e) {
    EXPECT_EQ(e.line, 3u);
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos);
  }
}

TEST(ParseCyclictest, TruncationAtEveryByteIsSane) {
  std::string text = read_sample(kSample);
  size_t last_parsed = 0;
  for (size_t n = 0; n <= text.size(); ++n) {
    std::string_view cut(text.data(), n);
    try {
      Cyclictest c = parse_cyclictest(cut);
      EXPECT_EQ(c.stats.lines, count_lines(cut));
      EXPECT_LE(c.stats.parsed + c.stats.bad_lines, c.stats.lines);
      EXPECT_LE(c.threads.size(), 2u);
      EXPECT_LE(c.histogram.size(), 22u);
      for (const auto& b : c.histogram) EXPECT_LE(b.counts.size(), 2u);
      if (n > 0 && text[n - 1] == '\n') {
        EXPECT_GE(c.stats.parsed, last_parsed) << n;
        last_parsed = c.stats.parsed;
      }
    } catch (const ParseError& e) {
      EXPECT_LE(e.line, count_lines(cut));
    }
  }
}

TEST(ParseCyclictest, GarbledLinesNeverCrash) {
  std::string text = read_sample(kSample);
  Cyclictest full = parse_cyclictest(text);
  std::mt19937 rng(4242);
  for (int i = 0; i < 500; ++i) {
    Cyclictest c = parse_cyclictest(garble(text, rng));
    EXPECT_EQ(c.stats.lines, full.stats.lines);
    EXPECT_LE(c.stats.parsed + c.stats.bad_lines, c.stats.lines);
    EXPECT_LE(c.histogram.size(), full.histogram.size());
    EXPECT_GE(c.histogram.size() + 1, full.histogram.size());
    (void)to_json(c).dump();
  }
}
