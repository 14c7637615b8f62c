#include "guest/workload_vm_mix.h"

#include <algorithm>
#include <memory>

#include "hw/apic_regs.h"
#include "hw/mem_line.h"
#include "sim/rng.h"

namespace guest {
namespace {

class VmMix : public Workload {
 public:
  explicit VmMix(const VmMixParams& p) : p_(p) {}

  void setup(VmView& vm) override {
    vm_ = vm;
    const size_t n = vm.cpus.size();
    csd_.clear();
    for (size_t i = 0; i < n; ++i) csd_.push_back(std::make_unique<hw::MemLine>(0));
    nmi_mask_.clear();
    for (size_t i = 0; p_.nmi_hz > 0 && i < n; ++i) nmi_mask_.push_back(std::make_unique<hw::MemLine>(0));
    tsc_mhz_ = vm.platform ? vm.platform->tsc_mhz : 1000.0;
    cycles_per_us_ = vm.platform ? vm.platform->freq_mhz : 1000.0;
    for (size_t i = 0; i < n; ++i) {
      GuestCpu& g = *vm.cpus[i];
      g.set_isr(hw::LOCAL_TIMER_VECTOR, [this, i](GuestCpu& c, uint8_t) { return timer_isr(c, i); });
      g.set_isr(hw::RESCHEDULE_VECTOR, [](GuestCpu& c, uint8_t) { return simple_isr(c, 0); });
      g.set_isr(hw::CALL_FUNCTION_VECTOR, [this, i](GuestCpu& c, uint8_t) { return call_function_isr(c, i); });
      if (p_.nmi_hz > 0) g.set_nmi_handler([this, i](GuestCpu& c, uint8_t) { return nmi_handler(c, i); });
      g.start(vcpu_main(g, i));
    }
  }
  bool done() const override { return finished_ == vm_.cpus.size(); }
  double progress() const override { return max_progress_; }
  void report(std::map<std::string, double>& m, std::map<std::string, std::string>&) const override {
    m["mix.timer_rearms"] = static_cast<double>(rearms_);
    m["mix.timer_interrupts"] = static_cast<double>(timer_irqs_);
    m["mix.resched_ipis"] = static_cast<double>(resched_);
    m["mix.call_function_ipis"] = static_cast<double>(call_functions_);
    if (p_.nmi_hz > 0) m["mix.nmi_backtraces"] = static_cast<double>(nmi_backtraces_);
  }

 private:
  uint64_t tsc_after_us(uint64_t now, double us) const { return now + static_cast<uint64_t>(us * tsc_mhz_); }

  Task<> vcpu_main(GuestCpu& g, size_t self) {
    sim::Rng rng(p_.seed, "vm_mix.vcpu" + std::to_string(self));
    const size_t n = vm_.cpus.size();
    co_await g.apic_write(hw::APIC_LVTT, (2u << 17) | hw::LOCAL_TIMER_VECTOR);  // TSC-deadline mode
    const uint64_t start = co_await g.rdtsc();
    const uint64_t end = tsc_after_us(start, p_.duration_ms * 1000.0);
    const double total_hz = p_.timer_rearm_hz + p_.resched_ipi_hz + p_.call_function_hz + p_.nmi_hz;
    std::vector<int> others;
    for (size_t t = 0; p_.nmi_hz > 0 && t < n; ++t)
      if (t != self) others.push_back(static_cast<int>(t));
    std::vector<int> targets;
    for (uint64_t now = start; now < end; now = co_await g.rdtsc()) {
      max_progress_ = std::max(max_progress_, static_cast<double>(now - start) / static_cast<double>(end - start));
      // Time to the next event of the merged Poisson stream; busy or idle until then.
      const double gap_us = total_hz > 0 ? rng.exponential(1e6 / total_hz) : 1e6;
      if (rng.uniform() < p_.busy_share || n < 2) {
        co_await g.compute(static_cast<uint64_t>(gap_us * cycles_per_us_) + 1);
      } else {
        // NO_HZ idle: the next timer event bounds the halt.
        co_await g.wrmsr(hw::MSR_IA32_TSC_DEADLINE, tsc_after_us(co_await g.rdtsc(), gap_us));
        ++rearms_;
        co_await g.safe_halt();
      }
      const double pick = rng.uniform() * total_hz;
      if (pick < p_.timer_rearm_hz) {
        const bool cancel = rng.uniform() < p_.timer_cancel_share;
        const uint64_t t = co_await g.rdtsc();
        co_await g.wrmsr(hw::MSR_IA32_TSC_DEADLINE, cancel ? 0 : tsc_after_us(t, 50 + rng.uniform() * 2000));
        ++rearms_;
      } else if (pick < p_.timer_rearm_hz + p_.resched_ipi_hz) {
        int t = static_cast<int>(rng.below(n - 1));
        if (t >= static_cast<int>(self)) ++t;
        targets.assign(1, t);
        ++resched_;
        co_await g.send_ipi_mask(targets, hw::RESCHEDULE_VECTOR);
      } else if (pick >= p_.timer_rearm_hz + p_.resched_ipi_hz + p_.call_function_hz) {
        // nmi_trigger_cpumask_backtrace: only if no backtrace is in progress (backtrace_flag).
        if (n > 1 && co_await g.cmpxchg(nmi_flag_, 0, 1) == 0) {
          ++nmi_backtraces_;
          for (int t : others) co_await g.store(*nmi_mask_[static_cast<size_t>(t)], 1);
          co_await g.send_ipi_mask(others, hw::NMI_VECTOR);
          for (int t : others) co_await g.spin_until(*nmi_mask_[static_cast<size_t>(t)], 0);
          co_await g.store(nmi_flag_, 0);
        }
      } else {
        targets.clear();
        const int k = std::min<int>(p_.call_function_targets, static_cast<int>(n) - 1);
        while (static_cast<int>(targets.size()) < k) {
          int t = static_cast<int>(rng.below(n - 1));
          if (t >= static_cast<int>(self)) ++t;
          if (std::find(targets.begin(), targets.end(), t) == targets.end()) targets.push_back(t);
        }
        ++call_functions_;
        for (int t : targets) co_await g.store(*csd_[static_cast<size_t>(t)], 1);
        co_await g.send_ipi_mask(targets, hw::CALL_FUNCTION_VECTOR);
        for (int t : targets) co_await g.spin_until(*csd_[static_cast<size_t>(t)], 0);
      }
    }
    co_await g.wrmsr(hw::MSR_IA32_TSC_DEADLINE, 0);
    ++finished_;
  }

  // hrtimer_interrupt: run the expired timers and program the next event.
  Task<> timer_isr(GuestCpu& g, size_t self) {
    ++timer_irqs_;
    co_await g.compute(static_cast<uint64_t>(g.costs().guest_irq_entry + g.costs().guest_timer_handler));
    const uint64_t now = co_await g.rdtsc();
    co_await g.wrmsr(hw::MSR_IA32_TSC_DEADLINE, tsc_after_us(now, 1000.0 + static_cast<double>(self % 7) * 100.0));
    ++rearms_;
    co_await g.apic_eoi();
  }

  // nmi_cpu_backtrace: the NMI entry and handler, then clear this CPU's bit.
  Task<> nmi_handler(GuestCpu& g, size_t self) {
    co_await g.compute(static_cast<uint64_t>(g.costs().guest_nmi_handler));
    co_await g.store(*nmi_mask_[self], 0);
  }

  static Task<> simple_isr(GuestCpu& g, int) {
    co_await g.compute(static_cast<uint64_t>(g.costs().guest_irq_entry));
    co_await g.apic_eoi();
  }

  Task<> call_function_isr(GuestCpu& g, size_t self) {
    co_await g.compute(static_cast<uint64_t>(g.costs().guest_irq_entry + g.costs().guest_ipi_handler));
    co_await g.store(*csd_[self], 0);
    co_await g.apic_eoi();
  }

  VmMixParams p_;
  VmView vm_;
  std::vector<std::unique_ptr<hw::MemLine>> csd_, nmi_mask_;
  hw::MemLine nmi_flag_{0};
  double tsc_mhz_ = 1000.0, cycles_per_us_ = 1000.0;
  uint64_t rearms_ = 0, timer_irqs_ = 0, resched_ = 0, call_functions_ = 0, nmi_backtraces_ = 0;
  size_t finished_ = 0;
  double max_progress_ = 0;
};

}  // namespace

std::unique_ptr<Workload> make_vm_mix_workload(const VmMixParams& p) { return std::make_unique<VmMix>(p); }

}  // namespace guest
