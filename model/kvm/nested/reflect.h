// nested_vmx_reflect_vmexit (arch/x86/kvm/vmx/nested.c): an exit from L2 always reaches L0
// first. L0 keeps the exits it must handle itself (nested_vmx_l0_wants_exit: physical
// interrupts, EPT violations since L0 owns EPT02, its own preemption timer, ...); the rest
// go to L1 when L1 asked for them in vmcs12 (nested_vmx_l1_wants_exit: exception bitmap,
// HLT/RDTSC/... exiting, I/O and MSR bitmaps, always-exiting instructions).
#pragma once

#include <cstdint>

#include "hw/guest_op.h"
#include "hw/vmcs.h"

namespace kvm::nested {

struct L2Exit {
  uint16_t reason = 0;
  uint64_t qualification = 0;
  uint32_t intr_info = 0;
  const hw::GuestOp* op = nullptr;  // the L2 instruction (MSR index, value)
};

bool nested_vmx_l0_wants_exit(const hw::Vmcs& vmcs12, const L2Exit& e);
bool nested_vmx_l1_wants_exit(const hw::Vmcs& vmcs12, const L2Exit& e);
// Reflect to L1 (an emulated VM exit) rather than handle in L0.
inline bool nested_vmx_reflect_vmexit(const hw::Vmcs& vmcs12, const L2Exit& e) {
  return !nested_vmx_l0_wants_exit(vmcs12, e) && nested_vmx_l1_wants_exit(vmcs12, e);
}

}  // namespace kvm::nested
