#include "guest/tlb_flush.h"

#include <algorithm>
#include <cstdio>

#include "guest/pv_sched_yield.h"
#include "hw/apic_regs.h"
#include "kvm/steal_time.h"

namespace guest {

// The time of the access, as a model-level trace point (charges nothing).
class TlbShootdown::Clock : public hw::TimedAccess {
 public:
  uint64_t access(int64_t now_ps, int) override { return static_cast<uint64_t>(now_ps); }
};

// One locked pass over the mask at the initiator's current time: kvm_flush_tlb_multi's
// steal-time check (PV only), then csd_lock + llist_add of each remaining target's
// request. Leaves the targets to wait for in `wait` and those needing an IPI in `ipi`.
class TlbShootdown::Queue : public hw::TimedAccess {
 public:
  Queue(TlbShootdown& s, int self) : s_(s), self_(self) {}
  std::vector<int> targets, wait, ipi;
  GuestMm* mm = nullptr;
  // Diagnostics for the slow-shootdown breakdown: when the mask was checked, and which
  // waited-for targets were preempted (native) or idle at that moment.
  int64_t check_ps = 0;
  std::vector<uint8_t> preempted_at_check, idle_at_check;  // by position in `wait`
  uint64_t access(int64_t now_ps, int cpu) override {
    wait.clear();
    ipi.clear();
    check_ps = now_ps;
    preempted_at_check.clear();
    idle_at_check.clear();
    const GuestVm* vm = s_.cpus_[static_cast<size_t>(self_)]->vm();
    for (int t : targets) {
      if (s_.pv_) {
        kvm::StealTime& st = *vm->steal_time[static_cast<size_t>(t)];
        const uint8_t state = st.read_preempted(now_ps);
        if ((state & kvm::KVM_VCPU_PREEMPTED) &&
            st.cmpxchg_preempted(now_ps, state, state | kvm::KVM_VCPU_FLUSH_TLB)) {
          ++s_.pv_skipped_;
          s_.pv_marked_us_[static_cast<size_t>(t)] = static_cast<double>(now_ps) / 1e6;
          s_.pv_marked_by_[static_cast<size_t>(t)] = self_;
          s_.pv_marked_gen_[static_cast<size_t>(t)] = mm->tlb_gen;
          continue;
        }
      }
      // Then native_flush_tlb_multi without freed page tables: on_each_cpu_cond_mask(tlb_is_not_lazy):
      // a CPU whose thread exited runs its idle task on the mm lazily and is not interrupted
      // (it checks tlb_gen when it switches back to an mm).
      if (s_.cpus_[static_cast<size_t>(t)]->program_done()) {
        ++s_.lazy_skipped_;
        continue;
      }
      auto& q = s_.call_queue_[static_cast<size_t>(t)];
      s_.csd_[static_cast<size_t>(self_)][static_cast<size_t>(t)]->store(1, cpu, static_cast<sim::Picos>(now_ps));
      if (q.empty()) ipi.push_back(t);  // llist_add returned true: the list was empty
      q.push_back({self_, mm});
      wait.push_back(t);
      preempted_at_check.push_back(vm->steal_time.size() > static_cast<size_t>(t) &&
                                   (vm->steal_time[static_cast<size_t>(t)]->preempted & kvm::KVM_VCPU_PREEMPTED));
      idle_at_check.push_back(s_.cpus_[static_cast<size_t>(t)]->program_done());
    }
    return wait.size();
  }

 private:
  TlbShootdown& s_;
  int self_;
};

TlbShootdown::TlbShootdown(std::vector<GuestCpu*> cpus) : cpus_(std::move(cpus)), clock_(std::make_unique<Clock>()) {
  const size_t n = cpus_.size();
  const GuestVm* vm = n ? cpus_[0]->vm() : nullptr;
  pv_ = vm && vm->pv_tlb_flush && vm->steal_time.size() == n;
  call_queue_.resize(n);
  csd_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) csd_[i].push_back(std::make_unique<hw::MemLine>(0));
    queue_step_.push_back(std::make_unique<Queue>(*this, static_cast<int>(i)));
  }
  pv_marked_us_.assign(n, -1.0);
  pv_marked_by_.assign(n, -1);
  pv_marked_gen_.assign(n, 0);
}

TlbShootdown::~TlbShootdown() = default;

void TlbShootdown::install() {
  for (GuestCpu* g : cpus_)
    g->set_isr(hw::CALL_FUNCTION_VECTOR, [this](GuestCpu& c, uint8_t) { return flush_tlb_func_isr(c); });
}

Task<> TlbShootdown::access(GuestCpu& g, GuestMm& mm) {
  const uint64_t gen = co_await g.op({hw::OpKind::TlbAccess, 0, mm.tlb_gen, mm.asid});
  if (gen >= mm.flushed_gen) co_return;
  ++stale_uses_;
  if (!first_violation_.empty()) co_return;
  const size_t self = static_cast<size_t>(g.index());
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "vCPU %d used a translation of generation %llu at %.3f us; the flush of generation %llu by vCPU %d "
                "started at %.3f us and returned at %.3f us; vCPU %d was last marked KVM_VCPU_FLUSH_TLB %s%.3f us "
                "by vCPU %d (generation %llu) and the host never flushed it",
                g.index(), static_cast<unsigned long long>(gen), static_cast<double>(g.regs.op_time_ps) / 1e6,
                static_cast<unsigned long long>(mm.flushed_gen), mm.last_initiator, mm.last_start_us, mm.last_end_us,
                g.index(), pv_marked_us_[self] < 0 ? "(never) " : "at ", pv_marked_us_[self], pv_marked_by_[self],
                static_cast<unsigned long long>(pv_marked_gen_[self]));
  first_violation_ = buf;
}

Task<> TlbShootdown::flush_tlb_mm_range(GuestCpu& g, GuestMm& mm) {
  const int self = g.index();
  const hw::CostTable& c = g.costs();
  const uint64_t gen = ++mm.tlb_gen;  // inc_mm_tlb_gen after the page tables changed
  const uint64_t t0 = co_await g.op({hw::OpKind::TimedAccess, 0, 0, 0, 0, 0, 0, nullptr, nullptr, clock_.get()});
  co_await g.op({hw::OpKind::Invlpg, 0, 0, mm.asid});  // the local flush
  Queue& q = *queue_step_[static_cast<size_t>(self)];
  q.mm = &mm;
  q.targets.clear();
  for (size_t t = 0; t < mm.cpumask.size(); ++t)
    if (mm.cpumask[t] && static_cast<int>(t) != self) q.targets.push_back(static_cast<int>(t));
  if (!q.targets.empty()) {
    const double per_target = c.guest_call_function_queue + (pv_ ? c.guest_pv_tlb_flush_check : 0.0);
    co_await g.compute(static_cast<uint64_t>(per_target * static_cast<double>(q.targets.size())));
    co_await g.op({hw::OpKind::TimedAccess, 0, 0, 0, 0, 0, 0, nullptr, nullptr, &q});
    targets_ += q.wait.size();
    if (!q.ipi.empty()) {
      ipis_ += q.ipi.size();
      co_await send_call_function_ipis(g, q.ipi, &pv_yields_);
    }
    // csd_lock_wait on each request, in CPU order (cpu_relax with IRQs on).
    for (int t : q.wait) co_await g.spin_until(*csd_[static_cast<size_t>(self)][static_cast<size_t>(t)], 0);
  }
  const uint64_t t1 = co_await g.op({hw::OpKind::TimedAccess, 0, 0, 0, 0, 0, 0, nullptr, nullptr, clock_.get()});
  ++shootdowns_;
  latency_ns_.record((t1 - t0) / 1000);
  if (t1 - t0 >= kSlowPs) classify_slow(g, q, t0, t1);
  if (gen > mm.flushed_gen) {
    mm.flushed_gen = gen;
    mm.last_initiator = self;
    mm.last_start_us = static_cast<double>(t0) / 1e6;
    mm.last_end_us = static_cast<double>(t1) / 1e6;
  }
}

// What a shootdown slower than 100 us waited for, judged by the target that acknowledged
// last (exclusive, in this order): it was preempted when the mask was checked (native
// flush), it was preempted after the check but before it took the IPI, its vCPU was idle,
// or - the target having run throughout - the initiator itself was preempted; else other
// (a target that had not run yet, or one slow to take the IPI).
void TlbShootdown::classify_slow(GuestCpu& g, const Queue& q, uint64_t t0, uint64_t t1) {
  const GuestVm* vm = g.vm();
  const auto preempted_in = [&](int cpu, uint64_t from, uint64_t to) {
    if (vm->steal_time.size() <= static_cast<size_t>(cpu)) return false;
    const sim::Picos at = vm->steal_time[static_cast<size_t>(cpu)]->last_preempted_at;
    return at >= from && at <= to;
  };
  const size_t self = static_cast<size_t>(g.index());
  size_t last = 0;
  sim::Picos last_ack = 0;
  for (size_t k = 0; k < q.wait.size(); ++k) {
    const sim::Picos ack = csd_[self][static_cast<size_t>(q.wait[k])]->stored_at();
    if (ack >= last_ack) last_ack = ack, last = k;
  }
  const bool self_preempted = preempted_in(g.index(), t0, t1);
  const char* cause = "other";
  uint64_t* counter = &slow_.other;
  if (!q.wait.empty() && q.preempted_at_check[last]) {
    cause = "target_preempted_at_check", counter = &slow_.target_preempted_at_check;
  } else if (!q.wait.empty() && preempted_in(q.wait[last], static_cast<uint64_t>(q.check_ps), last_ack)) {
    cause = "target_preempted_after_check", counter = &slow_.target_preempted_after_check;
  } else if (!q.wait.empty() && q.idle_at_check[last]) {
    cause = "target_idle", counter = &slow_.target_idle;
  } else if (self_preempted) {
    cause = "initiator_preempted", counter = &slow_.initiator_preempted;
  }
  ++*counter;
  ++slow_.total;
  if (slow_csv_lines_ < 4000) {
    char line[200];
    std::snprintf(line, sizeof line, "%.3f,%d,%.3f,%s,%d,%.3f,%d\n", static_cast<double>(t0) / 1e6, g.index(),
                  static_cast<double>(t1 - t0) / 1e6, cause, q.wait.empty() ? -1 : q.wait[last],
                  static_cast<double>(last_ack) / 1e6, self_preempted ? 1 : 0);
    slow_csv_ += line;
    ++slow_csv_lines_;
  }
}

// flush_smp_call_function_queue -> flush_tlb_func: take every queued request, flush the
// context once, release each csd.
Task<> TlbShootdown::flush_tlb_func_isr(GuestCpu& g) {
  const size_t self = static_cast<size_t>(g.index());
  co_await g.compute(static_cast<uint64_t>(g.costs().guest_irq_entry));
  std::vector<Request> reqs;
  reqs.swap(call_queue_[self]);  // llist_del_all
  if (!reqs.empty()) {
    co_await g.compute(static_cast<uint64_t>(g.costs().guest_flush_tlb_func));
    GuestMm* done = nullptr;
    for (const Request& r : reqs) {
      if (r.mm == done) continue;
      done = r.mm;
      co_await g.op({hw::OpKind::Invlpg, 0, 0, r.mm->asid});
      ++handler_flushes_;
    }
    for (const Request& r : reqs) co_await g.store(*csd_[static_cast<size_t>(r.initiator)][self], 0);
  }
  co_await g.apic_eoi();
}

void TlbShootdown::report(std::map<std::string, double>& m, std::map<std::string, std::string>& files) const {
  m["tlb.shootdowns"] = static_cast<double>(shootdowns_);
  m["tlb.shootdown_us.p50"] = latency_ns_.count() ? latency_ns_.quantile(0.5) / 1000.0 : 0.0;
  m["tlb.shootdown_us.p99"] = latency_ns_.count() ? latency_ns_.quantile(0.99) / 1000.0 : 0.0;
  m["tlb.shootdown_us.mean"] = latency_ns_.summary().mean() / 1000.0;
  uint64_t slow = 0;  // shootdowns slower than 100 us: the ones that waited for a host scheduler
  for (const auto& b : latency_ns_.buckets())
    if (b.lo >= 100000) slow += b.count;
  m["tlb.shootdown_slow_pct"] = latency_ns_.count() ? 100.0 * static_cast<double>(slow) / static_cast<double>(latency_ns_.count()) : 0.0;
  m["tlb.shootdown_us.p90"] = latency_ns_.count() ? latency_ns_.quantile(0.90) / 1000.0 : 0.0;
  m["tlb.shootdown_us.max"] = latency_ns_.count() ? latency_ns_.summary().max / 1000.0 : 0.0;
  m["tlb.flush_ipis"] = static_cast<double>(ipis_);
  m["tlb.flush_requests"] = static_cast<double>(targets_);
  m["tlb.pv_flush_deferred"] = static_cast<double>(pv_skipped_);
  m["tlb.lazy_skipped"] = static_cast<double>(lazy_skipped_);
  m["invariant.stale_tlb_uses"] = static_cast<double>(stale_uses_);
  m["tlb.pv_flush"] = pv_ ? 1.0 : 0.0;
  m["tlb.pv_sched_yields"] = static_cast<double>(pv_yields_);
  m["tlb.slow.count"] = static_cast<double>(slow_.total);
  m["tlb.slow.initiator_preempted"] = static_cast<double>(slow_.initiator_preempted);
  m["tlb.slow.target_preempted_at_check"] = static_cast<double>(slow_.target_preempted_at_check);
  m["tlb.slow.target_preempted_after_check"] = static_cast<double>(slow_.target_preempted_after_check);
  m["tlb.slow.target_idle"] = static_cast<double>(slow_.target_idle);
  m["tlb.slow.other"] = static_cast<double>(slow_.other);
  if (!slow_csv_.empty())
    files["tlb_slow_shootdowns.csv"] =
        "start_us,initiator,latency_us,cause,last_target,last_ack_us,initiator_preempted\n" + slow_csv_;
  // The steal-time areas: how often KVM marked a vCPU preempted, found a flush request, or
  // (CVE-2019-3016 variant) overwrote a guest update with its write-back.
  uint64_t marked = 0, seen = 0, lost = 0;
  if (!cpus_.empty())
    for (const kvm::StealTime* st : cpus_[0]->vm()->steal_time) {
      marked += st->set_preempted_count;
      seen += st->flush_requests_seen;
      lost += st->lost_updates;
    }
  m["steal_time.preempted_marks"] = static_cast<double>(marked);
  m["steal_time.flush_requests_seen"] = static_cast<double>(seen);
  m["steal_time.lost_updates"] = static_cast<double>(lost);
  // The latency distribution for the CDF plot (python/plot_tlb_cdf.py).
  std::string csv = "lo_us,hi_us,count\n";
  char line[96];
  for (const auto& b : latency_ns_.buckets()) {
    std::snprintf(line, sizeof line, "%.3f,%.3f,%llu\n", static_cast<double>(b.lo) / 1000.0,
                  static_cast<double>(b.hi) / 1000.0, static_cast<unsigned long long>(b.count));
    csv += line;
  }
  files["tlb_shootdown_us.csv"] = csv;
  if (!first_violation_.empty()) files["stale_tlb_first_violation.txt"] = first_violation_ + "\n";
}

}  // namespace guest
