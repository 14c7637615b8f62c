// KVM_CAP_X86_DISABLE_EXITS (arch/x86/kvm/x86.c, vmx.c): user space lets the guest run
// MWAIT, HLT or PAUSE without exits, or read the C-state residency MSRs, on a VM whose
// vCPUs own their physical CPUs. Scenario key kvm.disable_exits: a list of mwait, hlt,
// pause, cstate. Each bit's effect on a vCPU's controls:
//   mwait   clear MWAIT exiting and MONITOR exiting (primary 10, 29); KVM then exposes
//           MONITOR/MWAIT in CPUID and stops using the VMX-preemption timer for the LAPIC
//           timer (kvm_can_use_hv_timer), since the timer does not run in MWAIT's C-states.
//   hlt     clear HLT exiting (primary 7): the guest's HLT halts the physical CPU.
//   pause   clear PAUSE exiting and pause-loop exiting (primary 30, secondary 10)
//           (kvm_pause_in_guest: no PLE window, no directed yield).
//   cstate  stop intercepting reads of MSR_CORE_C1_RES and the C3/C6/C7 core residency MSRs
//           (kvm_cstate_in_guest).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hw/vmcs.h"

namespace kvm {

inline constexpr uint32_t KVM_X86_DISABLE_EXITS_MWAIT = 1u << 0;
inline constexpr uint32_t KVM_X86_DISABLE_EXITS_HLT = 1u << 1;
inline constexpr uint32_t KVM_X86_DISABLE_EXITS_PAUSE = 1u << 2;
inline constexpr uint32_t KVM_X86_DISABLE_EXITS_CSTATE = 1u << 3;

inline constexpr uint32_t MSR_CORE_C1_RES = 0x660;
inline constexpr uint32_t MSR_CORE_C3_RESIDENCY = 0x3FC;
inline constexpr uint32_t MSR_CORE_C6_RESIDENCY = 0x3FD;
inline constexpr uint32_t MSR_CORE_C7_RESIDENCY = 0x3FE;

const std::vector<std::string>& disable_exits_names();  // mwait, hlt, pause, cstate
// The capability bits for a list of names; throws std::invalid_argument for an unknown one.
uint32_t disable_exits_bits(const std::vector<std::string>& names);
// init_vmcs / vmx_vcpu_after_set_cpuid for the bits: controls and MSR interception.
void apply_disable_exits(uint32_t bits, hw::Vmcs& vmcs, hw::MsrBitmap& msr_bitmap);

}  // namespace kvm
