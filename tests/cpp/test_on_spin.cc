// kvm_vcpu_on_spin (model/kvm/on_spin.h) against hand-built vCPU states, with a fake host
// whose yield_to records the target and returns a scripted result. Filters and order
// follow kvm-mechanisms.md §1: ready; blocked only if dy_runnable; preempted in user mode
// skipped when yielding to kernel mode (unless a pending interrupt with the ~5.13 switch,
// or seed 003's IPI-aware patch); the dy_eligible toggle; rotation after last_boosted_vcpu.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <vector>

#include "hw/platform.h"
#include "kvm/host_ops.h"
#include "kvm/kvm.h"
#include "kvm/on_spin.h"
#include "kvm/vcpu.h"

namespace {

using kvm::Vcpu;

class Cpu : public hw::VmxCpu {
 public:
  explicit Cpu(const hw::CostTable& c) : costs_(c) {}
  int cpu() const override { return 0; }
  const hw::CostTable& costs() const override { return costs_; }
  const hw::VmxCapabilities& caps() const override { return caps_; }
  uint64_t host_tsc() const override { return 0; }
  double tsc_mhz() const override { return 1000; }
  sim::Picos time_of_host_tsc(uint64_t t) const override { return t * 1000; }
  void vmenter(hw::Vmcs&, hw::GuestSoftware&) override {}
  void skip_instruction() override {}
  void send_ipi(const hw::Icr&) override {}

 private:
  const hw::CostTable& costs_;
  hw::VmxCapabilities caps_;
};

class Host : public kvm::VcpuHostOps {
 public:
  void start_timer(hw::VmxCpu&, sim::Picos) override {}
  void cancel_timer(hw::VmxCpu&) override {}
  void wake_up(hw::VmxCpu&) override {}
  void send_ipi_to_vcpu_cpu(hw::VmxCpu&, uint8_t) override {}
  void handle_host_irq(hw::VmxCpu&, uint8_t) override {}
  int yield_to(hw::VmxCpu&, Vcpu& t) override {
    tried.push_back(t.vcpu_id);
    auto it = result.find(t.vcpu_id);
    return it == result.end() ? 1 : it->second;
  }
  std::vector<int> tried;
  std::map<int, int> result;  // vCPU -> yield_to's return (default 1)
};

struct Vm {
  explicit Vm(int n, kvm::KvmParams p = {}) : cpu(costs) {
    hw::VmxCapabilities caps;
    caps.apicv = caps.posted_interrupts = caps.ple = true;
    kvm = std::make_unique<kvm::Kvm>("vm", p, caps, costs);
    for (int i = 0; i < n; ++i) {
      Vcpu& v = kvm->create_vcpu(static_cast<uint32_t>(i));
      v.host = &host;
    }
  }
  Vcpu& v(int i) { return kvm->vcpu(i); }
  // A vCPU preempted while runnable (kvm_sched_out with current->on_rq).
  void preempt(int i, bool in_kernel) {
    v(i).preempted = v(i).ready = v(i).scheduled_out = true;
    v(i).preempted_in_kernel = in_kernel;
  }
  int spin(int me) { return kvm::kvm_vcpu_on_spin(cpu, v(me), true); }

  hw::CostTable costs;
  Cpu cpu;
  Host host;
  std::unique_ptr<kvm::Kvm> kvm;
};

TEST(OnSpin, NotReadyCandidatesAreSkipped) {
  Vm vm(3);
  EXPECT_EQ(vm.spin(0), -1);
  EXPECT_TRUE(vm.host.tried.empty());
  EXPECT_FALSE(vm.v(0).in_spin_loop);
}

TEST(OnSpin, YieldsToAPreemptedInKernelVcpuAndRemembersIt) {
  Vm vm(4);
  vm.preempt(2, true);
  EXPECT_EQ(vm.spin(0), 2);
  EXPECT_EQ(vm.kvm->last_boosted_vcpu, 2);
  EXPECT_EQ(vm.v(0).stat.directed_yield_attempted, 1u);
  EXPECT_EQ(vm.v(0).stat.directed_yield_successful, 1u);
  // The yielder stays in the spin loop until it runs again (vcpu_load).
  EXPECT_TRUE(vm.v(0).in_spin_loop);
  vm.v(0).sched_in(vm.cpu);
  EXPECT_FALSE(vm.v(0).in_spin_loop);
}

TEST(OnSpin, PreemptedInUserModeIsSkippedWhenYieldingToKernel) {
  Vm vm(3);
  vm.preempt(1, false);
  EXPECT_EQ(vm.spin(0), -1);
  EXPECT_TRUE(vm.host.tried.empty());
  EXPECT_EQ(kvm::kvm_vcpu_on_spin(vm.cpu, vm.v(0), false), 1);  // not yielding to kernel mode
}

TEST(OnSpin, PendingInterruptBoostsAUserModeVcpuOnlyWithTheSwitch) {
  for (bool sw : {false, true}) {
    kvm::KvmParams p;
    p.dy_pending_interrupt = sw;
    Vm vm(2, p);
    vm.preempt(1, false);
    vm.v(1).pi_desc.pi_set_sn();
    vm.v(1).pi_desc.pi_post(0xfb);  // posted while suppressed: PIR non-empty, SN set
    EXPECT_EQ(vm.spin(0), sw ? 1 : -1) << sw;
  }
}

TEST(OnSpin, BlockedVcpuNeedsDyRunnable) {
  Vm vm(2);
  vm.v(1).ready = true;   // woken, not yet running, still in kvm_vcpu_block
  vm.v(1).blocking = true;
  EXPECT_EQ(vm.spin(0), -1);
  vm.v(1).pv_unhalted = true;  // KICK_CPU: dy_runnable
  EXPECT_EQ(vm.spin(0), 1);
}

TEST(OnSpin, SpinningCandidateIsEligibleEveryOtherTime) {
  Vm vm(2);
  vm.preempt(1, true);
  vm.v(1).in_spin_loop = true;
  vm.v(1).dy_eligible = false;
  EXPECT_EQ(vm.spin(0), -1);  // not eligible; toggled to eligible
  EXPECT_TRUE(vm.v(1).dy_eligible);
  EXPECT_EQ(vm.spin(0), 1);   // eligible now; toggled back
  EXPECT_FALSE(vm.v(1).dy_eligible);
  EXPECT_FALSE(kvm::eligible_for_directed_yield(vm.v(1)));
}

TEST(OnSpin, RotationStartsAfterLastBoostedVcpu) {
  Vm vm(5);
  for (int i = 1; i < 5; ++i) vm.preempt(i, true);
  vm.kvm->last_boosted_vcpu = 2;
  EXPECT_EQ(vm.spin(0), 3);
  EXPECT_EQ(vm.spin(0), 4);
  EXPECT_EQ(vm.spin(0), 1);  // wraps around (me = 0 is skipped)
}

TEST(OnSpin, FailedYieldsTryThreeEsrchThenStop) {
  for (auto version : {kvm::KvmParams::OnSpin::V5_6, kvm::KvmParams::OnSpin::V6_13, kvm::KvmParams::OnSpin::V6_19}) {
    kvm::KvmParams p;
    p.on_spin_version = version;
    Vm vm(6, p);
    for (int i = 1; i < 6; ++i) {
      vm.preempt(i, true);
      vm.host.result[i] = -3;  // -ESRCH
    }
    vm.host.result[2] = 0;     // 0 does not count against the tries
    EXPECT_EQ(vm.spin(0), -1);
    EXPECT_EQ(vm.host.tried, (std::vector<int>{1, 2, 3, 4}));
    EXPECT_EQ(vm.v(0).stat.directed_yield_esrch, 3u);
  }
}

TEST(OnSpin, TwoPassOrderMatchesTheSingleLoop) {
  // 5.6 walks (last, n) then [0, last]; 6.13+ walks last+1 .. last+n mod n: with me = 3 and
  // last = 1 all try 2, 4, 0, 1.
  for (auto version : {kvm::KvmParams::OnSpin::V5_6, kvm::KvmParams::OnSpin::V6_13, kvm::KvmParams::OnSpin::V6_19}) {
    kvm::KvmParams p;
    p.on_spin_version = version;
    Vm vm(5, p);
    for (int i = 0; i < 5; ++i) {
      if (i == 3) continue;
      vm.preempt(i, true);
      vm.host.result[i] = 0;
    }
    vm.kvm->last_boosted_vcpu = 1;
    EXPECT_EQ(vm.spin(3), -1);
    EXPECT_EQ(vm.host.tried, (std::vector<int>{2, 4, 0, 1}));
  }
}

TEST(OnSpin, SingleLoopOf613StoresTheLoopCounterAndPicksDifferently) {
  // Five vCPUs, all preempted in the kernel, me = 0, last_boosted_vcpu = 2. Every version
  // boosts vCPU 3 first. 5.6 and 6.19 then store 3 and start the next walk at 4; 6.13
  // stored the loop counter (0: vCPU 3 was the first one it looked at), so its next walk
  // starts at 1, and after boosting vCPU 1 (counter 0 again) it starts at 1 once more: the
  // rotation is stuck on the low indices.
  const auto run = [](kvm::KvmParams::OnSpin version) {
    kvm::KvmParams p;
    p.on_spin_version = version;
    Vm vm(5, p);
    for (int i = 1; i < 5; ++i) vm.preempt(i, true);
    vm.kvm->last_boosted_vcpu = 2;
    std::vector<int> picks;
    for (int k = 0; k < 3; ++k) picks.push_back(vm.spin(0));
    return std::make_pair(picks, vm.kvm->last_boosted_vcpu);
  };
  EXPECT_EQ(run(kvm::KvmParams::OnSpin::V5_6).first, (std::vector<int>{3, 4, 1}));
  EXPECT_EQ(run(kvm::KvmParams::OnSpin::V6_19).first, (std::vector<int>{3, 4, 1}));
  EXPECT_EQ(run(kvm::KvmParams::OnSpin::V6_19).second, 1);
  const auto buggy = run(kvm::KvmParams::OnSpin::V6_13);
  EXPECT_EQ(buggy.first, (std::vector<int>{3, 1, 1}));
  EXPECT_EQ(buggy.second, 0);
}

TEST(OnSpin, IshiguroIpiAwareBoostsUserModeReceiversOfMyIpis) {
  kvm::KvmParams p;
  p.ishiguro_ipi_aware = true;
  Vm vm(3, p);
  vm.preempt(1, false);
  vm.preempt(2, false);
  vm.kvm->note_ipi(vm.v(0), vm.v(2));  // vCPU 0 IPI'd vCPU 2 while it was scheduled out
  EXPECT_EQ(vm.v(2).ipi_received, 1u);
  EXPECT_EQ(vm.spin(0), 2);
  EXPECT_EQ(vm.host.tried, (std::vector<int>{2}));
}

TEST(OnSpin, IshiguroIpiAwareSkipsHaltedReceiversOfOthersIpis) {
  for (bool aware : {false, true}) {
    kvm::KvmParams p;
    p.ishiguro_ipi_aware = aware;
    Vm vm(3, p);
    Vcpu& halted = vm.v(1);  // woken by vCPU 2's IPI, not yet running
    halted.blocking = halted.ready = halted.scheduled_out = true;
    vm.kvm->note_ipi(vm.v(2), halted);
    halted.requests |= kvm::KVM_REQ_EVENT;  // dy_runnable
    EXPECT_EQ(vm.spin(0), aware ? -1 : 1) << aware;
    if (aware) {  // its sender does boost it
      EXPECT_EQ(vm.spin(2), 1);
    }
  }
}

TEST(OnSpin, IshiguroSkipSetsMyBitSoMyNextLookTakesTheCandidate) {
  // The RFC's on_spin marks my bit in a candidate it skips (preempted in user mode, or woken
  // and not preempted): the same spinner boosts it at its next look, another one does not.
  kvm::KvmParams p;
  p.ishiguro_ipi_aware = true;
  Vm vm(3, p);
  vm.preempt(1, false);
  EXPECT_EQ(vm.spin(0), -1);
  EXPECT_EQ(vm.v(1).ipi_received, 1u);
  EXPECT_EQ(vm.spin(2), -1);  // vCPU 2's first look: marks bit 2
  EXPECT_EQ(vm.spin(0), 1);   // vCPU 0's second look
  EXPECT_EQ(vm.host.tried, (std::vector<int>{1}));
}

TEST(OnSpin, IpiMaskIsClearedAtSchedIn) {
  kvm::KvmParams p;
  p.ishiguro_ipi_aware = true;
  Vm vm(2, p);
  vm.preempt(1, false);
  vm.kvm->note_ipi(vm.v(0), vm.v(1));
  vm.v(1).sched_in(vm.cpu);
  EXPECT_EQ(vm.v(1).ipi_received, 0u);
  EXPECT_FALSE(vm.v(1).ready);
  vm.kvm->note_ipi(vm.v(0), vm.v(1));  // running now: not recorded
  EXPECT_EQ(vm.v(1).ipi_received, 0u);
}

}  // namespace
