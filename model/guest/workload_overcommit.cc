#include "guest/workload_overcommit.h"

#include <algorithm>
#include <functional>

#include "guest/pv_preempted.h"
#include "guest/pv_sched_yield.h"
#include "guest/spinlock.h"
#include "hw/apic_regs.h"
#include "hw/mem_line.h"
#include "sim/rng.h"

namespace guest {
namespace {

class Overcommit : public Workload {
 public:
  Overcommit(const OvercommitParams& p, std::shared_ptr<OvercommitProbe> probe) : p_(p), probe_(std::move(probe)) {}

  void setup(VmView& vm) override {
    vm_ = vm;
    const size_t n = vm.cpus.size();
    tsc_mhz_ = vm.platform ? vm.platform->tsc_mhz : 1000.0;
    for (int i = 0; i < std::max(1, p_.locks); ++i) locks_.push_back(std::make_unique<GuestSpinlock>(static_cast<int>(n)));
    for (size_t i = 0; i < n; ++i) csd_.push_back(std::make_unique<hw::MemLine>(0));
    if (!probe_) probe_ = std::make_shared<OvercommitProbe>();
    probe_->state.assign(n, OvercommitProbe::Kernel);
    probe_->ipi_target.assign(n, -1);
    for (size_t i = 0; i < n; ++i) {
      GuestCpu& g = *vm.cpus[i];
      g.set_isr(hw::CALL_FUNCTION_VECTOR, [this, i](GuestCpu& c, uint8_t) { return call_function_isr(c, i); });
      g.set_isr(hw::LOCAL_TIMER_VECTOR, [](GuestCpu& c, uint8_t) { return timer_isr(c); });
      g.start(vcpu_main(g, i));
    }
  }
  bool done() const override { return finished_ == vm_.cpus.size(); }
  double progress() const override { return max_progress_; }
  void report(std::map<std::string, double>& m, std::map<std::string, std::string>&) const override {
    // Over the time the VM's vCPUs were running operations (first start to last finish).
    const double s = last_tsc_ > first_tsc_ ? static_cast<double>(last_tsc_ - first_tsc_) / (tsc_mhz_ * 1e6) : p_.duration_ms / 1000.0;
    m["workload.ops"] = static_cast<double>(ops_);
    m["workload.ops_per_s"] = s > 0 ? static_cast<double>(ops_) / s : 0.0;
    m["lock.acquisitions"] = static_cast<double>(ls_.acquisitions);
    m["lock.contended"] = static_cast<double>(ls_.contended);
    m["lock.hold_ns_mean"] = ls_.hold_ns.mean();
    m["lock.hold_ns_max"] = ls_.hold_ns.count ? ls_.hold_ns.max : 0.0;
    m["lock.wait_ns_mean"] = ls_.wait_ns.mean();
    m["lock.wait_ns_max"] = ls_.wait_ns.count ? ls_.wait_ns.max : 0.0;
    m["lock.pv_waits"] = static_cast<double>(ls_.pv_waits);
    m["lock.pv_kicks"] = static_cast<double>(ls_.pv_kicks);
    m["lock.pv_wait_early"] = static_cast<double>(ls_.pv_wait_early);
    m["lock.pv_wait_early_preempted"] = static_cast<double>(ls_.pv_wait_early_preempted);
    m["ipi.call_functions"] = static_cast<double>(ipi_wait_ns_.count);
    m["ipi.wait_ns_mean"] = ipi_wait_ns_.mean();
    m["ipi.wait_ns_max"] = ipi_wait_ns_.count ? ipi_wait_ns_.max : 0.0;
    m["ipi.pv_sched_yields"] = static_cast<double>(pv_yields_);
    m["workload.idle_halts"] = static_cast<double>(idles_);
    // Directed yields taken, by what the target was doing (seed 003's question: whom does
    // KVM boost?), and how many went to what the yielder waits for.
    for (int s = 0; s < OvercommitProbe::kStates; ++s)
      m[std::string("yield_target.") + OvercommitProbe::kNames[s]] = static_cast<double>(probe_->yields_to[static_cast<size_t>(s)]);
    m["yield_target.awaited"] = static_cast<double>(probe_->yields_to_awaited);
    m["yield_target.yields"] = static_cast<double>(probe_->yields);
    m["yield_target.by_lock_waiters"] = static_cast<double>(probe_->yields_by_lock_waiters);
    m["yield_target.by_ipi_waiters"] = static_cast<double>(probe_->yields_by_ipi_waiters);
  }

 private:
  uint64_t cycles(sim::Rng& rng, double mean) { return static_cast<uint64_t>(rng.exponential(mean)) + 1; }

  void set_state(size_t v, OvercommitProbe::State s) { probe_->state[v] = s; }

  Task<> vcpu_main(GuestCpu& g, size_t self) {
    sim::Rng rng(p_.seed, "overcommit.vcpu" + std::to_string(self));
    const size_t n = vm_.cpus.size();
    if (p_.idle_share > 0) co_await g.apic_write(hw::APIC_LVTT, (2u << 17) | hw::LOCAL_TIMER_VECTOR);  // TSC deadline
    const uint64_t start = co_await g.rdtsc();
    first_tsc_ = std::min(first_tsc_, start);
    const uint64_t end = start + static_cast<uint64_t>(p_.duration_ms * 1000.0 * tsc_mhz_);
    std::vector<int> targets;
    for (uint64_t now = start; now < end; now = co_await g.rdtsc()) {
      max_progress_ = std::max(max_progress_, static_cast<double>(now - start) / static_cast<double>(end - start));
      g.regs.cpl = 3;  // user mode
      set_state(self, OvercommitProbe::User);
      co_await g.compute(cycles(rng, p_.user_cycles));
      g.regs.cpl = 0;  // system call (or the idle loop)
      set_state(self, OvercommitProbe::Kernel);
      if (p_.idle_share > 0 && rng.uniform() < p_.idle_share) {
        set_state(self, OvercommitProbe::Idle);
        // Nothing to run for a while: NO_HZ idle until the next timer (or an IPI).
        const uint64_t t = co_await g.rdtsc();
        co_await g.wrmsr(hw::MSR_IA32_TSC_DEADLINE, t + static_cast<uint64_t>(rng.exponential(p_.idle_us) * tsc_mhz_) + 1);
        co_await g.safe_halt();
        ++idles_;
        set_state(self, OvercommitProbe::Kernel);
      }
      const bool ipi = n > 1 && rng.uniform() < p_.ipi_share;
      if (!ipi) {
        co_await g.compute(cycles(rng, p_.kernel_cycles));
        GuestSpinlock& l = *locks_[rng.below(locks_.size())];
        set_state(self, OvercommitProbe::LockWait);
        co_await l.lock(g, static_cast<int>(self), p_.pv_spinlock, ls_, tsc_mhz_, p_.pv_wait_early_preempted);
        set_state(self, OvercommitProbe::LockHeld);
        co_await g.compute(cycles(rng, p_.hold_cycles));
        co_await l.unlock(g, p_.pv_spinlock, vm_.apic_ids, ls_, tsc_mhz_);
        set_state(self, OvercommitProbe::Kernel);
      } else {
        targets.clear();
        const int k = std::min<int>(p_.ipi_targets, static_cast<int>(n) - 1);
        while (static_cast<int>(targets.size()) < k) {
          int t = static_cast<int>(rng.below(n - 1));
          if (t >= static_cast<int>(self)) ++t;
          if (std::find(targets.begin(), targets.end(), t) == targets.end()) targets.push_back(t);
        }
        const uint64_t t0 = co_await g.rdtsc();
        for (int t : targets) co_await g.store(*csd_[static_cast<size_t>(t)], 1);
        // smp_call_function_many_cond: PV sched yield only for several targets.
        co_await send_call_function_ipis(g, targets, &pv_yields_);
        set_state(self, OvercommitProbe::IpiWait);
        probe_->ipi_target[self] = targets.front();
        for (int t : targets) co_await g.spin_until(*csd_[static_cast<size_t>(t)], 0);
        set_state(self, OvercommitProbe::Kernel);
        const uint64_t t1 = co_await g.rdtsc();
        ipi_wait_ns_.add(static_cast<double>(t1 - t0) * 1000.0 / tsc_mhz_);
      }
      ++ops_;
    }
    g.regs.cpl = 0;
    last_tsc_ = std::max(last_tsc_, co_await g.rdtsc());
    ++finished_;
  }

  static Task<> timer_isr(GuestCpu& g) {
    co_await g.compute(static_cast<uint64_t>(g.costs().guest_irq_entry + g.costs().guest_timer_handler));
    co_await g.apic_eoi();
  }

  Task<> call_function_isr(GuestCpu& g, size_t self) {
    co_await g.compute(static_cast<uint64_t>(g.costs().guest_irq_entry + g.costs().guest_ipi_handler));
    co_await g.store(*csd_[self], 0);
    co_await g.apic_eoi();
  }

  OvercommitParams p_;
  std::shared_ptr<OvercommitProbe> probe_;
  VmView vm_;
  std::vector<std::unique_ptr<GuestSpinlock>> locks_;
  std::vector<std::unique_ptr<hw::MemLine>> csd_;
  double tsc_mhz_ = 1000.0;
  uint64_t ops_ = 0, pv_yields_ = 0, idles_ = 0;
  uint64_t first_tsc_ = UINT64_MAX, last_tsc_ = 0;
  SpinlockStats ls_;
  sim::Summary ipi_wait_ns_;
  size_t finished_ = 0;
  double max_progress_ = 0;
};

}  // namespace

std::unique_ptr<Workload> make_overcommit_workload(const OvercommitParams& p, std::shared_ptr<OvercommitProbe> probe) {
  return std::make_unique<Overcommit>(p, std::move(probe));
}

}  // namespace guest
