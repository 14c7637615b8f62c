// KVM_CAP_X86_DISABLE_EXITS: each bit against the VMCS controls and MSR interception it
// changes (reference section 6), and the guest/KVM features that depend on it.
#include <gtest/gtest.h>

#include "hw/vmx.h"
#include "kvm/disable_exits.h"
#include "kvm/kvm.h"
#include "run_helpers.h"

namespace {

using namespace hw;

struct Controls {
  uint32_t primary, secondary;
  bool c1_res_read_exits, c6_res_read_exits, c6_res_write_exits;
};

Controls controls_with(const std::vector<std::string>& names) {
  kvm::KvmParams p;
  p.disable_exits = kvm::disable_exits_bits(names);
  VmxCapabilities caps;
  caps.apicv = caps.posted_interrupts = caps.ple = caps.preemption_timer = true;
  const CostTable costs{};
  kvm::Kvm k("vm", p, caps, costs);
  kvm::Vcpu& v = k.create_vcpu(0);
  return {static_cast<uint32_t>(v.vmcs.read(VmcsField::CPU_BASED_VM_EXEC_CONTROL)),
          static_cast<uint32_t>(v.vmcs.read(VmcsField::SECONDARY_VM_EXEC_CONTROL)),
          v.msr_bitmap.read_exits(kvm::MSR_CORE_C1_RES), v.msr_bitmap.read_exits(kvm::MSR_CORE_C6_RESIDENCY),
          v.msr_bitmap.write_exits(kvm::MSR_CORE_C6_RESIDENCY)};
}

TEST(DisableExits, DefaultInterceptsEverything) {
  const Controls c = controls_with({});
  EXPECT_TRUE(c.primary & CPU_BASED_HLT_EXITING);
  EXPECT_TRUE(c.primary & CPU_BASED_MWAIT_EXITING);
  EXPECT_TRUE(c.primary & CPU_BASED_MONITOR_EXITING);
  EXPECT_TRUE(c.secondary & SECONDARY_EXEC_PAUSE_LOOP_EXITING);
  EXPECT_TRUE(c.c1_res_read_exits);
  EXPECT_TRUE(c.c6_res_read_exits);
}

TEST(DisableExits, MwaitClearsMwaitAndMonitorExitingOnly) {
  const Controls base = controls_with({});
  const Controls c = controls_with({"mwait"});
  EXPECT_EQ(c.primary, base.primary & ~(CPU_BASED_MWAIT_EXITING | CPU_BASED_MONITOR_EXITING));
  EXPECT_EQ(c.secondary, base.secondary);
}

TEST(DisableExits, HltClearsHltExitingOnly) {
  const Controls base = controls_with({});
  const Controls c = controls_with({"hlt"});
  EXPECT_EQ(c.primary, base.primary & ~CPU_BASED_HLT_EXITING);
  EXPECT_EQ(c.secondary, base.secondary);
}

TEST(DisableExits, PauseClearsPauseExitingAndPle) {
  const Controls base = controls_with({});
  const Controls c = controls_with({"pause"});
  EXPECT_EQ(c.primary, base.primary & ~CPU_BASED_PAUSE_EXITING);
  EXPECT_EQ(c.secondary, base.secondary & ~SECONDARY_EXEC_PAUSE_LOOP_EXITING);
}

TEST(DisableExits, CstatePassesResidencyMsrReadsOnly) {
  const Controls base = controls_with({});
  const Controls c = controls_with({"cstate"});
  EXPECT_EQ(c.primary, base.primary);
  EXPECT_EQ(c.secondary, base.secondary);
  EXPECT_FALSE(c.c1_res_read_exits);
  EXPECT_FALSE(c.c6_res_read_exits);
  EXPECT_TRUE(c.c6_res_write_exits);
}

TEST(DisableExits, UnknownNameIsRejected) {
  EXPECT_THROW(kvm::disable_exits_bits({"mwait", "nmi"}), std::invalid_argument);
  EXPECT_EQ(kvm::disable_exits_bits({"mwait", "hlt", "pause", "cstate"}), 0xFu);
}

// With MWAIT in the guest's CPUID: intel_idle is usable and PV TLB flush switches off;
// without it guest.idle=mwait is a configuration error.
TEST(DisableExits, MwaitGatesGuestIdleMwaitAndPvTlbFlush) {
  const std::string yaml = "name: t\nrun: {progress: false, max_sim_ms: 1}\nworkload: {kind: idle}\n";
  EXPECT_THROW(run::run_scenario(testutil::scenario(yaml, {"guest.idle=mwait"})), sim::ConfigError);
  const std::string tlb = "name: t\nrun: {progress: false, max_sim_ms: 50}\nvm: {vcpus: 4}\nworkload: {kind: ebizzy}\nebizzy: {duration_ms: 1}\n";
  const auto off = run::run_scenario(testutil::scenario(tlb, {"kvm.disable_exits=[mwait]", "guest.idle=mwait"}));
  EXPECT_EQ(testutil::metric(off, "tlb.pv_flush"), 0.0);
  const auto on = run::run_scenario(testutil::scenario(tlb));
  EXPECT_EQ(testutil::metric(on, "tlb.pv_flush"), 1.0);
}

}  // namespace
