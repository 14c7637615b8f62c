// KVM's lazy guest FPU switching (x86.c/vmx.c up to Linux 4.10, the seed 001 host's 3.5):
// kvm_arch_vcpu_put saves the guest's FPU state whenever the vCPU thread is scheduled out
// (kvm_put_guest_fpu) and asks for KVM_REQ_DEACTIVATE_FPU; the next entry runs
// vmx_fpu_deactivate, which makes CR0.TS host-owned (CR0 guest/host mask) with the guest's
// own TS in the read shadow, and intercepts #NM. A guest kernel with lazy FPU of its own
// (Linux < 4.2 on most CPUs) sets TS when it switches to a task without FPU state (stts)
// and clears it with CLTS when it switches back to one that preloads (fpu_counter > 5:
// cyclictest, which keeps its average in a double). That CLTS now exits
// (CR_ACCESS, access type 2): handle_clts -> vmx_fpu_activate, and the guest's FPU state
// is loaded again before the next entry (kvm_load_guest_fpu). So a vCPU that blocks on
// every cyclictest loop pays one extra exit per wake-up. KVM went eager in 4.11 (the guest
// FPU stays loaded across vcpu_put), which removed it.
//
// Parameters: kvm.lazy_fpu. Statistics: deactivations, activations (CLTS exits).
#pragma once

#include <cstdint>

#include "hw/vmcs.h"
#include "hw/vmx_cpu.h"

namespace kvm {

struct LazyFpu {
  static constexpr uint64_t kCr0Ts = 1ull << 3;
  bool enabled = false;
  bool loaded = true;                // vcpu->guest_fpu_loaded
  bool deactivate_requested = false;  // KVM_REQ_DEACTIVATE_FPU
  uint64_t deactivations = 0, activations = 0;

  // kvm_arch_vcpu_put -> kvm_put_guest_fpu.
  void put(hw::VmxCpu& c) {
    if (!enabled || !loaded) return;
    loaded = false;
    deactivate_requested = true;
    c.charge(c.costs().kvm_fpu_put);
  }
  // vcpu_enter_guest: the deactivation request, then kvm_load_guest_fpu if active.
  void before_entry(hw::VmxCpu& c, hw::Vmcs& vmcs) {
    if (!deactivate_requested) return;
    deactivate_requested = false;
    ++deactivations;
    c.charge(c.costs().kvm_fpu_deactivate);
    // The guest's TS is set: it switched to its idle task (stts) before halting.
    vmcs.set_bits(hw::VmcsField::CR0_GUEST_HOST_MASK, kCr0Ts, true);
    vmcs.set_bits(hw::VmcsField::CR0_READ_SHADOW, kCr0Ts, true);
    vmcs.set_bits(hw::VmcsField::GUEST_CR0, kCr0Ts, true);
  }
  // handle_cr, CLTS: handle_clts -> vmx_fpu_activate; the state is loaded before entry.
  void clts(hw::VmxCpu& c, hw::Vmcs& vmcs) {
    ++activations;
    loaded = true;
    c.charge(c.costs().kvm_fpu_activate);
    vmcs.set_bits(hw::VmcsField::CR0_GUEST_HOST_MASK, kCr0Ts, false);
    vmcs.set_bits(hw::VmcsField::CR0_READ_SHADOW, kCr0Ts, false);
    vmcs.set_bits(hw::VmcsField::GUEST_CR0, kCr0Ts, false);
  }
};

}  // namespace kvm
