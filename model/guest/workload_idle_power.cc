#include "guest/workload_idle_power.h"

#include <algorithm>

#include "hw/apic_regs.h"
#include "sim/rng.h"
#include "sim/stats.h"

namespace guest {
namespace {

class Unixbench : public Workload {
 public:
  explicit Unixbench(const IdlePowerParams& p) : p_(p) {}
  void setup(VmView& vm) override {
    tsc_mhz_ = vm.platform ? vm.platform->tsc_mhz : 1000.0;
    for (GuestCpu* g : vm.cpus) {
      g->start(loop(*g));
      ++running_;
    }
  }
  bool done() const override { return running_ == 0; }
  void report(std::map<std::string, double>& m, std::map<std::string, std::string>&) const override {
    m["unixbench.loops_per_s"] = static_cast<double>(loops_) / (p_.duration_ms / 1000.0);
  }

 private:
  Task<> loop(GuestCpu& g) {
    const uint64_t t0 = co_await g.rdtsc();
    const uint64_t end = t0 + static_cast<uint64_t>(p_.duration_ms * 1000.0 * tsc_mhz_);
    for (;;) {
      co_await g.compute(p_.loop_cycles);
      if (co_await g.rdtsc() > end) break;
      ++loops_;
    }
    --running_;
  }
  IdlePowerParams p_;
  double tsc_mhz_ = 1000.0;
  uint64_t loops_ = 0;
  int running_ = 0;
};

class IdleWakeup : public Workload {
 public:
  explicit IdleWakeup(const IdlePowerParams& p) : p_(p) {}
  void setup(VmView& vm) override {
    tsc_mhz_ = vm.platform ? vm.platform->tsc_mhz : 1000.0;
    for (size_t i = 0; i < vm.cpus.size(); ++i) {
      rngs_.emplace_back(p_.seed, "idle_wakeup" + std::to_string(i));
      vm.cpus[i]->set_isr(hw::LOCAL_TIMER_VECTOR, [this, i](GuestCpu& c, uint8_t) { return timer_isr(c, i); });
      vm.cpus[i]->start(arm_first(*vm.cpus[i], i));
    }
    end_tsc_ = static_cast<uint64_t>(p_.duration_ms * 1000.0 * tsc_mhz_);
  }
  bool done() const override { return finished_ == rngs_.size(); }
  void report(std::map<std::string, double>& m, std::map<std::string, std::string>&) const override {
    m["idle.wakeups"] = static_cast<double>(latency_ns_.count());
    m["idle.wakeup_latency_us.p50"] = latency_ns_.count() ? latency_ns_.quantile(0.5) / 1000.0 : 0.0;
    m["idle.wakeup_latency_us.p99"] = latency_ns_.count() ? latency_ns_.quantile(0.99) / 1000.0 : 0.0;
    m["idle.wakeup_latency_us.mean"] = latency_ns_.summary().mean() / 1000.0;
  }

 private:
  uint64_t next_deadline(uint64_t now, size_t i) {
    const double us = rngs_[i].exponential(1e6 / std::max(1e-3, p_.wakeup_hz));
    return now + static_cast<uint64_t>(us * tsc_mhz_);
  }
  Task<> arm_first(GuestCpu& g, size_t i) {
    co_await g.apic_write(hw::APIC_LVTT, (2u << 17) | hw::LOCAL_TIMER_VECTOR);  // TSC-deadline mode
    const uint64_t now = co_await g.rdtsc();
    g.next_timer_tsc = next_deadline(now, i);
    co_await g.wrmsr(hw::MSR_IA32_TSC_DEADLINE, g.next_timer_tsc);
  }
  // local_apic_timer_interrupt -> hrtimer_interrupt: measure, re-arm, EOI.
  Task<> timer_isr(GuestCpu& g, size_t i) {
    const uint64_t now = co_await g.rdtsc();
    const uint64_t deadline = g.next_timer_tsc;
    if (deadline != ~0ull && now >= deadline)
      latency_ns_.record(static_cast<uint64_t>(static_cast<double>(now - deadline) * 1000.0 / tsc_mhz_));
    co_await g.compute(static_cast<uint64_t>(g.costs().guest_timer_handler));
    if (now < end_tsc_) {
      g.next_timer_tsc = next_deadline(now, i);
      co_await g.wrmsr(hw::MSR_IA32_TSC_DEADLINE, g.next_timer_tsc);
    } else if (deadline != ~0ull) {
      g.next_timer_tsc = ~0ull;
      ++finished_;
    }
    co_await g.apic_eoi();
  }
  IdlePowerParams p_;
  double tsc_mhz_ = 1000.0;
  uint64_t end_tsc_ = 0;
  std::vector<sim::Rng> rngs_;
  size_t finished_ = 0;
  sim::Histogram latency_ns_;
};

}  // namespace

std::unique_ptr<Workload> make_unixbench_workload(const IdlePowerParams& p) { return std::make_unique<Unixbench>(p); }
std::unique_ptr<Workload> make_idle_wakeup_workload(const IdlePowerParams& p) { return std::make_unique<IdleWakeup>(p); }

}  // namespace guest
