// Issue 4 on the core: IPI virtualization (hw/ipiv.h). A guest ICR write that reaches the
// virtual-APIC page is either posted by the CPU into the target's descriptor, or traps to
// the VMM as an APIC-write VM exit.
#include "hw/core.h"
#include "hw/ipiv.h"
#include "hw/pi_desc.h"
#include "hw/vmx.h"

namespace hw {

// Called after the ICR value was written to the virtual-APIC page and the instruction
// retired. Returns false when it exited (APIC_WRITE, qualification 300H).
bool Core::virtualize_icr_write(const Icr& icr) {
  PiDesc* pi = nullptr;
  if (ipiv_qualifies(icr) && vmcs_->pid_table)
    pi = vmcs_->pid_table->lookup(icr.dest, vmcs_->read(VmcsField::LAST_PID_POINTER_INDEX));
  if (!pi) {
    vmexit(EXIT_REASON_APIC_WRITE, APIC_ICR_LOW);
    return false;
  }
  // Locked RMWs of the descriptor's line, which the target's CPU last touched.
  charge(costs_.vmx_ipiv_post);
  charge_ps(sim::ns(line_latency_ns(platform_.topology.cpu_of_apic_id(pi->ndst))));
  ++ipiv_posts_;
  if (pi->pi_test_pir(icr.vector)) ++coalesced_;
  const PiPostResult r = pi->pi_post_vtd(icr.vector);
  if (r == PiPostResult::Suppressed) ++ipiv_suppressed_;  // SN: delivered at the target's next entry
  if (r == PiPostResult::NeedsNotification) {
    Icr n;
    n.vector = pi->nv;
    n.dest = pi->ndst;
    n.level_assert = true;
    send_ipi(n);
  }
  return true;
}

}  // namespace hw
