// Halt-polling window arithmetic (model/kvm/halt_poll.h) against the rules of
// /work/shared/reference/kvm-mechanisms.md §6 (virt/kvm/kvm_main.c grow_halt_poll_ns,
// shrink_halt_poll_ns and the update at the end of kvm_vcpu_halt). Expected values are
// worked out from those rules by hand, not read back from the implementation.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "kvm/halt_poll.h"

namespace {

using kvm::grow_halt_poll_ns;
using kvm::HaltPollParams;
using kvm::shrink_halt_poll_ns;
using kvm::update_halt_poll_ns;

// The x86 defaults: halt_poll_ns 200000, grow 2, grow_start 10000, shrink 2.
HaltPollParams defaults() { return HaltPollParams{200000, 2, 10000, 2}; }

// ---------------------------------------------------------------------------------------
// grow: poll = max(poll * grow, grow_start), capped at max

TEST(HaltPoll, DefaultsAreTheKernelDefaults) {
  const HaltPollParams p;
  EXPECT_EQ(p.max_ns, 200000u);
  EXPECT_EQ(p.grow, 2u);
  EXPECT_EQ(p.grow_start, 10000u);
  EXPECT_EQ(p.shrink, 2u);
}

TEST(HaltPoll, GrowFromZeroStartsAtGrowStart) {
  EXPECT_EQ(grow_halt_poll_ns(0, defaults()), 10000u);
}

TEST(HaltPoll, GrowBelowGrowStartIsRaisedToGrowStart) {
  // 3000 * 2 = 6000 < 10000.
  EXPECT_EQ(grow_halt_poll_ns(3000, defaults()), 10000u);
}

TEST(HaltPoll, GrowMultiplies) {
  EXPECT_EQ(grow_halt_poll_ns(10000, defaults()), 20000u);
  EXPECT_EQ(grow_halt_poll_ns(40000, defaults()), 80000u);
  HaltPollParams p = defaults();
  p.grow = 3;
  EXPECT_EQ(grow_halt_poll_ns(20000, p), 60000u);
}

TEST(HaltPoll, GrowIsCappedAtMax) {
  EXPECT_EQ(grow_halt_poll_ns(160000, defaults()), 200000u);  // 320000 -> 200000
  EXPECT_EQ(grow_halt_poll_ns(200000, defaults()), 200000u);
  HaltPollParams p = defaults();
  p.max_ns = 50000;
  EXPECT_EQ(grow_halt_poll_ns(40000, p), 50000u);
}

// ---------------------------------------------------------------------------------------
// shrink: poll /= shrink; below grow_start -> 0; shrink 0 -> 0

TEST(HaltPoll, ShrinkDivides) {
  EXPECT_EQ(shrink_halt_poll_ns(200000, defaults()), 100000u);
  EXPECT_EQ(shrink_halt_poll_ns(40000, defaults()), 20000u);
  HaltPollParams p = defaults();
  p.shrink = 4;
  EXPECT_EQ(shrink_halt_poll_ns(200000, p), 50000u);
}

TEST(HaltPoll, ShrinkBelowGrowStartGoesToZero) {
  EXPECT_EQ(shrink_halt_poll_ns(15000, defaults()), 0u);  // 7500 < 10000
  EXPECT_EQ(shrink_halt_poll_ns(20000, defaults()), 10000u);  // exactly grow_start stays
  EXPECT_EQ(shrink_halt_poll_ns(0, defaults()), 0u);
}

TEST(HaltPoll, ShrinkZeroResetsToZero) {
  HaltPollParams p = defaults();
  p.shrink = 0;  // the behaviour before ~6.9
  EXPECT_EQ(shrink_halt_poll_ns(200000, p), 0u);
  EXPECT_EQ(shrink_halt_poll_ns(80000, p), 0u);
}

// ---------------------------------------------------------------------------------------
// update after a halt of halt_ns

TEST(HaltPoll, UpdateInvalidWakeupShrinks) {
  // Even a halt the poll would have caught shrinks when the wake-up was not a real event.
  EXPECT_EQ(update_halt_poll_ns(100000, 50000, /*valid=*/false, defaults()), 50000u);
  EXPECT_EQ(update_halt_poll_ns(100000, 500000, false, defaults()), 50000u);
  EXPECT_EQ(update_halt_poll_ns(15000, 1000, false, defaults()), 0u);
}

TEST(HaltPoll, UpdateHaltWithinPollKeepsTheWindow) {
  EXPECT_EQ(update_halt_poll_ns(100000, 5000, true, defaults()), 100000u);
  EXPECT_EQ(update_halt_poll_ns(100000, 100000, true, defaults()), 100000u);  // halt_ns == poll
  EXPECT_EQ(update_halt_poll_ns(200000, 199999, true, defaults()), 200000u);
}

TEST(HaltPoll, UpdateHaltLongerThanMaxShrinks) {
  EXPECT_EQ(update_halt_poll_ns(100000, 300000, true, defaults()), 50000u);
  EXPECT_EQ(update_halt_poll_ns(200000, 200001, true, defaults()), 100000u);
}

TEST(HaltPoll, UpdateLongHaltWithNoPollingStaysZero) {
  // poll == 0: the shrink rule needs poll != 0, and halt_ns >= max blocks growing.
  EXPECT_EQ(update_halt_poll_ns(0, 300000, true, defaults()), 0u);
  EXPECT_EQ(update_halt_poll_ns(0, 200000, true, defaults()), 0u);
}

TEST(HaltPoll, UpdateShortHaltGrows) {
  EXPECT_EQ(update_halt_poll_ns(0, 1, true, defaults()), 10000u);
  EXPECT_EQ(update_halt_poll_ns(20000, 150000, true, defaults()), 40000u);
  EXPECT_EQ(update_halt_poll_ns(160000, 199999, true, defaults()), 200000u);  // capped
}

TEST(HaltPoll, UpdateHaltOfExactlyMaxIsNeitherShortNorLong) {
  // halt_ns == max: not > max (no shrink) and not < max (no grow).
  EXPECT_EQ(update_halt_poll_ns(100000, 200000, true, defaults()), 100000u);
}

TEST(HaltPoll, UpdateClampsAWindowAboveMaxFirst) {
  // kvm_vcpu_halt clamps vcpu->halt_poll_ns to the current max before polling.
  EXPECT_EQ(update_halt_poll_ns(400000, 1000, true, defaults()), 200000u);
}

TEST(HaltPoll, UpdateWithMaxZeroDisablesPolling) {
  HaltPollParams p = defaults();
  p.max_ns = 0;
  EXPECT_EQ(update_halt_poll_ns(0, 1000, true, p), 0u);
  EXPECT_EQ(update_halt_poll_ns(50000, 1000, true, p), 0u);
}

TEST(HaltPoll, SequenceOfShortHaltsGrowsToMaxThenALongHaltShrinks) {
  const HaltPollParams p = defaults();
  // Halts a little shorter than max but longer than any window below max.
  const uint64_t short_halt = 199000;
  const std::vector<uint64_t> expected = {10000, 20000, 40000, 80000, 160000, 200000, 200000, 200000};
  uint64_t poll = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    poll = update_halt_poll_ns(poll, short_halt, true, p);
    EXPECT_EQ(poll, expected[i]) << "after short halt " << i + 1;
  }
  poll = update_halt_poll_ns(poll, 1000000, true, p);  // 1 ms: too long to poll for
  EXPECT_EQ(poll, 100000u);
  poll = update_halt_poll_ns(poll, 1000000, true, p);
  EXPECT_EQ(poll, 50000u);
}

TEST(HaltPoll, SequenceOfLongHaltsShrinksToZero) {
  const HaltPollParams p = defaults();
  uint64_t poll = 200000;
  const std::vector<uint64_t> expected = {100000, 50000, 25000, 12500, 0, 0};
  for (size_t i = 0; i < expected.size(); ++i) {
    poll = update_halt_poll_ns(poll, 5000000, true, p);
    EXPECT_EQ(poll, expected[i]) << "after long halt " << i + 1;
  }
}

}  // namespace
