// struct kvm_steal_time (arch/x86/include/uapi/asm/kvm_para.h): the 64-byte area a guest
// registers per vCPU with MSR_KVM_STEAL_TIME, written by KVM and read (and, for the
// preempted byte, updated) by the guest. One implementation serves PV TLB flush (issue 6)
// and everything that asks vcpu_is_preempted() (PV spinlocks, PLE-aware scheduling).
//
// Host side, as in arch/x86/kvm/x86.c:
//   kvm_steal_time_set_preempted()  at vcpu_put of a preempted vCPU: preempted = PREEMPTED
//   record_steal_time()             at the next entry, before the guest runs:
//                                   old = xchg(preempted, 0); flush the VPID if old has
//                                   FLUSH_TLB; version odd, steal += run delay, version even.
// Guest side, as in arch/x86/kernel/kvm.c:
//   vcpu_is_preempted()             READ_ONCE(preempted) & KVM_VCPU_PREEMPTED
//   kvm_flush_tlb_multi()           cmpxchg(preempted, s, s | FLUSH_TLB) for preempted CPUs
//   kvm_steal_clock()               the version-protected read of `steal`
//
// Before the CVE-2019-3016 fix, record_steal_time read the whole area into a host copy,
// cleared `preempted` there and wrote the copy back later (kvm_read/write_guest_cached):
// a guest cmpxchg between the read and the write-back was overwritten, so a flush request
// was lost. `nonatomic_clear` reproduces that: the write-back becomes visible at a later
// time, and until then the guest still sees (and may update) the old byte.
//
// Each operation is also available as single steps (the host_* / guest_* primitives) so a
// test can run the protocols over every interleaving.
#pragma once

#include <cstdint>

#include "sim/time.h"

namespace kvm {

inline constexpr uint32_t MSR_KVM_STEAL_TIME = 0x4b564d03;
inline constexpr uint32_t MSR_KVM_POLL_CONTROL = 0x4b564d05;
inline constexpr uint64_t KVM_MSR_ENABLED = 1;
inline constexpr uint8_t KVM_VCPU_PREEMPTED = 1u << 0;
inline constexpr uint8_t KVM_VCPU_FLUSH_TLB = 1u << 1;
// KVM_CPUID_FEATURES (leaf 0x40000001) bits the model uses.
inline constexpr int KVM_FEATURE_STEAL_TIME = 5;
inline constexpr int KVM_FEATURE_PV_TLB_FLUSH = 9;
inline constexpr int KVM_FEATURE_POLL_CONTROL = 12;
inline constexpr int KVM_FEATURE_PV_SCHED_YIELD = 13;

class StealTime {
 public:
  // --- The guest-visible fields (offsets 0, 8, 12, 16 of struct kvm_steal_time) ---
  uint64_t steal = 0;
  uint32_t version = 0;
  uint32_t flags = 0;
  uint8_t preempted = 0;

  bool enabled = false;  // MSR_KVM_STEAL_TIME has KVM_MSR_ENABLED

  // --- Host side, timed (what KVM calls) ---
  // kvm_steal_time_set_preempted: a vCPU put while still runnable.
  void set_preempted(sim::Picos now);
  // record_steal_time: clear `preempted`; returns true if the guest asked for a TLB flush.
  // With `nonatomic_clear` the cleared copy is written back at `writeback_at`.
  bool record_steal_time(sim::Picos now, uint64_t steal_delta_ns, bool nonatomic_clear, sim::Picos writeback_at);

  // --- Guest side, timed (what the guest kernel calls on another vCPU's area) ---
  uint8_t read_preempted(sim::Picos now);                            // READ_ONCE
  bool cmpxchg_preempted(sim::Picos now, uint8_t expected, uint8_t desired);
  bool vcpu_is_preempted(sim::Picos now) { return read_preempted(now) & KVM_VCPU_PREEMPTED; }
  // kvm_steal_clock: retries while the version is odd or changed; `tries` counts loops.
  uint64_t steal_clock(sim::Picos now, int* tries = nullptr);

  // --- Single steps, for interleaving tests ---
  void host_set_preempted() { preempted = KVM_VCPU_PREEMPTED; }
  uint8_t host_xchg_clear() { const uint8_t old = preempted; preempted = 0; return old; }
  uint8_t host_read_copy() { copy_ = preempted; return copy_; }       // kvm_read_guest_cached
  void host_write_back() { if (preempted != copy_) ++lost_updates; preempted = 0; }
  void host_version_begin() { version += (version & 1) ? 1 : 0; ++version; }
  void host_add_steal(uint64_t d) { steal += d; }
  void host_version_end() { ++version; }
  bool guest_cmpxchg(uint8_t expected, uint8_t desired) {
    if (preempted != expected) return false;
    preempted = desired;
    return true;
  }

  // Statistics.
  uint64_t set_preempted_count = 0;
  uint64_t flush_requests_seen = 0;  // record_steal_time found FLUSH_TLB
  uint64_t lost_updates = 0;         // guest updates overwritten by a non-atomic write-back
  sim::Picos last_preempted_at = 0;  // when set_preempted last marked the vCPU (diagnostics)

 private:
  void apply_due(sim::Picos now);
  uint8_t copy_ = 0;
  bool writeback_pending_ = false;
  sim::Picos writeback_at_ = 0;
};

}  // namespace kvm
