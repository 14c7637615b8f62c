// PAUSE-loop-exiting window arithmetic (model/kvm/ple.h) with kvm_intel's defaults:
// ple_window 4096, ple_window_grow 2, ple_window_shrink 0, ple_window_max UINT_MAX.
// Expected values come from the pseudocode of /work/shared/reference/kvm-mechanisms.md §1:
//
//   grow(val, base, mod, max):   if mod < 1: return base
//                                new = val*mod if mod < base else val+mod;  return min(new, max)
//   shrink(val, base, mod, min): if mod < 1: return base
//                                new = val/mod if mod < base else val-mod;  return max(new, min)
//
// in unsigned 64-bit arithmetic (so growing near UINT_MAX saturates instead of wrapping).
#include <gtest/gtest.h>

#include <climits>
#include <cstdint>

#include "kvm/params.h"
#include "kvm/ple.h"

namespace {

using kvm::grow_ple_window;
using kvm::shrink_ple_window;

constexpr uint32_t kBase = 4096;
constexpr uint32_t kGrow = 2;
constexpr uint32_t kShrink = 0;
constexpr uint32_t kMax = UINT_MAX;

TEST(PleWindow, KvmParamsCarryTheKernelDefaults) {
  const kvm::KvmParams p;
  EXPECT_EQ(p.ple_gap, 128u);
  EXPECT_EQ(p.ple_window, kBase);
  EXPECT_EQ(p.ple_window_grow, kGrow);
  EXPECT_EQ(p.ple_window_shrink, kShrink);
  EXPECT_EQ(p.ple_window_max, kMax);
}

TEST(PleWindow, GrowDoubles) {
  EXPECT_EQ(grow_ple_window(4096, kBase, kGrow, kMax), 8192u);
  EXPECT_EQ(grow_ple_window(8192, kBase, kGrow, kMax), 16384u);
  EXPECT_EQ(grow_ple_window(1000, kBase, kGrow, kMax), 2000u);  // below base: still doubles
}

TEST(PleWindow, GrowRepeatedlyFromBase) {
  uint32_t w = kBase;
  for (int i = 1; i <= 10; ++i) {
    w = grow_ple_window(w, kBase, kGrow, kMax);
    EXPECT_EQ(w, kBase << i) << "after grow " << i;
  }
}

TEST(PleWindow, GrowWithModifierAtOrAboveBaseAdds) {
  // mod >= base: new = val + mod.
  EXPECT_EQ(grow_ple_window(10000, kBase, 4096, kMax), 14096u);  // mod == base adds (would be 40960 multiplied)
  EXPECT_EQ(grow_ple_window(10000, kBase, 5000, kMax), 15000u);
  EXPECT_EQ(grow_ple_window(4096, kBase, 100000, kMax), 104096u);
  // mod just below base still multiplies.
  EXPECT_EQ(grow_ple_window(10, kBase, 4095, kMax), 40950u);
}

TEST(PleWindow, GrowWithModifierZeroResetsToBase) {
  EXPECT_EQ(grow_ple_window(100000, kBase, 0, kMax), kBase);
  EXPECT_EQ(grow_ple_window(10, kBase, 0, kMax), kBase);
}

TEST(PleWindow, GrowIsCappedAtMax) {
  EXPECT_EQ(grow_ple_window(40000, kBase, kGrow, 65536), 65536u);
  EXPECT_EQ(grow_ple_window(30000, kBase, kGrow, 65536), 60000u);
  EXPECT_EQ(grow_ple_window(65536, kBase, kGrow, 65536), 65536u);
  EXPECT_EQ(grow_ple_window(60000, kBase, 8192, 65536), 65536u);  // additive, capped
}

TEST(PleWindow, GrowNearUintMaxDoesNotOverflow) {
  // In 32-bit arithmetic 0x80000000 * 2 would wrap to 0; in u64 it is capped at max.
  EXPECT_EQ(grow_ple_window(0x80000000u, kBase, kGrow, kMax), kMax);
  EXPECT_EQ(grow_ple_window(0xF0000000u, kBase, kGrow, kMax), kMax);
  EXPECT_EQ(grow_ple_window(kMax, kBase, kGrow, kMax), kMax);
  EXPECT_EQ(grow_ple_window(kMax - 10, kBase, 5000, kMax), kMax);  // additive: would wrap to 4989
  EXPECT_EQ(grow_ple_window(0x7FFFFFFFu, kBase, kGrow, kMax), 0xFFFFFFFEu);  // just fits
}

TEST(PleWindow, ShrinkWithModifierZeroResetsToBase) {
  // The default ple_window_shrink = 0.
  EXPECT_EQ(shrink_ple_window(1u << 20, kBase, kShrink, kBase), kBase);
  EXPECT_EQ(shrink_ple_window(kMax, kBase, kShrink, kBase), kBase);
}

TEST(PleWindow, ShrinkDividesWhenModifierBelowBase) {
  EXPECT_EQ(shrink_ple_window(65536, kBase, 2, kBase), 32768u);
  EXPECT_EQ(shrink_ple_window(65536, kBase, 4, kBase), 16384u);
  EXPECT_EQ(shrink_ple_window(65536, kBase, 4095, 0), 16u);  // 65536 / 4095 = 16
}

TEST(PleWindow, ShrinkSubtractsWhenModifierAtOrAboveBase) {
  EXPECT_EQ(shrink_ple_window(65536, kBase, 4096, kBase), 61440u);
  EXPECT_EQ(shrink_ple_window(65536, kBase, 10000, kBase), 55536u);
}

TEST(PleWindow, ShrinkIsFlooredAtMin) {
  EXPECT_EQ(shrink_ple_window(6000, kBase, 2, kBase), kBase);     // 3000 -> 4096
  EXPECT_EQ(shrink_ple_window(5000, kBase, 4096, kBase), kBase);  // 904 -> 4096
  EXPECT_EQ(shrink_ple_window(8192, kBase, 2, kBase), kBase);     // exactly min
  EXPECT_EQ(shrink_ple_window(9000, kBase, 2, 1000), 4500u);      // above a lower min
}

TEST(PleWindow, GrowThenShrinkRoundTrip) {
  uint32_t w = kBase;
  for (int i = 0; i < 5; ++i) w = grow_ple_window(w, kBase, kGrow, kMax);
  EXPECT_EQ(w, 131072u);
  for (int i = 0; i < 5; ++i) w = shrink_ple_window(w, kBase, 2, kBase);
  EXPECT_EQ(w, kBase);
  w = shrink_ple_window(w, kBase, 2, kBase);
  EXPECT_EQ(w, kBase);
}

}  // namespace
