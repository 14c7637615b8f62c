#include "guest/spinlock.h"

#include <algorithm>

#include "guest/pv_preempted.h"

namespace guest {

Task<bool> GuestSpinlock::pv_wait_early(GuestCpu& g, uint64_t ticket, bool preempted_too, SpinlockStats& st) {
  const uint64_t prev = ticket - 1;
  if (halted_[prev % halted_.size()].first == prev) {  // READ_ONCE(prev->state) != VCPU_RUNNING
    ++st.pv_wait_early;
    co_return true;
  }
  if (!preempted_too) co_return false;
  const auto& q = queued_[prev % queued_.size()];
  if (q.first != prev || !co_await vcpu_is_preempted(g, q.second)) co_return false;
  ++st.pv_wait_early;
  ++st.pv_wait_early_preempted;
  co_return true;
}

Task<> GuestSpinlock::lock(GuestCpu& g, int self, bool pv, SpinlockStats& st, double tsc_mhz, bool wait_early_preempted) {
  const uint64_t t0 = co_await g.rdtsc();
  const uint64_t ticket = co_await g.xadd(tail_, 1);
  queued_[ticket % queued_.size()] = {ticket, self};
  bool contended = false;
  if (!pv) {
    if (owner_.latest() != ticket) contended = true;
    co_await g.spin_until(owner_, ticket);
  } else {
    uint64_t seen = owner_.latest();
    while (seen != ticket) {
      contended = true;
      // pv_wait_node (a waiter ahead of me) or pv_wait_head_or_lock (I am next).
      const bool head = ticket == seen + 1;
      bool early = false;
      uint64_t spun = 0;
      while (seen != ticket && spun < SPIN_THRESHOLD) {
        if (!head && ticket == seen + 1) break;  // became the queue head: a new count
        if (!head && co_await pv_wait_early(g, ticket, wait_early_preempted, st)) {
          early = true;
          break;
        }
        const uint64_t chunk = head ? SPIN_THRESHOLD - spun : std::min(PV_PREV_CHECK_MASK + 1, SPIN_THRESHOLD - spun);
        seen = co_await g.spin_until_bounded(owner_, ticket, chunk, spun > 0);
        spun += chunk;
      }
      if (seen == ticket) break;
      if (!early && spun < SPIN_THRESHOLD) continue;
      // pv_wait: publish "halted" before the last look at the lock; the unlocker hands
      // over first and reads this after, so one of the two sees the other.
      auto& slot = halted_[ticket % halted_.size()];
      slot = {ticket, self};
      ++st.pv_waits;
      co_await g.cli();
      if (owner_.latest() != ticket) co_await g.hlt();  // kvm_wait: halt with IRQs off
      co_await g.sti();
      if (slot.first == ticket) slot = {UINT64_MAX, -1};
      seen = owner_.latest();
    }
  }
  const uint64_t t1 = co_await g.rdtsc();
  acquired_tsc_ = t1;
  ++st.acquisitions;
  if (contended) ++st.contended;
  st.wait_ns.add(static_cast<double>(t1 - t0) * 1000.0 / tsc_mhz);
}

Task<> GuestSpinlock::unlock(GuestCpu& g, bool pv, const std::vector<uint32_t>& apic_ids, SpinlockStats& st,
                             double tsc_mhz) {
  const uint64_t t = co_await g.rdtsc();
  st.hold_ns.add(static_cast<double>(t - acquired_tsc_) * 1000.0 / tsc_mhz);
  const uint64_t next = co_await g.xadd(owner_, 1) + 1;
  if (!pv) co_return;
  // pv_kick the waiter the lock went to if it halted (__pv_queued_spin_unlock_slowpath).
  auto& slot = halted_[next % halted_.size()];
  if (slot.first == next && slot.second >= 0) {
    const int v = slot.second;
    slot = {UINT64_MAX, -1};
    ++st.pv_kicks;
    co_await g.vmcall(5 /*KVM_HC_KICK_CPU*/, 0, apic_ids[static_cast<size_t>(v)]);
  }
}

}  // namespace guest
