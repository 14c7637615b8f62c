#include "guest/workload_vmexit.h"

#include <algorithm>
#include <cstdio>

#include "hw/apic_regs.h"

namespace guest {
namespace {

constexpr uint8_t IPI_TEST_VECTOR = 0xb0;  // x86/vmexit.c
constexpr uint8_t IPI_VECTOR = 0x20;       // lib/x86/smp.c
constexpr uint32_t MSR_KERNEL_GS_BASE = 0xC0000102;
constexpr uint32_t PORT_QEMU = 0x1234;     // inl_from_qemu: a port QEMU handles
constexpr uint32_t PORT_ELCR = 0x4d0;      // inl_from_kernel: the in-kernel PIC's ELCR

const std::vector<std::string> kTests = {
    "cpuid", "vmcall", "mov_from_cr8", "mov_to_cr8", "inl_from_qemu", "inl_from_kernel",
    "outl_to_kernel", "tscdeadline_immed", "tscdeadline", "self_ipi_sti_nop", "self_ipi_sti_hlt",
    "self_ipi_tpr", "x2apic_self_ipi_sti_nop", "x2apic_self_ipi_sti_hlt", "x2apic_self_ipi_tpr",
    "ipi", "ipi_halt", "wr_kernel_gs_base", "wr_tsc_adjust_msr", "rd_tsc_adjust_msr"};

class VmexitWorkload : public Workload {
 public:
  explicit VmexitWorkload(const VmexitParams& p) : p_(p) {
    for (const auto& t : kTests)
      if (p.tests.empty() || std::find(p.tests.begin(), p.tests.end(), t) != p.tests.end()) tests_.push_back(t);
  }

  void setup(VmView& vm) override {
    vm_ = vm;
    GuestCpu& g0 = *vm.cpus[0];
    g0.set_isr(IPI_TEST_VECTOR, [this](GuestCpu& g, uint8_t) { return self_ipi_isr(g); });
    for (size_t i = 1; i < vm.cpus.size(); ++i)
      vm.cpus[i]->set_isr(IPI_VECTOR, [this](GuestCpu& g, uint8_t) { return smp_ipi_isr(g); });
    g0.start(main(g0));
  }
  bool done() const override { return finished_; }
  double progress() const override {
    return tests_.empty() ? 1.0 : static_cast<double>(results_.size()) / static_cast<double>(tests_.size());
  }

  void report(std::map<std::string, double>& metrics, std::map<std::string, std::string>& files) const override {
    std::string text;
    char line[128];
    for (const auto& [name, cycles] : results_) {
      if (cycles < 0) {
        std::snprintf(line, sizeof line, "%s (skipped)\n", name.c_str());
      } else {
        std::snprintf(line, sizeof line, "%s %d\n", name.c_str(), static_cast<int>(cycles));
        metrics["vmexit." + name] = cycles;
      }
      text += line;
    }
    files["vmexit.txt"] = text;
  }

 private:
  // do_test: double the iterations until the loop lasted GOAL TSC cycles.
  Task<> main(GuestCpu& g) {
    // has_tscdeadline: LVTT in TSC-deadline mode with the test vector.
    co_await g.apic_write(hw::APIC_LVTT, (2u << 17) | IPI_TEST_VECTOR);
    for (const auto& name : tests_) {
      const bool needs_smp = name == "ipi" || name == "ipi_halt";
      if (needs_smp && vm_.cpus.size() < 2) {
        results_.emplace_back(name, -1.0);
        continue;
      }
      uint64_t iterations = 32, t1 = 0, t2 = 0;
      // Single-instruction tests await the op directly (no coroutine frame, no string
      // compare per iteration); the rest call body().
      enum { kCpuid, kVmcall, kMovToCr8, kOther } kind =
          name == "cpuid" ? kCpuid : name == "vmcall" ? kVmcall : name == "mov_to_cr8" ? kMovToCr8 : kOther;
      do {
        iterations *= 2;
        t1 = co_await g.rdtsc();
        for (uint64_t i = 0; i < iterations; ++i) {
          switch (kind) {
            case kCpuid: co_await g.cpuid(0); break;
            case kVmcall: co_await g.vmcall(0); break;
            case kMovToCr8: co_await g.mov_to_cr8(0); break;
            case kOther: co_await body(g, name); break;
          }
        }
        t2 = co_await g.rdtsc();
      } while (t2 - t1 < p_.goal_cycles);
      results_.emplace_back(name, static_cast<double>((t2 - t1) / iterations));
    }
    finished_ = true;
  }

  // One iteration of a test (x86/vmexit.c's test functions).
  Task<> body(GuestCpu& g, const std::string& name) {
    if (name == "mov_from_cr8") co_await g.mov_from_cr8();
    else if (name == "inl_from_qemu") co_await g.in(PORT_QEMU, 4);
    else if (name == "inl_from_kernel") co_await g.in(PORT_ELCR, 1);
    else if (name == "outl_to_kernel") co_await g.out(PORT_ELCR, 1, 0);
    else if (name == "wr_kernel_gs_base") co_await g.wrmsr(MSR_KERNEL_GS_BASE, 0);
    else if (name == "wr_tsc_adjust_msr") co_await g.wrmsr(hw::MSR_IA32_TSC_ADJUST, 0);
    else if (name == "rd_tsc_adjust_msr") co_await g.rdmsr(hw::MSR_IA32_TSC_ADJUST);
    else if (name == "tscdeadline_immed") {
      const uint64_t now = co_await g.rdtsc();
      co_await g.wrmsr(hw::MSR_IA32_TSC_DEADLINE, now);
      co_await g.nop();
    } else if (name == "tscdeadline") {
      co_await g.store(x_, 0);
      const uint64_t now = co_await g.rdtsc();
      co_await g.wrmsr(hw::MSR_IA32_TSC_DEADLINE, now + 3000);
      co_await g.spin_until(x_, 0, /*until_not=*/true, /*tight=*/true);
    } else if (name == "self_ipi_sti_nop" || name == "self_ipi_sti_hlt" || name == "self_ipi_tpr") {
      co_await self_ipi(g, name, /*x2apic_msr=*/false);
    } else if (name == "x2apic_self_ipi_sti_nop" || name == "x2apic_self_ipi_sti_hlt" || name == "x2apic_self_ipi_tpr") {
      co_await self_ipi(g, name, /*x2apic_msr=*/true);
    } else if (name == "ipi") {
      co_await on_cpu1(g);
    } else if (name == "ipi_halt") {
      co_await on_cpu1(g);
      const uint64_t t = (co_await g.rdtsc()) + 2000;
      for (uint64_t now = co_await g.rdtsc(); now < t; now = co_await g.rdtsc()) co_await g.compute(t - now);
    }
  }

  Task<> self_ipi(GuestCpu& g, const std::string& name, bool x2apic_msr) {
    const bool tpr = name.ends_with("_tpr");
    const bool hlt = name.ends_with("_hlt");
    co_await g.store(x_, 0);
    if (!tpr) co_await g.cli();
    if (tpr) co_await g.apic_write(hw::APIC_TPR, 0x0f);
    if (x2apic_msr) {
      co_await g.apic_self_ipi_x2apic(IPI_TEST_VECTOR);
    } else {
      hw::Icr icr;
      icr.vector = IPI_TEST_VECTOR;
      icr.level_assert = true;
      icr.shorthand = hw::Shorthand::Self;
      co_await g.apic_icr_write(icr);
    }
    if (tpr) {
      co_await g.apic_write(hw::APIC_TPR, 0x00);
      co_await g.nop();
    } else if (hlt) {
      co_await g.safe_halt();
    } else {
      co_await g.sti();
      co_await g.nop();
    }
  }

  // lib/x86/smp.c __on_cpu(1, nop, wait=1): set up, send IPI_VECTOR, spin on ipi_done.
  Task<> on_cpu1(GuestCpu& g) {
    co_await g.store(ipi_done_, 0);
    hw::Icr icr;
    icr.vector = IPI_VECTOR;
    icr.level_assert = true;
    icr.dest = vm_.apic_ids[1];
    co_await g.apic_icr_write(icr);
    co_await g.spin_until(ipi_done_, 1, /*until_not=*/false, /*tight=*/true);
  }

  // x86/vmexit.c self_ipi_isr: x++, EOI.
  Task<> self_ipi_isr(GuestCpu& g) {
    co_await g.compute(static_cast<uint64_t>(g.costs().guest_irq_entry));
    co_await g.store(x_, x_.latest() + 1);
    co_await g.apic_eoi();
  }

  // lib/x86/smp.c ipi(): run the function (nop), then ipi_done = 1 and EOI.
  Task<> smp_ipi_isr(GuestCpu& g) {
    co_await g.compute(static_cast<uint64_t>(g.costs().guest_irq_entry));
    co_await g.store(ipi_done_, 1);
    co_await g.apic_eoi();
  }

  VmexitParams p_;
  std::vector<std::string> tests_;
  std::vector<std::pair<std::string, double>> results_;
  VmView vm_;
  hw::MemLine x_, ipi_done_;
  bool finished_ = false;
};

}  // namespace

const std::vector<std::string>& vmexit_test_names() { return kTests; }

std::unique_ptr<Workload> make_vmexit_workload(const VmexitParams& p) { return std::make_unique<VmexitWorkload>(p); }

}  // namespace guest
