#include "guest/workload_ebizzy.h"

#include <algorithm>

#include "guest/tlb_flush.h"
#include "sim/rng.h"

namespace guest {
namespace {

class Ebizzy : public Workload {
 public:
  explicit Ebizzy(const EbizzyParams& p) : p_(p) {}

  void setup(VmView& vm) override {
    const size_t n = vm.cpus.size();
    const size_t threads = p_.threads > 0 ? std::min<size_t>(static_cast<size_t>(p_.threads), n) : n;
    shoot_ = std::make_unique<TlbShootdown>(vm.cpus);
    shoot_->install();
    mm_.cpumask.assign(n, 0);
    for (size_t i = 0; i < threads; ++i) mm_.cpumask[i] = 1;  // each thread has run on its vCPU
    end_ps_ = sim::ms(p_.duration_ms);
    sim::Rng rng(p_.seed, p_.dedup ? "dedup" : "ebizzy");
    for (size_t i = 0; i < threads; ++i) {
      // Threads start a random fraction of an iteration apart (they never start in step).
      const uint64_t offset = rng.next() % static_cast<uint64_t>(iteration_cycles(*vm.cpus[i]) + 1);
      vm.cpus[i]->start(thread(*vm.cpus[i], offset));
      ++running_;
    }
    if (!running_) done_ = true;
  }
  bool done() const override { return done_; }
  double progress() const override { return std::min(1.0, static_cast<double>(last_ps_) / static_cast<double>(end_ps_)); }

  void report(std::map<std::string, double>& m, std::map<std::string, std::string>& files) const override {
    const double s = p_.duration_ms / 1000.0;
    m[p_.dedup ? "dedup.chunks_per_s" : "ebizzy.records_per_s"] = s > 0 ? static_cast<double>(records_) / s : 0.0;
    m[p_.dedup ? "dedup.chunks" : "ebizzy.records"] = static_cast<double>(records_);
    shoot_->report(m, files);
  }

 private:
  double iteration_cycles(const GuestCpu& g) const {
    const double pages = p_.chunk_kib / 4.0;
    return pages * g.costs().guest_page_fault + p_.chunk_kib * p_.cycles_per_kib + g.costs().guest_munmap;
  }

  Task<> thread(GuestCpu& g, uint64_t offset) {
    g.regs.cpl = 3;
    co_await g.compute(offset);
    const double pages = p_.chunk_kib / 4.0;
    const int touches = std::max(1, p_.touches);
    // Each touch: the page faults of its share of the chunk in the kernel (CPL 0), then
    // the copy and search in user mode (CPL 3). Where a vCPU is preempted matters to KVM:
    // kvm_vcpu_on_spin boosts only vCPUs preempted in kernel mode.
    const uint64_t fault_slice = static_cast<uint64_t>(pages * g.costs().guest_page_fault / touches);
    const uint64_t user_slice = static_cast<uint64_t>(p_.chunk_kib * p_.cycles_per_kib / touches);
    for (;;) {
      // alloc_mem + memcpy + search: faults on first touch, then the copy and the search.
      for (int k = 0; k < touches; ++k) {
        g.regs.cpl = 0;
        co_await g.compute(fault_slice);
        g.regs.cpl = 3;
        co_await g.compute(user_slice);
        co_await shoot_->access(g, mm_);
      }
      // free_mem: munmap, then the shootdown of the range (system call: CPL 0).
      g.regs.cpl = 0;
      co_await g.compute(static_cast<uint64_t>(g.costs().guest_munmap));
      co_await shoot_->flush_tlb_mm_range(g, mm_);
      g.regs.cpl = 3;
      const sim::Picos now = static_cast<sim::Picos>(g.regs.op_time_ps);
      last_ps_ = std::max(last_ps_, now);
      if (now > end_ps_) break;
      ++records_;
    }
    g.regs.cpl = 0;  // exit(): the vCPU goes idle
    if (--running_ == 0) done_ = true;
  }

  EbizzyParams p_;
  std::unique_ptr<TlbShootdown> shoot_;
  GuestMm mm_;
  sim::Picos end_ps_ = 0, last_ps_ = 0;
  uint64_t records_ = 0;
  int running_ = 0;
  bool done_ = false;
};

}  // namespace

std::unique_ptr<Workload> make_ebizzy_workload(const EbizzyParams& p) { return std::make_unique<Ebizzy>(p); }

}  // namespace guest
