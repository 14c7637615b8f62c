#include "kvm/rt_timer.h"

#include <algorithm>

#include "hw/apic_regs.h"
#include "hw/lapic_timer.h"
#include "hw/vmx.h"
#include "kvm/kvm.h"
#include "kvm/vcpu.h"

namespace kvm {

using namespace hw;

RtTimer::RtTimer(Vcpu& vcpu) : vcpu_(vcpu) {
  if (vcpu.kvm.params().timer_passthrough) vcpu.msr_bitmap.intercept(MSR_IA32_TSC_DEADLINE, false, false);
}

void RtTimer::before_inject(VmxCpu& c) {
  if (!vcpu_.kvm.params().timer_passthrough) return;
  const sim::Picos dl = vcpu_.lapic.tpt_deadline();
  if (dl != sim::kNever && dl <= c.now()) vcpu_.lapic.expired_hv_timer(c);
}

void RtTimer::before_vmenter(VmxCpu& c) {
  const KvmParams& p = vcpu_.kvm.params();
  if (p.timer_passthrough) {
    c.charge(c.costs().kvm_timer_passthrough_switch);
    host_deadline_ = c.lapic_timer_deadline();
    c.set_lapic_timer_deadline(vcpu_.lapic.tpt_deadline());
    const bool host_timer = host_deadline_ != sim::kNever && c.caps().preemption_timer;
    if (host_timer) {
      const uint64_t now_tsc = c.host_tsc();
      const uint64_t dl_tsc = host_deadline_ > c.now() ? now_tsc + static_cast<uint64_t>(sim::to_us(host_deadline_ - c.now()) * c.tsc_mhz()) : now_tsc;
      const uint64_t v = std::min<uint64_t>(vmx_preemption_timer_value(dl_tsc - now_tsc, c.caps().preemption_timer_rate), 0xFFFFFFFFull);
      vcpu_.vmcs.write(VmcsField::VMX_PREEMPTION_TIMER_VALUE, v);
    }
    vcpu_.vmcs.set_bits(VmcsField::PIN_BASED_VM_EXEC_CONTROL, PIN_BASED_VMX_PREEMPTION_TIMER, host_timer);
    swapped_ = true;
  }
  if (p.direct_irq) {
    // Direct EOI only while no virtual IRQ is in service or being injected (seed 001).
    const bool virq = vcpu_.lapic.regs.highest_isr() >= 0 ||
                      (vcpu_.vmcs.read(VmcsField::VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID_MASK);
    if (virq != eoi_intercepted_) {
      eoi_intercepted_ = virq;
      ++direct_eoi_toggles;
    }
    MsrBitmap& b = vcpu_.msr_bitmap;
    b.intercept(MSR_X2APIC_EOI, true, eoi_intercepted_);
    b.intercept(MSR_X2APIC_TMICT, false, false);
    b.intercept(MSR_X2APIC_TMCCT, false, true);
    b.intercept(MSR_X2APIC_TDCR, false, false);
  }
}

bool RtTimer::after_vmexit(VmxCpu& c, const ExitInfo& e) {
  const KvmParams& p = vcpu_.kvm.params();
  auto recount = [&](ExitCause from, ExitCause to) {
    --vcpu_.stat.exits_by_cause[static_cast<size_t>(from)];
    ++vcpu_.stat.exits_by_cause[static_cast<size_t>(to)];
  };
  if (p.timer_passthrough && swapped_) {
    swapped_ = false;
    c.charge(c.costs().kvm_timer_passthrough_switch);
    const sim::Picos guest_dl = c.lapic_timer_deadline();
    c.set_lapic_timer_deadline(host_deadline_);
    vcpu_.lapic.tpt_save(c, guest_dl);
    if (e.reason == EXIT_REASON_EXTERNAL_INTERRUPT && (e.intr_info & 0xFF) == LOCAL_TIMER_VECTOR) {
      // The physical timer belonged to the guest: its interrupt, injected at the next entry.
      c.lapic_eoi();
      c.charge(c.costs().kvm_handle_external_interrupt);
      c.charge(c.costs().kvm_apic_timer_expired);
      ++vcpu_.stat.timer_fired;
      vcpu_.lapic.tpt_expired(c);
      recount(ExitCause::HostInterrupt, ExitCause::Timer);
      ++guest_timer_exits;
      return true;
    }
    if (e.reason == EXIT_REASON_PREEMPTION_TIMER) {
      // The host's own timer: run its clock event handler.
      c.charge(c.costs().kvm_handle_preemption_timer);
      vcpu_.host->handle_host_irq(c, LOCAL_TIMER_VECTOR);
      recount(ExitCause::Timer, ExitCause::HostInterrupt);
      ++host_timer_exits;
      return true;
    }
  }
  if (p.direct_irq && e.reason == EXIT_REASON_EXCEPTION_NMI) {
    // A host request sent as an NMI: the exit itself was the point; requests are
    // processed on the way back in (vcpu_enter_guest).
    c.charge(c.costs().kvm_handle_external_interrupt);
    recount(ExitCause::Other, ExitCause::HostInterrupt);
    ++nmi_exits;
    return true;
  }
  return false;
}

}  // namespace kvm
