// EEVDF 6.6+ (model/host/sched_eevdf.h): the average vruntime, eligibility (lag >= 0),
// virtual deadlines (vruntime + slice / weight), yield pushing the deadline, and the next
// buddy honoured only with NEXT_BUDDY or PICK_BUDDY and only when eligible.
#include <gtest/gtest.h>

#include "host/sched_eevdf.h"
#include "host/task.h"

namespace {

using host::Eevdf;
using host::SchedParams;
using host::Task;

struct T : Task {
  explicit T(const char* n) : Task(n) {}
  void run(host::Cpu&) override {}
};

constexpr uint64_t kMs = 1'000'000'000ull;

SchedParams params(bool next = false, bool pick = false) {
  SchedParams p;
  p.nr_cpus = 1;  // base slice 0.75 ms unscaled
  p.next_buddy = next;
  p.pick_buddy = pick;
  return p;
}

TEST(SchedEevdf, BaseSliceScalesLikeMinGranularity) {
  EXPECT_EQ(Eevdf(params()).base_slice(), static_cast<sim::Picos>(750'000'000));
  SchedParams p = params();
  p.nr_cpus = 8;
  EXPECT_EQ(Eevdf(p).base_slice(), static_cast<sim::Picos>(3 * kMs));
}

TEST(SchedEevdf, NewTasksGetHalfASliceDeadline) {
  Eevdf e(params());
  T a("a");
  e.enqueue(&a, false);
  EXPECT_EQ(a.vruntime, 0u);
  EXPECT_EQ(a.deadline, e.vslice(&a) / 2);
  EXPECT_EQ(e.vslice(&a), 750'000'000u);
}

TEST(SchedEevdf, AverageAndEligibility) {
  Eevdf e(params());
  T a("a"), b("b"), c("c");
  e.enqueue(&a, false);
  e.enqueue(&b, false);
  e.enqueue(&c, false);
  a.vruntime = 0;
  b.vruntime = 3 * kMs;
  c.vruntime = 6 * kMs;
  EXPECT_EQ(e.avg_vruntime(nullptr), static_cast<int64_t>(3 * kMs));
  EXPECT_TRUE(e.entity_eligible(&a, nullptr));
  EXPECT_TRUE(e.entity_eligible(&b, nullptr));  // lag exactly 0 is eligible
  EXPECT_FALSE(e.entity_eligible(&c, nullptr));
  // A running task counts in the average: curr at 12 ms lifts it to 5.25 ms.
  T curr("curr");
  curr.vruntime = 12 * kMs;
  EXPECT_EQ(e.avg_vruntime(&curr), static_cast<int64_t>(5250 * 1'000'000ull));
  EXPECT_TRUE(e.entity_eligible(&b, &curr));
  EXPECT_FALSE(e.entity_eligible(&c, &curr));
}

TEST(SchedEevdf, PickIsTheEarliestEligibleDeadline) {
  Eevdf e(params());
  T a("a"), b("b"), c("c");
  e.enqueue(&a, false);
  e.enqueue(&b, false);
  e.enqueue(&c, false);
  a.vruntime = 0;           a.deadline = 9 * kMs;
  b.vruntime = 1 * kMs;     b.deadline = 2 * kMs;
  c.vruntime = 8 * kMs;     c.deadline = 1 * kMs;   // earliest deadline but not eligible
  EXPECT_EQ(e.pick_eevdf(nullptr), &b);
}

TEST(SchedEevdf, YieldPushesTheDeadlineOneSlice) {
  Eevdf e(params());
  T curr("curr"), other("other");
  e.enqueue(&other, false);
  curr.deadline = 5 * kMs;
  e.yield_task(&curr);
  EXPECT_EQ(curr.deadline, 5 * kMs + e.vslice(&curr));
}

TEST(SchedEevdf, NextBuddyIgnoredWithoutTheFeatures) {
  for (int mode = 0; mode < 3; ++mode) {
    Eevdf e(params(mode == 1, mode == 2));
    T a("a"), target("target"), curr("curr");
    e.enqueue(&a, false);
    e.enqueue(&target, false);
    a.vruntime = 1 * kMs;       a.deadline = 2 * kMs;
    target.vruntime = 1 * kMs;  target.deadline = 4 * kMs;   // eligible, later deadline
    curr.vruntime = 1 * kMs;    curr.deadline = 3 * kMs;
    ASSERT_TRUE(e.yield_to_task(&curr, &target, e));
    EXPECT_EQ(e.pick_eevdf(nullptr), mode == 0 ? &a : &target) << "mode " << mode;
  }
}

TEST(SchedEevdf, AnIneligibleBuddyIsNotPickedEvenWithPickBuddy) {
  Eevdf e(params(false, true));
  T a("a"), target("target");
  e.enqueue(&a, false);
  e.enqueue(&target, false);
  a.vruntime = 0;            a.deadline = 5 * kMs;
  target.vruntime = 10 * kMs; target.deadline = 11 * kMs;  // positive lag needed: it has none
  e.set_next_buddy(&target);
  EXPECT_EQ(e.pick_eevdf(nullptr), &a);
}

TEST(SchedEevdf, DeadlineRenewsWhenPassed) {
  Eevdf e(params());
  T curr("curr"), other("other");
  e.enqueue(&other, false);
  curr.vruntime = 0;
  curr.deadline = 1 * kMs;
  e.update_curr(&curr, static_cast<sim::Picos>(kMs / 2));
  EXPECT_FALSE(e.tick_preempt(&curr));
  e.update_curr(&curr, static_cast<sim::Picos>(kMs / 2));
  EXPECT_EQ(curr.deadline, 1 * kMs + e.vslice(&curr));
  EXPECT_TRUE(e.tick_preempt(&curr));
}

TEST(SchedEevdf, SleeperKeepsItsLag) {
  Eevdf e(params());
  T a("a"), b("b");
  e.enqueue(&a, false);
  b.vruntime = 0;
  e.update_curr(&b, 0);
  a.vruntime = 4 * kMs;  // queued, ahead
  // b blocks while 2 ms behind the average of {a, b}: lag +2 ms.
  e.curr_blocked(&b);
  EXPECT_EQ(b.vlag, static_cast<int64_t>(std::min<uint64_t>(2 * kMs, 2 * e.vslice(&b))));
}

}  // namespace
