// Posted-interrupt descriptor (VMX "process posted interrupts", VT-d interrupt posting).
//
// Layout (SDM vol. 3 "Posted-Interrupt Processing", KVM's struct pi_desc), 64 bytes,
// 64-byte aligned:
//   bits 255:0   PIR  posted-interrupt requests, one bit per vector
//   bit  256     ON   outstanding notification
//   bit  257     SN   suppress notification (consulted by VT-d hardware only)
//   bits 279:272 NV   notification vector
//   bits 319:288 NDST notification destination (physical APIC ID; xAPIC: ID in bits 15:8)
//
// Receiver (CPU, SDM): when the local APIC delivers an interrupt whose vector equals the
// VMCS "posted-interrupt notification vector" in VMX non-root operation with "process
// posted interrupts" set, the CPU (1) clears ON, (2) EOIs the notification in the local
// APIC, (3) ORs PIR into the virtual-APIC page's VIRR, clearing PIR, with no other agent
// able to touch PIR in between, (4) sets RVI = max(RVI, highest vector moved), RVI being
// unchanged if PIR was empty, and (5) evaluates pending virtual interrupts. KVM does the
// same in software in vmx_sync_pir_to_irr() (pi_test_on/pi_clear_on, kvm_apic_update_irr).
// See pi_process_notification() and pi_harvest_pir().
//
// Senders: see pi_post() (KVM software, ignores SN) and pi_post_vtd() (VT-d, honours SN).
//
// The hardware does these read-modify-writes atomically (LOCK-prefixed / atomic cache-line
// updates). The simulation is single-threaded, so plain sequential updates are equivalent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "hw/lapic_state.h"

namespace hw {

enum class PiPostResult : uint8_t {
  AlreadyPending,           // PIR bit was already set: coalesced, nothing else to do
  NotificationOutstanding,  // PIR bit newly set; ON already set, a notification is in flight
  NeedsNotification,        // PIR bit newly set (or VT-d: ON was clear); sender sets ON and
                            // must send NV to NDST
  Suppressed,               // VT-d only: PIR set, SN=1 and not urgent: no ON, no notification
};

struct alignas(64) PiDesc {
  static constexpr uint16_t PI_ON = 1u << 0;  // descriptor bit 256
  static constexpr uint16_t PI_SN = 1u << 1;  // descriptor bit 257

  uint64_t pir[4] = {};
  uint16_t notifications = 0;  // ON, SN; bits 271:258 reserved
  uint8_t nv = 0;
  uint8_t rsvd_2 = 0;
  uint32_t ndst = 0;
  uint32_t rsvd[6] = {};

  // NDST encoding (KVM's pi_update / vmx_vcpu_pi_load): x2APIC uses the whole 32-bit ID,
  // xAPIC puts the 8-bit ID in bits 15:8.
  static constexpr uint32_t pi_ndst(uint32_t apic_id, bool x2apic) {
    return x2apic ? apic_id : (apic_id << 8) & 0xFF00u;
  }

  bool pi_test_pir(uint8_t vec) const { return (pir[vec >> 6] >> (vec & 63)) & 1; }
  // Returns the old bit.
  bool pi_test_and_set_pir(uint8_t vec) {
    const uint64_t bit = 1ull << (vec & 63);
    const bool old = pir[vec >> 6] & bit;
    pir[vec >> 6] |= bit;
    return old;
  }
  bool pi_is_pir_empty() const { return (pir[0] | pir[1] | pir[2] | pir[3]) == 0; }

  bool pi_test_on() const { return notifications & PI_ON; }
  bool pi_test_sn() const { return notifications & PI_SN; }
  bool pi_test_and_set_on() { return test_and_set(PI_ON); }
  bool pi_test_and_clear_on() {
    const bool old = pi_test_on();
    notifications &= uint16_t(~PI_ON);
    return old;
  }
  void pi_clear_on() { notifications &= uint16_t(~PI_ON); }
  void pi_set_sn() { notifications |= PI_SN; }
  void pi_clear_sn() { notifications &= uint16_t(~PI_SN); }

  // Moves every PIR bit into `irr` (ORed in; PIR cleared). Returns the highest vector
  // moved, or -1 if PIR was empty. Does not touch ON. PIR word i is IRR words 2i, 2i+1.
  int pi_harvest_pir(std::span<uint32_t, 8> irr) {
    int highest = -1;
    for (int i = 0; i < 4; ++i) {
      const uint64_t w = pir[i];
      if (!w) continue;
      pir[i] = 0;
      irr[2 * i] |= uint32_t(w);
      irr[2 * i + 1] |= uint32_t(w >> 32);
      highest = i * 64 + 63 - __builtin_clzll(w);
    }
    return highest;
  }
  int pi_harvest_pir(LapicRegisters& virr_dest) { return pi_harvest_pir(virr_dest.irr_words()); }

  // CPU side of a notification (steps 1, 3, 4 above): clear ON, move PIR to vIRR, raise RVI.
  // Returns the highest vector moved or -1.
  int pi_process_notification(std::span<uint32_t, 8> virr, uint8_t& rvi) {
    pi_clear_on();
    const int highest = pi_harvest_pir(virr);
    if (highest > rvi) rvi = uint8_t(highest);
    return highest;
  }

  // KVM's software sender, vmx_deliver_posted_interrupt() / __vmx_deliver_posted_interrupt():
  //   if (pi_test_and_set_pir(vector)) return;   // already pending
  //   if (pi_test_and_set_on()) return;          // a notification is already outstanding
  //   send the notification IPI (or wake / kick the vCPU)
  // It does not look at SN: SN only tells VT-d hardware not to notify.
  PiPostResult pi_post(uint8_t vec) {
    if (pi_test_and_set_pir(vec)) return PiPostResult::AlreadyPending;
    if (pi_test_and_set_on()) return PiPostResult::NotificationOutstanding;
    return PiPostResult::NeedsNotification;
  }

  // VT-d interrupt-posting hardware (VT-d spec "Interrupt-Posting Hardware Operation"),
  // one atomic update: set PIR[vec]; if ON == 0 and (URG == 1 or SN == 0), set ON and send
  // NV to NDST. Unlike KVM's sender it notifies even if the PIR bit was already set, as
  // long as ON was clear. `urgent` is the IRTE's URG bit.
  PiPostResult pi_post_vtd(uint8_t vec, bool urgent = false) {
    const bool was_pending = pi_test_and_set_pir(vec);
    if (!pi_test_on() && (urgent || !pi_test_sn())) {
      notifications |= PI_ON;
      return PiPostResult::NeedsNotification;
    }
    if (was_pending) return PiPostResult::AlreadyPending;
    return pi_test_on() ? PiPostResult::NotificationOutstanding : PiPostResult::Suppressed;
  }

 private:
  bool test_and_set(uint16_t bit) {
    const bool old = notifications & bit;
    notifications |= bit;
    return old;
  }
};

static_assert(sizeof(PiDesc) == 64 && alignof(PiDesc) == 64);
static_assert(offsetof(PiDesc, notifications) == 32);  // bit 256
static_assert(offsetof(PiDesc, nv) == 34);             // bit 272
static_assert(offsetof(PiDesc, ndst) == 36);           // bit 288

// Vectors pending in both the PIR and `irr`: harvesting merges them into one interrupt
// (architectural coalescing, counted by the interrupt-conservation invariant).
inline int pi_pir_irr_overlap(const PiDesc& pi, const LapicRegisters& regs) {
  int n = 0;
  for (int i = 0; i < 4; ++i) {
    const uint64_t irr = uint64_t(regs.irr()[2 * i]) | (uint64_t(regs.irr()[2 * i + 1]) << 32);
    n += __builtin_popcountll(pi.pir[i] & irr);
  }
  return n;
}

}  // namespace hw
