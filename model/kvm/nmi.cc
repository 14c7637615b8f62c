// NMIs to a vCPU (issue 4): KVM's kvm_inject_nmi / process_nmi / inject of an NMI through the
// VM-entry interruption-information field, and the NMI window (x86.c, vmx.c). With
// "virtual NMIs" the CPU tracks blocking by NMI from the injection to the guest's IRET; KVM
// reads it (vmx_get_nmi_mask) and, while NMIs are blocked or another event is being
// injected, asks for an NMI-window exit instead.
#include "hw/vmx.h"
#include "kvm/kvm.h"
#include "kvm/vcpu.h"

namespace kvm {

using namespace hw;

void Vcpu::deliver_nmi(VmxCpu& from) {
  from.charge(from.costs().kvm_deliver_interrupt);
  ++stat.interrupts_sent;  // NMIs count in the conservation invariant like interrupts
  if (from.fault_due(sim::Fault::LostInterrupt)) return;
  ++nmi_queued;
  requests |= KVM_REQ_NMI;
  kick(from);
}

void Vcpu::inject_nmi_events(VmxCpu& c) {
  if (requests & KVM_REQ_NMI) {  // process_nmi: at most two pending, one if NMIs are blocked
    requests &= ~KVM_REQ_NMI;
    c.vmcs_path_read(vmcs, VmcsField::GUEST_INTERRUPTIBILITY_INFO);
    const uint32_t limit = guest && guest->regs.nmi_blocked ? 1 : 2;
    nmi_pending += nmi_queued;
    nmi_queued = 0;
    if (nmi_pending > limit) {  // architecturally collapsed: counted as coalesced
      stat.interrupts_coalesced += nmi_pending - limit;
      nmi_pending = limit;
    }
  }
  const bool busy = vmcs.read(VmcsField::VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID_MASK;
  if (nmi_pending && guest && !guest->regs.nmi_blocked && !busy) {  // vmx_inject_nmi
    c.charge(c.costs().kvm_inject_nmi);
    --nmi_pending;
    vmcs.write(VmcsField::VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID_MASK | INTR_TYPE_NMI_INTR | NMI_VECTOR);
    c.vmcs_path_write(vmcs, VmcsField::VM_ENTRY_INTR_INFO_FIELD);
    ++stat.nmi_injections;
  }
  // vmx_enable_nmi_window: exit once the guest's NMI handler has returned.
  set_ctl_bits(c, VmcsField::CPU_BASED_VM_EXEC_CONTROL, CPU_BASED_NMI_WINDOW_EXITING, nmi_pending > 0);
}

// handle_nmi_window: the same work as the interrupt window (clear the control, KVM_REQ_EVENT).
ExitResult Vcpu::handle_nmi_window(VmxCpu& c, const ExitInfo&) {
  c.charge(c.costs().kvm_handle_interrupt_window);
  set_ctl_bits(c, VmcsField::CPU_BASED_VM_EXEC_CONTROL, CPU_BASED_NMI_WINDOW_EXITING, false);
  requests |= KVM_REQ_EVENT;
  return ExitResult::Reenter;
}

}  // namespace kvm
