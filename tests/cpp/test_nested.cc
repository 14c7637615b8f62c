// Nested VMX (model/kvm/nested; issue 7, reference §8): the reflection decision per exit
// reason, the shadow-VMCS field lists, eVMCS clean-field tracking and the eVMCSv1 limits,
// L1's KVM running on the virtual VMX against FAKE hardware, and whole runs of
// scenarios/nested_microbench.yaml: seed 004's orderings, the counts behind them, and that
// a run without L2 is unchanged by the nested keys.
#include <gtest/gtest.h>

#include <array>
#include <memory>

#include "hw/guest_op.h"
#include "hw/platform.h"
#include "hw/vmcs.h"
#include "hw/vmx.h"
#include "hw/vmx_cpu.h"
#include "kvm/host_ops.h"
#include "kvm/kvm.h"
#include "kvm/nested/nested_vmx.h"
#include "kvm/nested/reflect.h"
#include "kvm/nested/vmcs12_fields.h"
#include "run_helpers.h"

namespace {

using hw::GuestOp;
using hw::OpKind;
using hw::VmcsField;
using namespace kvm::nested;

// ---- Reflection ------------------------------------------------------------------------------

struct ReflectCase {
  uint16_t reason;
  uint32_t pin, primary, secondary;  // vmcs12 controls
  uint32_t intr_info;
  bool reflect;
};

TEST(NestedReflect, DecisionPerModelledExitReason) {
  using namespace hw;
  const uint32_t sec = CPU_BASED_ACTIVATE_SECONDARY_CONTROLS;
  const ReflectCase cases[] = {
      {EXIT_REASON_CPUID, 0, 0, 0, 0, true},  // always exits
      {EXIT_REASON_VMCALL, 0, 0, 0, 0, true},
      {EXIT_REASON_XSETBV, 0, 0, 0, 0, true},
      {EXIT_REASON_VMREAD, 0, 0, 0, 0, true},
      {EXIT_REASON_VMRESUME, 0, 0, 0, 0, true},
      {EXIT_REASON_HLT, 0, CPU_BASED_HLT_EXITING, 0, 0, true},
      {EXIT_REASON_HLT, 0, 0, 0, 0, false},
      {EXIT_REASON_EXTERNAL_INTERRUPT, PIN_BASED_EXT_INTR_MASK, 0, 0, 0, false},  // L0 takes it
      {EXIT_REASON_EPT_VIOLATION, 0, 0, 0, 0, false},                              // L0 owns EPT02
      {EXIT_REASON_EPT_MISCONFIG, 0, 0, 0, 0, false},
      {EXIT_REASON_PREEMPTION_TIMER, PIN_BASED_VMX_PREEMPTION_TIMER, 0, 0, 0, true},
      {EXIT_REASON_PREEMPTION_TIMER, 0, 0, 0, 0, false},
      {EXIT_REASON_RDTSC, 0, CPU_BASED_RDTSC_EXITING, 0, 0, true},
      {EXIT_REASON_RDTSC, 0, 0, 0, 0, false},  // L0's TSC emulation
      {EXIT_REASON_INTERRUPT_WINDOW, 0, CPU_BASED_INTR_WINDOW_EXITING, 0, 0, true},
      {EXIT_REASON_INTERRUPT_WINDOW, 0, 0, 0, 0, false},
      {EXIT_REASON_IO_INSTRUCTION, 0, CPU_BASED_UNCOND_IO_EXITING, 0, 0, true},
      {EXIT_REASON_IO_INSTRUCTION, 0, 0, 0, 0, false},
      {EXIT_REASON_MWAIT_INSTRUCTION, 0, CPU_BASED_MWAIT_EXITING, 0, 0, true},
      {EXIT_REASON_MWAIT_INSTRUCTION, 0, 0, 0, 0, false},
      {EXIT_REASON_PAUSE_INSTRUCTION, 0, sec, SECONDARY_EXEC_PAUSE_LOOP_EXITING, 0, true},
      {EXIT_REASON_PAUSE_INSTRUCTION, 0, 0, 0, 0, false},
      {EXIT_REASON_TPR_BELOW_THRESHOLD, 0, CPU_BASED_TPR_SHADOW, 0, 0, true},
      {EXIT_REASON_APIC_ACCESS, 0, sec, SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES, 0, true},
      {EXIT_REASON_APIC_ACCESS, 0, sec, 0, 0, false},
      {EXIT_REASON_EXCEPTION_NMI, 0, 0, 0, INTR_INFO_VALID_MASK | (3u << 8) | 14, true},  // #PF, bitmap bit 14
      {EXIT_REASON_EXCEPTION_NMI, 0, 0, 0, INTR_INFO_VALID_MASK | (3u << 8) | 6, false},  // #UD not in it
      {EXIT_REASON_EXCEPTION_NMI, 0, 0, 0, INTR_INFO_VALID_MASK | (2u << 8) | 2, false},  // NMI: L0's
  };
  for (const auto& c : cases) {
    hw::Vmcs v12;
    v12.write(VmcsField::PIN_BASED_VM_EXEC_CONTROL, c.pin);
    v12.write(VmcsField::CPU_BASED_VM_EXEC_CONTROL, c.primary);
    v12.write(VmcsField::SECONDARY_VM_EXEC_CONTROL, c.secondary);
    v12.write(VmcsField::EXCEPTION_BITMAP, 1u << 14);
    const L2Exit e{c.reason, 0, c.intr_info, nullptr};
    EXPECT_EQ(nested_vmx_reflect_vmexit(v12, e), c.reflect) << "exit reason " << c.reason;
  }
}

TEST(NestedReflect, MsrExitsFollowVmcs12Bitmap) {
  hw::Vmcs v12;
  hw::MsrBitmap bm;
  bm.intercept(0xC0000100, false, false);  // FS_BASE passes through L1
  v12.msr_bitmap = &bm;
  GuestOp op;
  op.a32 = 0xC0000100;
  const L2Exit rd{hw::EXIT_REASON_MSR_READ, 0, 0, &op};
  EXPECT_TRUE(nested_vmx_reflect_vmexit(v12, rd)) << "without MSR bitmaps in vmcs12 every MSR exit is L1's";
  v12.write(VmcsField::CPU_BASED_VM_EXEC_CONTROL, hw::CPU_BASED_USE_MSR_BITMAPS);
  EXPECT_FALSE(nested_vmx_reflect_vmexit(v12, rd)) << "L1 passes FS_BASE through: L0 handles the exit";
  op.a32 = hw::MSR_IA32_TSC_DEADLINE;
  EXPECT_TRUE(nested_vmx_reflect_vmexit(v12, rd));
}

// ---- Field tables -----------------------------------------------------------------------------

TEST(NestedFields, ShadowListsFromVmcsShadowFieldsH) {
  for (VmcsField f : {VmcsField::VM_EXIT_REASON, VmcsField::EXIT_QUALIFICATION, VmcsField::VM_EXIT_INTR_INFO,
                      VmcsField::IDT_VECTORING_INFO_FIELD, VmcsField::VM_EXIT_INSTRUCTION_LEN, VmcsField::GUEST_PHYSICAL_ADDRESS,
                      VmcsField::GUEST_LINEAR_ADDRESS})
    EXPECT_EQ(shadow_field_kind(f), ShadowKind::ReadOnly) << hw::vmcs_field_name(f);
  for (VmcsField f : {VmcsField::GUEST_RIP, VmcsField::GUEST_RSP, VmcsField::GUEST_CR0, VmcsField::GUEST_CR3, VmcsField::GUEST_CR4,
                      VmcsField::GUEST_RFLAGS, VmcsField::CPU_BASED_VM_EXEC_CONTROL, VmcsField::PIN_BASED_VM_EXEC_CONTROL,
                      VmcsField::EXCEPTION_BITMAP, VmcsField::VM_ENTRY_INTR_INFO_FIELD, VmcsField::TPR_THRESHOLD,
                      VmcsField::GUEST_INTERRUPTIBILITY_INFO, VmcsField::VMX_PREEMPTION_TIMER_VALUE})
    EXPECT_EQ(shadow_field_kind(f), ShadowKind::ReadWrite) << hw::vmcs_field_name(f);
  for (VmcsField f : {VmcsField::SECONDARY_VM_EXEC_CONTROL, VmcsField::TSC_OFFSET, VmcsField::PLE_WINDOW, VmcsField::MSR_BITMAP,
                      VmcsField::EPT_POINTER, VmcsField::VM_INSTRUCTION_ERROR})
    EXPECT_EQ(shadow_field_kind(f), ShadowKind::None) << hw::vmcs_field_name(f);
}

TEST(NestedFields, Evmcs1LimitsAreFilteredAndEnforced) {
  hw::VmxCapabilities caps;
  caps.apicv = caps.posted_interrupts = caps.preemption_timer = caps.vmcs_shadowing = caps.tsc_scaling = caps.ple = true;
  const hw::VmxCapabilities f = evmcs1_filter_caps(caps);
  EXPECT_FALSE(f.preemption_timer || f.posted_interrupts || f.apicv || f.vmcs_shadowing || f.tsc_scaling || f.ple);
  hw::Vmcs v12;
  EXPECT_EQ(evmcs1_violations(v12), 0);
  v12.write(VmcsField::PIN_BASED_VM_EXEC_CONTROL, hw::PIN_BASED_VMX_PREEMPTION_TIMER);
  v12.write(VmcsField::CPU_BASED_VM_EXEC_CONTROL, hw::CPU_BASED_ACTIVATE_SECONDARY_CONTROLS);
  v12.write(VmcsField::SECONDARY_VM_EXEC_CONTROL, hw::SECONDARY_EXEC_PAUSE_LOOP_EXITING | hw::SECONDARY_EXEC_ENABLE_EPT);
  EXPECT_EQ(evmcs1_violations(v12), 2);
  EXPECT_EQ(evmcs_group(VmcsField::GUEST_RIP), EVMCS_GROUP_NONE);
  EXPECT_EQ(evmcs_group(VmcsField::GUEST_RFLAGS), HV_VMX_ENLIGHTENED_CLEAN_FIELD_GUEST_BASIC);
  EXPECT_EQ(evmcs_group(VmcsField::MSR_BITMAP), HV_VMX_ENLIGHTENED_CLEAN_FIELD_MSR_BITMAP);
}

// ---- L1's KVM on the virtual VMX, on fake hardware ---------------------------------------------

hw::CostTable unit_costs() {
  hw::CostTable t;
  for (const hw::CostKey& k : hw::cost_keys()) t.*(k.member) = 10;
  return t;
}

class FakeCpu : public hw::VmxCpu {
 public:
  FakeCpu(const hw::CostTable& c, const hw::VmxCapabilities& caps) : costs_(c), caps_(caps) {}
  int cpu() const override { return 0; }
  const hw::CostTable& costs() const override { return costs_; }
  const hw::VmxCapabilities& caps() const override { return caps_; }
  uint64_t host_tsc() const override { return local_ps / 1000; }
  double tsc_mhz() const override { return 1000.0; }
  sim::Picos time_of_host_tsc(uint64_t tsc) const override { return tsc * 1000; }
  void vmenter(hw::Vmcs& v, hw::GuestSoftware&) override { last = &v; ++vmenters; }
  void skip_instruction() override { ++skips; }
  void send_ipi(const hw::Icr&) override {}
  hw::Vmcs* last = nullptr;
  int vmenters = 0, skips = 0;

 private:
  const hw::CostTable& costs_;
  hw::VmxCapabilities caps_;
};

class NullHost : public kvm::VcpuHostOps {
 public:
  void start_timer(hw::VmxCpu&, sim::Picos) override {}
  void cancel_timer(hw::VmxCpu&) override {}
  void wake_up(hw::VmxCpu&) override {}
  void send_ipi_to_vcpu_cpu(hw::VmxCpu&, uint8_t) override {}
  void handle_host_irq(hw::VmxCpu&, uint8_t) override {}
};

class Guest : public hw::GuestSoftware {
 public:
  GuestOp& current_op() override { return op; }
  void complete_op() override { ++completed; }
  void deliver_interrupt(uint8_t) override {}
  GuestOp op;
  int completed = 0;
};

// L0's KVM with one vCPU running an L1 KVM whose vCPU runs L2, all on one fake CPU.
struct NestedRig {
  explicit NestedRig(Vmcs12Access access)
      : costs(unit_costs()), cpu(costs, caps()) {
    hw::VmxCapabilities l1caps = caps();
    l1caps.apicv = l1caps.posted_interrupts = l1caps.vmcs_shadowing = l1caps.ple = false;
    if (access == Vmcs12Access::Enlightened) l1caps = evmcs1_filter_caps(l1caps);
    l0 = std::make_unique<kvm::Kvm>("l0", kvm::KvmParams{}, caps(), costs);
    l1 = std::make_unique<kvm::Kvm>("l1", kvm::KvmParams{}, l1caps, costs);
    kvm::Vcpu& v0 = l0->create_vcpu(0);
    v0.guest = &l1_guest;
    v0.host = &host;
    NestedParams p;
    p.access = access;
    nested = std::make_unique<NestedVmx>(v0, cpu, p, costs, l1caps);
    kvm::Vcpu& v1 = l1->create_vcpu(0);
    v1.guest = &l2;
    v1.host = &nested->vvmx();
    nested->attach_l1(v1, l2);
    v0.nested = nested.get();
    v0.enter_guest(cpu);  // L1's VMLAUNCH, then the entry into L2
  }
  static hw::VmxCapabilities caps() {
    hw::VmxCapabilities c;
    c.apicv = c.posted_interrupts = c.vmcs_shadowing = c.ple = true;
    return c;
  }
  // An L2 exit with the CPU's hardware exit charged, then L0 re-entering.
  void l2_exit(uint16_t reason, const GuestOp& op = {}) {
    l2.op = op;
    cpu.charge(costs.vmx_vmexit);
    const hw::ExitInfo e{reason, 0, 0, &l2.op, cpu.now()};
    l0->vcpu(0).handle_exit(cpu, e);
    l0->vcpu(0).enter_guest(cpu);
  }
  hw::CostTable costs;
  FakeCpu cpu;
  std::unique_ptr<kvm::Kvm> l0, l1;
  Guest l1_guest, l2;
  NullHost host;
  std::unique_ptr<NestedVmx> nested;
};

GuestOp cpuid_op() {
  GuestOp op;
  op.kind = OpKind::Cpuid;
  op.a = 1;
  return op;
}

TEST(NestedVmxRig, LaunchEntersL2WithVmcs02) {
  NestedRig r(Vmcs12Access::Trap);
  EXPECT_TRUE(r.nested->guest_mode());
  EXPECT_EQ(r.cpu.last, &r.nested->vmcs02());
  EXPECT_EQ(r.nested->stats().vmresume_traps, 1u);
  EXPECT_EQ(r.nested->stats().vmcs02_rare_syncs, 1u) << "the first VMLAUNCH reads all of vmcs12";
}

TEST(NestedVmxRig, TrappingCpuidExitCountsItsVmcsTraps) {
  NestedRig r(Vmcs12Access::Trap);
  const NestedStats& s = r.nested->stats();
  EXPECT_EQ(s.vmwrite_traps, 1u) << "L1's first entry writes its APIC-mode secondary controls";
  r.l2_exit(hw::EXIT_REASON_CPUID, cpuid_op());
  EXPECT_EQ(s.reflected, 1u);
  // L1's KVM: exit reason, IDT vectoring, exit interruption info, then the skip's RFLAGS,
  // RIP, instruction length and interruptibility; RIP written back at the entry.
  EXPECT_EQ(s.vmread_traps, 7u);
  EXPECT_EQ(s.vmwrite_traps, 2u);
  EXPECT_EQ(s.vmresume_traps, 2u);
  EXPECT_EQ(s.vmcs02_rare_syncs, 1u) << "GUEST_RIP is a shadow field: vmcs12 stays clean";
  EXPECT_EQ(r.cpu.skips, 1) << "L2's CPUID retires at the entry into L2";
  EXPECT_EQ(r.cpu.last, &r.nested->vmcs02());
  EXPECT_EQ(s.unseen_vmcs12_writes, 0u);
}

TEST(NestedVmxRig, ShadowVmcsAbsorbsShadowedFieldsOnly) {
  NestedRig r(Vmcs12Access::Shadow);
  const NestedStats& s = r.nested->stats();
  EXPECT_EQ(s.vmwrite_traps, 1u) << "SECONDARY_VM_EXEC_CONTROL (at L1's launch) is not shadowed";
  const uint64_t shadowed = s.shadowed_accesses;
  r.l2_exit(hw::EXIT_REASON_CPUID, cpuid_op());
  EXPECT_EQ(s.vmread_traps + s.vmwrite_traps, 1u) << "every field a CPUID exit touches is shadowed";
  EXPECT_EQ(s.shadowed_accesses - shadowed, 8u);
  EXPECT_GT(s.shadow_fields_copied, 0u);
  // RO field: readable without an exit; a VMWRITE to it, or any access to a field outside
  // the lists, exits to L0, and a non-shadowed VMWRITE makes vmcs12 dirty.
  hw::VmxCpu& v = r.nested->vvmx();
  kvm::Vcpu& v1 = r.nested->l1_vcpu();
  v.vmread(v1.vmcs, VmcsField::VM_EXIT_REASON);
  EXPECT_EQ(r.nested->stats().vmread_traps, 0u);
  v.vmwrite(v1.vmcs, VmcsField::GUEST_RIP, 0x1000);
  EXPECT_EQ(r.nested->stats().vmwrite_traps, 1u);
  v.vmwrite(v1.vmcs, VmcsField::VM_EXIT_REASON, 1);
  EXPECT_EQ(r.nested->stats().vmwrite_traps, 2u);
  v.vmread(v1.vmcs, VmcsField::TSC_OFFSET);
  EXPECT_EQ(r.nested->stats().vmread_traps, 1u);
  const uint64_t rare = r.nested->stats().vmcs02_rare_syncs;
  v.vmwrite(v1.vmcs, VmcsField::TSC_OFFSET, 1234);
  EXPECT_EQ(r.nested->stats().vmwrite_traps, 3u);
  r.l2_exit(hw::EXIT_REASON_CPUID, cpuid_op());
  EXPECT_EQ(r.nested->stats().vmcs02_rare_syncs, rare + 1) << "a non-shadowed VMWRITE dirties vmcs12";
  EXPECT_EQ(r.nested->vmcs12().read(VmcsField::TSC_OFFSET), 1234u);
}

TEST(NestedVmxRig, EnlightenedVmcsCopiesOnlyDirtyGroups) {
  NestedRig r(Vmcs12Access::Enlightened);
  r.l2_exit(hw::EXIT_REASON_CPUID, cpuid_op());
  const NestedStats& s = r.nested->stats();
  EXPECT_EQ(s.vmread_traps + s.vmwrite_traps, 0u);
  EXPECT_EQ(s.evmcs_groups_copied, 0u) << "a CPUID exit writes only GUEST_RIP, which has no clean bit";
  EXPECT_EQ(r.nested->hv_clean_fields(), HV_VMX_ENLIGHTENED_CLEAN_FIELD_ALL);
  hw::VmxCpu& v = r.nested->vvmx();
  kvm::Vcpu& v1 = r.nested->l1_vcpu();
  v.vmwrite(v1.vmcs, VmcsField::GUEST_RFLAGS, 0x202);  // GUEST_BASIC becomes dirty
  EXPECT_EQ(r.nested->hv_clean_fields(), HV_VMX_ENLIGHTENED_CLEAN_FIELD_ALL & ~(1u << HV_VMX_ENLIGHTENED_CLEAN_FIELD_GUEST_BASIC));
  v1.vmcs.write(VmcsField::TSC_OFFSET, 777);  // changed but its group (CONTROL_GRP2) left clean
  const uint64_t rare = s.vmcs02_rare_syncs;
  r.l2_exit(hw::EXIT_REASON_CPUID, cpuid_op());
  EXPECT_EQ(s.evmcs_groups_copied, 1u) << "only GUEST_BASIC was dirty";
  EXPECT_EQ(r.nested->vmcs12().read(VmcsField::GUEST_RFLAGS), 0x202u);
  EXPECT_NE(r.nested->vmcs12().read(VmcsField::TSC_OFFSET), 777u) << "a clean group is not copied";
  EXPECT_EQ(s.vmcs02_rare_syncs, rare) << "GUEST_BASIC does not need prepare_vmcs02_rare";
  EXPECT_EQ(s.unseen_vmcs12_writes, 0u);
}

TEST(NestedVmxRig, InvariantSeesL1WritesL0NeverSaw) {
  NestedRig r(Vmcs12Access::Trap);
  r.nested->l1_vcpu().vmcs.write(VmcsField::TSC_OFFSET, 99);  // deliberately bypasses the virtual VMX
  r.l2_exit(hw::EXIT_REASON_CPUID, cpuid_op());
  EXPECT_EQ(r.nested->stats().unseen_vmcs12_writes, 1u);
}

TEST(NestedVmxRig, Evmcs1ViolationFailsTheEntry) {
  NestedRig r(Vmcs12Access::Enlightened);
  kvm::Vcpu& v1 = r.nested->l1_vcpu();
  // L1 sets a control eVMCSv1 cannot express (as if L0 had offered it): a failed entry.
  r.nested->vvmx().vmwrite(v1.vmcs, VmcsField::SECONDARY_VM_EXEC_CONTROL,
                           v1.vmcs.read(VmcsField::SECONDARY_VM_EXEC_CONTROL) | hw::SECONDARY_EXEC_PAUSE_LOOP_EXITING);
  r.l2_exit(hw::EXIT_REASON_CPUID, cpuid_op());
  EXPECT_GT(r.nested->stats().entry_failures, 0u);
}

TEST(NestedVmxRig, L0KeepsEptViolationsItCanFill) {
  NestedRig r(Vmcs12Access::Trap);
  GuestOp op;
  op.kind = OpKind::EptFault;
  op.a = 0x1000;
  r.l2_exit(hw::EXIT_REASON_EPT_VIOLATION, op);
  EXPECT_EQ(r.nested->stats().reflected, 0u);
  EXPECT_EQ(r.nested->stats().l0_handled, 1u);
  EXPECT_TRUE(r.l2.op.d & 2) << "EPT02 now maps the page";
  op.d = 1;  // absent from EPT12 too: L1's to fill
  r.l2_exit(hw::EXIT_REASON_EPT_VIOLATION, op);
  EXPECT_EQ(r.nested->stats().reflected, 1u);
  EXPECT_FALSE(r.l2.op.d & 1) << "L1 installed its EPT12 entry";
  EXPECT_FALSE(r.l2.op.d & 2) << "L0 fills EPT02 on the retry";
}

// ---- Whole runs --------------------------------------------------------------------------------

std::map<std::string, double> run_nested(const std::vector<std::string>& sets) {
  std::vector<std::string> s = {"run.progress=false", "cpuid_loop.iterations=20000", "clock_gettime.iterations=20000"};
  s.insert(s.end(), sets.begin(), sets.end());
  const auto cfg = run::load_scenario_file(std::string(KVMSIM_SOURCE_DIR) + "/scenarios/nested_microbench.yaml", s);
  return run::run_scenario(cfg).metrics;
}

TEST(NestedScenario, CpuidLoopOrderingComesFromCountedTraps) {
  const auto l1 = run_nested({"nested.level=1"});
  const auto l2 = run_nested({});
  const auto ev = run_nested({"nested.evmcs=true"});
  const auto sh = run_nested({"nested.shadow_vmcs=true"});
  EXPECT_LT(l1.at("cpuid_loop.cycles"), ev.at("cpuid_loop.cycles"));
  EXPECT_LT(ev.at("cpuid_loop.cycles"), sh.at("cpuid_loop.cycles"));
  EXPECT_LT(sh.at("cpuid_loop.cycles"), l2.at("cpuid_loop.cycles"));
  // Trapping: 8 VMREAD/VMWRITE traps, the VMRESUME and the L2 exit itself per iteration.
  EXPECT_NEAR(l2.at("nested.vmread_vmwrite_traps_per_l2_exit"), 8.0, 0.05);
  EXPECT_NEAR(l2.at("nested.l0_exits_per_l2_exit"), 10.0, 0.05);
  EXPECT_NEAR(ev.at("nested.vmread_vmwrite_traps_per_l2_exit"), 0.0, 0.01);
  EXPECT_NEAR(ev.at("nested.l0_exits_per_l2_exit"), 2.0, 0.05);
  // Seed 004's table within 25%: L1 1350, L2 20700, L2 + eVMCS 8900.
  EXPECT_NEAR(l1.at("cpuid_loop.cycles"), 1350, 0.25 * 1350);
  EXPECT_NEAR(l2.at("cpuid_loop.cycles"), 20700, 0.25 * 20700);
  EXPECT_NEAR(ev.at("cpuid_loop.cycles"), 8900, 0.25 * 8900);
  // The phases add up to the loop's cost per iteration.
  EXPECT_NEAR(l2.at("nested.phase.total_cycles"), l2.at("cpuid_loop.cycles"), 0.02 * l2.at("cpuid_loop.cycles"));
  for (const auto* m : {&l2, &ev, &sh})
    for (const auto& [k, v] : *m)
      if (k.starts_with("invariant.")) {
        EXPECT_EQ(v, 0) << k;
      }
}

TEST(NestedScenario, ClockGettimeStableOnlyWithTscBasedL1Clock) {
  const auto l1 = run_nested({"nested.level=1", "workload.kind=clock_gettime"});
  const auto unstable = run_nested({"workload.kind=clock_gettime"});
  const auto stable = run_nested({"workload.kind=clock_gettime", "nested.stable_clock=true"});
  EXPECT_EQ(unstable.at("clock_gettime.stable"), 0);
  EXPECT_EQ(stable.at("clock_gettime.stable"), 1);
  EXPECT_NEAR(l1.at("clock_gettime.cycles"), 70, 0.25 * 70);
  EXPECT_NEAR(unstable.at("clock_gettime.cycles"), 1500, 0.25 * 1500);
  EXPECT_NEAR(stable.at("clock_gettime.cycles"), 80, 0.25 * 80);
}

TEST(NestedScenario, MigrationOpensATscEmulationWindow) {
  const auto m = run_nested({"workload.kind=clock_gettime", "nested.stable_clock=true", "nested.migrate_at_ms=0.2",
                             "clock_gettime.iterations=100000", "nested.reenlightenment_delay_us=50"});
  EXPECT_GT(m.at("nested.tsc_emulated_rdtsc"), 0);
  EXPECT_EQ(m.at("nested.tsc_emulation_ended"), 1) << "L1's re-enlightenment handler ends the window";
  EXPECT_GT(m.at("nested.tsc_emulation_us"), 50);
  EXPECT_GT(m.at("clock_gettime.batch_max_cycles"), 2 * m.at("clock_gettime.batch_median_cycles"));
  EXPECT_NEAR(m.at("clock_gettime.batch_median_cycles"), 80, 5);
}

// With L2 absent the run is the non-nested run: the nested keys change nothing, and the
// metrics are those of the code before nesting (README's demo numbers, skylake-sp-2s).
TEST(NestedScenario, L1RunsAreUnchangedByNestedKeys) {
  const auto base = run::run_scenario(testutil::vmexit_scenario({"cpuid", "vmcall", "inl_from_kernel"}, 1000000)).metrics;
  const auto keys = run::run_scenario(testutil::vmexit_scenario(
      {"cpuid", "vmcall", "inl_from_kernel"}, 1000000,
      {"nested.l0=hyperv", "nested.shadow_vmcs=false", "nested.stable_clock=true"})).metrics;
  EXPECT_EQ(base, keys);
  EXPECT_EQ(base.at("vmexit.cpuid"), 1440);
  EXPECT_EQ(base.at("vmexit.vmcall"), 1470);
  EXPECT_EQ(base.at("vmexit.inl_from_kernel"), 2550);
  EXPECT_EQ(base.count("nested.level"), 0u);
}

// The kernel-build mix: eVMCSv1 hides the preemption timer, so L1 backs L2's timer with an
// hrtimer whose reprogramming traps to L0; the traps it saves still make it cheaper than
// trapping VMREAD/VMWRITE (the model's ordering, not the seed's: docs/nested.md).
TEST(NestedScenario, KbuildEvmcsTradesTheHvTimerForFewerTraps) {
  const std::vector<std::string> k = {"workload.kind=kbuild", "kbuild.work_ms=10"};
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.begin(), k.begin(), k.end());
    return run_nested(extra);
  };
  const auto l1 = with({"nested.level=1"});
  const auto l2 = with({});
  const auto ev = with({"nested.evmcs=true"});
  EXPECT_EQ(l2.at("nested.other_l1_traps"), 0) << "L1's hv timer for L2: no hrtimer";
  EXPECT_GT(ev.at("nested.other_l1_traps"), 0) << "eVMCSv1: L1's hrtimer reprograms trap";
  EXPECT_GT(ev.at("kbuild.timer_interrupts"), 5);
  EXPECT_LT(l1.at("kbuild.seconds"), ev.at("kbuild.seconds"));
  EXPECT_LT(ev.at("kbuild.seconds"), l2.at("kbuild.seconds"));
  for (const auto* m : {&l2, &ev})
    for (const auto& [name, v] : *m)
      if (name.starts_with("invariant.")) {
        EXPECT_EQ(v, 0) << name;
      }
}

// Level 0 is bare metal (vm.bare_metal): CPUID is a native instruction, clock_gettime reads
// the TSC in the vDSO. Seed 004: 180 and 55 cycles.
TEST(NestedScenario, BareMetalLevel) {
  const auto cpuid = run_nested({"nested.level=0"});
  const auto clock = run_nested({"nested.level=0", "workload.kind=clock_gettime"});
  EXPECT_NEAR(cpuid.at("cpuid_loop.cycles"), 180, 0.25 * 180);
  EXPECT_NEAR(clock.at("clock_gettime.cycles"), 55, 0.25 * 55);
  EXPECT_EQ(cpuid.at("exits.total"), 0);
}

TEST(NestedScenario, BadCombinationsAreConfigErrors) {
  EXPECT_THROW(run_nested({"nested.l0=kvm", "nested.evmcs=true"}), sim::ConfigError);
  EXPECT_THROW(run_nested({"nested.evmcs=true", "nested.shadow_vmcs=true"}), sim::ConfigError);
  EXPECT_THROW(run_nested({"nested.l0=kvm", "nested.migrate_at_ms=1"}), sim::ConfigError);
}

}  // namespace
