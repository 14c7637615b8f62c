// Interrupt Command Register: decode/encode in both APIC modes, and IPI destination matching.
//
// SDM vol. 3 ch. 11: "Interrupt Command Register (ICR)", "Determining IPI Destination",
// "x2APIC Interrupt Command Register", "Logical Destination Mode in x2APIC Mode".
// Matching mirrors KVM's kvm_apic_match_dest() / kvm_apic_match_{physical,logical}_addr().
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "hw/apic_regs.h"

namespace hw {

struct XapicIcr {
  uint32_t low = 0;   // APIC_ICR_LOW (0x300)
  uint32_t high = 0;  // APIC_ICR_HIGH (0x310): destination in bits 31:24
  bool operator==(const XapicIcr&) const = default;
};

struct Icr {
  uint8_t vector = 0;
  DeliveryMode mode = DeliveryMode::Fixed;  // raw 3-bit field; reserved value 3 round-trips
  bool logical = false;                     // destination mode, bit 11
  bool level_assert = false;                // level, bit 14 (0 = de-assert, INIT level de-assert)
  bool level_trigger = false;               // trigger mode, bit 15
  Shorthand shorthand = Shorthand::None;    // bits 19:18
  uint32_t dest = 0;  // x2APIC: 32 bits; xAPIC: 8 bits

  bool operator==(const Icr&) const = default;

  // x2APIC: one 64-bit MSR (0x830), destination in bits 63:32. Bit 12 (delivery status)
  // does not exist in x2APIC mode and is ignored.
  static constexpr Icr decode_x2apic(uint64_t v) {
    Icr icr = decode_low(uint32_t(v));
    icr.dest = uint32_t(v >> 32);
    return icr;
  }
  constexpr uint64_t encode_x2apic() const { return (uint64_t(dest) << 32) | encode_low(); }

  // xAPIC: two 32-bit MMIO registers; destination is ICR_HIGH bits 31:24.
  static constexpr Icr decode_xapic(uint32_t low, uint32_t high) {
    Icr icr = decode_low(low);
    icr.dest = xapic_icr_dest(high);
    return icr;
  }
  constexpr XapicIcr encode_xapic() const {
    return {encode_low(), (dest & 0xFFu) << XAPIC_ICR_DEST_SHIFT};
  }

 private:
  static constexpr Icr decode_low(uint32_t low) {
    Icr icr;
    icr.vector = icr_vector(low);
    icr.mode = icr_delivery_mode(low);
    icr.logical = low & APIC_ICR_DEST_LOGICAL;
    icr.level_assert = low & APIC_ICR_LEVEL_ASSERT;
    icr.level_trigger = low & APIC_ICR_TRIGGER_LEVEL;
    icr.shorthand = icr_shorthand(low);
    return icr;
  }
  constexpr uint32_t encode_low() const {
    return uint32_t(vector) | ((uint32_t(mode) & 7u) << APIC_ICR_DM_SHIFT) |
           (logical ? APIC_ICR_DEST_LOGICAL : 0u) | (level_assert ? APIC_ICR_LEVEL_ASSERT : 0u) |
           (level_trigger ? APIC_ICR_TRIGGER_LEVEL : 0u) |
           ((uint32_t(shorthand) & 3u) << APIC_ICR_SHORTHAND_SHIFT);
  }
};

// What a local APIC compares an IPI's destination against.
struct ApicIdentity {
  uint32_t apic_id = 0;          // the ID value (xAPIC: 8 bits, not the register's 31:24 layout)
  uint32_t ldr = 0;              // LDR register value (xAPIC: logical ID in bits 31:24)
  uint32_t dfr = APIC_DFR_FLAT;  // DFR register value; ignored in x2APIC mode
};

// Logical x2APIC ID, derived by hardware from the x2APIC ID (SDM "Deriving Logical x2APIC
// ID from the Local x2APIC ID"): cluster = ID[19:4] in bits 31:16, one-hot ID[3:0] in 15:0.
constexpr uint32_t x2apic_ldr(uint32_t id) { return ((id >> 4) << 16) | (1u << (id & 0xF)); }

constexpr bool apic_match_physical_addr(const ApicIdentity& target, uint32_t dest, bool x2apic) {
  if (x2apic) return dest == X2APIC_BROADCAST || dest == target.apic_id;
  dest &= 0xFF;
  return dest == XAPIC_BROADCAST || dest == target.apic_id;
}

// Logical destination. xAPIC flat model (DFR[31:28] = 1111b): MDA AND logical ID.
// xAPIC cluster model (0000b): MDA[7:4] is the cluster, MDA[3:0] selects members; the SDM
// allots cluster addresses 0-14 and says an all-ones destination "guarantees a match on all
// clusters", so cluster 15 matches every cluster here (KVM only special-cases MDA 0xFF; the
// two differ only for MDAs 0xF1-0xFE, which Linux never sends). x2APIC: cluster in 31:16
// must be equal and the member bits in 15:0 must intersect; 0xFFFFFFFF is broadcast.
constexpr bool apic_match_logical_addr(const ApicIdentity& target, uint32_t dest, bool x2apic) {
  if (x2apic) {
    if (dest == X2APIC_BROADCAST) return true;
    return (dest >> 16) == (target.ldr >> 16) && (dest & target.ldr & 0xFFFF) != 0;
  }
  dest &= 0xFF;
  if (dest == XAPIC_BROADCAST) return true;
  const uint32_t logical_id = target.ldr >> 24;
  switch (target.dfr >> APIC_DFR_MODEL_SHIFT) {
    case 0xF:  // flat
      return (logical_id & dest) != 0;
    case 0x0: {  // cluster
      const uint32_t cluster = dest >> 4;
      return (cluster == 0xF || cluster == (logical_id >> 4)) && (logical_id & dest & 0xF) != 0;
    }
    default:  // reserved model: matches nothing (as KVM)
      return false;
  }
}

// Does `target` receive the IPI `icr` sent by `source`? Shorthands ignore the destination.
constexpr bool apic_match_dest(const ApicIdentity& target, const ApicIdentity& source,
                               const Icr& icr, bool x2apic) {
  switch (icr.shorthand) {
    case Shorthand::Self: return target.apic_id == source.apic_id;
    case Shorthand::AllIncludingSelf: return true;
    case Shorthand::AllExcludingSelf: return target.apic_id != source.apic_id;
    case Shorthand::None: break;
  }
  return icr.logical ? apic_match_logical_addr(target, icr.dest, x2apic)
                     : apic_match_physical_addr(target, icr.dest, x2apic);
}

// Groups destination x2APIC IDs into logical cluster-mode destinations, one per cluster of
// 16, ordered by cluster: (cluster << 16) | OR of members' one-hot bits. This is what
// Linux's __x2apic_send_IPI_mask() (x2apic_cluster.c) writes to the ICR, one write each.
// Duplicate IDs are harmless. Allocates: this is the guest's send path, not the APIC's.
std::vector<uint32_t> x2apic_cluster_dests(std::span<const uint32_t> apic_ids);

}  // namespace hw
