// INIT, SIPI and SMI to a vCPU (issue 4): the delivery modes __apic_accept_irq does not
// turn into interrupts (lapic.c), kvm_apic_accept_events (INIT resets the vCPU into the
// wait-for-SIPI state, a SIPI starts it at vector << 12), and KVM's SMM emulation
// (smm.c): process_smi, enter_smm at the next entry, and RSM, which outside real SMM
// raises #UD that KVM intercepts and emulates (em_rsm -> emulator_leave_smm).
//
// Statistics: init_resets, sipi_starts, smi_count, rsm_emulated (kvm/stats.h).
#include "hw/vmx.h"
#include "kvm/kvm.h"
#include "kvm/vcpu.h"

namespace kvm {

using namespace hw;

void Vcpu::accept_special_irq(VmxCpu& from, const Icr& icr) {
  switch (icr.mode) {
    case DeliveryMode::SMI:  // kvm_inject_smi: KVM_REQ_SMI, then kick
      from.charge(from.costs().kvm_deliver_interrupt);
      requests |= KVM_REQ_SMI;
      kick(from);
      return;
    case DeliveryMode::INIT:
      // A level-triggered de-assert (the second INIT of Linux's send_init_sequence) is
      // ignored: "if (!trig_mode || level)".
      if (icr.level_trigger && !icr.level_assert) return;
      from.charge(from.costs().kvm_deliver_interrupt);
      apic_pending_events = KVM_APIC_INIT;  // an INIT drops a SIPI not yet acted on
      requests |= KVM_REQ_EVENT;
      kick(from);
      return;
    case DeliveryMode::SIPI:
      from.charge(from.costs().kvm_deliver_interrupt);
      sipi_vector = icr.vector;
      apic_pending_events |= KVM_APIC_SIPI;
      requests |= KVM_REQ_EVENT;
      kick(from);
      return;
    default:
      return;
  }
}

// kvm_vcpu_reset(vcpu, init_event = true): the register state and the LAPIC; the guest
// program is parked until the SIPI.
void Vcpu::kvm_vcpu_reset_init(VmxCpu& c) {
  c.charge(c.costs().kvm_vcpu_reset);
  ++stat.init_resets;
  // INIT clears IRR and the PIR: interrupts still waiting there are dropped, as on a CPU.
  uint64_t waiting = 0;
  for (uint32_t w : lapic.regs.irr()) waiting += static_cast<uint64_t>(__builtin_popcount(w));
  for (uint64_t w : pi_desc.pir) waiting += static_cast<uint64_t>(__builtin_popcountll(w));
  waiting += nmi_queued + nmi_pending;
  if (vmcs.read(VmcsField::VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID_MASK) ++waiting;  // injected, not yet taken
  stat.interrupts_dropped_masked += waiting;
  lapic.init_reset(c);
  nmi_queued = nmi_pending = 0;
  requests &= ~(KVM_REQ_NMI | KVM_REQ_SMI);
  smi_pending = false;
  pv_unhalted = false;
  if (apicv_active()) {  // vmx_apicv_post_state_restore: an empty PIR, RVI/SVI 0
    pi_desc.pi_clear_on();
    for (uint64_t& w : pi_desc.pir) w = 0;
    vmcs.write(VmcsField::GUEST_INTR_STATUS, 0);
    c.vmcs_path_write(vmcs, VmcsField::GUEST_INTR_STATUS);
  }
  vmcs.write(VmcsField::VM_ENTRY_INTR_INFO_FIELD, 0);
  set_ctl_bits(c, VmcsField::CPU_BASED_VM_EXEC_CONTROL, CPU_BASED_INTR_WINDOW_EXITING | CPU_BASED_NMI_WINDOW_EXITING, false);
  if (guest) guest->init_reset();
}

void Vcpu::kvm_apic_accept_events(VmxCpu& c) {
  if (!apic_pending_events) return;
  // kvm_apic_init_sipi_allowed: INIT is latched in SMM (kept pending), a SIPI dropped.
  if (in_smm) {
    apic_pending_events &= static_cast<uint8_t>(~KVM_APIC_SIPI);
    return;
  }
  const uint8_t pe = apic_pending_events;
  apic_pending_events = 0;
  if (pe & KVM_APIC_INIT) {
    kvm_vcpu_reset_init(c);
    mp_state = vcpu_id == 0 ? MpState::RUNNABLE : MpState::INIT_RECEIVED;  // kvm_vcpu_is_bsp
  }
  if ((pe & KVM_APIC_SIPI) && mp_state == MpState::INIT_RECEIVED) {
    // kvm_vcpu_deliver_sipi_vector: CS = vector << 8, base vector << 12, RIP 0.
    c.charge(c.costs().kvm_deliver_sipi);
    c.vmcs_path_write(vmcs, VmcsField::GUEST_RIP);
    ++stat.sipi_starts;
    mp_state = MpState::RUNNABLE;
    // RIP moved to the trampoline: whatever op the program was parked in is abandoned
    // (it retires at entry) and the program goes on as the AP's startup code.
    if (guest) guest->regs.skip_pending = true;
  }
}

// process_smi + the SMI part of kvm_check_and_inject_events: an SMI outranks NMIs and
// interrupts; vmx_smi_allowed refuses it only while already in SMM (it then stays pending
// until RSM).
void Vcpu::inject_smi(VmxCpu& c) {
  if (requests & KVM_REQ_SMI) {
    requests &= ~KVM_REQ_SMI;
    smi_pending = true;
  }
  if (!smi_pending || in_smm) return;
  smi_pending = false;
  ++stat.smi_count;
  c.charge(c.costs().kvm_enter_smm);  // enter_smm: save area, kvm_smm_changed, SMM state
  in_smm = true;
  c.vmcs_path_write(vmcs, VmcsField::GUEST_RIP);
  if (guest) guest->enter_smm();
}

// handle_exception_nmi: the only exception the model raises is RSM's #UD.
ExitResult Vcpu::handle_exception_nmi(VmxCpu& c, const ExitInfo& e) {
  const bool ud = (e.intr_info & 0xFF) == UD_VECTOR && (e.intr_info & INTR_TYPE_MASK) == INTR_TYPE_HARD_EXCEPTION;
  if (!ud || !e.op || e.op->kind != OpKind::Rsm || !in_smm) return handle_unknown(c, e);
  c.charge(c.costs().kvm_emulate_rsm);  // kvm_emulate_instruction -> em_rsm -> emulator_leave_smm
  ++stat.rsm_emulated;
  in_smm = false;
  guest->regs.result = 0;
  skip(c);
  // A latched INIT and an SMI that arrived in SMM are looked at again (KVM_REQ_EVENT).
  requests |= KVM_REQ_EVENT;
  return ExitResult::Reenter;
}

}  // namespace kvm
