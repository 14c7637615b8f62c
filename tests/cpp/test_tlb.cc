// The core's TLB model: contexts tagged by VPID, EPTP and PCID; invalidation by INVLPG,
// INVVPID and INVEPT; LRU eviction; and the generation a use reports.
#include <gtest/gtest.h>

#include "hw/tlb.h"

namespace {

using hw::Tlb;

TEST(Tlb, HitKeepsTheGenerationOfTheFill) {
  Tlb t;
  bool miss = false;
  EXPECT_EQ(t.access(1, 0x1000, 7, 5, &miss), 5u);
  EXPECT_TRUE(miss);
  EXPECT_EQ(t.access(1, 0x1000, 7, 9, &miss), 5u);  // the old translation is still cached
  EXPECT_FALSE(miss);
}

TEST(Tlb, ContextsAreTaggedByVpidEptpAndPcid) {
  Tlb t;
  t.access(1, 0x1000, 7, 1);
  EXPECT_EQ(t.access(2, 0x1000, 7, 2), 2u);  // another VPID: its own fill
  EXPECT_EQ(t.access(1, 0x2000, 7, 3), 3u);  // same VPID, another VM's EPT root
  EXPECT_EQ(t.access(1, 0x1000, 8, 4), 4u);  // another PCID
  EXPECT_EQ(t.access(1, 0x1000, 7, 9), 1u);
}

TEST(Tlb, InvalidationsDropExactlyTheirContexts) {
  Tlb t;
  t.access(1, 0x1000, 7, 1);
  t.access(1, 0x1000, 8, 1);
  t.access(2, 0x1000, 7, 1);
  t.access(1, 0x2000, 7, 1);
  t.flush_context(1, 0x1000, 7);  // INVLPG: the current context only
  EXPECT_EQ(t.access(1, 0x1000, 7, 2), 2u);
  EXPECT_EQ(t.access(1, 0x1000, 8, 2), 1u);
  t.invvpid_single(1);  // every context of VPID 1, whatever the EPTP or PCID
  EXPECT_EQ(t.access(1, 0x1000, 8, 3), 3u);
  EXPECT_EQ(t.access(1, 0x2000, 7, 3), 3u);
  EXPECT_EQ(t.access(2, 0x1000, 7, 3), 1u);
  t.invept_single(0x1000);
  EXPECT_EQ(t.access(2, 0x1000, 7, 4), 4u);
  EXPECT_EQ(t.access(1, 0x2000, 7, 4), 3u);
}

TEST(Tlb, FullTableEvictsTheLeastRecentlyUsed) {
  Tlb t;
  for (int i = 0; i < Tlb::kContexts; ++i) t.access(static_cast<uint16_t>(i + 1), 0, 0, 1);
  t.access(1, 0, 0, 1);                     // VPID 1 becomes the most recent
  t.access(100, 0, 0, 2);                    // evicts VPID 2
  bool miss = false;
  EXPECT_EQ(t.access(1, 0, 0, 3, &miss), 1u);
  EXPECT_FALSE(miss);
  EXPECT_EQ(t.access(2, 0, 0, 3, &miss), 3u);
  EXPECT_TRUE(miss);
}

}  // namespace
