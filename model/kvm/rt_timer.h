// KVM's steps at entry and exit for two real-time modes that hand LAPIC hardware to the
// guest (issue 3):
//  - Timer passthrough (seed 002, ByteDance): IA32_TSC_DEADLINE is not intercepted, the
//    guest arms the physical timer itself. At VM entry the host's own next timer moves to
//    the VMX-preemption timer and the guest's deadline goes into the physical timer; at exit
//    (and so before blocking) they swap back. The guest's timer firing in guest mode is an
//    EXTERNAL_INTERRUPT exit that KVM turns into the guest's timer interrupt at the next
//    entry; one that fires in root mode is injected at the next entry; the preemption timer
//    firing is the host's clock event. Arming costs no exit at all.
//  - DirectIRQ (seed 001, Hitachi): external-interrupt exiting is off (setup_vmcs), so
//    physical interrupts go to the guest IDT; host requests arrive as NMIs, which exit and
//    are handled after the exit; EOI goes straight to the physical x2APIC (MSR bitmap) except
//    while a virtual IRQ is in service, when it must reach the emulated APIC; TMICT, TMCCT
//    and TDCR pass through while LVTT and TSC_DEADLINE stay intercepted and are converted
//    (lapic.cc programs the physical timer).
//
// Statistics: guest-timer exits, host-timer preemption exits, NMI exits, direct-EOI toggles.
#pragma once

#include <cstdint>

#include "hw/vmx_cpu.h"
#include "sim/time.h"

namespace kvm {

class Vcpu;

class RtTimer {
 public:
  explicit RtTimer(Vcpu& vcpu);
  void before_inject(hw::VmxCpu& cpu);   // a passthrough deadline that passed in root mode
  void before_vmenter(hw::VmxCpu& cpu);  // swap timers in; direct EOI on or off
  bool after_vmexit(hw::VmxCpu& cpu, const hw::ExitInfo& exit);  // true: handled here

  uint64_t guest_timer_exits = 0;     // the guest's passthrough timer fired in guest mode
  uint64_t host_timer_exits = 0;      // the host's timer, on the preemption timer
  uint64_t nmi_exits = 0;             // DirectIRQ host requests
  uint64_t direct_eoi_toggles = 0;    // EOI interception switched on or off

 private:
  Vcpu& vcpu_;
  sim::Picos host_deadline_ = sim::kNever;
  bool swapped_ = false;
  bool eoi_intercepted_ = true;
};

}  // namespace kvm
