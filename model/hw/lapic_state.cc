#include "hw/lapic_state.h"

namespace hw {

void LapicRegisters::reset(uint32_t apic_id) {
  id_ = apic_id;
  x2apic_ = false;
  tpr_ = 0;
  ldr_ = 0;
  dfr_ = APIC_DFR_FLAT;
  spiv_ = APIC_SPIV_RESET;
  esr_ = esr_pending_ = 0;
  icr_low_ = icr_high_ = 0;
  lvt_.fill(APIC_LVT_RESET);
  tmict_ = tdcr_ = 0;
  irr_.fill(0);
  isr_.fill(0);
  tmr_.fill(0);
}

void LapicRegisters::set_apic_id(uint32_t id) {
  id_ = id;
  if (x2apic_) ldr_ = x2apic_ldr(id);
}

void LapicRegisters::set_x2apic_mode(bool on) {
  x2apic_ = on;
  // x2APIC -> xAPIC is only legal through the disabled state, which resets LDR/DFR.
  ldr_ = on ? x2apic_ldr(id_) : 0;
  dfr_ = APIC_DFR_FLAT;
}

uint8_t LapicRegisters::ppr() const {
  const int isr = highest_isr();
  const uint8_t isrv = isr < 0 ? 0 : uint8_t(isr);
  return (tpr_ & 0xF0) >= (isrv & 0xF0) ? tpr_ : uint8_t(isrv & 0xF0);
}

bool LapicRegisters::accept_fixed(uint8_t vector, bool level) {
  if (!apic_vector_legal(vector)) {
    record_error(APIC_ESR_RECV_ILLEGAL_VECTOR);
    return false;
  }
  if (level)
    apic_set_vector(vector, tmr_);
  else
    apic_clear_vector(vector, tmr_);
  return !apic_test_and_set_vector(vector, irr_);
}

int LapicRegisters::deliverable_vector_slow() const {
  const int v = highest_irr();
  if (v < 0 || (v & 0xF0) <= (ppr() & 0xF0)) return -1;
  return v;
}

void LapicRegisters::start_service(uint8_t vector) {
  apic_clear_vector(vector, irr_);
  apic_set_vector(vector, isr_);
}

int LapicRegisters::eoi(bool* level_triggered) {
  const int v = highest_isr();
  if (level_triggered) *level_triggered = v >= 0 && test_tmr(uint8_t(v));
  if (v >= 0) apic_clear_vector(uint8_t(v), isr_);
  return v;
}

uint32_t LapicRegisters::lvt(uint32_t offset) const {
  return is_lvt(offset) ? lvt_[lvt_index(offset)] : 0;
}

// Writable bits per LVT (SDM "Local Vector Table" figure); delivery status and remote IRR
// are read-only, the rest reserved.
uint32_t LapicRegisters::lvt_writable_mask(uint32_t offset) {
  constexpr uint32_t base = APIC_LVT_VECTOR_MASK | APIC_LVT_MASKED;
  switch (offset) {
    case APIC_LVTT: return base | APIC_LVT_TIMER_MODE_MASK;
    case APIC_LVT_LINT0:
    case APIC_LVT_LINT1:
      return base | APIC_LVT_DM_MASK | APIC_LVT_INPUT_POLARITY | APIC_LVT_TRIGGER_LEVEL;
    case APIC_LVT_ERROR: return base;
    default: return base | APIC_LVT_DM_MASK;  // CMCI, thermal, PMC
  }
}

std::optional<uint32_t> LapicRegisters::read(uint32_t offset) const {
  if (offset >= APIC_ISR && offset < APIC_ESR && (offset & 0xF) == 0) {
    const uint32_t i = (offset >> 4) & 7;
    if (offset < APIC_TMR) return isr_[i];
    if (offset < APIC_IRR) return tmr_[i];
    return irr_[i];
  }
  if (is_lvt(offset)) return lvt_[lvt_index(offset)];
  switch (offset) {
    case APIC_ID: return x2apic_ ? id_ : id_ << 24;
    case APIC_VERSION: return APIC_VERSION_VALUE;
    case APIC_TPR: return tpr_;
    case APIC_PPR: return ppr();
    case APIC_LDR: return ldr_;
    case APIC_DFR: return x2apic_ ? std::nullopt : std::optional<uint32_t>(dfr_);
    case APIC_SPIV: return spiv_;
    case APIC_ESR: return esr_;
    case APIC_ICR_LOW: return icr_low_;  // delivery status always idle: sends are instant
    case APIC_ICR_HIGH: return x2apic_ ? std::nullopt : std::optional<uint32_t>(icr_high_);
    case APIC_TMICT: return tmict_;
    case APIC_TDCR: return tdcr_;
    default: return std::nullopt;
  }
}

bool LapicRegisters::write(uint32_t offset, uint32_t value) {
  if (is_lvt(offset)) {
    const uint32_t mask = lvt_writable_mask(offset);
    uint32_t& reg = lvt_[lvt_index(offset)];
    reg = (reg & ~mask) | (value & mask);
    if (!sw_enabled()) reg |= APIC_LVT_MASKED;
    return true;
  }
  switch (offset) {
    case APIC_ID:
      if (x2apic_) return false;  // read-only in x2APIC mode
      id_ = value >> 24;
      return true;
    case APIC_TPR:
      tpr_ = uint8_t(value);
      return true;
    case APIC_LDR:
      if (x2apic_) return false;  // derived from the ID in x2APIC mode
      ldr_ = value & 0xFF000000u;
      return true;
    case APIC_DFR:
      if (x2apic_) return false;  // does not exist in x2APIC mode
      dfr_ = value | 0x0FFFFFFFu;  // bits 27:0 read as ones
      return true;
    case APIC_SPIV:
      // Version register does not advertise EOI-broadcast suppression, so bit 12 is
      // reserved; bits 9:0 are vector, enable and focus-check disable.
      spiv_ = value & 0x3FFu;
      if (!sw_enabled())
        for (uint32_t& reg : lvt_) reg |= APIC_LVT_MASKED;
      return true;
    case APIC_ESR:
      esr_ = esr_pending_;
      esr_pending_ = 0;
      return true;
    case APIC_ICR_LOW:
      icr_low_ = value & APIC_ICR_LOW_WRITABLE;
      return true;
    case APIC_ICR_HIGH:
      if (x2apic_) return false;  // MSR 0x831 is reserved: the x2APIC ICR is 64-bit at 0x830
      icr_high_ = value & XAPIC_ICR_HIGH_WRITABLE;
      return true;
    case APIC_TMICT:
      tmict_ = value;
      return true;
    case APIC_TDCR:
      tdcr_ = value & APIC_TDCR_WRITABLE;
      return true;
    default:
      return false;
  }
}

}  // namespace hw
