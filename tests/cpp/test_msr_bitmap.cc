// The VMX MSR bitmap (hw::MsrBitmap, SDM vol. 3C 24.6.9) and the exit decisions that KVM's
// bitmap and VM-execution controls produce (kvm::Vcpu::setup_vmcs and
// update_apic_mode_controls; reference kvm-mechanisms.md §5 and §7).
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>

#include "hw/apic_regs.h"
#include "hw/platform.h"
#include "hw/vmcs.h"
#include "hw/vmx.h"
#include "kvm/kvm.h"
#include "kvm/params.h"
#include "kvm/vcpu.h"

namespace {

using hw::MsrBitmap;

constexpr uint32_t MSR_KERNEL_GS_BASE = 0xC0000102;

// ---------------------------------------------------------------------------------------
// The bitmap itself

TEST(MsrBitmap, EverythingExitsByDefault) {
  const MsrBitmap b;
  for (uint32_t msr : {0x0u, 0x10u, 0x1Bu, 0x808u, 0x1FFFu, 0xC0000000u, 0xC0000102u, 0xC0001FFFu}) {
    EXPECT_TRUE(b.read_exits(msr)) << std::hex << msr;
    EXPECT_TRUE(b.write_exits(msr)) << std::hex << msr;
  }
}

TEST(MsrBitmap, LowRangeCoversZeroTo1FFF) {
  MsrBitmap b;
  b.intercept(0x0, false, false);
  b.intercept(0x1FFF, false, false);
  EXPECT_FALSE(b.read_exits(0x0));
  EXPECT_FALSE(b.write_exits(0x0));
  EXPECT_FALSE(b.read_exits(0x1FFF));
  EXPECT_FALSE(b.write_exits(0x1FFF));
  EXPECT_TRUE(b.read_exits(0x1));       // neighbours untouched
  EXPECT_TRUE(b.read_exits(0x1FFE));
}

TEST(MsrBitmap, HighRangeCoversC0000000ToC0001FFF) {
  MsrBitmap b;
  b.intercept(0xC0000000u, false, false);
  b.intercept(0xC0001FFFu, false, false);
  EXPECT_FALSE(b.read_exits(0xC0000000u));
  EXPECT_FALSE(b.write_exits(0xC0000000u));
  EXPECT_FALSE(b.read_exits(0xC0001FFFu));
  EXPECT_FALSE(b.write_exits(0xC0001FFFu));
  // The high range does not alias the low one (same offset, other half of the page).
  EXPECT_TRUE(b.read_exits(0x0));
  EXPECT_TRUE(b.read_exits(0x1FFF));
  EXPECT_TRUE(b.write_exits(0x0));
}

TEST(MsrBitmap, LowRangeDoesNotAliasHighRange) {
  MsrBitmap b;
  b.intercept(0x102, false, false);
  EXPECT_FALSE(b.read_exits(0x102));
  EXPECT_TRUE(b.read_exits(0xC0000102u));
  EXPECT_TRUE(b.write_exits(0xC0000102u));
}

TEST(MsrBitmap, MsrsOutsideBothRangesAlwaysExit) {
  MsrBitmap b;
  for (uint32_t msr : {0x2000u, 0x4B564D00u, 0xBFFFFFFFu, 0xC0002000u, 0xFFFFFFFFu}) {
    b.intercept(msr, false, false);  // has no effect: there is no bit for it
    EXPECT_TRUE(b.read_exits(msr)) << std::hex << msr;
    EXPECT_TRUE(b.write_exits(msr)) << std::hex << msr;
  }
  // ... and clearing them did not clear anything else.
  EXPECT_TRUE(b.read_exits(0x0));
  EXPECT_TRUE(b.read_exits(0xC0000000u));
}

TEST(MsrBitmap, ReadAndWriteAreIndependent) {
  MsrBitmap b;
  b.intercept(0x3B, /*read=*/false, /*write=*/true);
  EXPECT_FALSE(b.read_exits(0x3B));
  EXPECT_TRUE(b.write_exits(0x3B));
  b.intercept(0xC0000100u, /*read=*/true, /*write=*/false);
  EXPECT_TRUE(b.read_exits(0xC0000100u));
  EXPECT_FALSE(b.write_exits(0xC0000100u));
  b.intercept(0x3B, true, false);
  EXPECT_TRUE(b.read_exits(0x3B));
  EXPECT_FALSE(b.write_exits(0x3B));
}

TEST(MsrBitmap, InterceptCanBeRestored) {
  MsrBitmap b;
  b.intercept(0x808, false, false);
  b.intercept(0x808, true, true);
  EXPECT_TRUE(b.read_exits(0x808));
  EXPECT_TRUE(b.write_exits(0x808));
}

// ---------------------------------------------------------------------------------------
// KVM's bitmap and controls

hw::CostTable unit_costs() {
  hw::CostTable t;
  for (const hw::CostKey& k : hw::cost_keys()) t.*(k.member) = 1;
  return t;
}

hw::VmxCapabilities full_caps() {
  hw::VmxCapabilities c;
  c.apicv = true;
  c.posted_interrupts = true;
  c.ple = true;
  c.preemption_timer = true;
  c.preemption_timer_rate = 5;
  return c;
}

// A VM with one vCPU (x2APIC mode, as KVM's vCPUs start in the model).
struct Vm {
  Vm(const kvm::KvmParams& p, const hw::VmxCapabilities& caps) : costs(unit_costs()) {
    kvm = std::make_unique<kvm::Kvm>("vm", p, caps, costs);
    vcpu = &kvm->create_vcpu(0);
  }
  hw::CostTable costs;  // Kvm keeps a reference: must outlive it
  std::unique_ptr<kvm::Kvm> kvm;
  kvm::Vcpu* vcpu;
  const MsrBitmap& bitmap() const { return vcpu->msr_bitmap; }
};

TEST(MsrBitmap, UnitCostTableHasEveryKeySet) {
  const hw::CostTable t = unit_costs();
  for (const hw::CostKey& k : hw::cost_keys()) EXPECT_EQ(t.*(k.member), 1.0) << k.key;
}

TEST(MsrBitmap, KvmPointsTheVmcsAtItsBitmap) {
  Vm vm(kvm::KvmParams{}, full_caps());
  EXPECT_EQ(vm.vcpu->vmcs.msr_bitmap, &vm.vcpu->msr_bitmap);
  EXPECT_TRUE(vm.vcpu->vmcs.primary() & hw::CPU_BASED_USE_MSR_BITMAPS);
  EXPECT_TRUE(vm.kvm->apicv());
  EXPECT_TRUE(vm.vcpu->lapic.regs.x2apic_mode());
}

TEST(MsrBitmap, ApicvX2apicReadsPassExceptTmcct) {
  Vm vm(kvm::KvmParams{}, full_caps());
  for (uint32_t msr = 0x800; msr <= 0x8FF; ++msr) {
    // TMCCT must be computed by KVM from the timer, so its read traps. The write-only
    // EOI and SELF_IPI registers are also intercepted for reads: the model follows Linux
    // 6.2+ (commit 02efd818a6c0, "KVM: VMX: Intercept reads to invalid and write-only
    // x2APIC registers"), where a read must #GP instead of returning vAPIC-page data;
    // the reference's older rule ("reads pass except TMCCT") would let them through.
    const bool expected = msr == hw::MSR_X2APIC_TMCCT || msr == hw::MSR_X2APIC_EOI || msr == hw::MSR_X2APIC_SELF_IPI;
    EXPECT_EQ(vm.bitmap().read_exits(msr), expected) << "read of 0x" << std::hex << msr;
  }
  // The registers that matter most, spelled out.
  EXPECT_FALSE(vm.bitmap().read_exits(hw::MSR_X2APIC_TPR));
  EXPECT_FALSE(vm.bitmap().read_exits(hw::MSR_X2APIC_PPR));
  EXPECT_FALSE(vm.bitmap().read_exits(hw::MSR_X2APIC_ICR));
  EXPECT_FALSE(vm.bitmap().read_exits(hw::MSR_X2APIC_IRR0));
  EXPECT_FALSE(vm.bitmap().read_exits(hw::MSR_X2APIC_LVTT));
  EXPECT_TRUE(vm.bitmap().read_exits(0x839));
}

TEST(MsrBitmap, ApicvX2apicWritesTrapExceptTprEoiSelfIpi) {
  Vm vm(kvm::KvmParams{}, full_caps());
  for (uint32_t msr = 0x800; msr <= 0x8FF; ++msr) {
    const bool passes = msr == 0x808 || msr == 0x80B || msr == 0x83F;
    EXPECT_EQ(vm.bitmap().write_exits(msr), !passes) << "write of 0x" << std::hex << msr;
  }
}

TEST(MsrBitmap, ApicvIcrWriteTrapsWithoutIpiv) {
  Vm vm(kvm::KvmParams{}, full_caps());
  ASSERT_FALSE(vm.kvm->caps().ipiv);
  EXPECT_TRUE(vm.bitmap().write_exits(hw::MSR_X2APIC_ICR));
}

TEST(MsrBitmap, TscDeadlineAlwaysTraps) {
  for (bool apicv : {true, false}) {
    kvm::KvmParams p;
    p.enable_apicv = apicv;
    Vm vm(p, full_caps());
    EXPECT_TRUE(vm.bitmap().read_exits(hw::MSR_IA32_TSC_DEADLINE)) << "apicv " << apicv;
    EXPECT_TRUE(vm.bitmap().write_exits(hw::MSR_IA32_TSC_DEADLINE)) << "apicv " << apicv;
  }
}

TEST(MsrBitmap, KernelGsBasePassesTscAdjustTraps) {
  Vm vm(kvm::KvmParams{}, full_caps());
  EXPECT_FALSE(vm.bitmap().read_exits(MSR_KERNEL_GS_BASE));
  EXPECT_FALSE(vm.bitmap().write_exits(MSR_KERNEL_GS_BASE));
  EXPECT_TRUE(vm.bitmap().read_exits(hw::MSR_IA32_TSC_ADJUST));
  EXPECT_TRUE(vm.bitmap().write_exits(hw::MSR_IA32_TSC_ADJUST));
  EXPECT_TRUE(vm.bitmap().read_exits(hw::MSR_IA32_APICBASE));
  EXPECT_TRUE(vm.bitmap().write_exits(hw::MSR_IA32_APICBASE));
}

void expect_everything_traps_but_tpr(const Vm& vm) {
  for (uint32_t msr = 0x800; msr <= 0x8FF; ++msr) {
    const bool tpr = msr == hw::MSR_X2APIC_TPR;  // TPR shadow virtualizes it
    EXPECT_EQ(vm.bitmap().read_exits(msr), !tpr) << "read of 0x" << std::hex << msr;
    EXPECT_EQ(vm.bitmap().write_exits(msr), !tpr) << "write of 0x" << std::hex << msr;
  }
}

TEST(MsrBitmap, WithoutApicvByParameterEveryX2apicMsrTrapsButTpr) {
  kvm::KvmParams p;
  p.enable_apicv = false;
  Vm vm(p, full_caps());
  ASSERT_FALSE(vm.kvm->apicv());
  ASSERT_TRUE(vm.vcpu->vmcs.primary() & hw::CPU_BASED_TPR_SHADOW);
  expect_everything_traps_but_tpr(vm);
}

TEST(MsrBitmap, WithoutApicvInTheCpuEveryX2apicMsrTrapsButTpr) {
  hw::VmxCapabilities caps = full_caps();
  caps.apicv = false;
  Vm vm(kvm::KvmParams{}, caps);
  ASSERT_FALSE(vm.kvm->apicv());
  expect_everything_traps_but_tpr(vm);
}

TEST(MsrBitmap, WithoutPostedInterruptsThereIsNoApicv) {
  hw::VmxCapabilities caps = full_caps();
  caps.posted_interrupts = false;
  Vm vm(kvm::KvmParams{}, caps);
  EXPECT_FALSE(vm.kvm->apicv());
  expect_everything_traps_but_tpr(vm);
}

// ---------------------------------------------------------------------------------------
// VM-execution controls

TEST(MsrBitmap, ControlsWithApicv) {
  Vm vm(kvm::KvmParams{}, full_caps());
  const hw::Vmcs& v = vm.vcpu->vmcs;
  EXPECT_TRUE(v.pin() & hw::PIN_BASED_POSTED_INTR);
  EXPECT_TRUE(v.pin() & hw::PIN_BASED_EXT_INTR_MASK);
  EXPECT_TRUE(v.primary() & hw::CPU_BASED_ACTIVATE_SECONDARY_CONTROLS);
  EXPECT_TRUE(v.secondary() & hw::SECONDARY_EXEC_VIRTUAL_INTR_DELIVERY);
  EXPECT_TRUE(v.secondary() & hw::SECONDARY_EXEC_APIC_REGISTER_VIRT);
  EXPECT_TRUE(v.secondary() & hw::SECONDARY_EXEC_VIRTUALIZE_X2APIC_MODE);
  EXPECT_TRUE(v.secondary() & hw::SECONDARY_EXEC_PAUSE_LOOP_EXITING);
  EXPECT_TRUE(v.primary() & hw::CPU_BASED_HLT_EXITING);
  EXPECT_TRUE(v.primary() & hw::CPU_BASED_UNCOND_IO_EXITING);
  EXPECT_EQ(v.read(hw::VmcsField::POSTED_INTR_NV), hw::POSTED_INTR_VECTOR);
  EXPECT_EQ(v.read(hw::VmcsField::PLE_GAP), 128u);
  EXPECT_EQ(v.read(hw::VmcsField::PLE_WINDOW), 4096u);
  EXPECT_EQ(v.pi_desc, &vm.vcpu->pi_desc);
  EXPECT_EQ(v.virtual_apic, &vm.vcpu->lapic.regs);
}

void expect_no_apicv_controls(const hw::Vmcs& v) {
  EXPECT_FALSE(v.pin() & hw::PIN_BASED_POSTED_INTR);
  EXPECT_FALSE(v.secondary() & hw::SECONDARY_EXEC_VIRTUAL_INTR_DELIVERY);
  EXPECT_FALSE(v.secondary() & hw::SECONDARY_EXEC_APIC_REGISTER_VIRT);
  EXPECT_TRUE(v.primary() & hw::CPU_BASED_HLT_EXITING);
  EXPECT_TRUE(v.primary() & hw::CPU_BASED_UNCOND_IO_EXITING);
  EXPECT_TRUE(v.primary() & hw::CPU_BASED_TPR_SHADOW);
}

TEST(MsrBitmap, ControlsWithoutApicvParameter) {
  kvm::KvmParams p;
  p.enable_apicv = false;
  Vm vm(p, full_caps());
  expect_no_apicv_controls(vm.vcpu->vmcs);
}

TEST(MsrBitmap, ControlsWithoutApicvCapability) {
  hw::VmxCapabilities caps = full_caps();
  caps.apicv = false;
  Vm vm(kvm::KvmParams{}, caps);
  expect_no_apicv_controls(vm.vcpu->vmcs);
}

TEST(MsrBitmap, PleNeedsCapabilityAndNonZeroGap) {
  {
    Vm vm(kvm::KvmParams{}, full_caps());
    EXPECT_TRUE(vm.vcpu->vmcs.secondary() & hw::SECONDARY_EXEC_PAUSE_LOOP_EXITING);
  }
  {
    kvm::KvmParams p;
    p.ple_gap = 0;
    Vm vm(p, full_caps());
    EXPECT_FALSE(vm.vcpu->vmcs.secondary() & hw::SECONDARY_EXEC_PAUSE_LOOP_EXITING);
  }
  {
    hw::VmxCapabilities caps = full_caps();
    caps.ple = false;
    Vm vm(kvm::KvmParams{}, caps);
    EXPECT_FALSE(vm.vcpu->vmcs.secondary() & hw::SECONDARY_EXEC_PAUSE_LOOP_EXITING);
  }
  {
    // KVM never sets exit-on-every-PAUSE (primary bit 30).
    Vm vm(kvm::KvmParams{}, full_caps());
    EXPECT_FALSE(vm.vcpu->vmcs.primary() & hw::CPU_BASED_PAUSE_EXITING);
  }
}

TEST(MsrBitmap, PreemptionTimerIsOffUntilAnHvTimerIsArmed) {
  Vm vm(kvm::KvmParams{}, full_caps());
  EXPECT_FALSE(vm.vcpu->vmcs.pin() & hw::PIN_BASED_VMX_PREEMPTION_TIMER);
}

}  // namespace
