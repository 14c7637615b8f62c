// sim::CountTimeline: per-bin counts in bounded memory.
#include <gtest/gtest.h>

#include "sim/count_timeline.h"

namespace {

TEST(CountTimeline, OneMsBinsWhileTheyFit) {
  sim::CountTimeline t;
  t.add(sim::us(500));
  t.add(sim::us(1500));
  t.add(sim::us(1900));
  EXPECT_EQ(t.bin(), sim::ms(1));
  ASSERT_EQ(t.counts().size(), 2u);
  EXPECT_EQ(t.counts()[0], 1u);
  EXPECT_EQ(t.counts()[1], 2u);
}

TEST(CountTimeline, LongRunsCoarsenAndKeepEveryCount) {
  sim::CountTimeline t;
  uint64_t n = 0;
  for (int ms = 0; ms < 600000; ms += 7, ++n) t.add(sim::ms(ms));  // 10 minutes
  EXPECT_LE(t.counts().size(), sim::CountTimeline::kMaxBins);
  EXPECT_EQ(t.bin(), sim::ms(256));  // 600000 / 256 = 2343 bins; 128 would need 4688
  uint64_t sum = 0;
  for (uint64_t c : t.counts()) sum += c;
  EXPECT_EQ(sum, n);
  // Reading at a coarser width adds neighbouring bins.
  EXPECT_EQ(t.count_in(sim::ms(512), 0), t.counts()[0] + t.counts()[1]);
}

}  // namespace
