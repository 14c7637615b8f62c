#include "guest/workload_nested_bench.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "hw/apic_regs.h"
#include "sim/rng.h"

namespace guest {

const char* to_string(ClocksourceKind k) {
  switch (k) {
    case ClocksourceKind::Tsc: return "tsc";
    case ClocksourceKind::KvmClock: return "kvm-clock";
    case ClocksourceKind::HypervTscPage: return "hyperv_clocksource_tsc_page";
  }
  return "?";
}

namespace {

// ---- CPUID loop --------------------------------------------------------------------------

class CpuidLoop : public Workload {
 public:
  explicit CpuidLoop(const CpuidLoopParams& p) : p_(p) {}
  void setup(VmView& vm) override { vm.cpus[0]->start(main(*vm.cpus[0])); }
  bool done() const override { return done_; }
  double progress() const override { return static_cast<double>(i_) / static_cast<double>(std::max<uint64_t>(p_.iterations, 1)); }
  void report(std::map<std::string, double>& m, std::map<std::string, std::string>&) const override {
    if (done_) m["cpuid_loop.cycles"] = cycles_;
    m["cpuid_loop.iterations"] = static_cast<double>(p_.iterations);
  }

 private:
  Task<> main(GuestCpu& g) {
    const uint64_t before = co_await g.rdtsc();
    for (i_ = 0; i_ < p_.iterations; ++i_) co_await g.cpuid(1);
    const uint64_t after = co_await g.rdtsc();
    cycles_ = static_cast<double>((after - before) / std::max<uint64_t>(p_.iterations, 1));
    done_ = true;
  }
  CpuidLoopParams p_;
  uint64_t i_ = 0;
  double cycles_ = 0;
  bool done_ = false;
};

// ---- clock_gettime loop --------------------------------------------------------------------

class ClockGettimeLoop : public Workload {
 public:
  explicit ClockGettimeLoop(const ClockGettimeParams& p) : p_(p) {}
  void setup(VmView& vm) override { vm.cpus[0]->start(main(*vm.cpus[0])); }
  bool done() const override { return done_; }
  double progress() const override { return static_cast<double>(i_) / static_cast<double>(std::max<uint64_t>(p_.iterations, 1)); }
  void report(std::map<std::string, double>& m, std::map<std::string, std::string>& files) const override {
    if (!done_) return;
    m["clock_gettime.cycles"] = cycles_;
    m["clock_gettime.syscalls"] = static_cast<double>(syscalls_);
    m["clock_gettime.stable"] = p_.clocksource.page && !p_.clocksource.page->tsc_stable ? 0 : 1;
    if (!batches_.empty()) {
      std::vector<double> sorted = batches_;
      std::sort(sorted.begin(), sorted.end());
      m["clock_gettime.batch_median_cycles"] = sorted[sorted.size() / 2];
      m["clock_gettime.batch_max_cycles"] = sorted.back();
      size_t slow = 0;
      for (double b : batches_) slow += b > 2 * sorted[sorted.size() / 2];
      m["clock_gettime.slow_batches"] = static_cast<double>(slow);
    }
    std::string csv = "batch,start_tsc,cycles_per_call\n";
    char line[96];
    for (size_t i = 0; i < batches_.size(); ++i) {
      std::snprintf(line, sizeof line, "%zu,%llu,%.1f\n", i, static_cast<unsigned long long>(batch_start_[i]), batches_[i]);
      csv += line;
    }
    files["clock_gettime_batches.csv"] = csv;
  }

 private:
  // One clock_gettime(CLOCK_REALTIME): the vDSO reads the clocksource, or falls back to the
  // system call when the clocksource page is not stable (vread_pvclock returning U64_MAX).
  Task<> call(GuestCpu& g) {
    const hw::CostTable& k = g.costs();
    double path = k.guest_vdso_clock_gettime;
    const ClockPage* page = p_.clocksource.page;
    switch (p_.clocksource.kind) {
      case ClocksourceKind::Tsc: break;
      case ClocksourceKind::HypervTscPage: path += k.guest_hv_tsc_page_read; break;
      case ClocksourceKind::KvmClock: path += k.guest_pvclock_read; break;
    }
    if (page && !page->tsc_stable) {
      // vDSO fallback: the system call, and the kernel's own clocksource read.
      ++syscalls_;
      path += k.guest_syscall + k.guest_clock_gettime_kernel;
    }
    co_await g.compute(static_cast<uint64_t>(path + 0.5));
    co_await g.rdtsc();
  }

  Task<> main(GuestCpu& g) {
    const uint64_t before = co_await g.rdtsc();
    uint64_t batch_t0 = before;
    for (i_ = 0; i_ < p_.iterations; ++i_) {
      co_await call(g);
      if ((i_ + 1) % p_.batch == 0) {
        const uint64_t t = co_await g.rdtsc();
        batches_.push_back(static_cast<double>(t - batch_t0) / static_cast<double>(p_.batch));
        batch_start_.push_back(batch_t0);
        batch_t0 = t;
      }
    }
    const uint64_t after = co_await g.rdtsc();
    cycles_ = static_cast<double>((after - before) / std::max<uint64_t>(p_.iterations, 1));
    done_ = true;
  }

  ClockGettimeParams p_;
  uint64_t i_ = 0, syscalls_ = 0;
  double cycles_ = 0;
  std::vector<double> batches_;
  std::vector<uint64_t> batch_start_;
  bool done_ = false;
};

// ---- kernel build ---------------------------------------------------------------------------

constexpr uint8_t kTimerVector = hw::LOCAL_TIMER_VECTOR;
constexpr uint8_t kIpiVector = hw::RESCHEDULE_VECTOR;
constexpr uint64_t kVirtioNotify = 0xfebf0000ull;  // a virtio-pci notify register (ioeventfd)

class Kbuild : public Workload {
 public:
  explicit Kbuild(const KbuildParams& p) : p_(p) {}
  void setup(VmView& vm) override {
    vm_ = vm;
    tsc_mhz_ = vm.platform ? vm.platform->tsc_mhz : 1000.0;
    freq_mhz_ = vm.platform ? vm.platform->freq_mhz : 1000.0;
    state_.resize(vm.cpus.size());
    for (size_t i = 0; i < vm.cpus.size(); ++i) {
      GuestCpu& g = *vm.cpus[i];
      g.set_isr(kTimerVector, [this, i](GuestCpu& gc, uint8_t) { return tick(gc, state_[i]); });
      g.set_isr(kIpiVector, [](GuestCpu& gc, uint8_t) -> Task<> {
        co_await gc.compute(static_cast<uint64_t>(gc.costs().guest_irq_entry + gc.costs().guest_ipi_handler));
        co_await gc.apic_eoi();
      });
      g.start(main(g, static_cast<int>(i)));
    }
  }
  bool done() const override { return finished_ == vm_.cpus.size() && !vm_.cpus.empty(); }
  double progress() const override {
    double least = 1.0;
    for (const auto& s : state_) least = std::min(least, s.progress);
    return least;
  }
  void report(std::map<std::string, double>& m, std::map<std::string, std::string>&) const override {
    if (!done()) return;
    double worst = 0;
    for (const auto& s : state_) worst = std::max(worst, s.seconds);
    m["kbuild.seconds"] = worst;
    m["kbuild.work_seconds"] = p_.work_ms / 1000.0;
    m["kbuild.overhead_pct"] = 100.0 * (worst - p_.work_ms / 1000.0) / (p_.work_ms / 1000.0);
    uint64_t ticks = 0;
    for (const auto& s : state_) ticks += s.ticks;
    m["kbuild.timer_interrupts"] = static_cast<double>(ticks);
  }

 private:
  struct VcpuState {
    uint64_t next_tick = 0;
    uint64_t period = 0;
    uint64_t ticks = 0;
    double progress = 0, seconds = 0;
  };

  // The tick: hrtimer_interrupt, reprogram the next deadline, EOI.
  Task<> tick(GuestCpu& g, VcpuState& s) {
    ++s.ticks;
    co_await g.compute(static_cast<uint64_t>(g.costs().guest_irq_entry + g.costs().guest_timer_handler));
    const uint64_t now = co_await g.rdtsc();
    s.next_tick = std::max(s.next_tick + s.period, now + s.period / 4);
    co_await g.wrmsr(hw::MSR_IA32_TSC_DEADLINE, s.next_tick);
    co_await g.apic_eoi();
  }

  Task<> main(GuestCpu& g, int index) {
    VcpuState& s = state_[static_cast<size_t>(index)];
    sim::Rng rng(p_.seed, "kbuild" + std::to_string(index));
    const double work = p_.work_ms * 1000.0 * freq_mhz_;  // cycles of computation
    s.period = p_.timer_hz > 0 ? static_cast<uint64_t>(tsc_mhz_ * 1e6 / p_.timer_hz) : 0;
    const uint64_t t0 = co_await g.rdtsc();
    if (s.period) {
      co_await g.apic_write(hw::APIC_LVTT, (2u << 17) | kTimerVector);  // TSC-deadline mode
      s.next_tick = t0 + s.period;
      co_await g.wrmsr(hw::MSR_IA32_TSC_DEADLINE, s.next_tick);
    }
    // Event streams over the work, each Poisson at its rate per second of work.
    const double rates[5] = {p_.page_fault_hz, p_.ept_violation_hz, p_.io_hz, p_.timer_rearm_hz, p_.ipi_hz};
    double next[5];
    auto gap = [&](int k) { return rates[k] > 0 ? rng.exponential(freq_mhz_ * 1e6 / rates[k]) : 1e300; };
    for (int k = 0; k < 5; ++k) next[k] = gap(k);
    double done_cycles = 0;
    uint64_t gpa = 0x100000000ull;
    while (done_cycles < work) {
      const int k = static_cast<int>(std::min_element(next, next + 5) - next);
      const double at = std::min(next[k], work);
      if (at > done_cycles) co_await g.compute(static_cast<uint64_t>(at - done_cycles + 0.5));
      done_cycles = at;
      s.progress = done_cycles / work;
      if (at >= work) break;
      next[k] += gap(k);
      switch (k) {
        case 0: co_await g.compute(static_cast<uint64_t>(g.costs().guest_page_fault)); break;
        case 1: {
          hw::GuestOp op;
          op.kind = hw::OpKind::EptFault;
          op.a = gpa += 4096;
          op.d = rng.uniform() < p_.ept_l1_share ? 1 : 0;
          co_await g.op(op);
          break;
        }
        case 2: co_await g.mmio_write(kVirtioNotify, 2, 0, /*ioeventfd=*/true); break;
        case 3:
          if (s.period) co_await g.wrmsr(hw::MSR_IA32_TSC_DEADLINE, s.next_tick);
          break;
        case 4: {
          hw::Icr icr;
          icr.vector = kIpiVector;
          icr.dest = vm_.apic_ids[static_cast<size_t>(index)];
          co_await g.apic_icr_write(icr);
          break;
        }
      }
    }
    const uint64_t t1 = co_await g.rdtsc();
    s.seconds = static_cast<double>(t1 - t0) / (tsc_mhz_ * 1e6);
    s.progress = 1.0;
    if (s.period) co_await g.wrmsr(hw::MSR_IA32_TSC_DEADLINE, 0);  // stop the tick
    ++finished_;
  }

  KbuildParams p_;
  VmView vm_;
  double tsc_mhz_ = 1000, freq_mhz_ = 1000;
  std::vector<VcpuState> state_;
  size_t finished_ = 0;
};

}  // namespace

std::unique_ptr<Workload> make_cpuid_loop_workload(const CpuidLoopParams& p) { return std::make_unique<CpuidLoop>(p); }
std::unique_ptr<Workload> make_clock_gettime_workload(const ClockGettimeParams& p) { return std::make_unique<ClockGettimeLoop>(p); }
std::unique_ptr<Workload> make_kbuild_workload(const KbuildParams& p) { return std::make_unique<Kbuild>(p); }

}  // namespace guest
