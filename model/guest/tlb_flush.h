// The guest kernel's TLB shootdown (arch/x86/mm/tlb.c flush_tlb_mm_range ->
// native_flush_tlb_multi -> kernel/smp.c smp_call_function_many_cond), and KVM's PV
// variant (arch/x86/kernel/kvm.c kvm_flush_tlb_multi), plus the checker behind
// invariant.stale_tlb_uses.
//
// Initiator: bump the mm's tlb_gen, flush locally (INVLPG), queue a flush request on every
// other CPU in the mm's cpumask, send CALL_FUNCTION IPIs to those whose queue was empty,
// then busy-wait (cpu_relax, IRQs on) on each request's csd until its handler released it.
// A target that the host has preempted only answers when the host runs it again.
// PV: before that, every target whose steal-time `preempted` byte has KVM_VCPU_PREEMPTED
// gets KVM_VCPU_FLUSH_TLB added by cmpxchg and is dropped from the mask: KVM flushes its
// VPID at its next entry, before it runs guest code.
//
// Checker: every guest memory access goes through the core's TLB and returns the
// generation of the translation used; once a flush of generation G has returned, a use of
// a translation older than G is a violation. The first one is reported with its timeline.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "guest/guest_cpu.h"
#include "hw/mem_line.h"
#include "sim/stats.h"

namespace guest {

// The TLB-relevant part of struct mm_struct: one guest process's address space.
struct GuestMm {
  uint64_t asid = 1;              // its PCID: part of the TLB tag
  uint64_t tlb_gen = 1;           // mm->context.tlb_gen: bumped by each change that needs a flush
  uint64_t flushed_gen = 0;       // newest generation whose flush_tlb_mm_range has returned
  std::vector<uint8_t> cpumask;   // mm_cpumask: vCPUs that run (or ran) the mm
  // The flush that set flushed_gen, for the violation timeline.
  int last_initiator = -1;
  double last_start_us = 0, last_end_us = 0;
};

class TlbShootdown {
 public:
  // `vm` gives the IPI mode, the steal-time areas and whether PV flush is on.
  explicit TlbShootdown(std::vector<GuestCpu*> cpus);
  ~TlbShootdown();
  // Installs flush_tlb_func's IPI handler (CALL_FUNCTION_VECTOR) on every vCPU.
  void install();
  bool pv() const { return pv_; }

  // A memory access of the mm by `g` (checked against the invariant).
  Task<> access(GuestCpu& g, GuestMm& mm);
  // flush_tlb_mm_range for a change of the whole range (munmap of a chunk above
  // tlb_single_page_flush_ceiling: a full flush of the context on every CPU).
  Task<> flush_tlb_mm_range(GuestCpu& g, GuestMm& mm);

  // Statistics (prefix e.g. "tlb.").
  void report(std::map<std::string, double>& m, std::map<std::string, std::string>& files) const;
  uint64_t shootdowns() const { return shootdowns_; }
  uint64_t stale_uses() const { return stale_uses_; }
  const std::string& first_violation() const { return first_violation_; }
  const sim::Histogram& latency_ns() const { return latency_ns_; }

 private:
  struct Request {
    int initiator;
    GuestMm* mm;
  };
  class Queue;   // the initiator's step that reads steal time and queues the requests
  class Clock;
  Task<> flush_tlb_func_isr(GuestCpu& g);
  static constexpr uint64_t kSlowPs = 100'000'000;  // 100 us: a shootdown that waited for a host scheduler
  void classify_slow(GuestCpu& g, const Queue& q, uint64_t t0, uint64_t t1);

  std::vector<GuestCpu*> cpus_;
  bool pv_ = false;
  std::vector<std::vector<Request>> call_queue_;            // per target: call_single_queue
  std::vector<std::vector<std::unique_ptr<hw::MemLine>>> csd_;  // [initiator][target]: 1 while queued
  std::vector<std::unique_ptr<Queue>> queue_step_;           // per initiator
  std::unique_ptr<Clock> clock_;
  // Per target: when a PV flush request was last left in its steal-time area, and by whom.
  std::vector<double> pv_marked_us_;
  std::vector<int> pv_marked_by_;
  std::vector<uint64_t> pv_marked_gen_;

  sim::Histogram latency_ns_;
  uint64_t shootdowns_ = 0, ipis_ = 0, targets_ = 0, pv_skipped_ = 0, handler_flushes_ = 0, pv_yields_ = 0, lazy_skipped_ = 0;
  uint64_t stale_uses_ = 0;
  std::string first_violation_;
  struct SlowCauses {
    uint64_t total = 0, initiator_preempted = 0, target_preempted_at_check = 0, target_preempted_after_check = 0,
             target_idle = 0, other = 0;
  } slow_;
  std::string slow_csv_;
  int slow_csv_lines_ = 0;
};

}  // namespace guest
