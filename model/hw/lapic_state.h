// Architectural state of one local APIC: the register file, IRR/ISR/TMR and priorities.
//
// Plain data, no SystemC, no allocation: shared by the physical LAPIC model and KVM's
// emulated guest LAPIC (arch/x86/kvm/lapic.c), and on the simulator's hot path. Timing
// (TMCCT, expiry) is not state and lives in lapic_timer.h; sending IPIs, EOI broadcast and
// LVT delivery are the caller's job.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "hw/apic_regs.h"
#include "hw/icr.h"

namespace hw {

// 256 vectors in the SDM layout: vector v is bit v % 32 of 32-bit register v / 32
// (ISR at 0x100 + 0x10 * (v / 32), likewise TMR and IRR).
using ApicVectorBitmap = std::array<uint32_t, APIC_VECTOR_REGS>;

// Bitmap helpers named after KVM's (apic_test_vector, kvm_lapic_set_vector, ...).
inline bool apic_test_vector(uint8_t vec, std::span<const uint32_t, 8> bm) {
  return (bm[vec >> 5] >> (vec & 31)) & 1;
}
inline void apic_set_vector(uint8_t vec, std::span<uint32_t, 8> bm) {
  bm[vec >> 5] |= 1u << (vec & 31);
}
inline void apic_clear_vector(uint8_t vec, std::span<uint32_t, 8> bm) {
  bm[vec >> 5] &= ~(1u << (vec & 31));
}
// Returns the old bit.
inline bool apic_test_and_set_vector(uint8_t vec, std::span<uint32_t, 8> bm) {
  const bool old = apic_test_vector(vec, bm);
  apic_set_vector(vec, bm);
  return old;
}
// Highest set vector, or -1. Scans the 8 words from the top.
inline int apic_find_highest_vector(std::span<const uint32_t, 8> bm) {
  for (int i = 7; i >= 0; --i)
    if (bm[i]) return i * 32 + 31 - __builtin_clz(bm[i]);
  return -1;
}

// Reset values (SDM "Local APIC State After Power-Up or Reset").
inline constexpr uint32_t APIC_VERSION_VALUE = 0x14 | (6u << 16);  // as KVM: 7 LVTs (with CMCI)
inline constexpr uint32_t APIC_SPIV_RESET = 0xFF;                  // software-disabled
inline constexpr uint32_t APIC_LVT_RESET = APIC_LVT_MASKED;
inline constexpr uint32_t APIC_TDCR_WRITABLE = 0xB;                // bits 3, 1, 0

class LapicRegisters {
 public:
  LapicRegisters() { reset(0); }
  explicit LapicRegisters(uint32_t apic_id) { reset(apic_id); }

  // Power-up / RESET / INIT state (SDM: INIT leaves the APIC ID alone; so does this).
  // Leaves xAPIC mode.
  void reset(uint32_t apic_id);

  // --- Identity ---
  uint32_t apic_id() const { return id_; }
  void set_apic_id(uint32_t id);
  bool x2apic_mode() const { return x2apic_; }
  // Entering x2APIC mode makes LDR read-only and derived from the ID (x2apic_ldr).
  void set_x2apic_mode(bool on);
  ApicIdentity identity() const { return {id_, ldr_, dfr_}; }

  // --- Priorities (SDM "Task and Processor Priorities") ---
  uint8_t tpr() const { return tpr_; }
  void set_tpr(uint8_t tpr) { tpr_ = tpr; }
  // PPR = TPR if TPR[7:4] >= ISRV[7:4], else ISRV[7:4]:0000; ISRV = highest in-service
  // vector (0 if none). Computed on demand so it can never be stale.
  uint8_t ppr() const;

  int highest_irr() const { return apic_find_highest_vector(irr_); }
  int highest_isr() const { return apic_find_highest_vector(isr_); }

  // Acceptance of a fixed (or lowest-priority) interrupt: sets IRR, and sets TMR for
  // level-triggered / clears it for edge (as KVM's __apic_accept_irq, updated even when
  // coalesced). Returns false if not newly pended:
  //  - the vector was already in IRR (coalesced; edge interrupts are lost this way), or
  //  - the vector is 0-15: the SDM (ESR, "Received Illegal Vector") says the APIC "will
  //    never set an IRR bit in the range 0 to 15" and sets ESR bit 6 instead.
  // Does not check the software-enable bit: like KVM, callers drop fixed interrupts to a
  // software-disabled APIC (check sw_enabled()) before calling.
  bool accept_fixed(uint8_t vector, bool level);

  // Highest IRR vector whose priority class [7:4] is above PPR[7:4], else -1.
  int deliverable_vector() const {
    // Fast exit for the common empty IRR (checked at every guest instruction boundary).
    if ((irr_[0] | irr_[1] | irr_[2] | irr_[3] | irr_[4] | irr_[5] | irr_[6] | irr_[7]) == 0) return -1;
    return deliverable_vector_slow();
  }
  int deliverable_vector_slow() const;

  // Interrupt acknowledge: moves the vector from IRR to ISR.
  void start_service(uint8_t vector);

  // EOI: clears the highest ISR bit and returns its vector (-1 if ISR empty). If
  // `level_triggered` is given, reports whether that vector's TMR bit is set, in which case
  // the caller broadcasts the EOI to the I/O APICs (unless SPIV directed-EOI is set).
  int eoi(bool* level_triggered = nullptr);

  bool sw_enabled() const { return spiv_ & APIC_SPIV_APIC_ENABLED; }

  // --- Raw bitmaps (SDM layout) ---
  const ApicVectorBitmap& irr() const { return irr_; }
  const ApicVectorBitmap& isr() const { return isr_; }
  const ApicVectorBitmap& tmr() const { return tmr_; }
  // Writable IRR, for merging a posted-interrupt PIR (pi_harvest_pir) into the vIRR.
  ApicVectorBitmap& irr_words() { return irr_; }
  bool test_irr(uint8_t v) const { return apic_test_vector(v, irr_); }
  bool test_isr(uint8_t v) const { return apic_test_vector(v, isr_); }
  bool test_tmr(uint8_t v) const { return apic_test_vector(v, tmr_); }

  // --- Errors. ESR semantics (SDM "Error Handling"): errors accumulate internally; a write
  // to ESR makes them readable and clears the accumulator. ---
  void record_error(uint32_t esr_bits) { esr_pending_ |= esr_bits; }
  uint32_t esr() const { return esr_; }
  uint32_t esr_pending() const { return esr_pending_; }

  // --- Register file, by xAPIC offset (x2APIC callers convert with x2apic_msr_to_offset) ---
  // Returns nullopt for registers that are not pure state (APR, EOI, RRD, TMCCT, SELF_IPI),
  // unknown/unaligned offsets, and DFR / ICR_HIGH in x2APIC mode.
  std::optional<uint32_t> read(uint32_t offset) const;
  // Stores the writable bits of a pure-state register and returns true; returns false (and
  // changes nothing) for read-only, reserved and action registers (EOI, TMCCT, SELF_IPI):
  // the caller does the action. Writing ICR_LOW only stores it; the caller sends the IPI.
  // Side effects that are pure state are applied: clearing SPIV[8] masks every LVT, and
  // LVTs cannot be unmasked while software-disabled (SDM "Software Enabling/Disabling").
  bool write(uint32_t offset, uint32_t value);

  // Convenience accessors for the caller's timer / IPI logic.
  uint32_t spiv() const { return spiv_; }
  uint32_t ldr() const { return ldr_; }
  uint32_t dfr() const { return dfr_; }
  uint32_t lvt(uint32_t offset) const;  // offset of an LVT register; 0 if not an LVT
  uint32_t lvtt() const { return lvt_[lvt_index(APIC_LVTT)]; }
  uint32_t tmict() const { return tmict_; }
  uint32_t tdcr() const { return tdcr_; }
  uint32_t icr_low() const { return icr_low_; }
  uint32_t icr_high() const { return icr_high_; }
  // x2APIC 64-bit ICR (MSR 0x830): low | high << 32.
  uint64_t icr() const { return uint64_t(icr_high_) << 32 | icr_low_; }
  void set_icr(uint64_t v) {
    icr_low_ = uint32_t(v) & APIC_ICR_LOW_WRITABLE;
    icr_high_ = uint32_t(v >> 32);
  }

 private:
  // LVT registers are 0x2F0 (CMCI) and 0x320-0x370: index 0 = CMCI, 1..6 = LVTT..Error.
  static constexpr int kNumLvt = 7;
  static constexpr int lvt_index(uint32_t offset) {
    return offset == APIC_LVT_CMCI ? 0 : int((offset - APIC_LVTT) >> 4) + 1;
  }
  static constexpr bool is_lvt(uint32_t offset) {
    return offset == APIC_LVT_CMCI ||
           (offset >= APIC_LVTT && offset <= APIC_LVT_ERROR && (offset & 0xF) == 0);
  }
  static uint32_t lvt_writable_mask(uint32_t offset);

  // All set by reset().
  uint32_t id_;
  bool x2apic_;
  uint8_t tpr_;
  uint32_t ldr_;
  uint32_t dfr_;
  uint32_t spiv_;
  uint32_t esr_;          // readable ESR
  uint32_t esr_pending_;  // errors since the last ESR write
  uint32_t icr_low_;
  uint32_t icr_high_;
  std::array<uint32_t, kNumLvt> lvt_;
  uint32_t tmict_;
  uint32_t tdcr_;
  ApicVectorBitmap irr_;
  ApicVectorBitmap isr_;
  ApicVectorBitmap tmr_;
};

}  // namespace hw
