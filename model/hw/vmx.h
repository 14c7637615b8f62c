// VMX architecture constants (Intel SDM vol. 3C, appendices A-C): basic exit reasons and
// the VM-execution control bits the model implements. Names follow Linux's asm/vmx.h.
#pragma once

#include <cstdint>
#include <string_view>

namespace hw {

enum ExitReason : uint16_t {
  EXIT_REASON_EXCEPTION_NMI = 0,
  EXIT_REASON_EXTERNAL_INTERRUPT = 1,
  EXIT_REASON_TRIPLE_FAULT = 2,
  EXIT_REASON_INIT_SIGNAL = 3,
  EXIT_REASON_SIPI_SIGNAL = 4,
  EXIT_REASON_INTERRUPT_WINDOW = 7,
  EXIT_REASON_NMI_WINDOW = 8,
  EXIT_REASON_TASK_SWITCH = 9,
  EXIT_REASON_CPUID = 10,
  EXIT_REASON_HLT = 12,
  EXIT_REASON_INVD = 13,
  EXIT_REASON_INVLPG = 14,
  EXIT_REASON_RDPMC = 15,
  EXIT_REASON_RDTSC = 16,
  EXIT_REASON_VMCALL = 18,
  EXIT_REASON_VMCLEAR = 19,
  EXIT_REASON_VMLAUNCH = 20,
  EXIT_REASON_VMPTRLD = 21,
  EXIT_REASON_VMPTRST = 22,
  EXIT_REASON_VMREAD = 23,
  EXIT_REASON_VMRESUME = 24,
  EXIT_REASON_VMWRITE = 25,
  EXIT_REASON_VMOFF = 26,
  EXIT_REASON_VMON = 27,
  EXIT_REASON_CR_ACCESS = 28,
  EXIT_REASON_DR_ACCESS = 29,
  EXIT_REASON_IO_INSTRUCTION = 30,
  EXIT_REASON_MSR_READ = 31,
  EXIT_REASON_MSR_WRITE = 32,
  EXIT_REASON_INVALID_STATE = 33,
  EXIT_REASON_MSR_LOAD_FAIL = 34,
  EXIT_REASON_MWAIT_INSTRUCTION = 36,
  EXIT_REASON_MONITOR_TRAP_FLAG = 37,
  EXIT_REASON_MONITOR_INSTRUCTION = 39,
  EXIT_REASON_PAUSE_INSTRUCTION = 40,
  EXIT_REASON_MCE_DURING_VMENTRY = 41,
  EXIT_REASON_TPR_BELOW_THRESHOLD = 43,
  EXIT_REASON_APIC_ACCESS = 44,
  EXIT_REASON_EOI_INDUCED = 45,
  EXIT_REASON_GDTR_IDTR = 46,
  EXIT_REASON_LDTR_TR = 47,
  EXIT_REASON_EPT_VIOLATION = 48,
  EXIT_REASON_EPT_MISCONFIG = 49,
  EXIT_REASON_INVEPT = 50,
  EXIT_REASON_RDTSCP = 51,
  EXIT_REASON_PREEMPTION_TIMER = 52,
  EXIT_REASON_INVVPID = 53,
  EXIT_REASON_WBINVD = 54,
  EXIT_REASON_XSETBV = 55,
  EXIT_REASON_APIC_WRITE = 56,
  EXIT_REASON_RDRAND = 57,
  EXIT_REASON_INVPCID = 58,
  EXIT_REASON_VMFUNC = 59,
  EXIT_REASON_ENCLS = 60,
  EXIT_REASON_RDSEED = 61,
  EXIT_REASON_PML_FULL = 62,
  EXIT_REASON_XSAVES = 63,
  EXIT_REASON_XRSTORS = 64,
  EXIT_REASON_UMWAIT = 67,
  EXIT_REASON_TPAUSE = 68,
  EXIT_REASON_BUS_LOCK = 74,
  EXIT_REASON_NOTIFY = 75,
};
inline constexpr int kNumExitReasons = 76;

// Upper-case names as `perf kvm stat` prints them (Linux's VMX_EXIT_REASONS table).
// Empty for reasons the SDM leaves unassigned.
std::string_view exit_reason_name(int reason);
// Reverse lookup; -1 if unknown.
int exit_reason_from_name(std::string_view name);

// Pin-based VM-execution controls.
inline constexpr uint32_t PIN_BASED_EXT_INTR_MASK = 1u << 0;
inline constexpr uint32_t PIN_BASED_NMI_EXITING = 1u << 3;
inline constexpr uint32_t PIN_BASED_VIRTUAL_NMIS = 1u << 5;
inline constexpr uint32_t PIN_BASED_VMX_PREEMPTION_TIMER = 1u << 6;
inline constexpr uint32_t PIN_BASED_POSTED_INTR = 1u << 7;

// Primary processor-based controls.
inline constexpr uint32_t CPU_BASED_INTR_WINDOW_EXITING = 1u << 2;
inline constexpr uint32_t CPU_BASED_USE_TSC_OFFSETTING = 1u << 3;
inline constexpr uint32_t CPU_BASED_HLT_EXITING = 1u << 7;
inline constexpr uint32_t CPU_BASED_INVLPG_EXITING = 1u << 9;
inline constexpr uint32_t CPU_BASED_MWAIT_EXITING = 1u << 10;
inline constexpr uint32_t CPU_BASED_RDPMC_EXITING = 1u << 11;
inline constexpr uint32_t CPU_BASED_RDTSC_EXITING = 1u << 12;
inline constexpr uint32_t CPU_BASED_CR3_LOAD_EXITING = 1u << 15;
inline constexpr uint32_t CPU_BASED_CR3_STORE_EXITING = 1u << 16;
inline constexpr uint32_t CPU_BASED_ACTIVATE_TERTIARY_CONTROLS = 1u << 17;
inline constexpr uint32_t CPU_BASED_CR8_LOAD_EXITING = 1u << 19;
inline constexpr uint32_t CPU_BASED_CR8_STORE_EXITING = 1u << 20;
inline constexpr uint32_t CPU_BASED_TPR_SHADOW = 1u << 21;
inline constexpr uint32_t CPU_BASED_NMI_WINDOW_EXITING = 1u << 22;
inline constexpr uint32_t CPU_BASED_UNCOND_IO_EXITING = 1u << 24;
inline constexpr uint32_t CPU_BASED_USE_IO_BITMAPS = 1u << 25;
inline constexpr uint32_t CPU_BASED_USE_MSR_BITMAPS = 1u << 28;
inline constexpr uint32_t CPU_BASED_MONITOR_EXITING = 1u << 29;
inline constexpr uint32_t CPU_BASED_PAUSE_EXITING = 1u << 30;
inline constexpr uint32_t CPU_BASED_ACTIVATE_SECONDARY_CONTROLS = 1u << 31;

// Secondary processor-based controls.
inline constexpr uint32_t SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES = 1u << 0;
inline constexpr uint32_t SECONDARY_EXEC_ENABLE_EPT = 1u << 1;
inline constexpr uint32_t SECONDARY_EXEC_VIRTUALIZE_X2APIC_MODE = 1u << 4;
inline constexpr uint32_t SECONDARY_EXEC_ENABLE_VPID = 1u << 5;
inline constexpr uint32_t SECONDARY_EXEC_APIC_REGISTER_VIRT = 1u << 8;
inline constexpr uint32_t SECONDARY_EXEC_VIRTUAL_INTR_DELIVERY = 1u << 9;
inline constexpr uint32_t SECONDARY_EXEC_PAUSE_LOOP_EXITING = 1u << 10;
inline constexpr uint32_t SECONDARY_EXEC_SHADOW_VMCS = 1u << 14;
inline constexpr uint32_t SECONDARY_EXEC_TSC_SCALING = 1u << 25;

// Tertiary processor-based controls.
inline constexpr uint64_t TERTIARY_EXEC_IPI_VIRT = 1ull << 4;

// VM-entry interruption-information field (SDM 24.8.3).
inline constexpr uint32_t INTR_INFO_VALID_MASK = 1u << 31;
inline constexpr uint32_t INTR_TYPE_EXT_INTR = 0u << 8;
inline constexpr uint32_t INTR_TYPE_NMI_INTR = 2u << 8;
inline constexpr uint32_t INTR_TYPE_HARD_EXCEPTION = 3u << 8;
inline constexpr uint32_t UD_VECTOR = 6;
inline constexpr uint32_t INTR_TYPE_MASK = 7u << 8;

// Guest interruptibility state (SDM 24.4.2): blocking by NMI.
inline constexpr uint32_t GUEST_INTR_STATE_NMI = 1u << 3;

// Exit qualification for I/O instructions (SDM table 27-5).
inline constexpr uint64_t IO_QUAL_IN = 1u << 3;

}  // namespace hw
