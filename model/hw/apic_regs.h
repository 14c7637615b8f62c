// Local APIC architectural constants: register offsets, MSR numbers and field layouts.
//
// Source: Intel SDM vol. 3, ch. 11 "Advanced Programmable Interrupt Controller (APIC)"
// (ch. 10 in older editions). Names follow the SDM; where Linux's apicdef.h uses another
// name (APIC_TASKPRI, APIC_ICR2, APIC_LVT0, ...) it is given in a comment so a KVM
// developer can find it. Header only, no SystemC: shared by the hardware LAPIC model and
// KVM's emulated guest LAPIC.
#pragma once

#include <cstdint>

namespace hw {

// --- xAPIC MMIO register offsets from the APIC base (default 0xFEE00000) ---
inline constexpr uint32_t APIC_DEFAULT_PHYS_BASE = 0xFEE00000u;
inline constexpr uint32_t APIC_ID = 0x020;
inline constexpr uint32_t APIC_VERSION = 0x030;  // Linux: APIC_LVR
inline constexpr uint32_t APIC_TPR = 0x080;      // Linux: APIC_TASKPRI
inline constexpr uint32_t APIC_APR = 0x090;      // Linux: APIC_ARBPRI
inline constexpr uint32_t APIC_PPR = 0x0A0;      // Linux: APIC_PROCPRI
inline constexpr uint32_t APIC_EOI = 0x0B0;
inline constexpr uint32_t APIC_RRD = 0x0C0;
inline constexpr uint32_t APIC_LDR = 0x0D0;
inline constexpr uint32_t APIC_DFR = 0x0E0;
inline constexpr uint32_t APIC_SPIV = 0x0F0;
inline constexpr uint32_t APIC_ISR = 0x100;  // 8 registers, 0x100-0x170
inline constexpr uint32_t APIC_TMR = 0x180;  // 8 registers, 0x180-0x1F0
inline constexpr uint32_t APIC_IRR = 0x200;  // 8 registers, 0x200-0x270
inline constexpr uint32_t APIC_ESR = 0x280;
inline constexpr uint32_t APIC_LVT_CMCI = 0x2F0;
inline constexpr uint32_t APIC_ICR_LOW = 0x300;   // Linux: APIC_ICR
inline constexpr uint32_t APIC_ICR_HIGH = 0x310;  // Linux: APIC_ICR2
inline constexpr uint32_t APIC_LVTT = 0x320;
inline constexpr uint32_t APIC_LVT_THERMAL = 0x330;  // Linux: APIC_LVTTHMR
inline constexpr uint32_t APIC_LVT_PMC = 0x340;      // Linux: APIC_LVTPC
inline constexpr uint32_t APIC_LVT_LINT0 = 0x350;    // Linux: APIC_LVT0
inline constexpr uint32_t APIC_LVT_LINT1 = 0x360;    // Linux: APIC_LVT1
inline constexpr uint32_t APIC_LVT_ERROR = 0x370;    // Linux: APIC_LVTERR
inline constexpr uint32_t APIC_TMICT = 0x380;
inline constexpr uint32_t APIC_TMCCT = 0x390;
inline constexpr uint32_t APIC_TDCR = 0x3E0;
inline constexpr uint32_t APIC_SELF_IPI = 0x3F0;  // x2APIC only
inline constexpr uint32_t APIC_REG_STRIDE = 0x10;   // registers are 16-byte aligned
inline constexpr uint32_t APIC_VECTOR_REGS = 8;     // ISR/TMR/IRR: 8 x 32 bits = 256 vectors

// --- x2APIC MSRs (SDM "x2APIC Register Address Space"): MSR = 0x800 + (offset >> 4) ---
inline constexpr uint32_t X2APIC_MSR_BASE = 0x800;
inline constexpr uint32_t X2APIC_MSR_LAST = 0x8FF;
constexpr uint32_t x2apic_msr(uint32_t offset) { return X2APIC_MSR_BASE + (offset >> 4); }
constexpr uint32_t x2apic_msr_to_offset(uint32_t msr) { return (msr - X2APIC_MSR_BASE) << 4; }
constexpr bool is_x2apic_msr(uint32_t msr) {
  return msr >= X2APIC_MSR_BASE && msr <= X2APIC_MSR_LAST;
}

inline constexpr uint32_t MSR_X2APIC_ID = x2apic_msr(APIC_ID);            // 0x802
inline constexpr uint32_t MSR_X2APIC_VERSION = x2apic_msr(APIC_VERSION);  // 0x803
inline constexpr uint32_t MSR_X2APIC_TPR = x2apic_msr(APIC_TPR);          // 0x808
inline constexpr uint32_t MSR_X2APIC_PPR = x2apic_msr(APIC_PPR);          // 0x80A
inline constexpr uint32_t MSR_X2APIC_EOI = x2apic_msr(APIC_EOI);          // 0x80B
inline constexpr uint32_t MSR_X2APIC_LDR = x2apic_msr(APIC_LDR);          // 0x80D
inline constexpr uint32_t MSR_X2APIC_SPIV = x2apic_msr(APIC_SPIV);        // 0x80F
inline constexpr uint32_t MSR_X2APIC_ISR0 = x2apic_msr(APIC_ISR);         // 0x810
inline constexpr uint32_t MSR_X2APIC_TMR0 = x2apic_msr(APIC_TMR);         // 0x818
inline constexpr uint32_t MSR_X2APIC_IRR0 = x2apic_msr(APIC_IRR);         // 0x820
inline constexpr uint32_t MSR_X2APIC_ESR = x2apic_msr(APIC_ESR);          // 0x828
inline constexpr uint32_t MSR_X2APIC_LVT_CMCI = x2apic_msr(APIC_LVT_CMCI);  // 0x82F
inline constexpr uint32_t MSR_X2APIC_ICR = x2apic_msr(APIC_ICR_LOW);      // 0x830, 64-bit
inline constexpr uint32_t MSR_X2APIC_LVTT = x2apic_msr(APIC_LVTT);        // 0x832
inline constexpr uint32_t MSR_X2APIC_LVT_THERMAL = x2apic_msr(APIC_LVT_THERMAL);  // 0x833
inline constexpr uint32_t MSR_X2APIC_LVT_PMC = x2apic_msr(APIC_LVT_PMC);          // 0x834
inline constexpr uint32_t MSR_X2APIC_LVT_LINT0 = x2apic_msr(APIC_LVT_LINT0);      // 0x835
inline constexpr uint32_t MSR_X2APIC_LVT_LINT1 = x2apic_msr(APIC_LVT_LINT1);      // 0x836
inline constexpr uint32_t MSR_X2APIC_LVT_ERROR = x2apic_msr(APIC_LVT_ERROR);      // 0x837
inline constexpr uint32_t MSR_X2APIC_TMICT = x2apic_msr(APIC_TMICT);      // 0x838
inline constexpr uint32_t MSR_X2APIC_TMCCT = x2apic_msr(APIC_TMCCT);      // 0x839
inline constexpr uint32_t MSR_X2APIC_TDCR = x2apic_msr(APIC_TDCR);        // 0x83E
inline constexpr uint32_t MSR_X2APIC_SELF_IPI = x2apic_msr(APIC_SELF_IPI);  // 0x83F
static_assert(MSR_X2APIC_ICR == 0x830 && MSR_X2APIC_SELF_IPI == 0x83F);
// Seed 002 (NoExit PV IPI, not upstream): the guest sends NMI/SMI/INIT/SIPI by writing an
// x2APIC-format ICR value here; KVM intercepts it. The seed gives no number: this one sits
// in KVM's PV MSR range (0x4b564dxx) past the assigned ones; outside the MSR bitmap's
// ranges, so it always exits.
inline constexpr uint32_t MSR_KVM_PV_ICR = 0x4b564d80;

// --- Other MSRs ---
inline constexpr uint32_t MSR_IA32_APICBASE = 0x1B;
inline constexpr uint64_t MSR_IA32_APICBASE_BSP = 1ull << 8;
inline constexpr uint64_t MSR_IA32_APICBASE_EXTD = 1ull << 10;    // x2APIC mode
inline constexpr uint64_t MSR_IA32_APICBASE_ENABLE = 1ull << 11;  // global enable
inline constexpr uint64_t MSR_IA32_APICBASE_BASE = 0xFFFFFF000ull;
inline constexpr uint32_t MSR_IA32_TSC_ADJUST = 0x3B;
inline constexpr uint32_t MSR_IA32_TSC_DEADLINE = 0x6E0;

// --- Interrupt Command Register (SDM "Interrupt Command Register (ICR)") ---
enum class DeliveryMode : uint8_t {
  Fixed = 0,
  LowestPrio = 1,
  SMI = 2,
  // 3 is reserved
  NMI = 4,
  INIT = 5,
  SIPI = 6,  // Start-Up
  ExtINT = 7,
};

enum class Shorthand : uint8_t {
  None = 0,
  Self = 1,
  AllIncludingSelf = 2,
  AllExcludingSelf = 3,
};

inline constexpr uint32_t APIC_ICR_VECTOR_MASK = 0xFF;
inline constexpr uint32_t APIC_ICR_DM_SHIFT = 8;
inline constexpr uint32_t APIC_ICR_DM_MASK = 0x7u << APIC_ICR_DM_SHIFT;
inline constexpr uint32_t APIC_ICR_DEST_LOGICAL = 1u << 11;
inline constexpr uint32_t APIC_ICR_BUSY = 1u << 12;  // delivery status; xAPIC only, read-only
inline constexpr uint32_t APIC_ICR_LEVEL_ASSERT = 1u << 14;
inline constexpr uint32_t APIC_ICR_TRIGGER_LEVEL = 1u << 15;
inline constexpr uint32_t APIC_ICR_SHORTHAND_SHIFT = 18;
inline constexpr uint32_t APIC_ICR_SHORTHAND_MASK = 0x3u << APIC_ICR_SHORTHAND_SHIFT;
// Bits software can write in ICR low (bit 12 is read-only status, the rest reserved).
inline constexpr uint32_t APIC_ICR_LOW_WRITABLE =
    APIC_ICR_VECTOR_MASK | APIC_ICR_DM_MASK | APIC_ICR_DEST_LOGICAL | APIC_ICR_LEVEL_ASSERT |
    APIC_ICR_TRIGGER_LEVEL | APIC_ICR_SHORTHAND_MASK;
inline constexpr uint32_t XAPIC_ICR_DEST_SHIFT = 24;  // in ICR high: bits 63:56 of the ICR
inline constexpr uint32_t XAPIC_ICR_HIGH_WRITABLE = 0xFFu << XAPIC_ICR_DEST_SHIFT;

constexpr uint8_t icr_vector(uint32_t low) { return uint8_t(low & APIC_ICR_VECTOR_MASK); }
constexpr DeliveryMode icr_delivery_mode(uint32_t low) {
  return DeliveryMode((low & APIC_ICR_DM_MASK) >> APIC_ICR_DM_SHIFT);
}
constexpr Shorthand icr_shorthand(uint32_t low) {
  return Shorthand((low & APIC_ICR_SHORTHAND_MASK) >> APIC_ICR_SHORTHAND_SHIFT);
}
constexpr uint32_t xapic_icr_dest(uint32_t high) { return high >> XAPIC_ICR_DEST_SHIFT; }

// Broadcast destinations (SDM "Determining IPI Destination").
inline constexpr uint32_t XAPIC_BROADCAST = 0xFF;
inline constexpr uint32_t X2APIC_BROADCAST = 0xFFFFFFFFu;

// --- Local Vector Table entries (SDM "Local Vector Table") ---
inline constexpr uint32_t APIC_LVT_VECTOR_MASK = 0xFF;
inline constexpr uint32_t APIC_LVT_DM_MASK = 0x7u << 8;  // not in LVTT / LVT Error
inline constexpr uint32_t APIC_LVT_DELIVERY_STATUS = 1u << 12;  // read-only
inline constexpr uint32_t APIC_LVT_INPUT_POLARITY = 1u << 13;   // LINT0/1 only
inline constexpr uint32_t APIC_LVT_REMOTE_IRR = 1u << 14;       // LINT0/1 only, read-only
inline constexpr uint32_t APIC_LVT_TRIGGER_LEVEL = 1u << 15;    // LINT0/1 only
inline constexpr uint32_t APIC_LVT_MASKED = 1u << 16;
inline constexpr uint32_t APIC_LVT_TIMER_MODE_SHIFT = 17;  // LVTT only, bits 18:17
inline constexpr uint32_t APIC_LVT_TIMER_MODE_MASK = 0x3u << APIC_LVT_TIMER_MODE_SHIFT;

enum class TimerMode : uint8_t {
  OneShot = 0,
  Periodic = 1,
  TscDeadline = 2,
  // 3 is reserved; see lvtt_mode() in lapic_timer.h.
};

// --- Spurious-Interrupt Vector Register ---
inline constexpr uint32_t APIC_SPIV_VECTOR_MASK = 0xFF;
inline constexpr uint32_t APIC_SPIV_APIC_ENABLED = 1u << 8;  // software enable
inline constexpr uint32_t APIC_SPIV_FOCUS_DISABLED = 1u << 9;
inline constexpr uint32_t APIC_SPIV_DIRECTED_EOI = 1u << 12;  // EOI-broadcast suppression

// --- Error Status Register bits (SDM "Error Handling") ---
inline constexpr uint32_t APIC_ESR_SEND_CS = 1u << 0;
inline constexpr uint32_t APIC_ESR_RECV_CS = 1u << 1;
inline constexpr uint32_t APIC_ESR_SEND_ACCEPT = 1u << 2;
inline constexpr uint32_t APIC_ESR_RECV_ACCEPT = 1u << 3;
inline constexpr uint32_t APIC_ESR_REDIRECTABLE_IPI = 1u << 4;
inline constexpr uint32_t APIC_ESR_SEND_ILLEGAL_VECTOR = 1u << 5;
inline constexpr uint32_t APIC_ESR_RECV_ILLEGAL_VECTOR = 1u << 6;
inline constexpr uint32_t APIC_ESR_ILLEGAL_REGISTER = 1u << 7;

// --- Destination Format Register model field, bits 31:28 ---
inline constexpr uint32_t APIC_DFR_MODEL_SHIFT = 28;
inline constexpr uint32_t APIC_DFR_FLAT = 0xFFFFFFFFu;     // model 1111b
inline constexpr uint32_t APIC_DFR_CLUSTER = 0x0FFFFFFFu;  // model 0000b; bits 27:0 read as 1

// Vectors 0-15 are reserved for exceptions and illegal for APIC delivery
// (SDM "Valid Interrupt Vectors").
inline constexpr uint8_t APIC_FIRST_LEGAL_VECTOR = 16;
constexpr bool apic_vector_legal(uint8_t v) { return v >= APIC_FIRST_LEGAL_VECTOR; }

// --- System vectors used by Linux/KVM (arch/x86/include/asm/irq_vectors.h) ---
inline constexpr uint8_t NMI_VECTOR = 0x02;  // an IPI "to" it is sent with APIC_DM_NMI
inline constexpr uint8_t LOCAL_TIMER_VECTOR = 0xec;
inline constexpr uint8_t POSTED_INTR_NESTED_VECTOR = 0xf0;
inline constexpr uint8_t POSTED_INTR_WAKEUP_VECTOR = 0xf1;
inline constexpr uint8_t POSTED_INTR_VECTOR = 0xf2;
inline constexpr uint8_t CALL_FUNCTION_SINGLE_VECTOR = 0xfb;
inline constexpr uint8_t CALL_FUNCTION_VECTOR = 0xfc;
inline constexpr uint8_t RESCHEDULE_VECTOR = 0xfd;
inline constexpr uint8_t ERROR_APIC_VECTOR = 0xfe;
inline constexpr uint8_t SPURIOUS_APIC_VECTOR = 0xff;

}  // namespace hw
