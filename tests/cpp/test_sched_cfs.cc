// CFS <= 6.5 (model/host/sched_cfs.h): tunable scaling, pick_next_entity's buddy checks,
// yield_to_task_fair, and seed 003's deboost. Numbers from kernel/sched/fair.c as the
// reference (kvm-mechanisms.md §1) summarises it:
//   wakeup_preempt_entity(a, b): d = a.vruntime - b.vruntime; -1 if d <= 0; 1 if d > gran; else 0
//   gran = wakeup_granularity (1 ms) * (1 + ilog2(min(ncpus, 8)))
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "host/sched_cfs.h"
#include "host/task.h"

namespace {

using host::Cfs;
using host::SchedParams;
using host::Task;

struct T : Task {
  explicit T(const char* n, uint64_t vr, const void* vm = nullptr) : Task(n) {
    vruntime = vr;
    this->vm = vm;
  }
  void run(host::Cpu&) override {}
};

SchedParams params(int cpus, bool deboost = false) {
  SchedParams p;
  p.nr_cpus = cpus;
  p.ishiguro_deboost = deboost;
  return p;
}

constexpr uint64_t kMs = 1'000'000'000ull;  // ps

TEST(SchedCfs, TunablesScaleWithLogOfCpusCappedAtEight) {
  EXPECT_EQ(host::sched_tunable_factor(params(1)), 1u);
  EXPECT_EQ(host::sched_tunable_factor(params(2)), 2u);
  EXPECT_EQ(host::sched_tunable_factor(params(4)), 3u);
  EXPECT_EQ(host::sched_tunable_factor(params(8)), 4u);
  EXPECT_EQ(host::sched_tunable_factor(params(80)), 4u);
  Cfs c(params(8));
  EXPECT_EQ(c.sched_latency(), 24 * static_cast<sim::Picos>(kMs));
  EXPECT_EQ(c.min_granularity(), 3 * static_cast<sim::Picos>(kMs));
  EXPECT_EQ(c.wakeup_granularity(), 4 * static_cast<sim::Picos>(kMs));
  SchedParams lin = params(8);
  lin.tunable_scaling = SchedParams::Scaling::Linear;
  EXPECT_EQ(host::sched_tunable_factor(lin), 8u);
}

TEST(SchedCfs, WakeupPreemptEntityThreeWay) {
  Cfs c(params(8));  // gran 4 ms
  T a("a", 10 * kMs), b("b", 10 * kMs);
  EXPECT_EQ(c.wakeup_preempt_entity(&a, &b), -1);  // equal: not ahead
  a.vruntime = 14 * kMs;
  EXPECT_EQ(c.wakeup_preempt_entity(&a, &b), 0);   // exactly gran ahead: 0
  a.vruntime = 14 * kMs + 1;
  EXPECT_EQ(c.wakeup_preempt_entity(&a, &b), 1);
}

TEST(SchedCfs, PickNextEntityTakesLeftmostWithoutBuddies) {
  Cfs c(params(8));
  T a("a", 5 * kMs), b("b", 3 * kMs), d("d", 9 * kMs);
  c.enqueue(&a, false);
  c.enqueue(&b, false);
  c.enqueue(&d, false);
  EXPECT_EQ(c.pick_next_entity(), &b);
}

TEST(SchedCfs, EqualVruntimesPickInInsertionOrder) {
  Cfs c(params(8));
  T a("a", kMs), b("b", kMs);
  c.enqueue(&a, false);
  c.enqueue(&b, false);
  EXPECT_EQ(c.pick_next_entity(), &a);
}

TEST(SchedCfs, NextBuddyWithinGranularityIsPicked) {
  Cfs c(params(8));
  T left("left", 10 * kMs), target("target", 13 * kMs);
  c.enqueue(&left, false);
  c.enqueue(&target, false);
  c.set_next_buddy(&target);
  EXPECT_EQ(c.pick_next_entity(), &target);
}

TEST(SchedCfs, NextBuddyBeyondGranularityIsIgnored) {
  // Seed 003 problem 1: the hint loses to a leftmost more than gran behind it.
  Cfs c(params(8));
  T left("left", 10 * kMs), target("target", 15 * kMs);
  c.enqueue(&left, false);
  c.enqueue(&target, false);
  c.set_next_buddy(&target);
  EXPECT_EQ(c.pick_next_entity(), &left);
  EXPECT_EQ(c.pick_next(), &left);
  EXPECT_EQ(c.stats.next_buddy_ignored, 1u);
  EXPECT_EQ(c.next_buddy(), &target);  // clear_buddies only clears the picked entity
}

TEST(SchedCfs, SkipBuddyGivesWayToACloseSecond) {
  Cfs c(params(8));
  T skip("skip", 10 * kMs), second("second", 12 * kMs), far("far", 30 * kMs);
  c.enqueue(&skip, false);
  c.enqueue(&second, false);
  c.enqueue(&far, false);
  c.set_skip_buddy(&skip);
  EXPECT_EQ(c.pick_next_entity(), &second);
  second.vruntime = 20 * kMs;  // now more than gran ahead of the skipped leftmost
  EXPECT_EQ(c.pick_next_entity(), &skip);
}

TEST(SchedCfs, YieldToSetsNextAndSkipBuddies) {
  Cfs c(params(8));
  T curr("curr", 10 * kMs), target("target", 11 * kMs), other("other", 10 * kMs + 1);
  c.enqueue(&target, false);
  c.enqueue(&other, false);
  ASSERT_TRUE(c.yield_to_task(&curr, &target, c));
  EXPECT_EQ(c.next_buddy(), &target);
  EXPECT_EQ(c.skip_buddy(), &curr);
  c.enqueue(&curr, false);  // schedule(): put_prev
  EXPECT_EQ(c.pick_next(), &target);
  EXPECT_EQ(c.next_buddy(), nullptr);
}

TEST(SchedCfs, YieldToRefusesATaskNotQueued) {
  Cfs c(params(8));
  T curr("curr", 0), target("target", 0);
  EXPECT_FALSE(c.yield_to_task(&curr, &target, c));
}

// pick_next_entity with and without seed 003's deboost: the yielder (left) is far behind
// its sibling vCPU, so without the patch the next-buddy hint is ignored.
TEST(SchedCfs, DeboostLetsTheHintPassPickNextEntity) {
  int vm = 0;
  for (bool deboost : {false, true}) {
    Cfs c(params(8, deboost));
    T yielder("yielder", 10 * kMs, &vm), target("target", 20 * kMs, &vm), other("other", 21 * kMs);
    c.enqueue(&target, false);
    c.enqueue(&other, false);
    ASSERT_TRUE(c.yield_to_task(&yielder, &target, c));
    c.enqueue(&yielder, false);
    if (deboost) {
      EXPECT_EQ(yielder.vruntime, 16 * kMs) << "target - gran";
      EXPECT_EQ(c.stats.deboosts, 1u);
      EXPECT_EQ(c.pick_next_entity(), &target);
    } else {
      EXPECT_EQ(yielder.vruntime, 10 * kMs);
      EXPECT_EQ(c.pick_next_entity(), &yielder);  // skip: second (target) is 10 ms ahead
    }
  }
}

TEST(SchedCfs, DeboostNeedsTheSameVmAndTheSameQueue) {
  int vm_a = 0, vm_b = 0;
  Cfs c(params(8, true)), remote(params(8, true));
  T yielder("yielder", 10 * kMs, &vm_a), other_vm("other_vm", 20 * kMs, &vm_b), sibling("sibling", 20 * kMs, &vm_a);
  c.enqueue(&other_vm, false);
  remote.enqueue(&sibling, false);
  ASSERT_TRUE(c.yield_to_task(&yielder, &other_vm, c));
  ASSERT_TRUE(c.yield_to_task(&yielder, &sibling, remote));
  EXPECT_EQ(yielder.vruntime, 10 * kMs);
  EXPECT_EQ(c.stats.deboosts, 0u);
  EXPECT_EQ(remote.next_buddy(), &sibling);
}

TEST(SchedCfs, WakeupPlacementGivesAtMostHalfALatencyOfCredit) {
  Cfs c(params(1));  // latency 6 ms
  T curr("curr", 0);
  c.update_curr(&curr, static_cast<sim::Picos>(100 * kMs));
  EXPECT_EQ(c.min_vruntime(), 100 * kMs);
  T sleeper("sleeper", 0);
  c.enqueue(&sleeper, true);
  EXPECT_EQ(sleeper.vruntime, 97 * kMs);
  EXPECT_TRUE(c.wakeup_preempt(&curr, &sleeper));  // 3 ms behind > 1 ms gran
  EXPECT_EQ(c.next_buddy(), &sleeper);
}

TEST(SchedCfs, TickPreemptsAfterTheSlice) {
  Cfs c(params(1));  // latency 6 ms, two tasks: 3 ms slices
  T curr("curr", 0), other("other", 0);
  c.enqueue(&other, false);
  curr.sum_exec = static_cast<sim::Picos>(2 * kMs);
  EXPECT_FALSE(c.tick_preempt(&curr));
  curr.sum_exec = static_cast<sim::Picos>(3 * kMs + 1);
  EXPECT_TRUE(c.tick_preempt(&curr));
}

}  // namespace
