#include "guest/workload_ipi_bench.h"

#include <memory>

#include "hw/apic_regs.h"
#include "hw/mem_line.h"
#include "sim/stats.h"

namespace guest {
namespace {

class IpiBench : public Workload {
 public:
  explicit IpiBench(const IpiBenchParams& p) : p_(p) {}

  void setup(VmView& vm) override {
    vm_ = vm;
    const size_t n = vm.cpus.size();
    csd_.clear();
    for (size_t i = 0; i < n; ++i) csd_.push_back(std::make_unique<hw::MemLine>(0));
    for (size_t i = 1; i < n; ++i) {
      for (uint8_t v : {hw::CALL_FUNCTION_SINGLE_VECTOR, hw::CALL_FUNCTION_VECTOR})
        vm.cpus[i]->set_isr(v, [this, i](GuestCpu& g, uint8_t) { return call_function_isr(g, i); });
      if (p_.nmi) vm.cpus[i]->set_nmi_handler([this, i](GuestCpu& g, uint8_t) { return nmi_handler(g, i); });
      if (p_.smi) vm.cpus[i]->set_smm_hook([this, i](GuestCpu& g, uint8_t) { return smi_mark(g, i); });
    }
    if (p_.hotplug && n > 1) {
      const size_t t = std::min<size_t>(static_cast<size_t>(p_.target), n - 1);
      vm.cpus[t]->set_isr(kTakeCpuDownVector, [this, t](GuestCpu& g, uint8_t) { return take_cpu_down(g, t); });
    }
    cpu_mhz_ = vm.platform ? vm.platform->freq_mhz : 1000.0;
    cpu_state_ = std::make_unique<hw::MemLine>(0);
    tsc_mhz_ = vm.platform ? vm.platform->tsc_mhz : 1000.0;
    vm.cpus[0]->start(main(*vm.cpus[0]));
  }
  bool done() const override { return done_; }
  double progress() const override { return static_cast<double>(step_) / (3.0 + p_.nmi + p_.hotplug + p_.smi); }

  void report(std::map<std::string, double>& m, std::map<std::string, std::string>&) const override {
    if (single_.count()) m["ipi.single_ns"] = single_.summary().mean();
    if (roundtrip_.count()) {
      m["ipi.roundtrip_ns"] = roundtrip_.summary().mean();
      m["ipi.roundtrip_ns.p99"] = roundtrip_.quantile(0.99);
    }
    if (broadcast_.count()) {
      m["ipi.broadcast_ns"] = broadcast_.summary().mean();
      m["ipi.broadcast_ns.p99"] = broadcast_.quantile(0.99);
    }
    if (nmi_broadcast_.count()) {
      m["ipi.nmi_broadcast_ns"] = nmi_broadcast_.summary().mean();
      m["ipi.nmi_broadcast_ns.p99"] = nmi_broadcast_.quantile(0.99);
    }
    if (init_sipi_.count()) {
      m["ipi.init_sipi_ns"] = init_sipi_.summary().mean();
      m["ipi.cpu_up_us"] = cpu_up_.summary().mean() / 1000.0;
    }
    if (smi_.count()) {
      m["ipi.smi_ns"] = smi_.summary().mean();
      m["ipi.smi_ns.p99"] = smi_.quantile(0.99);
    }
  }

 private:
  uint64_t to_ns(uint64_t tsc_delta) const { return static_cast<uint64_t>(static_cast<double>(tsc_delta) * 1000.0 / tsc_mhz_); }

  // csd_lock + queue: mark the target's csd busy (1) before sending.
  Task<> lock_csd(GuestCpu& g, size_t t) { co_await g.store(*csd_[t], 1); }
  // csd_lock_wait: spin with cpu_relax() until the handler released it.
  Task<> wait_csd(GuestCpu& g, size_t t) { co_await g.spin_until(*csd_[t], 0); }

  Task<> main(GuestCpu& g) {
    const size_t n = vm_.cpus.size();
    const size_t target = std::min<size_t>(static_cast<size_t>(p_.target), n - 1);
    if (n < 2) {
      done_ = true;
      co_return;
    }
    const std::vector<int> one{static_cast<int>(target)};  // named: GCC 12 cannot keep a braced list across co_await
    // Single: time only the send; then wait (untimed) so IPIs do not coalesce.
    for (uint64_t i = 0; i < p_.iterations; ++i) {
      co_await lock_csd(g, target);
      const uint64_t t0 = co_await g.rdtsc();
      co_await g.send_ipi_mask(one, hw::CALL_FUNCTION_SINGLE_VECTOR);
      const uint64_t t1 = co_await g.rdtsc();
      single_.record(to_ns(t1 - t0));
      co_await wait_csd(g, target);
      co_await g.compute(20000);  // let the target settle back into idle
    }
    ++step_;
    for (uint64_t i = 0; i < p_.iterations; ++i) {
      const uint64_t t0 = co_await g.rdtsc();
      co_await lock_csd(g, target);
      co_await g.send_ipi_mask(one, hw::CALL_FUNCTION_SINGLE_VECTOR);
      co_await wait_csd(g, target);
      const uint64_t t1 = co_await g.rdtsc();
      roundtrip_.record(to_ns(t1 - t0));
      co_await g.compute(20000);
    }
    ++step_;
    std::vector<int> others;
    for (size_t t = 1; t < n; ++t) others.push_back(static_cast<int>(t));
    for (uint64_t i = 0; i < p_.iterations; ++i) {
      const uint64_t t0 = co_await g.rdtsc();
      for (int t : others) co_await lock_csd(g, static_cast<size_t>(t));
      co_await g.send_ipi_mask(others, hw::CALL_FUNCTION_VECTOR);
      for (int t : others) co_await wait_csd(g, static_cast<size_t>(t));
      const uint64_t t1 = co_await g.rdtsc();
      broadcast_.record(to_ns(t1 - t0));
      co_await g.compute(20000);
    }
    ++step_;
    // nmi_trigger_cpumask_backtrace: mark every other CPU in the mask, NMI them, wait for
    // each handler to clear its bit.
    for (uint64_t i = 0; p_.nmi && i < p_.iterations; ++i) {
      const uint64_t t0 = co_await g.rdtsc();
      for (int t : others) co_await lock_csd(g, static_cast<size_t>(t));
      co_await g.send_ipi_mask(others, hw::NMI_VECTOR);
      for (int t : others) co_await wait_csd(g, static_cast<size_t>(t));
      const uint64_t t1 = co_await g.rdtsc();
      nmi_broadcast_.record(to_ns(t1 - t0));
      co_await g.compute(20000);
    }
    if (p_.nmi) ++step_;
    for (uint64_t i = 0; p_.hotplug && i < p_.iterations; ++i) co_await cpu_down_up(g, target);
    if (p_.hotplug) ++step_;
    for (uint64_t i = 0; p_.smi && i < p_.iterations; ++i) {
      const uint64_t t0 = co_await g.rdtsc();
      co_await lock_csd(g, target);
      hw::Icr smi;
      smi.mode = hw::DeliveryMode::SMI;
      smi.level_assert = true;
      co_await g.send_special_ipi(static_cast<int>(target), smi);
      co_await wait_csd(g, target);
      const uint64_t t1 = co_await g.rdtsc();
      smi_.record(to_ns(t1 - t0));
      co_await g.compute(20000);
    }
    if (p_.smi) ++step_;
    done_ = true;
  }

  enum : uint64_t { kOnline = 0, kDead = 1 };
  static constexpr uint8_t kTakeCpuDownVector = hw::CALL_FUNCTION_SINGLE_VECTOR - 1;  // the stopper's request
  static constexpr uint8_t kTrampolineVector = 0x9A;  // real_mode_header->trampoline_start >> 12

  // udelay: delay_tsc busy-waits the CPU.
  Task<> udelay(GuestCpu& g, double us) { co_await g.compute(static_cast<uint64_t>(us * cpu_mhz_)); }

  // The x2APIC ESR dance before each INIT/SIPI (APIC_INTEGRATED, maxlvt > 3).
  Task<> clear_esr(GuestCpu& g) {
    co_await g.apic_write(hw::APIC_ESR, 0);
    co_await g.apic_read(hw::APIC_ESR);
  }

  // cpu_down, then cpu_up of `target`: the BSP's side.
  Task<> cpu_down_up(GuestCpu& g, size_t target) {
    const std::vector<int> one{static_cast<int>(target)};
    co_await g.send_ipi_mask(one, kTakeCpuDownVector);
    co_await g.spin_until(*cpu_state_, kDead);  // cpu_wait_death
    const uint64_t t0 = co_await g.rdtsc();
    init_sipi_start_ = t0;
    // send_init_sequence: INIT assert, udelay(init_udelay = 0 on modern CPUs), de-assert.
    co_await clear_esr(g);
    hw::Icr init;
    init.mode = hw::DeliveryMode::INIT;
    init.level_trigger = true;
    init.level_assert = true;
    co_await g.send_special_ipi(static_cast<int>(target), init);
    init.level_assert = false;
    co_await g.send_special_ipi(static_cast<int>(target), init);
    // The STARTUP loop: two SIPIs (the second is ignored by a running AP).
    for (int j = 0; j < 2; ++j) {
      co_await clear_esr(g);
      hw::Icr sipi;
      sipi.mode = hw::DeliveryMode::SIPI;
      sipi.vector = kTrampolineVector;
      sipi.level_assert = true;
      co_await g.send_special_ipi(static_cast<int>(target), sipi);
      co_await udelay(g, 10);
      co_await udelay(g, 10);
      co_await clear_esr(g);
    }
    co_await g.spin_until(*cpu_state_, kOnline);  // the BSP waits for the AP to come alive
    const uint64_t t1 = co_await g.rdtsc();
    cpu_up_.record(to_ns(t1 - t0));
    co_await g.compute(20000);
  }

  // The target's side: the stopper takes the CPU down, the idle task plays dead (cli; hlt
  // forever) until INIT parks it and the SIPI restarts it at the trampoline; the code after
  // the halt loop is the AP's bring-up (start_secondary), which ends in the idle loop.
  Task<> take_cpu_down(GuestCpu& g, size_t self) {
    co_await g.compute(static_cast<uint64_t>(g.costs().guest_ipi_handler));
    co_await g.apic_eoi();
    co_await g.store(*cpu_state_, kDead);
    const uint64_t inits = g.init_resets();
    do {
      co_await g.hlt();  // hlt_play_dead: IF is 0, only INIT/SIPI (or a spurious wake) end it
    } while (g.init_resets() == inits);
    const uint64_t started = co_await g.rdtsc();
    init_sipi_.record(to_ns(started - init_sipi_start_));
    // identify_secondary_cpu's CPUID leaves, then setup_local_APIC (software-enable in SVR).
    for (uint64_t leaf : {0ull, 1ull, 4ull, 4ull, 4ull, 4ull, 6ull, 7ull, 0xBull, 0xBull, 0xDull, 0xDull, 0x80000000ull,
                          0x80000001ull, 0x80000007ull, 0x80000008ull})
      co_await g.cpuid(leaf);
    co_await g.apic_write(hw::APIC_SPIV, hw::APIC_SPIV_APIC_ENABLED | 0xFF);
    co_await g.compute(static_cast<uint64_t>(g.costs().guest_ap_boot));
    co_await g.store(*cpu_state_, kOnline);
    (void)self;
  }

  // Inside SMM: the firmware's rendezvous marks this CPU as arrived.
  Task<> smi_mark(GuestCpu& g, size_t self) { co_await g.store(*csd_[self], 0); }

  // nmi_cpu_backtrace: the NMI entry and handler, then clear this CPU's bit.
  Task<> nmi_handler(GuestCpu& g, size_t self) {
    co_await g.compute(static_cast<uint64_t>(g.costs().guest_nmi_handler));
    co_await g.store(*csd_[self], 0);
  }

  // generic_smp_call_function_(single_)interrupt: run the function, release the csd, EOI.
  Task<> call_function_isr(GuestCpu& g, size_t self) {
    co_await g.compute(static_cast<uint64_t>(g.costs().guest_irq_entry));
    co_await g.compute(static_cast<uint64_t>(g.costs().guest_ipi_handler));
    co_await g.store(*csd_[self], 0);
    co_await g.apic_eoi();
  }

  IpiBenchParams p_;
  VmView vm_;
  std::vector<std::unique_ptr<hw::MemLine>> csd_;
  double tsc_mhz_ = 1000.0, cpu_mhz_ = 1000.0;
  std::unique_ptr<hw::MemLine> cpu_state_;
  uint64_t init_sipi_start_ = 0;
  sim::Histogram single_, roundtrip_, broadcast_, nmi_broadcast_, init_sipi_, cpu_up_, smi_;
  int step_ = 0;
  bool done_ = false;
};

}  // namespace

std::unique_ptr<Workload> make_ipi_bench_workload(const IpiBenchParams& p) { return std::make_unique<IpiBench>(p); }

}  // namespace guest
