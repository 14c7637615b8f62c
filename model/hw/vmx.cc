#include "hw/vmx.h"

#include <array>

namespace hw {
namespace {

constexpr std::array<std::string_view, kNumExitReasons> make_names() {
  std::array<std::string_view, kNumExitReasons> n{};
  n[0] = "EXCEPTION_NMI"; n[1] = "EXTERNAL_INTERRUPT"; n[2] = "TRIPLE_FAULT";
  n[3] = "INIT_SIGNAL"; n[4] = "SIPI_SIGNAL"; n[7] = "INTERRUPT_WINDOW"; n[8] = "NMI_WINDOW";
  n[9] = "TASK_SWITCH"; n[10] = "CPUID"; n[12] = "HLT"; n[13] = "INVD"; n[14] = "INVLPG";
  n[15] = "RDPMC"; n[16] = "RDTSC"; n[18] = "VMCALL"; n[19] = "VMCLEAR"; n[20] = "VMLAUNCH";
  n[21] = "VMPTRLD"; n[22] = "VMPTRST"; n[23] = "VMREAD"; n[24] = "VMRESUME"; n[25] = "VMWRITE";
  n[26] = "VMOFF"; n[27] = "VMON"; n[28] = "CR_ACCESS"; n[29] = "DR_ACCESS";
  n[30] = "IO_INSTRUCTION"; n[31] = "MSR_READ"; n[32] = "MSR_WRITE"; n[33] = "INVALID_STATE";
  n[34] = "MSR_LOAD_FAIL"; n[36] = "MWAIT_INSTRUCTION"; n[37] = "MONITOR_TRAP_FLAG";
  n[39] = "MONITOR_INSTRUCTION"; n[40] = "PAUSE_INSTRUCTION"; n[41] = "MCE_DURING_VMENTRY";
  n[43] = "TPR_BELOW_THRESHOLD"; n[44] = "APIC_ACCESS"; n[45] = "EOI_INDUCED";
  n[46] = "GDTR_IDTR"; n[47] = "LDTR_TR"; n[48] = "EPT_VIOLATION"; n[49] = "EPT_MISCONFIG";
  n[50] = "INVEPT"; n[51] = "RDTSCP"; n[52] = "PREEMPTION_TIMER"; n[53] = "INVVPID";
  n[54] = "WBINVD"; n[55] = "XSETBV"; n[56] = "APIC_WRITE"; n[57] = "RDRAND"; n[58] = "INVPCID";
  n[59] = "VMFUNC"; n[60] = "ENCLS"; n[61] = "RDSEED"; n[62] = "PML_FULL"; n[63] = "XSAVES";
  n[64] = "XRSTORS"; n[67] = "UMWAIT"; n[68] = "TPAUSE"; n[74] = "BUS_LOCK"; n[75] = "NOTIFY";
  return n;
}
constexpr auto kNames = make_names();

}  // namespace

std::string_view exit_reason_name(int reason) {
  if (reason < 0 || reason >= kNumExitReasons) return {};
  return kNames[static_cast<size_t>(reason)];
}

int exit_reason_from_name(std::string_view name) {
  for (int i = 0; i < kNumExitReasons; ++i)
    if (!kNames[static_cast<size_t>(i)].empty() && kNames[static_cast<size_t>(i)] == name) return i;
  return -1;
}

}  // namespace hw
