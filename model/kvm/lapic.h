// KVM's emulation of a guest's local APIC (arch/x86/kvm/lapic.c): register accesses that
// exit, IPIs, interrupt acceptance, and the LAPIC timer as either a host hrtimer ("sw
// timer") or the VMX-preemption timer ("hv timer"), with timer-advance tuning.
//
// The register file is the virtual-APIC page (hw::LapicRegisters): with APICv the
// hardware reads and updates it too.
#pragma once

#include <cstdint>

#include "hw/lapic_state.h"
#include "hw/lapic_timer.h"
#include "hw/vmx_cpu.h"
#include "sim/time.h"

namespace kvm {

class Vcpu;

class Lapic {
 public:
  explicit Lapic(Vcpu& vcpu, uint32_t apic_id);

  hw::LapicRegisters regs;

  // x2APIC MSR accesses that exit (kvm_x2apic_msr_read/write). Return false for an MSR
  // that is not an x2APIC register.
  uint64_t x2apic_msr_read(hw::VmxCpu& cpu, uint32_t msr);
  void x2apic_msr_write(hw::VmxCpu& cpu, uint32_t msr, uint64_t value);
  // xAPIC accesses (APIC_WRITE trap after the write landed; APIC_ACCESS emulation).
  void apic_write_nodecode(hw::VmxCpu& cpu, uint32_t offset);
  uint32_t mmio_read(hw::VmxCpu& cpu, uint32_t offset);
  void mmio_write(hw::VmxCpu& cpu, uint32_t offset, uint32_t value);

  // kvm_apic_send_ipi from this vCPU's ICR.
  void send_ipi(hw::VmxCpu& cpu, const hw::Icr& icr);
  // EOI emulation when it exits (no VID, or EOI-induced).
  void set_eoi(hw::VmxCpu& cpu);

  // --- Timer ---
  void set_tscdeadline(hw::VmxCpu& cpu, uint64_t guest_tsc_deadline);  // MSR 0x6E0 write
  uint64_t tscdeadline() const { return tscdeadline_; }
  bool hv_timer_in_use() const { return hv_timer_in_use_; }
  // Before entry: the preemption timer value for the hv timer (kvm_lapic's deadline
  // converted to host TSC, minus the advance), or -1 when no hv timer is armed.
  int64_t hv_timer_value(hw::VmxCpu& cpu) const;
  void expired_hv_timer(hw::VmxCpu& cpu);                 // PREEMPTION_TIMER exit
  void timer_fn(hw::VmxCpu& cpu);                         // the hrtimer callback
  void switch_to_sw_timer(hw::VmxCpu& cpu);               // before blocking
  void switch_to_hv_timer(hw::VmxCpu& cpu);               // after unblocking
  // kvm_wait_lapic_expire before entry: busy-wait to the real deadline if the interrupt
  // was injected early, and tune timer_advance_ns.
  void wait_lapic_expire(hw::VmxCpu& cpu) {
    if (expired_tscdeadline_) wait_lapic_expire_slow(cpu);
  }
  void wait_lapic_expire_slow(hw::VmxCpu& cpu);
  // One-shot and periodic mode (TMICT, TDCR; KVM's APIC bus runs at 1 GHz,
  // APIC_BUS_CYCLE_NS = 1); TMCCT is computed on read.
  void set_tmict(hw::VmxCpu& cpu, uint32_t value);
  uint32_t tmcct(const hw::VmxCpu& cpu) const;
  sim::Picos timer_expires() const { return expires_; }
  bool timer_pending() const { return pending_timer_ > 0; }
  void inject_pending_timer(hw::VmxCpu& cpu);
  int64_t timer_advance_ns() const { return timer_advance_ns_; }
  // Timer passthrough (seed 002): while the guest runs, its deadline is in the physical
  // timer; KVM takes it back at exit (tpt_save: kNever when disarmed or fired) and hands it
  // over at entry (tpt_deadline: kNever when none is armed or it went to an hrtimer).
  void tpt_save(hw::VmxCpu& cpu, sim::Picos hw_deadline);
  sim::Picos tpt_deadline() const { return hv_timer_in_use_ ? expires_ : sim::kNever; }
  void tpt_expired(hw::VmxCpu& cpu) { ++pending_timer_; (void)cpu; }
  // kvm_lapic_reset(init_event = true): INIT keeps the APIC base (and x2APIC mode) and
  // the ID, masks the LVTs, software-disables the APIC, clears IRR/ISR/TMR, stops the timer.
  void init_reset(hw::VmxCpu& cpu);

 private:
  void start_apic_timer(hw::VmxCpu& cpu);
  void cancel_apic_timer(hw::VmxCpu& cpu);
  void apic_timer_expired(hw::VmxCpu& cpu, bool from_timer_fn);
  void inject_or_pend(hw::VmxCpu& cpu, bool from_timer_fn);
  void adjust_advance(int64_t delta_ns);
  sim::Picos deadline_time(hw::VmxCpu& cpu) const;  // host time of the guest deadline
  bool tsc_deadline_mode() const { return hw::lvtt_mode(regs.lvtt()) == hw::TimerMode::TscDeadline; }
  sim::Picos advance_ps() const;  // the timer advance applies to TSC-deadline mode only
  bool can_use_hv_timer(hw::VmxCpu& cpu) const;

  Vcpu& vcpu_;
  uint64_t tscdeadline_ = 0;
  sim::Picos expires_ = sim::kNever;  // host time the armed timer fires (any mode)
  sim::Picos start_ = 0;              // when TMICT was written (TMCCT) or the period began
  sim::Picos period_ = 0;             // periodic mode
  uint64_t expired_tscdeadline_ = 0;
  bool hv_timer_in_use_ = false;
  bool sw_timer_armed_ = false;
  int pending_timer_ = 0;
  int64_t timer_advance_ns_ = 1000;
  bool advance_adaptive_ = true;
};

}  // namespace kvm
