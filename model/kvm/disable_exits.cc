#include "kvm/disable_exits.h"

#include <stdexcept>

#include "hw/vmx.h"

namespace kvm {

const std::vector<std::string>& disable_exits_names() {
  static const std::vector<std::string> names = {"mwait", "hlt", "pause", "cstate"};
  return names;
}

uint32_t disable_exits_bits(const std::vector<std::string>& names) {
  uint32_t bits = 0;
  for (const auto& n : names) {
    if (n == "mwait") bits |= KVM_X86_DISABLE_EXITS_MWAIT;
    else if (n == "hlt") bits |= KVM_X86_DISABLE_EXITS_HLT;
    else if (n == "pause") bits |= KVM_X86_DISABLE_EXITS_PAUSE;
    else if (n == "cstate") bits |= KVM_X86_DISABLE_EXITS_CSTATE;
    else throw std::invalid_argument("unknown disable_exits entry '" + n + "'");
  }
  return bits;
}

void apply_disable_exits(uint32_t bits, hw::Vmcs& vmcs, hw::MsrBitmap& msr_bitmap) {
  using namespace hw;
  if (bits & KVM_X86_DISABLE_EXITS_MWAIT)
    vmcs.set_bits(VmcsField::CPU_BASED_VM_EXEC_CONTROL, CPU_BASED_MWAIT_EXITING | CPU_BASED_MONITOR_EXITING, false);
  if (bits & KVM_X86_DISABLE_EXITS_HLT)
    vmcs.set_bits(VmcsField::CPU_BASED_VM_EXEC_CONTROL, CPU_BASED_HLT_EXITING, false);
  if (bits & KVM_X86_DISABLE_EXITS_PAUSE) {
    vmcs.set_bits(VmcsField::CPU_BASED_VM_EXEC_CONTROL, CPU_BASED_PAUSE_EXITING, false);
    vmcs.set_bits(VmcsField::SECONDARY_VM_EXEC_CONTROL, SECONDARY_EXEC_PAUSE_LOOP_EXITING, false);
  }
  if (bits & KVM_X86_DISABLE_EXITS_CSTATE)
    for (uint32_t m : {MSR_CORE_C1_RES, MSR_CORE_C3_RESIDENCY, MSR_CORE_C6_RESIDENCY, MSR_CORE_C7_RESIDENCY})
      msr_bitmap.intercept(m, false, true);
}

}  // namespace kvm
