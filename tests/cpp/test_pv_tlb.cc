// TLB shootdowns and PV TLB flush end to end (issue 6): the ebizzy model with and without
// PV flush under overcommit, and invariant.stale_tlb_uses catching the CVE-2019-3016
// variant of record_steal_time while staying 0 on the fixed path.
#include <gtest/gtest.h>

#include <string>

#include "guest/pv_sched_yield.h"
#include "run_helpers.h"

namespace {

using testutil::metric;

// Two 32-vCPU VMs sharing 32 CPUs (2x overcommit), ebizzy in both.
run::RunResult ebizzy(const std::vector<std::string>& sets) {
  const std::string yaml =
      "name: t\nplatform: xeon-gold-6142\nrun: {progress: false, max_sim_ms: 500}\n"
      "vm: {vcpus: 32, count: 2}\nhost: {skew_tick: true}\nguest: {ipi_mode: x2apic_cluster}\n"
      "workload: {kind: ebizzy}\nebizzy: {duration_ms: 30}\n";
  return run::run_scenario(testutil::scenario(yaml, sets));
}

TEST(PvTlbFlush, DefersFlushesOfPreemptedVcpusAndRaisesThroughput) {
  const auto pv = ebizzy({"guest.pv_tlb_flush=true"});
  const auto native = ebizzy({"guest.pv_tlb_flush=false"});
  EXPECT_EQ(metric(pv, "invariant.stale_tlb_uses"), 0.0);
  EXPECT_EQ(metric(native, "invariant.stale_tlb_uses"), 0.0);
  // PV: preempted targets are marked instead of interrupted, and KVM flushed them at entry.
  EXPECT_GT(metric(pv, "tlb.pv_flush_deferred"), 100.0);
  EXPECT_GT(metric(pv, "steal_time.flush_requests_seen"), 10.0);
  EXPECT_EQ(metric(native, "tlb.pv_flush_deferred"), 0.0);
  // Native: shootdowns that hit a preempted target wait for the host to run it again.
  EXPECT_GT(metric(native, "tlb.shootdown_us.mean"), 1.5 * metric(pv, "tlb.shootdown_us.mean"));
  EXPECT_GT(metric(native, "tlb.shootdown_slow_pct"), 2.0 * metric(pv, "tlb.shootdown_slow_pct"));
  EXPECT_GT(metric(pv, "ebizzy.records_per_s"), 1.08 * metric(native, "ebizzy.records_per_s"));
  EXPECT_GT(metric(pv, "vm1.ebizzy.records_per_s"), 1.08 * metric(native, "vm1.ebizzy.records_per_s"));
}

// The broken record_steal_time: a flush request a guest adds between the host's read and
// its write-back is lost; the vCPU then runs on translations older than a flush that has
// already returned. Eight threads with large chunks make shootdowns rare enough that a
// preempted vCPU is often still unmarked when it is scheduled in, and a record_steal_time
// cost of 2M cycles widens the window (the race itself is the mechanism's, not the cost's).
TEST(PvTlbFlush, StaleTlbInvariantCatchesTheCve2019_3016Race) {
  const std::vector<std::string> sets = {"vm.count=2", "ebizzy.threads=8", "ebizzy.chunk_kib=8192",
                                         "ebizzy.duration_ms=400", "cost.kvm.record_steal_time=2000000"};
  const std::string yaml =
      "name: t\nplatform: xeon-gold-6142\nrun: {progress: false, max_sim_ms: 1000}\nvm: {vcpus: 64}\n"
      "workload: {kind: ebizzy}\n";
  auto broken = sets;
  broken.push_back("kvm.steal_time_nonatomic_clear=true");
  const auto bad = run::run_scenario(testutil::scenario(yaml, broken));
  EXPECT_GT(metric(bad, "invariant.stale_tlb_uses"), 0.0);
  const auto it = bad.files.find("stale_tlb_first_violation.txt");
  ASSERT_NE(it, bad.files.end());
  EXPECT_NE(it->second.find("KVM_VCPU_FLUSH_TLB"), std::string::npos) << it->second;
  EXPECT_NE(it->second.find("returned at"), std::string::npos) << it->second;
  const auto good = run::run_scenario(testutil::scenario(yaml, sets));
  EXPECT_EQ(metric(good, "invariant.stale_tlb_uses"), 0.0);
  EXPECT_GT(metric(good, "tlb.shootdowns"), 50.0);
}

TEST(PvTlbFlush, NeedsStealTime) {
  EXPECT_THROW(run::run_scenario(testutil::scenario("name: t\nrun: {progress: false}\nworkload: {kind: idle}\n",
                                                    {"guest.steal_time=false", "guest.pv_tlb_flush=true"})),
               sim::ConfigError);
}

}  // namespace

namespace {

// fault.inject=lost_tlb_flush: KVM forgets one KVM_VCPU_FLUSH_TLB request; the vCPU then
// may use translations older than a flush its initiator saw return. A forgotten flush only
// shows when that vCPU touches the mm again before something else flushes its context (a
// local flush, or eviction by the other VM sharing the core), so not every seed exposes it:
// some must, and each exposed use is reported.
TEST(PvTlbFlush, ForgottenFlushRequestIsCaught) {
  int caught = 0;
  for (int seed = 1; seed <= 6; ++seed) {
    const auto r = ebizzy({"guest.pv_tlb_flush=true", "fault.inject=lost_tlb_flush", "fault.at_ms=0", "seed=" + std::to_string(seed)});
    if (metric(r, "invariant.stale_tlb_uses") == 0) continue;
    ++caught;
    bool listed = false;
    for (const auto& v : r.summary["first_violations"])
      if (v["invariant"] == "stale_tlb_uses") listed = true;
    EXPECT_TRUE(listed) << "seed " << seed;
  }
  EXPECT_GT(caught, 0);
}

}  // namespace

namespace {

// kvm_guest_init: PV TLB flush and PV sched yield need steal time, more than one CPU, no
// KVM_HINTS_REALTIME and no MWAIT in CPUID; each condition alone switches both off.
TEST(PvFeatures, SwitchOffWithMwaitRealtimeHintNoStealTimeOrOneCpu) {
  guest::PvOffer o;
  o.want_pv_sched_yield = true;
  o.possible_cpus = 4;
  EXPECT_TRUE(guest::kvm_guest_init(o).pv_tlb_flush);
  EXPECT_TRUE(guest::kvm_guest_init(o).pv_sched_yield);
  for (int c = 0; c < 4; ++c) {
    guest::PvOffer b = o;
    if (c == 0) b.mwait = true;
    if (c == 1) b.hints_realtime = true;
    if (c == 2) b.steal_time = false;
    if (c == 3) b.possible_cpus = 1;
    EXPECT_FALSE(guest::kvm_guest_init(b).pv_tlb_flush) << c;
    EXPECT_FALSE(guest::kvm_guest_init(b).pv_sched_yield) << c;
  }
}

// In a run: with MWAIT passthrough the guest uses neither (no deferred flush, no yield).
TEST(PvFeatures, MwaitPassthroughTurnsOffPvTlbFlushAndPvSchedYieldInARun) {
  const std::vector<std::string> on = {"guest.pv_sched_yield=true"};
  std::vector<std::string> mwait = on;
  mwait.push_back("kvm.disable_exits=[mwait]");
  const auto a = ebizzy(on);
  const auto b = ebizzy(mwait);
  EXPECT_EQ(metric(a, "tlb.pv_flush"), 1.0);
  EXPECT_GT(metric(a, "tlb.pv_sched_yields"), 0.0);
  EXPECT_EQ(metric(b, "tlb.pv_flush"), 0.0);
  EXPECT_EQ(metric(b, "tlb.pv_flush_deferred"), 0.0);
  EXPECT_EQ(metric(b, "tlb.pv_sched_yields"), 0.0);
}

}  // namespace
