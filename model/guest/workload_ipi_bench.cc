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
    }
    tsc_mhz_ = vm.platform ? vm.platform->tsc_mhz : 1000.0;
    vm.cpus[0]->start(main(*vm.cpus[0]));
  }
  bool done() const override { return done_; }
  double progress() const override { return static_cast<double>(step_) / (p_.nmi ? 4.0 : 3.0); }

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
    done_ = true;
  }

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
  double tsc_mhz_ = 1000.0;
  sim::Histogram single_, roundtrip_, broadcast_, nmi_broadcast_;
  int step_ = 0;
  bool done_ = false;
};

}  // namespace

std::unique_ptr<Workload> make_ipi_bench_workload(const IpiBenchParams& p) { return std::make_unique<IpiBench>(p); }

}  // namespace guest
