#include "guest/spinlock.h"

namespace guest {

Task<> GuestSpinlock::lock(GuestCpu& g, int self, bool pv, SpinlockStats& st, double tsc_mhz) {
  const uint64_t t0 = co_await g.rdtsc();
  const uint64_t ticket = co_await g.xadd(tail_, 1);
  bool contended = false;
  if (!pv) {
    if (owner_.latest() != ticket) contended = true;
    co_await g.spin_until(owner_, ticket);
  } else {
    for (;;) {
      const uint64_t seen = co_await g.spin_until_bounded(owner_, ticket, SPIN_THRESHOLD);
      if (seen == ticket) break;
      contended = true;
      // pv_wait: publish "halted" before the last look at the lock; the unlocker hands
      // over first and reads this after, so one of the two sees the other.
      auto& slot = halted_[ticket % halted_.size()];
      slot = {ticket, self};
      ++st.pv_waits;
      co_await g.cli();
      if (owner_.latest() != ticket) co_await g.hlt();  // kvm_wait: halt with IRQs off
      co_await g.sti();
      if (slot.first == ticket) slot = {UINT64_MAX, -1};
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
