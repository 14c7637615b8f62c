// IPI virtualization (Intel SDM vol. 3C, "IPI Virtualization"; Sapphire Rapids and later).
//
// With tertiary processor-based control bit 4 ("IPI virtualization") set, a guest write to
// the ICR (x2APIC: WRMSR 830H, not intercepted; xAPIC: a write to offset 300H of the
// APIC-access page) lands in the virtual-APIC page and the CPU checks it. A fixed-mode,
// physical-destination IPI without shorthand whose destination is at most
// LAST_PID_POINTER_INDEX and whose PID-pointer-table entry is valid is virtualized: the CPU
// sets the vector's PIR bit in the target's posted-interrupt descriptor and, if ON and SN
// are both clear, sets ON and sends the descriptor's NV to NDST - no VM exit. Every other
// ICR write causes a trap-like APIC-write VM exit (qualification 300H) for the VMM.
//
// KVM (vmx.c): the table is per VM (kvm_vmx->pid_table), indexed by vcpu_id (= the initial
// APIC ID), filled at vcpu creation with __pa(pi_desc) | PID_TABLE_ENTRY_VALID.
#pragma once

#include <cstdint>
#include <vector>

#include "hw/icr.h"

namespace hw {

struct PiDesc;

struct PidPointerTable {
  // Entry i: the descriptor of APIC ID i. Real entries are physical addresses with bit 0 =
  // valid; here a null pointer is an invalid entry.
  std::vector<PiDesc*> entries;

  PiDesc* lookup(uint32_t apic_id, uint64_t last_index) const {
    if (apic_id > last_index || apic_id >= entries.size()) return nullptr;
    return entries[apic_id];
  }
};

// The ICR values the CPU virtualizes (the others take the APIC-write exit).
constexpr bool ipiv_qualifies(const Icr& icr) {
  return icr.mode == DeliveryMode::Fixed && !icr.logical && icr.shorthand == Shorthand::None;
}

}  // namespace hw
