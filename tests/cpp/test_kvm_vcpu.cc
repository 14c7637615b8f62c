// KVM's run-loop pieces (model/kvm/vcpu.h, lapic.h) against a FAKE hardware: a VmxCpu whose
// clock only moves when KVM charges cycles, and fake host operations that record what KVM
// asks of the host kernel. No SystemC, no scheduler: each test drives handle_exit /
// enter_guest / deliver_interrupt by hand and checks the costs charged, the VMCS and
// posted-interrupt state, and the host calls (reference kvm-mechanisms.md §1, §3-§7).
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "hw/apic_regs.h"
#include "hw/guest_op.h"
#include "hw/icr.h"
#include "hw/platform.h"
#include "hw/vmcs.h"
#include "hw/vmx.h"
#include "hw/vmx_cpu.h"
#include "kvm/host_ops.h"
#include "kvm/kvm.h"
#include "kvm/params.h"
#include "kvm/vcpu.h"

namespace {

using hw::GuestOp;
using hw::OpKind;
using hw::VmcsField;
using kvm::ExitResult;
using kvm::VcpuMode;

constexpr uint8_t kTimerVector = 0xb0;
constexpr uint32_t kLvttTscDeadline = (2u << 17) | kTimerVector;

// ---------------------------------------------------------------------------------------
// Fakes

// Every cost a distinct value: 10 + (37 i mod 113) for the first 113 keys (113 is prime),
// 123, 124, ... for the keys past them (INIT/SIPI, SMM, lazy FPU, irq threads: off the
// default exit/entry path).
// Small, so a whole exit plus entry (at most ~980 cycles) stays under the 1000-cycle (1 us)
// timer advance.
hw::CostTable distinct_costs() {
  hw::CostTable t;
  int i = 0;
  for (const hw::CostKey& k : hw::cost_keys()) {
    t.*(k.member) = i < 113 ? 10 + (37 * i) % 113 : 123 + (i - 113);
    ++i;
  }
  return t;
}

hw::VmxCapabilities fake_caps() {
  hw::VmxCapabilities c;
  c.apicv = true;
  c.posted_interrupts = true;
  c.preemption_timer = true;
  c.preemption_timer_rate = 5;
  c.ple = true;
  return c;
}

// A 1 GHz CPU whose TSC also runs at 1 GHz: 1 cycle = 1000 ps = 1 TSC tick.
class FakeVmxCpu : public hw::VmxCpu {
 public:
  FakeVmxCpu(int id, const hw::CostTable& costs, const hw::VmxCapabilities& caps)
      : id_(id), costs_(costs), caps_(caps) {}

  int cpu() const override { return id_; }
  const hw::CostTable& costs() const override { return costs_; }
  const hw::VmxCapabilities& caps() const override { return caps_; }
  uint64_t host_tsc() const override { return time_ps / 1000; }
  double tsc_mhz() const override { return 1000.0; }
  sim::Picos time_of_host_tsc(uint64_t tsc) const override { return tsc * 1000; }
  void vmenter(hw::Vmcs& vmcs, hw::GuestSoftware&) override {
    ++vmenters;
    last_vmcs = &vmcs;
    time_at_vmenter = time_ps;
  }
  void skip_instruction() override { ++skips; }
  void send_ipi(const hw::Icr& icr) override { ipis.push_back(icr); }

  void reset_charges() {
    charged_cycles = 0;
    charged_ps = 0;
  }

  double& charged = charged_cycles;  // cycles charged through charge() (ps_per_cycle 1000)
  sim::Picos& time_ps = local_ps;
  int vmenters = 0;
  hw::Vmcs* last_vmcs = nullptr;
  sim::Picos time_at_vmenter = 0;
  int skips = 0;
  std::vector<hw::Icr> ipis;

 private:
  int id_;
  const hw::CostTable& costs_;
  hw::VmxCapabilities caps_;
};

class FakeHostOps : public kvm::VcpuHostOps {
 public:
  struct TimerStart {
    int cpu;
    sim::Picos expires;
  };
  void start_timer(hw::VmxCpu& from, sim::Picos expires) override { timer_starts.push_back({from.cpu(), expires}); }
  void cancel_timer(hw::VmxCpu&) override { ++timer_cancels; }
  void wake_up(hw::VmxCpu&) override { ++wake_ups; }
  void send_ipi_to_vcpu_cpu(hw::VmxCpu&, uint8_t vector) override { ipi_vectors.push_back(vector); }
  void handle_host_irq(hw::VmxCpu&, uint8_t vector) override { host_irqs.push_back(vector); }

  std::vector<TimerStart> timer_starts;
  int timer_cancels = 0;
  int wake_ups = 0;
  std::vector<uint8_t> ipi_vectors;
  std::vector<uint8_t> host_irqs;
};

class FakeGuest : public hw::GuestSoftware {
 public:
  GuestOp& current_op() override { return op; }
  void complete_op() override { ++completed; }
  void deliver_interrupt(uint8_t vector) override { delivered.push_back(vector); }

  GuestOp op;
  int completed = 0;
  std::vector<uint8_t> delivered;
};

// A VM with two vCPUs (APIC ids 0 and 1) on fake hardware: cpu0 runs vCPU 0's KVM code,
// cpu1 is "another CPU".
struct Rig {
  explicit Rig(const kvm::KvmParams& params = {}, const hw::VmxCapabilities& caps = fake_caps())
      : costs(distinct_costs()), cpu0(0, costs, caps), cpu1(1, costs, caps) {
    kvm = std::make_unique<kvm::Kvm>("vm", params, caps, costs);
    for (int i = 0; i < 2; ++i) {
      kvm::Vcpu& v = kvm->create_vcpu(static_cast<uint32_t>(i));
      v.guest = &guests[static_cast<size_t>(i)];
      v.host = &hosts[static_cast<size_t>(i)];
      v.cpu = i;
    }
    cpu0.time_ps = 10'000'000;  // 10 us: TSC 10000
    cpu1.time_ps = 10'000'000;
  }
  kvm::Vcpu& vcpu(int i) { return kvm->vcpu(i); }
  FakeGuest& guest(int i) { return guests[static_cast<size_t>(i)]; }
  FakeHostOps& host(int i) { return hosts[static_cast<size_t>(i)]; }

  // A VM exit of vCPU `i` on cpu0, with the guest's current op set to `op`.
  ExitResult exit(int i, uint16_t reason, const GuestOp& op = {}, uint64_t qual = 0, uint32_t intr_info = 0) {
    guest(i).op = op;
    const hw::ExitInfo e{reason, qual, intr_info, &guest(i).op, cpu0.now()};
    return vcpu(i).handle_exit(cpu0, e);
  }

  hw::CostTable costs;  // referenced by Kvm and the CPUs: declared first
  FakeVmxCpu cpu0, cpu1;
  std::unique_ptr<kvm::Kvm> kvm;
  std::array<FakeGuest, 2> guests;
  std::array<FakeHostOps, 2> hosts;
};

GuestOp wrmsr(uint32_t msr, uint64_t value) {
  GuestOp op;
  op.kind = OpKind::Wrmsr;
  op.a32 = msr;
  op.a = value;
  return op;
}

GuestOp op_with_a(OpKind kind, uint64_t a) {
  GuestOp op;
  op.kind = kind;
  op.a = a;
  return op;
}

uint64_t physical_fixed_icr(uint8_t vector, uint32_t dest) {
  hw::Icr icr;
  icr.vector = vector;
  icr.level_assert = true;
  icr.dest = dest;
  return icr.encode_x2apic();
}

// ---------------------------------------------------------------------------------------
// Full exit path and entry

TEST(KvmRunLoop, FakeCostsAreDistinct) {
  const hw::CostTable t = distinct_costs();
  std::set<double> seen;
  for (const hw::CostKey& k : hw::cost_keys()) EXPECT_TRUE(seen.insert(t.*(k.member)).second) << k.key;
}

TEST(KvmRunLoop, CpuidExitTakesTheFullPathAndSkipsTheInstruction) {
  Rig r;
  const hw::CostTable& c = r.costs;
  EXPECT_EQ(r.exit(0, hw::EXIT_REASON_CPUID, op_with_a(OpKind::Cpuid, 0)), ExitResult::Reenter);
  EXPECT_EQ(r.cpu0.skips, 1);
  EXPECT_DOUBLE_EQ(r.cpu0.charged, c.kvm_exit_path + c.kvm_handle_exit + c.kvm_handle_cpuid + c.kvm_skip_instruction);
  EXPECT_EQ(r.guest(0).regs.result, 0xDu);  // leaf 0: max basic leaf
  const kvm::VcpuStats& st = r.vcpu(0).stat;
  EXPECT_EQ(st.exits, 1u);
  EXPECT_EQ(st.exits_by_reason[hw::EXIT_REASON_CPUID], 1u);
  EXPECT_EQ(st.fastpath_exits, 0u);
  EXPECT_EQ(r.vcpu(0).mode, VcpuMode::OUTSIDE_GUEST_MODE);
  EXPECT_EQ(r.cpu0.vmenters, 0);
}

TEST(KvmRunLoop, EnterGuestChargesTheEntryPathAndEntersOnce) {
  Rig r;
  r.exit(0, hw::EXIT_REASON_CPUID, op_with_a(OpKind::Cpuid, 0));
  const sim::Picos exit_start = r.cpu0.time_ps - static_cast<sim::Picos>(r.cpu0.charged * 1000);
  r.cpu0.reset_charges();
  r.vcpu(0).enter_guest(r.cpu0);
  EXPECT_DOUBLE_EQ(r.cpu0.charged, r.costs.kvm_enter_path);  // no mitigation enabled
  EXPECT_EQ(r.cpu0.vmenters, 1);
  EXPECT_EQ(r.cpu0.last_vmcs, &r.vcpu(0).vmcs);
  EXPECT_EQ(r.vcpu(0).mode, VcpuMode::IN_GUEST_MODE);
  // kvm_exit -> kvm_entry time of the exit, as perf kvm stat reports it.
  const sim::Summary& s = r.vcpu(0).stat.exit_time_ns[hw::EXIT_REASON_CPUID];
  EXPECT_EQ(s.count, 1u);
  EXPECT_DOUBLE_EQ(s.sum, sim::to_ns(r.cpu0.time_at_vmenter - exit_start));
}

TEST(KvmRunLoop, MdsClearIsChargedOnEntryOnlyWhenEnabled) {
  kvm::KvmParams p;
  p.mitigations = {"mds_clear"};
  Rig r(p);
  r.exit(0, hw::EXIT_REASON_CPUID, op_with_a(OpKind::Cpuid, 0));
  r.cpu0.reset_charges();
  r.vcpu(0).enter_guest(r.cpu0);
  EXPECT_DOUBLE_EQ(r.cpu0.charged, r.costs.kvm_enter_path + r.costs.mitigation_mds_clear);
  EXPECT_EQ(r.cpu0.vmenters, 1);
}

TEST(KvmRunLoop, L1dFlushIsConditional) {
  // vmentry_l1d_flush=cond: flush on the first entry (and after exits that may have touched
  // sensitive data, e.g. a trip to user space), not after a plain CPUID exit.
  kvm::KvmParams p;
  p.mitigations = {"l1d_flush"};
  Rig r(p);
  r.vcpu(0).enter_guest(r.cpu0);
  EXPECT_DOUBLE_EQ(r.cpu0.charged, r.costs.kvm_enter_path + r.costs.mitigation_l1d_flush);
  r.exit(0, hw::EXIT_REASON_CPUID, op_with_a(OpKind::Cpuid, 0));
  r.cpu0.reset_charges();
  r.vcpu(0).enter_guest(r.cpu0);
  EXPECT_DOUBLE_EQ(r.cpu0.charged, r.costs.kvm_enter_path);
}

// ---------------------------------------------------------------------------------------
// IPIs: the fastpath and posted interrupts

TEST(KvmRunLoop, IcrFastpathPostsToARunningVcpuWithANotificationIpi) {
  Rig r;
  const hw::CostTable& c = r.costs;
  r.vcpu(1).mode = VcpuMode::IN_GUEST_MODE;
  r.vcpu(1).cpu = 1;  // running on another CPU than the sender's (cpu0)
  EXPECT_EQ(r.exit(0, hw::EXIT_REASON_MSR_WRITE, wrmsr(hw::MSR_X2APIC_ICR, physical_fixed_icr(0x40, 1))),
            ExitResult::Reenter);
  const kvm::VcpuStats& st = r.vcpu(0).stat;
  EXPECT_EQ(st.fastpath_exits, 1u);
  EXPECT_EQ(st.exits_by_reason[hw::EXIT_REASON_MSR_WRITE], 1u);
  // No kvm.handle_exit: the whole exit is handled with IRQs off.
  EXPECT_DOUBLE_EQ(r.cpu0.charged, c.kvm_exit_path + c.kvm_handle_x2apic_msr + c.kvm_handle_icr +
                                       c.kvm_deliver_interrupt + c.kvm_skip_instruction);
  EXPECT_EQ(r.cpu0.skips, 1);
  EXPECT_TRUE(r.vcpu(1).pi_desc.pi_test_pir(0x40));
  EXPECT_TRUE(r.vcpu(1).pi_desc.pi_test_on());
  EXPECT_EQ(r.vcpu(1).stat.posted_interrupts, 1u);
  EXPECT_EQ(r.host(1).ipi_vectors, std::vector<uint8_t>{hw::POSTED_INTR_VECTOR});
  EXPECT_EQ(r.host(1).wake_ups, 0);
  EXPECT_FALSE(r.vcpu(1).lapic.regs.test_irr(0x40));  // the CPU moves it, not KVM
  EXPECT_EQ(r.kvm->ipis_sent, 1u);
  EXPECT_TRUE(r.host(0).ipi_vectors.empty());
}

TEST(KvmRunLoop, IcrFastpathToAVcpuOutsideGuestModeWakesItInstead) {
  Rig r;
  r.vcpu(1).mode = VcpuMode::OUTSIDE_GUEST_MODE;
  r.vcpu(1).cpu = 1;
  r.exit(0, hw::EXIT_REASON_MSR_WRITE, wrmsr(hw::MSR_X2APIC_ICR, physical_fixed_icr(0x40, 1)));
  EXPECT_EQ(r.vcpu(0).stat.fastpath_exits, 1u);
  EXPECT_TRUE(r.vcpu(1).pi_desc.pi_test_pir(0x40));
  EXPECT_TRUE(r.vcpu(1).pi_desc.pi_test_on());
  EXPECT_EQ(r.host(1).wake_ups, 1);
  EXPECT_TRUE(r.host(1).ipi_vectors.empty());
  // Merged into the vIRR at the target's next entry.
  r.vcpu(1).enter_guest(r.cpu1);
  EXPECT_TRUE(r.vcpu(1).lapic.regs.test_irr(0x40));
  EXPECT_FALSE(r.vcpu(1).pi_desc.pi_test_on());
  EXPECT_TRUE(r.vcpu(1).pi_desc.pi_is_pir_empty());
  EXPECT_EQ(r.vcpu(1).vmcs.read(VmcsField::GUEST_INTR_STATUS) & 0xFF, 0x40u);  // RVI
}

TEST(KvmRunLoop, SecondPostWhileOnIsSetSendsNothing) {
  Rig r;
  r.vcpu(1).mode = VcpuMode::IN_GUEST_MODE;
  r.vcpu(1).cpu = 1;
  r.exit(0, hw::EXIT_REASON_MSR_WRITE, wrmsr(hw::MSR_X2APIC_ICR, physical_fixed_icr(0x40, 1)));
  ASSERT_EQ(r.host(1).ipi_vectors.size(), 1u);
  r.exit(0, hw::EXIT_REASON_MSR_WRITE, wrmsr(hw::MSR_X2APIC_ICR, physical_fixed_icr(0x41, 1)));
  EXPECT_TRUE(r.vcpu(1).pi_desc.pi_test_pir(0x41));
  EXPECT_EQ(r.host(1).ipi_vectors.size(), 1u);  // the outstanding notification covers it
  EXPECT_EQ(r.host(1).wake_ups, 0);
  r.exit(0, hw::EXIT_REASON_MSR_WRITE, wrmsr(hw::MSR_X2APIC_ICR, physical_fixed_icr(0x40, 1)));  // coalesced
  EXPECT_EQ(r.host(1).ipi_vectors.size(), 1u);
  EXPECT_EQ(r.vcpu(0).stat.fastpath_exits, 3u);
  EXPECT_EQ(r.vcpu(1).stat.posted_interrupts, 3u);
}

TEST(KvmRunLoop, ShorthandIcrTakesTheFullPath) {
  Rig r;
  hw::Icr icr;
  icr.vector = 0x40;
  icr.level_assert = true;
  icr.shorthand = hw::Shorthand::Self;
  r.exit(0, hw::EXIT_REASON_MSR_WRITE, wrmsr(hw::MSR_X2APIC_ICR, icr.encode_x2apic()));
  const hw::CostTable& c = r.costs;
  EXPECT_EQ(r.vcpu(0).stat.fastpath_exits, 0u);
  EXPECT_DOUBLE_EQ(r.cpu0.charged, c.kvm_exit_path + c.kvm_handle_exit + c.kvm_handle_x2apic_msr + c.kvm_handle_icr +
                                       c.kvm_deliver_interrupt + c.kvm_skip_instruction);
  EXPECT_TRUE(r.vcpu(0).pi_desc.pi_test_pir(0x40));   // to self
  EXPECT_FALSE(r.vcpu(1).pi_desc.pi_test_pir(0x40));
}

TEST(KvmRunLoop, LogicalIcrTakesTheFullPath) {
  Rig r;
  hw::Icr icr;
  icr.vector = 0x41;
  icr.level_assert = true;
  icr.logical = true;
  icr.dest = hw::x2apic_ldr(1);  // cluster 0, member bit 1: vCPU 1
  r.exit(0, hw::EXIT_REASON_MSR_WRITE, wrmsr(hw::MSR_X2APIC_ICR, icr.encode_x2apic()));
  const hw::CostTable& c = r.costs;
  EXPECT_EQ(r.vcpu(0).stat.fastpath_exits, 0u);
  EXPECT_DOUBLE_EQ(r.cpu0.charged, c.kvm_exit_path + c.kvm_handle_exit + c.kvm_handle_x2apic_msr + c.kvm_handle_icr +
                                       c.kvm_deliver_interrupt + c.kvm_skip_instruction);
  EXPECT_TRUE(r.vcpu(1).pi_desc.pi_test_pir(0x41));
  EXPECT_FALSE(r.vcpu(0).pi_desc.pi_test_pir(0x41));
}

TEST(KvmRunLoop, BroadcastIcrTakesTheFullPathAndReachesEveryone) {
  Rig r;
  r.exit(0, hw::EXIT_REASON_MSR_WRITE, wrmsr(hw::MSR_X2APIC_ICR, physical_fixed_icr(0x42, 0xFFFFFFFFu)));
  EXPECT_EQ(r.vcpu(0).stat.fastpath_exits, 0u);
  EXPECT_TRUE(r.vcpu(0).pi_desc.pi_test_pir(0x42));
  EXPECT_TRUE(r.vcpu(1).pi_desc.pi_test_pir(0x42));
}

TEST(KvmRunLoop, WithFastpathOffAPhysicalIcrTakesTheFullPath) {
  kvm::KvmParams p;
  p.fastpath = false;
  Rig r(p);
  r.exit(0, hw::EXIT_REASON_MSR_WRITE, wrmsr(hw::MSR_X2APIC_ICR, physical_fixed_icr(0x40, 1)));
  EXPECT_EQ(r.vcpu(0).stat.fastpath_exits, 0u);
  const hw::CostTable& c = r.costs;
  EXPECT_DOUBLE_EQ(r.cpu0.charged, c.kvm_exit_path + c.kvm_handle_exit + c.kvm_handle_x2apic_msr + c.kvm_handle_icr +
                                       c.kvm_deliver_interrupt + c.kvm_skip_instruction);
  EXPECT_TRUE(r.vcpu(1).pi_desc.pi_test_pir(0x40));
}

// ---------------------------------------------------------------------------------------
// The LAPIC timer in TSC-deadline mode

void set_tsc_deadline_mode(Rig& r, int i = 0) {
  r.vcpu(i).lapic.x2apic_msr_write(r.cpu0, hw::MSR_X2APIC_LVTT, kLvttTscDeadline);
  ASSERT_EQ(r.vcpu(i).lapic.regs.lvtt(), kLvttTscDeadline);
  r.cpu0.reset_charges();
}

TEST(KvmRunLoop, TscDeadlineWriteArmsTheHvTimerAndEntryProgramsThePreemptionTimer) {
  Rig r;
  set_tsc_deadline_mode(r);
  const uint64_t deadline = r.cpu0.host_tsc() + 100000;  // 100 us ahead
  r.exit(0, hw::EXIT_REASON_MSR_WRITE, wrmsr(hw::MSR_IA32_TSC_DEADLINE, deadline));
  kvm::Vcpu& v = r.vcpu(0);
  EXPECT_EQ(v.stat.fastpath_exits, 1u);
  EXPECT_TRUE(v.lapic.hv_timer_in_use());
  EXPECT_EQ(v.lapic.tscdeadline(), deadline);
  EXPECT_EQ(v.stat.hv_timer_armed, 1u);
  EXPECT_TRUE(r.host(0).timer_starts.empty());
  const hw::CostTable& c = r.costs;
  EXPECT_DOUBLE_EQ(r.cpu0.charged, c.kvm_exit_path + c.kvm_handle_tsc_deadline + c.kvm_hv_timer_arm + c.kvm_skip_instruction);

  const uint64_t tsc_before = r.cpu0.host_tsc();
  v.enter_guest(r.cpu0);
  EXPECT_TRUE(v.vmcs.pin() & hw::PIN_BASED_VMX_PREEMPTION_TIMER);
  // The value is computed after the entry path is charged: (deadline - advance - now) >> rate,
  // the advance being 1000 ns = 1000 TSC cycles at 1 GHz.
  const uint64_t now_tsc = tsc_before + static_cast<uint64_t>(c.kvm_enter_path);
  const uint64_t expected = (deadline - 1000 - now_tsc) >> 5;
  EXPECT_EQ(v.vmcs.read(VmcsField::VMX_PREEMPTION_TIMER_VALUE), expected);
  EXPECT_EQ(r.cpu0.vmenters, 1);
}

TEST(KvmRunLoop, PreemptionTimerExitInjectsTheTimerVectorAndEntryWaitsForTheDeadline) {
  Rig r;
  set_tsc_deadline_mode(r);
  const uint64_t deadline = r.cpu0.host_tsc() + 100000;
  r.exit(0, hw::EXIT_REASON_MSR_WRITE, wrmsr(hw::MSR_IA32_TSC_DEADLINE, deadline));
  kvm::Vcpu& v = r.vcpu(0);
  v.enter_guest(r.cpu0);
  // The preemption timer fires at deadline - advance.
  r.cpu0.time_ps = (deadline - 1000) * 1000;
  r.cpu0.reset_charges();
  EXPECT_EQ(r.exit(0, hw::EXIT_REASON_PREEMPTION_TIMER), ExitResult::Reenter);
  const hw::CostTable& c = r.costs;
  EXPECT_EQ(v.stat.fastpath_exits, 2u);
  EXPECT_EQ(v.stat.timer_fired, 1u);
  EXPECT_DOUBLE_EQ(r.cpu0.charged, c.kvm_exit_path + c.kvm_handle_preemption_timer + c.kvm_apic_timer_expired +
                                       c.kvm_deliver_interrupt);
  EXPECT_EQ(r.cpu0.skips, 1);  // only the MSR write's
  EXPECT_FALSE(v.lapic.hv_timer_in_use());
  EXPECT_EQ(v.lapic.tscdeadline(), 0u);  // reads 0 once fired
  EXPECT_TRUE(v.pi_desc.pi_test_pir(kTimerVector));
  EXPECT_TRUE(v.pi_desc.pi_test_on());

  r.cpu0.reset_charges();
  v.enter_guest(r.cpu0);
  EXPECT_TRUE(v.lapic.regs.test_irr(kTimerVector));
  EXPECT_TRUE(v.pi_desc.pi_is_pir_empty());
  EXPECT_EQ(v.vmcs.read(VmcsField::GUEST_INTR_STATUS) & 0xFF, kTimerVector);
  EXPECT_FALSE(v.vmcs.pin() & hw::PIN_BASED_VMX_PREEMPTION_TIMER);  // nothing armed now
  // wait_lapic_expire: the interrupt was injected early, so KVM busy-waits to the deadline.
  EXPECT_GT(r.cpu0.charged_ps, 0u);
  EXPECT_GE(r.cpu0.time_at_vmenter, deadline * 1000);
  // ... and the adaptive advance moves toward the observed earliness (1/8 step).
  EXPECT_LT(v.lapic.timer_advance_ns(), 1000);
  EXPECT_GE(v.lapic.timer_advance_ns(), 1000 - 1000 / 8);
}

TEST(KvmRunLoop, SwTimerStartsAnHrtimerAtDeadlineMinusAdvance) {
  kvm::KvmParams p;
  p.hv_timer = false;
  Rig r(p);
  set_tsc_deadline_mode(r);
  const uint64_t deadline = r.cpu0.host_tsc() + 100000;
  r.exit(0, hw::EXIT_REASON_MSR_WRITE, wrmsr(hw::MSR_IA32_TSC_DEADLINE, deadline));
  kvm::Vcpu& v = r.vcpu(0);
  EXPECT_EQ(v.stat.fastpath_exits, 1u);
  EXPECT_FALSE(v.lapic.hv_timer_in_use());
  EXPECT_EQ(v.stat.sw_timer_armed, 1u);
  EXPECT_EQ(v.stat.hv_timer_armed, 0u);
  ASSERT_EQ(r.host(0).timer_starts.size(), 1u);
  EXPECT_EQ(r.host(0).timer_starts[0].expires, deadline * 1000 - 1'000'000);  // 1000 ns early
  const hw::CostTable& c = r.costs;
  EXPECT_DOUBLE_EQ(r.cpu0.charged, c.kvm_exit_path + c.kvm_handle_tsc_deadline + c.kvm_hrtimer_start + c.kvm_skip_instruction);
  v.enter_guest(r.cpu0);
  EXPECT_FALSE(v.vmcs.pin() & hw::PIN_BASED_VMX_PREEMPTION_TIMER);
}

TEST(KvmRunLoop, SwTimerRewriteCancelsTheHrtimer) {
  kvm::KvmParams p;
  p.hv_timer = false;
  Rig r(p);
  set_tsc_deadline_mode(r);
  const uint64_t deadline = r.cpu0.host_tsc() + 100000;
  r.exit(0, hw::EXIT_REASON_MSR_WRITE, wrmsr(hw::MSR_IA32_TSC_DEADLINE, deadline));
  r.exit(0, hw::EXIT_REASON_MSR_WRITE, wrmsr(hw::MSR_IA32_TSC_DEADLINE, deadline + 5000));
  EXPECT_EQ(r.host(0).timer_cancels, 1);
  ASSERT_EQ(r.host(0).timer_starts.size(), 2u);
  EXPECT_EQ(r.host(0).timer_starts[1].expires, (deadline + 5000) * 1000 - 1'000'000);
  r.exit(0, hw::EXIT_REASON_MSR_WRITE, wrmsr(hw::MSR_IA32_TSC_DEADLINE, 0));  // disarm
  EXPECT_EQ(r.host(0).timer_cancels, 2);
  EXPECT_EQ(r.host(0).timer_starts.size(), 2u);
  EXPECT_EQ(r.vcpu(0).lapic.tscdeadline(), 0u);
}

TEST(KvmRunLoop, SwTimerCallbackWakesAVcpuOutsideGuestMode) {
  kvm::KvmParams p;
  p.hv_timer = false;
  Rig r(p);
  set_tsc_deadline_mode(r);
  const uint64_t deadline = r.cpu0.host_tsc() + 100000;
  r.exit(0, hw::EXIT_REASON_MSR_WRITE, wrmsr(hw::MSR_IA32_TSC_DEADLINE, deadline));
  kvm::Vcpu& v = r.vcpu(0);
  ASSERT_EQ(v.mode, VcpuMode::OUTSIDE_GUEST_MODE);
  r.cpu0.time_ps = r.host(0).timer_starts.at(0).expires;
  v.lapic.timer_fn(r.cpu0);
  EXPECT_TRUE(v.lapic.timer_pending());
  EXPECT_TRUE(v.has_wake_event());
  EXPECT_EQ(r.host(0).wake_ups, 1);
  EXPECT_TRUE(r.host(0).ipi_vectors.empty());
  // Nothing is posted yet: the pending timer is injected on the way into the guest.
  EXPECT_FALSE(v.pi_desc.pi_test_pir(kTimerVector));
  v.enter_guest(r.cpu0);
  EXPECT_FALSE(v.lapic.timer_pending());
  EXPECT_TRUE(v.lapic.regs.test_irr(kTimerVector));
  EXPECT_GE(r.cpu0.time_at_vmenter, deadline * 1000);  // busy-waited to the deadline
}

TEST(KvmRunLoop, SwTimerCallbackKicksAVcpuInGuestModeWithAnIpi) {
  kvm::KvmParams p;
  p.hv_timer = false;
  Rig r(p);
  set_tsc_deadline_mode(r);
  const uint64_t deadline = r.cpu0.host_tsc() + 100000;
  r.exit(0, hw::EXIT_REASON_MSR_WRITE, wrmsr(hw::MSR_IA32_TSC_DEADLINE, deadline));
  kvm::Vcpu& v = r.vcpu(0);
  v.enter_guest(r.cpu0);
  ASSERT_EQ(v.mode, VcpuMode::IN_GUEST_MODE);
  v.cpu = 0;
  r.cpu1.time_ps = r.host(0).timer_starts.at(0).expires;
  v.lapic.timer_fn(r.cpu1);  // the callback runs on another CPU than the vCPU's
  EXPECT_TRUE(v.lapic.timer_pending());
  EXPECT_EQ(r.host(0).ipi_vectors, std::vector<uint8_t>{hw::RESCHEDULE_VECTOR});
  EXPECT_EQ(r.host(0).wake_ups, 0);
  EXPECT_EQ(v.mode, VcpuMode::EXITING_GUEST_MODE);
  EXPECT_DOUBLE_EQ(r.cpu1.charged, r.costs.kvm_apic_timer_expired + r.costs.kvm_vcpu_kick);
}

TEST(KvmRunLoop, DeadlineInThePastExpiresImmediately) {
  for (bool hv : {true, false}) {
    SCOPED_TRACE(hv ? "hv timer" : "sw timer");
    kvm::KvmParams p;
    p.hv_timer = hv;
    Rig r(p);
    set_tsc_deadline_mode(r);
    const uint64_t now = r.cpu0.host_tsc();  // tscdeadline_immed: wrmsr(TSC_DEADLINE, rdtsc())
    r.exit(0, hw::EXIT_REASON_MSR_WRITE, wrmsr(hw::MSR_IA32_TSC_DEADLINE, now));
    kvm::Vcpu& v = r.vcpu(0);
    EXPECT_TRUE(v.pi_desc.pi_test_pir(kTimerVector));
    EXPECT_FALSE(v.lapic.hv_timer_in_use());
    EXPECT_TRUE(r.host(0).timer_starts.empty());
    EXPECT_EQ(v.stat.hv_timer_armed, 0u);
    EXPECT_EQ(v.stat.sw_timer_armed, 0u);
    EXPECT_EQ(v.stat.timer_fired, 1u);
    EXPECT_EQ(v.lapic.tscdeadline(), 0u);
    v.enter_guest(r.cpu0);
    EXPECT_TRUE(v.lapic.regs.test_irr(kTimerVector));
    EXPECT_FALSE(v.vmcs.pin() & hw::PIN_BASED_VMX_PREEMPTION_TIMER);
    EXPECT_EQ(r.cpu0.charged_ps, 0u);  // already late: no busy wait
  }
}

TEST(KvmRunLoop, HvDeadlineWithinTheAdvanceExpiresAtOnceAndEntryWaits) {
  Rig r;
  set_tsc_deadline_mode(r);
  const uint64_t deadline = r.cpu0.host_tsc() + 900;  // inside the 1000-cycle advance
  r.exit(0, hw::EXIT_REASON_MSR_WRITE, wrmsr(hw::MSR_IA32_TSC_DEADLINE, deadline));
  kvm::Vcpu& v = r.vcpu(0);
  EXPECT_FALSE(v.lapic.hv_timer_in_use());
  EXPECT_TRUE(v.pi_desc.pi_test_pir(kTimerVector));
  v.enter_guest(r.cpu0);
  EXPECT_GE(r.cpu0.time_at_vmenter, deadline * 1000);
  EXPECT_GT(r.cpu0.charged_ps, 0u);
}

TEST(KvmRunLoop, TscDeadlineIgnoredUnlessLvttIsInTscDeadlineMode) {
  Rig r;  // LVTT masked, one-shot mode after reset
  const uint64_t deadline = r.cpu0.host_tsc() + 100000;
  r.exit(0, hw::EXIT_REASON_MSR_WRITE, wrmsr(hw::MSR_IA32_TSC_DEADLINE, deadline));
  EXPECT_EQ(r.vcpu(0).lapic.tscdeadline(), 0u);
  EXPECT_FALSE(r.vcpu(0).lapic.hv_timer_in_use());
  EXPECT_EQ(r.vcpu(0).stat.hv_timer_armed, 0u);
}

TEST(KvmRunLoop, TscDeadlineMsrReadsBackTheDeadline) {
  Rig r;
  set_tsc_deadline_mode(r);
  const uint64_t deadline = r.cpu0.host_tsc() + 100000;
  r.exit(0, hw::EXIT_REASON_MSR_WRITE, wrmsr(hw::MSR_IA32_TSC_DEADLINE, deadline));
  GuestOp rd;
  rd.kind = OpKind::Rdmsr;
  rd.a32 = hw::MSR_IA32_TSC_DEADLINE;
  r.exit(0, hw::EXIT_REASON_MSR_READ, rd);
  EXPECT_EQ(r.guest(0).regs.result, deadline);
}

// ---------------------------------------------------------------------------------------
// HLT, PAUSE, I/O, VMCALL, external interrupts

TEST(KvmRunLoop, HltHaltsUntilAnInterruptIsDelivered) {
  Rig r;
  kvm::Vcpu& v = r.vcpu(0);
  EXPECT_EQ(r.exit(0, hw::EXIT_REASON_HLT, GuestOp{OpKind::Hlt}), ExitResult::Halt);
  EXPECT_EQ(v.mp_state, kvm::MpState::HALTED);
  EXPECT_EQ(v.stat.halt_exits, 1u);
  EXPECT_EQ(r.cpu0.skips, 1);
  const hw::CostTable& c = r.costs;
  EXPECT_DOUBLE_EQ(r.cpu0.charged, c.kvm_exit_path + c.kvm_handle_exit + c.kvm_handle_hlt + c.kvm_skip_instruction);
  EXPECT_FALSE(v.has_wake_event());
  v.deliver_interrupt(r.cpu1, 0x40);
  EXPECT_TRUE(v.has_wake_event());
  EXPECT_EQ(r.host(0).wake_ups, 1);  // outside guest mode: a wake-up, not an IPI
  EXPECT_TRUE(r.host(0).ipi_vectors.empty());
}

TEST(KvmRunLoop, HltWithoutApicvWakesOnAnIrrVector) {
  hw::VmxCapabilities caps = fake_caps();
  caps.apicv = false;
  Rig r({}, caps);
  kvm::Vcpu& v = r.vcpu(0);
  EXPECT_EQ(r.exit(0, hw::EXIT_REASON_HLT, GuestOp{OpKind::Hlt}), ExitResult::Halt);
  EXPECT_FALSE(v.has_wake_event());
  v.deliver_interrupt(r.cpu1, 0x40);
  EXPECT_TRUE(v.has_wake_event());
}

TEST(KvmRunLoop, PauseExitGrowsThePleWindowAndEntryWritesIt) {
  Rig r;
  kvm::Vcpu& v = r.vcpu(0);
  ASSERT_EQ(v.ple_window, 4096u);
  EXPECT_EQ(r.exit(0, hw::EXIT_REASON_PAUSE_INSTRUCTION, GuestOp{OpKind::Pause}), ExitResult::Reenter);
  EXPECT_EQ(v.ple_window, 8192u);
  EXPECT_TRUE(v.ple_window_dirty);
  EXPECT_EQ(v.stat.ple_window_updates, 1u);
  EXPECT_EQ(v.vmcs.read(VmcsField::PLE_WINDOW), 4096u);  // not yet
  r.cpu0.reset_charges();
  v.enter_guest(r.cpu0);
  EXPECT_EQ(v.vmcs.read(VmcsField::PLE_WINDOW), 8192u);
  EXPECT_FALSE(v.ple_window_dirty);
  EXPECT_DOUBLE_EQ(r.cpu0.charged, r.costs.kvm_enter_path + r.costs.vmx_vmwrite);
  r.exit(0, hw::EXIT_REASON_PAUSE_INSTRUCTION, GuestOp{OpKind::Pause});
  EXPECT_EQ(v.ple_window, 16384u);
}

TEST(KvmRunLoop, PauseExitAtMaxWindowWritesNothing) {
  kvm::KvmParams p;
  p.ple_window_max = 8192;
  Rig r(p);
  kvm::Vcpu& v = r.vcpu(0);
  r.exit(0, hw::EXIT_REASON_PAUSE_INSTRUCTION, GuestOp{OpKind::Pause});
  v.enter_guest(r.cpu0);
  r.exit(0, hw::EXIT_REASON_PAUSE_INSTRUCTION, GuestOp{OpKind::Pause});
  EXPECT_EQ(v.ple_window, 8192u);
  EXPECT_FALSE(v.ple_window_dirty);
  EXPECT_EQ(v.stat.ple_window_updates, 1u);
}

GuestOp in_op(uint32_t port, uint64_t size) {
  GuestOp op;
  op.kind = OpKind::In;
  op.a32 = port;
  op.b = size;
  return op;
}
uint64_t io_qual(uint32_t port, uint64_t size, bool in) {
  return ((size - 1) & 7) | (in ? hw::IO_QUAL_IN : 0) | (static_cast<uint64_t>(port) << 16);
}

TEST(KvmRunLoop, IoToAKernelPortStaysInTheKernel) {
  Rig r;
  r.exit(0, hw::EXIT_REASON_IO_INSTRUCTION, in_op(0x4d0, 1), io_qual(0x4d0, 1, true));
  const hw::CostTable& c = r.costs;
  EXPECT_DOUBLE_EQ(r.cpu0.charged, c.kvm_exit_path + c.kvm_handle_exit + c.kvm_handle_io_kernel + c.kvm_skip_instruction);
  EXPECT_EQ(r.vcpu(0).stat.userspace_exits, 0u);
  EXPECT_EQ(r.guest(0).regs.result, 0xFFu);  // 1-byte IN from an idle port
}

TEST(KvmRunLoop, IoToAnotherPortExitsToUserspace) {
  Rig r;
  r.exit(0, hw::EXIT_REASON_IO_INSTRUCTION, in_op(0x1234, 4), io_qual(0x1234, 4, true));
  const hw::CostTable& c = r.costs;
  EXPECT_DOUBLE_EQ(r.cpu0.charged, c.kvm_exit_path + c.kvm_handle_exit + c.kvm_userspace_exit + c.kvm_skip_instruction);
  EXPECT_EQ(r.vcpu(0).stat.userspace_exits, 1u);
  EXPECT_EQ(r.guest(0).regs.result, 0xFFFFFFFFu);
}

TEST(KvmRunLoop, VmcallUnimplementedHypercallsReturnEnosys) {
  // An unknown number is not implemented; SEND_IPI is not either when KVM does not offer
  // KVM_FEATURE_PV_SEND_IPI.
  kvm::KvmParams p;
  p.pv_send_ipi = false;
  Rig r(p);
  const uint64_t enosys = static_cast<uint64_t>(-kvm::KVM_ENOSYS);
  int n = 0;
  for (uint64_t nr : {kvm::KVM_HC_KICK_CPU, kvm::KVM_HC_SEND_IPI, kvm::KVM_HC_SCHED_YIELD, uint64_t{12345}}) {
    r.guest(0).regs.result = 0;
    EXPECT_EQ(r.exit(0, hw::EXIT_REASON_VMCALL, op_with_a(OpKind::Vmcall, nr)), ExitResult::Reenter);
    // KICK_CPU and SCHED_YIELD are implemented since issue 5 and return 0.
    const bool implemented = nr == kvm::KVM_HC_KICK_CPU || nr == kvm::KVM_HC_SCHED_YIELD;
    EXPECT_EQ(r.guest(0).regs.result, implemented ? 0u : enosys) << "hypercall " << nr;
    EXPECT_EQ(r.cpu0.skips, ++n);
  }
  EXPECT_EQ(enosys, 0xFFFFFFFFFFFFFC18ull);  // -1000
  EXPECT_EQ(r.vcpu(0).stat.hypercalls, 4u);
  EXPECT_FALSE(r.vcpu(1).pi_desc.pi_test_on());
}

TEST(KvmRunLoop, VmcallKickAndYieldReturnZeroUnknownReturnsEnosys) {
  Rig r;  // default: pv_send_ipi offered
  const uint64_t enosys = static_cast<uint64_t>(-kvm::KVM_ENOSYS);
  for (uint64_t nr : {kvm::KVM_HC_KICK_CPU, kvm::KVM_HC_SCHED_YIELD, uint64_t{12345}}) {
    r.exit(0, hw::EXIT_REASON_VMCALL, op_with_a(OpKind::Vmcall, nr));
    EXPECT_EQ(r.guest(0).regs.result, nr == 12345 ? enosys : 0u) << "hypercall " << nr;
  }
}

TEST(KvmRunLoop, VmcallPvSendIpiDeliversToTheBitmapAndReturnsTheCount) {
  // kvm_pv_send_ipi(low = RBX, high = RCX, min = RDX, icr = RSI): bit i of low is APIC id
  // min + i (reference §3).
  Rig r;
  GuestOp op = op_with_a(OpKind::Vmcall, kvm::KVM_HC_SEND_IPI);
  op.b = 0b10;    // APIC id 1
  op.c = 0;
  op.d = 0;       // min
  op.e = 0x45;    // fixed, physical, vector 0x45
  r.exit(0, hw::EXIT_REASON_VMCALL, op);
  EXPECT_EQ(r.guest(0).regs.result, 1u);
  EXPECT_TRUE(r.vcpu(1).pi_desc.pi_test_pir(0x45));
  EXPECT_FALSE(r.vcpu(0).pi_desc.pi_test_pir(0x45));
  // Logical destination mode or a shorthand is rejected with -EINVAL (-22).
  op.e = 0x45 | hw::APIC_ICR_DEST_LOGICAL;
  r.exit(0, hw::EXIT_REASON_VMCALL, op);
  EXPECT_EQ(r.guest(0).regs.result, static_cast<uint64_t>(-22));
}

TEST(KvmRunLoop, VmcallVapicPollIrqReturnsZero) {
  Rig r;
  r.guest(0).regs.result = 77;
  r.exit(0, hw::EXIT_REASON_VMCALL, op_with_a(OpKind::Vmcall, kvm::KVM_HC_VAPIC_POLL_IRQ));
  EXPECT_EQ(r.guest(0).regs.result, 0u);
  const hw::CostTable& c = r.costs;
  EXPECT_DOUBLE_EQ(r.cpu0.charged, c.kvm_exit_path + c.kvm_handle_exit + c.kvm_handle_hypercall + c.kvm_skip_instruction);
}

TEST(KvmRunLoop, ExternalInterruptRunsTheHostHandler) {
  Rig r;
  EXPECT_EQ(r.exit(0, hw::EXIT_REASON_EXTERNAL_INTERRUPT, {}, 0,
                   hw::INTR_INFO_VALID_MASK | hw::INTR_TYPE_EXT_INTR | hw::LOCAL_TIMER_VECTOR),
            ExitResult::Reenter);
  EXPECT_EQ(r.host(0).host_irqs, std::vector<uint8_t>{hw::LOCAL_TIMER_VECTOR});
  EXPECT_EQ(r.cpu0.skips, 0);  // not an instruction
}

// ---------------------------------------------------------------------------------------
// Without APICv: IRR + KVM_REQ_EVENT, injection through VM-entry

TEST(KvmRunLoop, NoApicvDeliverSetsIrrAndRequestsAnEvent) {
  hw::VmxCapabilities caps = fake_caps();
  caps.apicv = false;
  Rig r({}, caps);
  kvm::Vcpu& v = r.vcpu(0);
  ASSERT_FALSE(v.apicv_active());
  v.deliver_interrupt(r.cpu1, 0x40);
  EXPECT_TRUE(v.lapic.regs.test_irr(0x40));
  EXPECT_TRUE(v.requests & kvm::KVM_REQ_EVENT);
  EXPECT_TRUE(v.pi_desc.pi_is_pir_empty());
  EXPECT_FALSE(v.pi_desc.pi_test_on());
  EXPECT_EQ(r.host(0).wake_ups, 1);
}

TEST(KvmRunLoop, NoApicvEntryInjectsWhenIfIsSet) {
  hw::VmxCapabilities caps = fake_caps();
  caps.apicv = false;
  Rig r({}, caps);
  kvm::Vcpu& v = r.vcpu(0);
  v.deliver_interrupt(r.cpu1, 0x40);
  r.guest(0).regs.rflags_if = true;
  r.cpu0.reset_charges();
  v.enter_guest(r.cpu0);
  EXPECT_EQ(v.vmcs.read(VmcsField::VM_ENTRY_INTR_INFO_FIELD), hw::INTR_INFO_VALID_MASK | 0x40u);
  EXPECT_TRUE(v.lapic.regs.test_isr(0x40));
  EXPECT_FALSE(v.lapic.regs.test_irr(0x40));
  EXPECT_FALSE(v.requests & kvm::KVM_REQ_EVENT);
  EXPECT_FALSE(v.vmcs.primary() & hw::CPU_BASED_INTR_WINDOW_EXITING);
  EXPECT_EQ(v.stat.irq_injections, 1u);
  EXPECT_DOUBLE_EQ(r.cpu0.charged, r.costs.kvm_enter_path + r.costs.kvm_inject_irq);
  EXPECT_EQ(r.cpu0.vmenters, 1);
}

TEST(KvmRunLoop, NoApicvEntryAsksForAnInterruptWindowWhenIfIsClear) {
  hw::VmxCapabilities caps = fake_caps();
  caps.apicv = false;
  Rig r({}, caps);
  kvm::Vcpu& v = r.vcpu(0);
  v.deliver_interrupt(r.cpu1, 0x40);
  r.guest(0).regs.rflags_if = false;
  v.enter_guest(r.cpu0);
  EXPECT_TRUE(v.vmcs.primary() & hw::CPU_BASED_INTR_WINDOW_EXITING);
  EXPECT_EQ(v.vmcs.read(VmcsField::VM_ENTRY_INTR_INFO_FIELD) & hw::INTR_INFO_VALID_MASK, 0u);
  EXPECT_TRUE(v.lapic.regs.test_irr(0x40));
  EXPECT_FALSE(v.lapic.regs.test_isr(0x40));
  EXPECT_EQ(v.stat.irq_injections, 0u);
  // The guest sets IF: interrupt-window exit, then the next entry injects.
  r.guest(0).regs.rflags_if = true;
  EXPECT_EQ(r.exit(0, hw::EXIT_REASON_INTERRUPT_WINDOW), ExitResult::Reenter);
  EXPECT_FALSE(v.vmcs.primary() & hw::CPU_BASED_INTR_WINDOW_EXITING);
  v.enter_guest(r.cpu0);
  EXPECT_EQ(v.vmcs.read(VmcsField::VM_ENTRY_INTR_INFO_FIELD), hw::INTR_INFO_VALID_MASK | 0x40u);
  EXPECT_TRUE(v.lapic.regs.test_isr(0x40));
}

TEST(KvmRunLoop, NoApicvStiShadowBlocksInjection) {
  hw::VmxCapabilities caps = fake_caps();
  caps.apicv = false;
  Rig r({}, caps);
  kvm::Vcpu& v = r.vcpu(0);
  v.deliver_interrupt(r.cpu1, 0x40);
  r.guest(0).regs.rflags_if = true;
  r.guest(0).regs.sti_shadow = true;
  v.enter_guest(r.cpu0);
  EXPECT_TRUE(v.vmcs.primary() & hw::CPU_BASED_INTR_WINDOW_EXITING);
  EXPECT_TRUE(v.lapic.regs.test_irr(0x40));
}

TEST(KvmRunLoop, NoApicvDeliveryToARunningVcpuKicksIt) {
  hw::VmxCapabilities caps = fake_caps();
  caps.apicv = false;
  Rig r({}, caps);
  r.vcpu(1).mode = VcpuMode::IN_GUEST_MODE;
  r.vcpu(1).cpu = 1;
  r.exit(0, hw::EXIT_REASON_MSR_WRITE, wrmsr(hw::MSR_X2APIC_ICR, physical_fixed_icr(0x40, 1)));
  EXPECT_EQ(r.vcpu(0).stat.fastpath_exits, 1u);  // the ICR fastpath does not need APICv
  EXPECT_TRUE(r.vcpu(1).lapic.regs.test_irr(0x40));
  EXPECT_EQ(r.host(1).ipi_vectors, std::vector<uint8_t>{hw::RESCHEDULE_VECTOR});
  EXPECT_EQ(r.vcpu(1).mode, VcpuMode::EXITING_GUEST_MODE);
  const hw::CostTable& c = r.costs;
  EXPECT_DOUBLE_EQ(r.cpu0.charged, c.kvm_exit_path + c.kvm_handle_x2apic_msr + c.kvm_handle_icr +
                                       c.kvm_deliver_interrupt + c.kvm_vcpu_kick + c.kvm_skip_instruction);
}

TEST(KvmRunLoop, NoApicvEoiExitsAndClearsIsr) {
  hw::VmxCapabilities caps = fake_caps();
  caps.apicv = false;
  Rig r({}, caps);
  kvm::Vcpu& v = r.vcpu(0);
  v.deliver_interrupt(r.cpu1, 0x40);
  r.guest(0).regs.rflags_if = true;
  v.enter_guest(r.cpu0);
  ASSERT_TRUE(v.lapic.regs.test_isr(0x40));
  r.exit(0, hw::EXIT_REASON_MSR_WRITE, wrmsr(hw::MSR_X2APIC_EOI, 0));
  EXPECT_FALSE(v.lapic.regs.test_isr(0x40));
  EXPECT_TRUE(v.requests & kvm::KVM_REQ_EVENT);
}

// ---------------------------------------------------------------------------------------
// xAPIC mode: the guest clears IA32_APIC_BASE.EXTD; ICR writes then arrive as APIC_WRITE
// traps after the write landed in the virtual-APIC page (APIC-register virtualization).

void switch_to_xapic(Rig& r, int i) {
  GuestOp op = wrmsr(hw::MSR_IA32_APICBASE, hw::APIC_DEFAULT_PHYS_BASE);  // disabled first, as the SDM requires
  r.exit(i, hw::EXIT_REASON_MSR_WRITE, op);
  op = wrmsr(hw::MSR_IA32_APICBASE, hw::APIC_DEFAULT_PHYS_BASE | hw::MSR_IA32_APICBASE_ENABLE);
  r.exit(i, hw::EXIT_REASON_MSR_WRITE, op);
  ASSERT_FALSE(r.vcpu(i).lapic.regs.x2apic_mode());
}

// The guest's ICR write: ICR_HIGH is virtualized (stored, no exit), ICR_LOW is stored and
// then traps with APIC_WRITE (SDM 29.4.3.3).
void xapic_icr_write(Rig& r, int i, uint32_t low, uint32_t high) {
  ASSERT_TRUE(r.vcpu(i).lapic.regs.write(hw::APIC_ICR_HIGH, high));
  ASSERT_TRUE(r.vcpu(i).lapic.regs.write(hw::APIC_ICR_LOW, low));
  GuestOp op;
  op.kind = OpKind::MmioWrite;
  op.a = hw::APIC_DEFAULT_PHYS_BASE + hw::APIC_ICR_LOW;
  op.b = 4;
  op.c = low;
  r.exit(i, hw::EXIT_REASON_APIC_WRITE, op, hw::APIC_ICR_LOW);
}

TEST(KvmRunLoop, XapicModeSwitchTrapsEveryX2apicMsrAndVirtualizesTheApicPage) {
  Rig r;
  switch_to_xapic(r, 0);
  kvm::Vcpu& v = r.vcpu(0);
  EXPECT_TRUE(v.vmcs.secondary() & hw::SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES);
  EXPECT_FALSE(v.vmcs.secondary() & hw::SECONDARY_EXEC_VIRTUALIZE_X2APIC_MODE);
  for (uint32_t msr = 0x800; msr <= 0x8FF; ++msr) {
    EXPECT_TRUE(v.msr_bitmap.read_exits(msr)) << std::hex << msr;
    EXPECT_TRUE(v.msr_bitmap.write_exits(msr)) << std::hex << msr;
  }
  EXPECT_FALSE(r.guest(0).regs.x2apic);
}

TEST(KvmRunLoop, XapicPhysicalIpiReachesItsDestination) {
  Rig r;
  switch_to_xapic(r, 0);
  switch_to_xapic(r, 1);
  xapic_icr_write(r, 0, 0x40 | hw::APIC_ICR_LEVEL_ASSERT, 1u << 24);
  EXPECT_TRUE(r.vcpu(1).pi_desc.pi_test_pir(0x40));
  EXPECT_FALSE(r.vcpu(0).pi_desc.pi_test_pir(0x40));
  EXPECT_EQ(r.kvm->ipis_sent, 1u);
}

TEST(KvmRunLoop, XapicPhysicalBroadcastIpiReachesEveryVcpu) {
  Rig r;
  switch_to_xapic(r, 0);
  switch_to_xapic(r, 1);
  xapic_icr_write(r, 0, 0x40 | hw::APIC_ICR_LEVEL_ASSERT, 0xFFu << 24);
  // SDM "Determining IPI Destination": physical destination 0xFF is a broadcast, the sender
  // included (it uses no shorthand).
  EXPECT_TRUE(r.vcpu(1).pi_desc.pi_test_pir(0x40));
  EXPECT_TRUE(r.vcpu(0).pi_desc.pi_test_pir(0x40));
}

TEST(KvmRunLoop, ExitReasonOutOfRangeIsHandledAsUnknown) {
  Rig r;
  const kvm::VcpuStats before = r.vcpu(0).stat;
  EXPECT_EQ(r.exit(0, hw::kNumExitReasons), ExitResult::Reenter);
  EXPECT_EQ(r.vcpu(0).stat.exit_time_ns[0].count, before.exit_time_ns[0].count);
  EXPECT_EQ(r.vcpu(0).stat.exits, 1u);
}

}  // namespace

namespace {

// One-shot and periodic LAPIC timers (TMICT/TDCR; KVM's APIC bus cycle is 1 ns), with the
// hv timer off so the expiry is visible as a host hrtimer.
TEST(KvmLapicTimer, OneShotArmsAtTmictTimesDivide) {
  kvm::KvmParams p;
  p.hv_timer = false;
  Rig r(p);
  kvm::Lapic& l = r.vcpu(0).lapic;
  l.x2apic_msr_write(r.cpu0, hw::MSR_X2APIC_LVTT, 0x31);      // one-shot, vector 0x31
  l.x2apic_msr_write(r.cpu0, hw::MSR_X2APIC_TDCR, 0x1);       // divide by 4
  // The count starts when KVM's handler runs, after kvm.handle_x2apic_msr (1 cycle = 1 ns).
  const sim::Picos t0 = r.cpu0.now() + static_cast<sim::Picos>(r.costs.kvm_handle_x2apic_msr * 1000);
  l.x2apic_msr_write(r.cpu0, hw::MSR_X2APIC_TMICT, 250000);   // 250000 * 4 ns = 1 ms
  ASSERT_EQ(r.host(0).timer_starts.size(), 1u);
  EXPECT_EQ(r.host(0).timer_starts[0].expires, t0 + sim::ms(1));  // no advance outside TSC-deadline mode
  // TMCCT counts down: a quarter of the way in, 3/4 of TMICT remain.
  r.cpu0.time_ps = t0 + sim::us(250);
  EXPECT_NEAR(static_cast<double>(l.tmcct(r.cpu0)), 187500.0, 1.0);
  // Expiry: the vector is posted, and a one-shot timer does not re-arm.
  r.cpu0.time_ps = t0 + sim::ms(1);
  l.timer_fn(r.cpu0);
  EXPECT_TRUE(l.timer_pending());
  l.inject_pending_timer(r.cpu0);
  EXPECT_TRUE(r.vcpu(0).pi_desc.pi_test_pir(0x31));
  EXPECT_EQ(r.host(0).timer_starts.size(), 1u);
  EXPECT_EQ(l.tmcct(r.cpu0), 0u);
}

TEST(KvmLapicTimer, PeriodicRearmsAndIsClampedToTheMinimumPeriod) {
  kvm::KvmParams p;
  p.hv_timer = false;
  Rig r(p);
  kvm::Lapic& l = r.vcpu(0).lapic;
  l.x2apic_msr_write(r.cpu0, hw::MSR_X2APIC_LVTT, (1u << 17) | 0x32);  // periodic
  l.x2apic_msr_write(r.cpu0, hw::MSR_X2APIC_TDCR, 0xB);                 // divide by 1
  const sim::Picos t0 = r.cpu0.now() + static_cast<sim::Picos>(r.costs.kvm_handle_x2apic_msr * 1000);
  l.x2apic_msr_write(r.cpu0, hw::MSR_X2APIC_TMICT, 1000);               // 1 us: below 200 us
  ASSERT_EQ(r.host(0).timer_starts.size(), 1u);
  EXPECT_EQ(r.host(0).timer_starts[0].expires, t0 + sim::us(200));     // min_timer_period_us
  r.cpu0.time_ps = t0 + sim::us(200);
  l.timer_fn(r.cpu0);
  ASSERT_EQ(r.host(0).timer_starts.size(), 2u);
  EXPECT_EQ(r.host(0).timer_starts[1].expires, t0 + sim::us(400));     // next period, from the target
  // A mode change stops the timer.
  l.x2apic_msr_write(r.cpu0, hw::MSR_X2APIC_LVTT, 0x32);
  EXPECT_EQ(l.timer_expires(), sim::kNever);
}

TEST(KvmLapicTimer, TmictIsIgnoredInTscDeadlineMode) {
  Rig r;
  kvm::Lapic& l = r.vcpu(0).lapic;
  l.x2apic_msr_write(r.cpu0, hw::MSR_X2APIC_LVTT, (2u << 17) | 0x33);
  l.x2apic_msr_write(r.cpu0, hw::MSR_X2APIC_TMICT, 1000);
  EXPECT_EQ(l.timer_expires(), sim::kNever);
  EXPECT_TRUE(r.host(0).timer_starts.empty());
  EXPECT_FALSE(l.hv_timer_in_use());
}

TEST(KvmLapicTimer, OneShotUsesTheHvTimerWhenAllowed) {
  Rig r;
  kvm::Lapic& l = r.vcpu(0).lapic;
  l.x2apic_msr_write(r.cpu0, hw::MSR_X2APIC_LVTT, 0x34);
  l.x2apic_msr_write(r.cpu0, hw::MSR_X2APIC_TDCR, 0xB);
  l.x2apic_msr_write(r.cpu0, hw::MSR_X2APIC_TMICT, 64000);  // 64 us
  EXPECT_TRUE(l.hv_timer_in_use());
  EXPECT_TRUE(r.host(0).timer_starts.empty());
  // 64 us of a 1 GHz TSC is 64000 ticks from the handler; the timer counts every 2^5 of them.
  const uint64_t left = 64000 - static_cast<uint64_t>(r.costs.kvm_hv_timer_arm);  // now is after the arm
  EXPECT_EQ(l.hv_timer_value(r.cpu0), static_cast<int64_t>(left >> 5));
}

}  // namespace

// ---- INIT / SIPI / SMI (issue 4, kvm/apic_events.cc) ------------------------------------

hw::Icr special_icr(hw::DeliveryMode mode, uint32_t dest, bool level_trigger = false, bool assert_level = true, uint8_t vector = 0) {
  hw::Icr icr;
  icr.mode = mode;
  icr.dest = dest;
  icr.level_trigger = level_trigger;
  icr.level_assert = assert_level;
  icr.vector = vector;
  return icr;
}

TEST(ApicEvents, InitParksTheApUntilSipiAndDeassertIsIgnored) {
  Rig r;
  kvm::Vcpu& ap = r.vcpu(1);
  // The INIT de-assert (level-triggered, level 0) that Linux sends second does nothing.
  r.kvm->deliver_ipi(r.cpu0, r.vcpu(0), special_icr(hw::DeliveryMode::INIT, 1, true, false));
  EXPECT_FALSE(ap.has_apic_events());
  r.kvm->deliver_ipi(r.cpu0, r.vcpu(0), special_icr(hw::DeliveryMode::INIT, 1, true, true));
  ASSERT_TRUE(ap.has_apic_events());
  EXPECT_TRUE(ap.has_wake_event());  // INIT wakes a halt even with IF=0
  r.guest(1).regs.rflags_if = true;
  ap.kvm_apic_accept_events(r.cpu1);
  EXPECT_EQ(ap.mp_state, kvm::MpState::INIT_RECEIVED);
  EXPECT_FALSE(r.guest(1).regs.rflags_if);      // the architectural reset
  EXPECT_FALSE(ap.lapic.regs.sw_enabled());     // SVR back to 0xFF
  EXPECT_TRUE(ap.lapic.regs.x2apic_mode());     // INIT keeps the APIC base
  EXPECT_EQ(ap.stat.init_resets, 1u);
  // A fixed interrupt does not wake a vCPU waiting for SIPI.
  ap.deliver_interrupt(r.cpu0, 0x40);
  EXPECT_FALSE(ap.has_wake_event());
  r.kvm->deliver_ipi(r.cpu0, r.vcpu(0), special_icr(hw::DeliveryMode::SIPI, 1, false, true, 0x9A));
  EXPECT_TRUE(ap.has_wake_event());
  ap.kvm_apic_accept_events(r.cpu1);
  EXPECT_EQ(ap.mp_state, kvm::MpState::RUNNABLE);
  EXPECT_EQ(ap.sipi_vector, 0x9A);
  EXPECT_EQ(ap.stat.sipi_starts, 1u);
  EXPECT_TRUE(r.guest(1).regs.skip_pending);   // the parked op is abandoned at entry
  // A second SIPI to a running AP is ignored.
  r.kvm->deliver_ipi(r.cpu0, r.vcpu(0), special_icr(hw::DeliveryMode::SIPI, 1, false, true, 0x9A));
  ap.kvm_apic_accept_events(r.cpu1);
  EXPECT_EQ(ap.mp_state, kvm::MpState::RUNNABLE);
  EXPECT_EQ(ap.stat.sipi_starts, 1u);
}

TEST(ApicEvents, InitOfTheBspLeavesItRunnableAndSipiWithoutInitIsIgnored) {
  Rig r;
  r.vcpu(1).kvm_apic_accept_events(r.cpu1);  // nothing pending
  r.kvm->deliver_ipi(r.cpu1, r.vcpu(1), special_icr(hw::DeliveryMode::SIPI, 0, false, true, 0x10));
  r.vcpu(0).kvm_apic_accept_events(r.cpu0);
  EXPECT_EQ(r.vcpu(0).mp_state, kvm::MpState::RUNNABLE);
  EXPECT_EQ(r.vcpu(0).stat.sipi_starts, 0u);
  r.kvm->deliver_ipi(r.cpu1, r.vcpu(1), special_icr(hw::DeliveryMode::INIT, 0, true, true));
  r.vcpu(0).kvm_apic_accept_events(r.cpu0);
  EXPECT_EQ(r.vcpu(0).mp_state, kvm::MpState::RUNNABLE);  // kvm_vcpu_is_bsp
  EXPECT_EQ(r.vcpu(0).stat.init_resets, 1u);
}

TEST(ApicEvents, SmiEntersSmmAtEntryRsmExitsWithUdAndInitIsLatchedMeanwhile) {
  Rig r;
  kvm::Vcpu& v = r.vcpu(1);
  r.guest(1).regs.rflags_if = false;
  r.kvm->deliver_ipi(r.cpu0, r.vcpu(0), special_icr(hw::DeliveryMode::SMI, 1));
  EXPECT_TRUE(v.has_wake_event());  // SMIs ignore RFLAGS.IF
  v.enter_guest(r.cpu1);
  EXPECT_TRUE(v.in_smm);
  EXPECT_EQ(v.stat.smi_count, 1u);
  // INIT is latched in SMM (not acted on, not a wake-up); a SIPI is dropped.
  r.kvm->deliver_ipi(r.cpu0, r.vcpu(0), special_icr(hw::DeliveryMode::INIT, 1, true, true));
  r.kvm->deliver_ipi(r.cpu0, r.vcpu(0), special_icr(hw::DeliveryMode::SIPI, 1, false, true, 0x9A));
  v.kvm_apic_accept_events(r.cpu1);
  EXPECT_EQ(v.mp_state, kvm::MpState::RUNNABLE);
  EXPECT_EQ(v.stat.init_resets, 0u);
  EXPECT_FALSE(v.has_wake_event());
  // A second SMI while in SMM stays pending.
  r.kvm->deliver_ipi(r.cpu0, r.vcpu(0), special_icr(hw::DeliveryMode::SMI, 1));
  v.mode = kvm::VcpuMode::OUTSIDE_GUEST_MODE;
  v.enter_guest(r.cpu1);
  EXPECT_EQ(v.stat.smi_count, 1u);
  EXPECT_TRUE(v.smi_pending);
  // RSM: #UD exit, emulated; leaves SMM.
  v.mode = kvm::VcpuMode::OUTSIDE_GUEST_MODE;
  GuestOp rsm;
  rsm.kind = OpKind::Rsm;
  r.cpu0.reset_charges();
  EXPECT_EQ(r.exit(1, hw::EXIT_REASON_EXCEPTION_NMI, rsm, 0, hw::INTR_INFO_VALID_MASK | hw::INTR_TYPE_HARD_EXCEPTION | hw::UD_VECTOR),
            ExitResult::Reenter);
  EXPECT_FALSE(v.in_smm);
  EXPECT_EQ(v.stat.rsm_emulated, 1u);
  EXPECT_GE(r.cpu0.charged, r.costs.kvm_emulate_rsm);
  // Out of SMM the latched INIT is acted on; its reset drops the pending SMI, as
  // kvm_vcpu_reset does.
  v.kvm_apic_accept_events(r.cpu1);
  EXPECT_EQ(v.stat.init_resets, 1u);
  EXPECT_EQ(v.mp_state, kvm::MpState::INIT_RECEIVED);
  EXPECT_FALSE(v.smi_pending);
}
