#include "kvm/steal_time.h"

namespace kvm {

// A pending non-atomic write-back lands once its time has come.
void StealTime::apply_due(sim::Picos now) {
  if (writeback_pending_ && now >= writeback_at_) {
    writeback_pending_ = false;
    host_write_back();
  }
}

void StealTime::set_preempted(sim::Picos now) {
  apply_due(now);
  if (!enabled) return;
  // Newer kernels skip the write when the flag is already set, so a second put cannot
  // clobber a FLUSH_TLB the guest added meanwhile.
  if (preempted & KVM_VCPU_PREEMPTED) return;
  ++set_preempted_count;
  last_preempted_at = now;
  host_set_preempted();
}

bool StealTime::record_steal_time(sim::Picos now, uint64_t steal_delta_ns, bool nonatomic_clear,
                                  sim::Picos writeback_at) {
  apply_due(now);
  if (!enabled) return false;
  uint8_t old;
  if (nonatomic_clear) {
    old = host_read_copy();
    writeback_pending_ = true;
    writeback_at_ = writeback_at;
  } else {
    old = host_xchg_clear();
  }
  if (old & KVM_VCPU_FLUSH_TLB) ++flush_requests_seen;
  host_version_begin();
  host_add_steal(steal_delta_ns);
  host_version_end();
  return old & KVM_VCPU_FLUSH_TLB;
}

uint8_t StealTime::read_preempted(sim::Picos now) {
  apply_due(now);
  return preempted;
}

bool StealTime::cmpxchg_preempted(sim::Picos now, uint8_t expected, uint8_t desired) {
  apply_due(now);
  return guest_cmpxchg(expected, desired);
}

uint64_t StealTime::steal_clock(sim::Picos now, int* tries) {
  apply_due(now);
  // The host's update is atomic with respect to a timed reader here (one process step),
  // so one pass suffices; the retry loop is exercised step by step in the tests.
  uint32_t v;
  uint64_t s;
  int n = 0;
  do {
    ++n;
    v = version;
    s = steal;
  } while ((v & 1) || v != version);
  if (tries) *tries = n;
  return s;
}

}  // namespace kvm
