// The guest's vcpu_is_preempted() (model/guest/pv_preempted.h) reads the KVM_VCPU_PREEMPTED
// byte of the target's steal-time area, as arch/x86/kernel/kvm.c does: KVM sets it when it
// puts a preempted vCPU and clears it at that vCPU's next entry (record_steal_time), later
// than its own `preempted` flag (cleared at sched-in). Without steal time the guest has
// only the native answer: never preempted.
#include <gtest/gtest.h>

#include <memory>

#include "guest/guest_vm.h"
#include "guest/pv_preempted.h"
#include "hw/platform.h"
#include "kvm/kvm.h"
#include "kvm/vcpu.h"

namespace {

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

struct Vm {
  explicit Vm(bool steal_time) : cpu(costs) {
    hw::VmxCapabilities caps;
    caps.apicv = caps.posted_interrupts = caps.ple = true;
    kvm = std::make_unique<kvm::Kvm>("vm", kvm::KvmParams{}, caps, costs);
    for (int i = 0; i < 2; ++i) {
      kvm::Vcpu& v = kvm->create_vcpu(static_cast<uint32_t>(i));
      if (steal_time) {  // the guest wrote MSR_KVM_STEAL_TIME at boot
        v.steal_time.enabled = true;
        guest_vm.steal_time.push_back(&v.steal_time);
      }
    }
  }
  bool guest_sees_preempted(int i) { return guest::vcpu_is_preempted(guest_vm, i, cpu.now()); }
  hw::CostTable costs;
  Cpu cpu;
  std::unique_ptr<kvm::Kvm> kvm;
  guest::GuestVm guest_vm;
};

TEST(PvPreempted, APreemptedLockHolderIsSeenThroughStealTimeUntilItsNextEntry) {
  Vm vm(true);
  kvm::Vcpu& holder = vm.kvm->vcpu(1);  // in a critical section when the host preempts it
  EXPECT_FALSE(vm.guest_sees_preempted(1));
  holder.vcpu_put(vm.cpu, /*preempted=*/true);
  EXPECT_TRUE(holder.preempted);
  EXPECT_TRUE(vm.guest_sees_preempted(1));
  EXPECT_FALSE(vm.guest_sees_preempted(0));
  // Scheduled in again: KVM's flag drops at once, the guest-visible byte only at entry.
  holder.vcpu_load(vm.cpu);
  EXPECT_FALSE(holder.preempted);
  EXPECT_TRUE(vm.guest_sees_preempted(1));
  holder.steal_time.record_steal_time(vm.cpu.now(), 0, false, vm.cpu.now());  // record_steal_time at entry
  EXPECT_FALSE(vm.guest_sees_preempted(1));
  // A vCPU that blocks (halts) is not "preempted".
  holder.vcpu_put(vm.cpu, /*preempted=*/false);
  EXPECT_FALSE(vm.guest_sees_preempted(1));
}

TEST(PvPreempted, WithoutStealTimeTheGuestNeverSeesAPreemption) {
  Vm vm(false);
  vm.kvm->vcpu(1).vcpu_put(vm.cpu, true);
  EXPECT_TRUE(vm.kvm->vcpu(1).preempted);  // KVM knows, the guest cannot
  EXPECT_FALSE(vm.guest_sees_preempted(1));
}

}  // namespace
