#include "guest/workload_cyclictest.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <sstream>

#include "hw/apic_regs.h"
#include "sim/stats.h"

namespace guest {
namespace {

class Cyclictest : public Workload {
 public:
  explicit Cyclictest(const CyclictestParams& p) : p_(p) {}

  void setup(VmView& vm) override {
    tsc_mhz_ = vm.platform ? vm.platform->tsc_mhz : 1000.0;
    const int n = std::min<int>(p_.threads, static_cast<int>(vm.cpus.size()));
    threads_.assign(static_cast<size_t>(n), {});
    for (auto& t : threads_) t.hist.assign(static_cast<size_t>(p_.histogram_us), 0);
    for (int i = 0; i < n; ++i) {
      GuestCpu& g = *vm.cpus[static_cast<size_t>(i)];
      g.set_isr(hw::LOCAL_TIMER_VECTOR, [this, i](GuestCpu& c, uint8_t) { return timer_isr(c, i); });
      if (p_.nic_vector && i == 0) g.set_isr(p_.nic_vector, [this](GuestCpu& c, uint8_t) { return nic_isr(c); });
      g.start(thread_main(g, i));
    }
  }
  bool done() const override { return finished_ == threads_.size(); }
  double progress() const override {
    return threads_.empty() ? 0.0 : static_cast<double>(threads_[0].count) / static_cast<double>(std::max<uint64_t>(p_.loops, 1));
  }
  void report(std::map<std::string, double>& m, std::map<std::string, std::string>& files) const override;

 private:
  struct Thread {
    bool woke = false;
    uint64_t count = 0, overruns = 0, overflows = 0;
    int64_t act_us = 0;
    sim::Histogram lat_ns;
    std::vector<uint64_t> hist;  // 1-us buckets
    std::vector<uint64_t> overflow_cycles;
    std::vector<std::pair<uint64_t, uint64_t>> max_steps;  // (loop, new max ns): how the max converges
  };

  uint64_t tsc(double us) const { return static_cast<uint64_t>(us * tsc_mhz_); }

  Task<> thread_main(GuestCpu& g, int i) {
    Thread& t = threads_[static_cast<size_t>(i)];
    if (p_.oneshot) {
      co_await g.apic_write(hw::APIC_TDCR, 0xB);  // divide by 1
      co_await g.apic_write(hw::APIC_LVTT, hw::LOCAL_TIMER_VECTOR);  // one-shot
    } else {
      co_await g.apic_write(hw::APIC_LVTT, (2u << 17) | hw::LOCAL_TIMER_VECTOR);  // lapic-deadline
    }
    const uint64_t interval = tsc(p_.interval_us);
    const uint64_t tick = tsc(1e6 / p_.guest_hz);
    uint64_t next = co_await g.rdtsc();
    next += interval;
    for (uint64_t loop = 0; loop < p_.loops; ++loop) {
      // clock_nanosleep(TIMER_ABSTIME, next): the hrtimer is the earliest event; NO_HZ
      // idle programs the clockevent with it and the CPU halts.
      t.woke = false;
      co_await program_timer(g, next);
      co_await g.nop();  // a deadline already past: its interrupt is taken before the check
      while (!t.woke) {
        co_await g.safe_halt();
        co_await g.nop();  // the instruction boundary where the pending interrupt is taken
      }
      if (!p_.native) {
        if (p_.guest_tick_restart) {
          const uint64_t now = co_await g.rdtsc();
          co_await program_timer(g, (now / tick + 1) * tick);  // tick_nohz_idle_exit
        }
        co_await g.compute(static_cast<uint64_t>(g.costs().guest_sched_wakeup));
        // switch_fpu_prepare from the idle task: cyclictest preloads its FPU state (its
        // average is a double), __thread_fpu_begin clears TS.
        if (p_.lazy_fpu) co_await g.op({hw::OpKind::Clts});
      }
      const uint64_t now = co_await g.rdtsc();
      const uint64_t lat_ns = now > next ? static_cast<uint64_t>(static_cast<double>(now - next) * 1000.0 / tsc_mhz_) : 0;
      record(t, lat_ns);
      next += interval;
      while (next <= now) {  // missed periods: cyclictest skips them
        next += interval;
        ++t.overruns;
      }
    }
    if (p_.oneshot) co_await g.apic_write(hw::APIC_TMICT, 0);
    else co_await g.wrmsr(hw::MSR_IA32_TSC_DEADLINE, 0);
    ++finished_;
  }

  // clockevents_program_event: the absolute guest-TSC deadline on the guest's clockevent.
  Task<> program_timer(GuestCpu& g, uint64_t deadline) {
    if (!p_.oneshot) {
      co_await g.wrmsr(hw::MSR_IA32_TSC_DEADLINE, deadline);
      co_return;
    }
    const uint64_t now = co_await g.rdtsc();
    const double us = deadline > now ? static_cast<double>(deadline - now) / tsc_mhz_ : 0.0;
    co_await g.apic_write(hw::APIC_TMICT, static_cast<uint32_t>(std::max(1.0, us * p_.apic_timer_mhz)));
  }

  void record(Thread& t, uint64_t lat_ns) {
    const uint64_t us = lat_ns / 1000;
    t.act_us = static_cast<int64_t>(us);
    if (t.lat_ns.count() == 0 || static_cast<double>(lat_ns) > t.lat_ns.summary().max) t.max_steps.emplace_back(t.count, lat_ns);
    t.lat_ns.record(lat_ns);
    if (us < t.hist.size()) {
      ++t.hist[us];
    } else {
      ++t.overflows;
      if (t.overflow_cycles.size() < 1000) t.overflow_cycles.push_back(t.count);
    }
    ++t.count;
  }

  // smp_apic_timer_interrupt -> hrtimer_interrupt -> hrtimer_wakeup; EOI. Bare metal: the
  // host kernel already ran its handler and the wake-up in root mode.
  Task<> timer_isr(GuestCpu& g, int i) {
    threads_[static_cast<size_t>(i)].woke = true;
    if (p_.native) co_return;
    co_await g.compute(static_cast<uint64_t>(g.costs().guest_irq_entry + g.costs().guest_timer_handler));
    co_await g.apic_eoi();
  }

  // The VF's MSI-X handler schedules NAPI; net_rx_action runs on irq exit with interrupts
  // enabled and preemption off, polling every waiting packet.
  Task<> nic_isr(GuestCpu& g) {
    co_await g.compute(static_cast<uint64_t>(g.costs().guest_irq_entry));
    if (!p_.native) co_await g.apic_eoi();
    const uint64_t packets = p_.nic_take_packets ? p_.nic_take_packets() : 0;
    rx_packets_ += packets;
    co_await g.sti();
    co_await g.compute(static_cast<uint64_t>(static_cast<double>(packets) * g.costs().guest_net_rx_packet) + 1);
    co_await g.cli();
  }

  CyclictestParams p_;
  double tsc_mhz_ = 1000.0;
  std::vector<Thread> threads_;
  size_t finished_ = 0;
  uint64_t rx_packets_ = 0;
};

void Cyclictest::report(std::map<std::string, double>& m, std::map<std::string, std::string>& files) const {
  sim::Histogram all;
  uint64_t overruns = 0, loops = 0;
  for (const Thread& t : threads_) {
    all.merge(t.lat_ns);
    overruns += t.overruns;
    loops = std::max(loops, t.count);
  }
  const sim::Summary& s = all.summary();
  m["cyclictest.loops"] = static_cast<double>(loops);
  m["cyclictest.interval_us"] = p_.interval_us;
  m["cyclictest.threads"] = static_cast<double>(threads_.size());
  m["cyclictest.overruns"] = static_cast<double>(overruns);
  m["cyclictest.samples"] = static_cast<double>(s.count);
  m["cyclictest.min_us"] = s.count ? s.min / 1000.0 : 0.0;
  m["cyclictest.avg_us"] = s.mean() / 1000.0;
  m["cyclictest.max_us"] = s.count ? s.max / 1000.0 : 0.0;
  m["cyclictest.p50_us"] = s.count ? all.quantile(0.5) / 1000.0 : 0.0;
  m["cyclictest.p99_us"] = s.count ? all.quantile(0.99) / 1000.0 : 0.0;
  m["cyclictest.p999_us"] = s.count ? all.quantile(0.999) / 1000.0 : 0.0;
  m["cyclictest.p9999_us"] = s.count ? all.quantile(0.9999) / 1000.0 : 0.0;
  if (p_.nic_vector) m["iperf.rx_packets"] = static_cast<double>(rx_packets_);

  // rt-tests' output with -q -h N: the thread lines, then the histogram section.
  std::ostringstream o;
  char line[256];
  for (size_t i = 0; i < threads_.size(); ++i) {
    const Thread& t = threads_[i];
    const sim::Summary& ts = t.lat_ns.summary();
    std::snprintf(line, sizeof line, "T:%2zu (%5zu) P:%2d I:%ld C:%7" PRIu64 " Min:%7ld Act:%5ld Avg:%5ld Max:%8ld\n", i,
                  1000 + i, p_.priority, static_cast<long>(p_.interval_us), t.count,
                  static_cast<long>(ts.count ? ts.min / 1000.0 : 0), static_cast<long>(t.act_us),
                  static_cast<long>(ts.mean() / 1000.0 + 0.5), static_cast<long>(ts.count ? ts.max / 1000.0 : 0));
    o << line;
  }
  o << "# Histogram\n";
  for (int b = 0; b < p_.histogram_us; ++b) {
    std::snprintf(line, sizeof line, "%06d", b);
    o << line;
    for (const Thread& t : threads_) {
      std::snprintf(line, sizeof line, "\t%06" PRIu64, t.hist[static_cast<size_t>(b)]);
      o << line;
    }
    o << "\n";
  }
  auto footer = [&](const char* name, auto value, const char* fmt) {
    o << "# " << name << ":";
    for (const Thread& t : threads_) {
      std::snprintf(line, sizeof line, fmt, value(t));
      o << " " << line;
    }
    o << "\n";
  };
  footer("Total", [](const Thread& t) { return static_cast<unsigned long long>(t.count - t.overflows); }, "%09llu");
  footer("Min Latencies", [](const Thread& t) { return static_cast<unsigned long>(t.lat_ns.summary().count ? t.lat_ns.summary().min / 1000.0 : 0); }, "%05lu");
  footer("Avg Latencies", [](const Thread& t) { return static_cast<unsigned long>(t.lat_ns.summary().mean() / 1000.0 + 0.5); }, "%05lu");
  footer("Max Latencies", [](const Thread& t) { return static_cast<unsigned long>(t.lat_ns.summary().count ? t.lat_ns.summary().max / 1000.0 : 0); }, "%05lu");
  footer("Histogram Overflows", [](const Thread& t) { return static_cast<unsigned long>(t.overflows); }, "%05lu");
  o << "# Histogram Overflow at cycle number:\n";
  for (size_t i = 0; i < threads_.size(); ++i) {
    o << "# Thread " << i << ":";
    for (uint64_t c : threads_[i].overflow_cycles) {
      std::snprintf(line, sizeof line, " %05" PRIu64, c);
      o << line;
    }
    o << "\n";
  }
  files["cyclictest.txt"] = o.str();

  std::ostringstream csv;
  csv << "latency_us";
  for (size_t i = 0; i < threads_.size(); ++i) csv << ",thread" << i;
  csv << "\n";
  for (int b = 0; b < p_.histogram_us; ++b) {
    bool any = false;
    for (const Thread& t : threads_) any |= t.hist[static_cast<size_t>(b)] != 0;
    if (!any) continue;
    csv << b;
    for (const Thread& t : threads_) csv << "," << t.hist[static_cast<size_t>(b)];
    csv << "\n";
  }
  files["cyclictest_histogram.csv"] = csv.str();

  std::ostringstream mx;  // every new maximum: the running max over simulated time
  mx << "thread,loop,sim_s,max_us\n";
  for (size_t i = 0; i < threads_.size(); ++i)
    for (const auto& [loop, ns] : threads_[i].max_steps)
      mx << i << ',' << loop << ',' << static_cast<double>(loop + 1) * p_.interval_us * 1e-6 << ',' << static_cast<double>(ns) / 1000.0 << '\n';
  files["cyclictest_max.csv"] = mx.str();
}

}  // namespace

std::unique_ptr<Workload> make_cyclictest_workload(const CyclictestParams& p) { return std::make_unique<Cyclictest>(p); }

}  // namespace guest
