// struct kvm_steal_time: the preempted byte's protocol between the guest's cmpxchg
// (kvm_flush_tlb_multi) and the host's set_preempted / record_steal_time, over every
// interleaving of their steps, with the atomic xchg (fixed) and the non-atomic
// read/write-back of CVE-2019-3016 (broken); the version protocol of kvm_steal_clock;
// and the timed API the simulation uses.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "kvm/steal_time.h"

namespace {

using kvm::KVM_VCPU_FLUSH_TLB;
using kvm::KVM_VCPU_PREEMPTED;
using kvm::StealTime;

// Every way to merge a steps of one agent with b steps of the other: true = host step.
std::vector<std::vector<bool>> interleavings(int a_host, int b_guest) {
  std::vector<std::vector<bool>> out;
  std::vector<bool> seq(static_cast<size_t>(a_host + b_guest), false);
  std::fill(seq.begin(), seq.begin() + a_host, true);
  std::sort(seq.begin(), seq.end());
  do out.push_back(seq);
  while (std::next_permutation(seq.begin(), seq.end()));
  return out;
}

struct Outcome {
  bool guest_skipped_ipi = false;  // the guest's cmpxchg succeeded: it relies on the host
  bool host_flushed = false;       // record_steal_time saw FLUSH_TLB
  bool ran_preempted_flag = false; // the vCPU runs with PREEMPTED still visible
};

// Host: set_preempted (sched-out), then record_steal_time at the next entry (one xchg step,
// or read-copy + write-back). Guest on another vCPU: read the byte, then cmpxchg it.
Outcome run(const std::vector<bool>& order, bool atomic) {
  StealTime st;
  st.enabled = true;
  int h = 0, g = 0;
  uint8_t seen = 0;
  Outcome o;
  uint8_t host_old = 0;
  for (bool host : order) {
    if (host) {
      if (h == 0) st.host_set_preempted();
      else if (atomic) host_old = st.host_xchg_clear();
      else if (h == 1) host_old = st.host_read_copy();
      else st.host_write_back();
      ++h;
    } else {
      if (g == 0) seen = st.preempted;
      else if (seen & KVM_VCPU_PREEMPTED) o.guest_skipped_ipi = st.guest_cmpxchg(seen, seen | KVM_VCPU_FLUSH_TLB);
      ++g;
    }
  }
  o.host_flushed = host_old & KVM_VCPU_FLUSH_TLB;
  o.ran_preempted_flag = st.preempted & KVM_VCPU_PREEMPTED;
  return o;
}

TEST(StealTime, AtomicXchgNeverLosesAFlushRequest) {
  const auto all = interleavings(2, 2);
  ASSERT_EQ(all.size(), 6u);
  int skipped = 0;
  for (const auto& order : all) {
    const Outcome o = run(order, true);
    // Whenever the guest skipped the IPI, the host's entry flushed on its behalf; a guest
    // that came too late saw the byte cleared and sent the IPI instead.
    if (o.guest_skipped_ipi) {
      EXPECT_TRUE(o.host_flushed);
    }
    EXPECT_FALSE(o.ran_preempted_flag);
    skipped += o.guest_skipped_ipi;
  }
  EXPECT_GT(skipped, 0);  // the PV path is taken in some orders
}

TEST(StealTime, NonAtomicWriteBackLosesAFlushRequestInOneOrder) {
  const auto all = interleavings(3, 2);
  ASSERT_EQ(all.size(), 10u);
  int lost = 0;
  for (const auto& order : all) {
    const Outcome o = run(order, false);
    if (o.guest_skipped_ipi && !o.host_flushed) ++lost;
    EXPECT_FALSE(o.ran_preempted_flag);
  }
  // Lost exactly when the guest saw PREEMPTED and its cmpxchg falls between the host's read
  // and its write-back: (set_preempted, read copy, guest read, guest cmpxchg, write-back)
  // and (set_preempted, guest read, read copy, guest cmpxchg, write-back).
  EXPECT_EQ(lost, 2);
}

TEST(StealTime, SecondSetPreemptedKeepsTheFlushBit) {
  StealTime st;
  st.enabled = true;
  st.set_preempted(0);
  ASSERT_TRUE(st.cmpxchg_preempted(1, KVM_VCPU_PREEMPTED, KVM_VCPU_PREEMPTED | KVM_VCPU_FLUSH_TLB));
  st.set_preempted(2);  // put again before an entry: must not clobber FLUSH_TLB
  EXPECT_EQ(st.preempted, KVM_VCPU_PREEMPTED | KVM_VCPU_FLUSH_TLB);
  EXPECT_TRUE(st.record_steal_time(3, 100, false, 3));
  EXPECT_EQ(st.preempted, 0);
  EXPECT_EQ(st.steal, 100u);
  EXPECT_EQ(st.version % 2, 0u);
}

// kvm_steal_clock against an update in three host steps (version odd, steal, version even):
// over every interleaving with the guest's three reads (version, steal, version), a reading
// the guest accepts is never torn.
TEST(StealTime, VersionProtocolNeverAcceptsATornRead) {
  int accepted = 0, retried = 0;
  for (const auto& order : interleavings(3, 3)) {
    StealTime st;
    st.steal = 1000;
    st.version = 2;
    int h = 0, g = 0;
    uint32_t v1 = 0, v2 = 0;
    uint64_t s = 0;
    for (bool host : order) {
      if (host) {
        if (h == 0) st.host_version_begin();
        else if (h == 1) st.host_add_steal(500);
        else st.host_version_end();
        ++h;
      } else {
        if (g == 0) v1 = st.version;
        else if (g == 1) s = st.steal;
        else v2 = st.version;
        ++g;
      }
    }
    const bool accept = !(v1 & 1) && v1 == v2;
    if (!accept) { ++retried; continue; }
    ++accepted;
    // An accepted read saw the update entirely or not at all.
    EXPECT_EQ(s, v1 == 2 ? 1000u : 1500u);
  }
  EXPECT_EQ(accepted + retried, 20);
  EXPECT_EQ(accepted, 2);  // all guest reads before the update, or all after it
}

TEST(StealTime, TimedNonAtomicWriteBackIsSeenOnlyWhenItLands) {
  StealTime st;
  st.enabled = true;
  st.set_preempted(0);
  // The host reads at t=100 and its cleared copy lands at t=200.
  EXPECT_FALSE(st.record_steal_time(100, 0, true, 200));
  EXPECT_TRUE(st.vcpu_is_preempted(150));  // the guest still sees the old byte
  EXPECT_TRUE(st.cmpxchg_preempted(150, KVM_VCPU_PREEMPTED, KVM_VCPU_PREEMPTED | KVM_VCPU_FLUSH_TLB));
  EXPECT_FALSE(st.vcpu_is_preempted(200));  // the write-back overwrote the request
  EXPECT_EQ(st.lost_updates, 1u);
  // The fixed path: the xchg is visible at once and the request is honoured.
  StealTime ok;
  ok.enabled = true;
  ok.set_preempted(0);
  EXPECT_TRUE(ok.cmpxchg_preempted(50, KVM_VCPU_PREEMPTED, KVM_VCPU_PREEMPTED | KVM_VCPU_FLUSH_TLB));
  EXPECT_TRUE(ok.record_steal_time(100, 0, false, 200));
  EXPECT_FALSE(ok.vcpu_is_preempted(101));
}

TEST(StealTime, DisabledAreaIsNeverWritten) {
  StealTime st;
  st.set_preempted(0);
  EXPECT_EQ(st.preempted, 0);
  EXPECT_FALSE(st.record_steal_time(1, 10, false, 1));
  EXPECT_EQ(st.steal, 0u);
}

}  // namespace
