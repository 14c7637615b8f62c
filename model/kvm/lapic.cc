#include "kvm/lapic.h"

#include <algorithm>
#include <cstdlib>

#include "hw/apic_regs.h"
#include "kvm/kvm.h"
#include "kvm/vcpu.h"

namespace kvm {
namespace {
constexpr int64_t kAdvanceInitNs = 1000;      // LAPIC_TIMER_ADVANCE_NS_INIT
constexpr int64_t kAdvanceMaxNs = 5000;       // LAPIC_TIMER_ADVANCE_NS_MAX
constexpr int64_t kAdjustMinCycles = 100;     // LAPIC_TIMER_ADVANCE_ADJUST_MIN
constexpr int64_t kAdjustMaxCycles = 10000;   // LAPIC_TIMER_ADVANCE_ADJUST_MAX
constexpr int64_t kAdjustStep = 8;            // LAPIC_TIMER_ADVANCE_ADJUST_STEP
}  // namespace

Lapic::Lapic(Vcpu& vcpu, uint32_t apic_id) : regs(apic_id), vcpu_(vcpu) {
  regs.set_x2apic_mode(true);
  regs.write(hw::APIC_SPIV, hw::APIC_SPIV_APIC_ENABLED | 0xFF);
  const int64_t adv = vcpu.kvm.params().lapic_timer_advance_ns;
  advance_adaptive_ = adv < 0;
  timer_advance_ns_ = adv < 0 ? kAdvanceInitNs : adv;
}

uint64_t Lapic::x2apic_msr_read(hw::VmxCpu& cpu, uint32_t msr) {
  cpu.charge(cpu.costs().kvm_handle_x2apic_msr);
  if (msr == hw::MSR_X2APIC_TMCCT) return tmcct(cpu);
  if (msr == hw::MSR_X2APIC_ICR) return regs.icr();
  return regs.read(hw::x2apic_msr_to_offset(msr)).value_or(0);
}

void Lapic::x2apic_msr_write(hw::VmxCpu& cpu, uint32_t msr, uint64_t value) {
  cpu.charge(cpu.costs().kvm_handle_x2apic_msr);
  switch (msr) {
    case hw::MSR_X2APIC_ICR: {
      regs.set_icr(value);
      send_ipi(cpu, hw::Icr::decode_x2apic(value));
      return;
    }
    case hw::MSR_X2APIC_EOI:
      set_eoi(cpu);
      return;
    case hw::MSR_X2APIC_SELF_IPI:
      vcpu_.deliver_interrupt(cpu, static_cast<uint8_t>(value & 0xFF));
      return;
    case hw::MSR_X2APIC_TMICT:
      set_tmict(cpu, static_cast<uint32_t>(value));
      return;
    case hw::MSR_X2APIC_LVTT: {
      const hw::TimerMode before = hw::lvtt_mode(regs.lvtt());
      regs.write(hw::APIC_LVTT, static_cast<uint32_t>(value));
      // DirectIRQ: LVTT stays intercepted so KVM checks the vector before the physical
      // timer uses it (seed 001).
      if (vcpu_.kvm.params().direct_irq && hw::apic_vector_legal(static_cast<uint8_t>(value & 0xFF))) cpu.set_lapic_lvtt(static_cast<uint32_t>(value));
      if (hw::lvtt_mode(regs.lvtt()) != before) {  // apic_update_lvtt: a mode change stops the timer
        cancel_apic_timer(cpu);
        tscdeadline_ = 0;
        regs.write(hw::APIC_TMICT, 0);
      }
      return;
    }
    default:
      regs.write(hw::x2apic_msr_to_offset(msr), static_cast<uint32_t>(value));
  }
}

void Lapic::apic_write_nodecode(hw::VmxCpu& cpu, uint32_t offset) {
  // The write already landed in the virtual-APIC page; act on it (kvm_apic_write_nodecode).
  if (offset == hw::APIC_ICR_LOW) {
    // x2APIC: an ICR write IPI virtualization did not handle (kvm_x2apic_icr_write of the
    // 64-bit value in the virtual-APIC page).
    if (regs.x2apic_mode()) {
      cpu.charge(cpu.costs().kvm_handle_x2apic_msr);
      send_ipi(cpu, hw::Icr::decode_x2apic(regs.icr()));
    } else {
      send_ipi(cpu, hw::Icr::decode_xapic(regs.icr_low(), regs.icr_high()));
    }
  } else if (offset == hw::APIC_EOI) {
    set_eoi(cpu);
  }
}

uint32_t Lapic::mmio_read(hw::VmxCpu& cpu, uint32_t offset) {
  cpu.charge(cpu.costs().kvm_handle_x2apic_msr);
  if (offset == hw::APIC_TMCCT) return tmcct(cpu);
  return regs.read(offset).value_or(0);
}

void Lapic::mmio_write(hw::VmxCpu& cpu, uint32_t offset, uint32_t value) {
  if (offset == hw::APIC_EOI) {
    set_eoi(cpu);
  } else if (offset == hw::APIC_TMICT || offset == hw::APIC_LVTT) {
    x2apic_msr_write(cpu, hw::x2apic_msr(offset), value);
  } else {
    regs.write(offset, value);
    apic_write_nodecode(cpu, offset);
  }
}

void Lapic::send_ipi(hw::VmxCpu& cpu, const hw::Icr& icr) { vcpu_.kvm.deliver_ipi(cpu, vcpu_, icr); }

void Lapic::set_eoi(hw::VmxCpu& cpu) {
  regs.eoi();
  vcpu_.requests |= KVM_REQ_EVENT;  // a lower-priority pending interrupt may now be injected
}

// ---- Timer -------------------------------------------------------------------------------

sim::Picos Lapic::deadline_time(hw::VmxCpu& cpu) const { return vcpu_.guest_tsc_to_time(cpu, tscdeadline_); }

sim::Picos Lapic::advance_ps() const {
  return tsc_deadline_mode() ? sim::ns(static_cast<double>(timer_advance_ns_)) : 0;
}

void Lapic::set_tmict(hw::VmxCpu& cpu, uint32_t value) {
  const hw::TimerMode mode = hw::lvtt_mode(regs.lvtt());
  if (mode == hw::TimerMode::TscDeadline) return;  // TMICT is ignored in TSC-deadline mode
  cancel_apic_timer(cpu);
  regs.write(hw::APIC_TMICT, value);
  if (value == 0) return;
  constexpr uint64_t kApicBusCyclePs = 1000;  // APIC_BUS_CYCLE_NS = 1
  const uint64_t min_ps = static_cast<uint64_t>(vcpu_.kvm.params().min_timer_period_us) * sim::kPsPerUs;
  period_ = hw::timer_period_ps(mode, value, regs.tdcr(), kApicBusCyclePs, min_ps);
  start_ = cpu.now();
  expires_ = start_ + period_;
  start_apic_timer(cpu);
}

uint32_t Lapic::tmcct(const hw::VmxCpu& cpu) const {
  if (tsc_deadline_mode() || regs.tmict() == 0) return 0;
  const bool periodic = hw::lvtt_mode(regs.lvtt()) == hw::TimerMode::Periodic;
  const uint64_t min_ps = periodic ? static_cast<uint64_t>(vcpu_.kvm.params().min_timer_period_us) * sim::kPsPerUs : 0;
  return hw::current_count(regs.tmict(), hw::tdcr_divide(regs.tdcr()), 1000, start_, cpu.now(), periodic, min_ps);
}

bool Lapic::can_use_hv_timer(hw::VmxCpu& cpu) const {
  const KvmParams& p = vcpu_.kvm.params();
  if (p.timer_passthrough) return !vcpu_.halting;  // the physical timer, any distance
  // kvm_can_use_hv_timer: not when timer interrupts are posted from another CPU.
  if (p.pi_inject_timer && vcpu_.apicv_active() && p.hlt_in_guest) return false;
  if (!p.hv_timer || !p.preemption_timer || !cpu.caps().preemption_timer || vcpu_.halting) return false;
  if (p.disable_exits & 1u) return false;  // kvm_mwait_in_guest: the timer stops in MWAIT's C-states
  // vmx_set_hv_timer refuses deltas that do not fit the 32-bit timer after the shift.
  if (expires_ <= cpu.now()) return true;
  const uint64_t delta_tsc = static_cast<uint64_t>(sim::to_us(expires_ - cpu.now()) * cpu.tsc_mhz());
  return hw::vmx_preemption_timer_fits(delta_tsc, cpu.caps().preemption_timer_rate);
}

void Lapic::set_tscdeadline(hw::VmxCpu& cpu, uint64_t value) {
  cpu.charge(cpu.costs().kvm_handle_tsc_deadline);
  if (hw::lvtt_mode(regs.lvtt()) != hw::TimerMode::TscDeadline) return;  // ignored, as in KVM
  cancel_apic_timer(cpu);
  tscdeadline_ = value;
  if (!value) return;
  expires_ = deadline_time(cpu);
  start_apic_timer(cpu);
}

void Lapic::init_reset(hw::VmxCpu& cpu) {
  cancel_apic_timer(cpu);
  const bool x2apic = regs.x2apic_mode();
  regs.reset(regs.apic_id());
  regs.set_x2apic_mode(x2apic);
  tscdeadline_ = 0;
  expired_tscdeadline_ = 0;
  pending_timer_ = 0;
  period_ = 0;
}

void Lapic::cancel_apic_timer(hw::VmxCpu& cpu) {
  if (vcpu_.kvm.params().direct_irq && expires_ != sim::kNever) cpu.set_lapic_timer_deadline(sim::kNever);
  hv_timer_in_use_ = false;
  expires_ = sim::kNever;
  if (sw_timer_armed_) {
    cpu.charge(cpu.costs().kvm_hrtimer_cancel);
    vcpu_.host->cancel_timer(cpu);
    sw_timer_armed_ = false;
  }
}

void Lapic::start_apic_timer(hw::VmxCpu& cpu) {
  const sim::Picos deadline = expires_;
  const sim::Picos advance = advance_ps();
  if (vcpu_.kvm.params().direct_irq) {
    // DirectIRQ's direct LAPIC timer: KVM converts the guest's deadline and programs the
    // physical timer; it fires into the guest IDT with the guest's vector, no exit.
    cpu.set_lapic_lvtt(regs.lvtt());
    cpu.set_lapic_timer_deadline(std::max(deadline, cpu.now()));
    return;
  }
  if (deadline <= cpu.now()) {
    apic_timer_expired(cpu, false);
    return;
  }
  if (can_use_hv_timer(cpu)) {
    cpu.charge(cpu.costs().kvm_hv_timer_arm);
    hv_timer_in_use_ = true;
    ++vcpu_.stat.hv_timer_armed;
    // vmx_set_hv_timer: a deadline within the advance expires at once.
    if (deadline <= cpu.now() + advance) {
      hv_timer_in_use_ = false;
      apic_timer_expired(cpu, false);
    }
    return;
  }
  cpu.charge(cpu.costs().kvm_hrtimer_start);
  sw_timer_armed_ = true;
  ++vcpu_.stat.sw_timer_armed;
  vcpu_.host->start_timer(cpu, deadline > advance ? deadline - advance : 0);
}

int64_t Lapic::hv_timer_value(hw::VmxCpu& cpu) const {
  if (!hv_timer_in_use_) return -1;
  const uint64_t now_tsc = cpu.host_tsc();
  uint64_t dl = tsc_deadline_mode() ? hw::host_tsc_for_guest(tscdeadline_, vcpu_.tsc_multiplier, vcpu_.tsc_offset)
                                    : now_tsc + static_cast<uint64_t>(sim::to_us(expires_ > cpu.now() ? expires_ - cpu.now() : 0) * cpu.tsc_mhz());
  const uint64_t adv = static_cast<uint64_t>(sim::to_us(advance_ps()) * cpu.tsc_mhz());
  dl = dl > adv ? dl - adv : 0;
  if (dl <= now_tsc) return 0;
  return static_cast<int64_t>(hw::vmx_preemption_timer_value(dl - now_tsc, cpu.caps().preemption_timer_rate));
}

void Lapic::expired_hv_timer(hw::VmxCpu& cpu) {
  if (!hv_timer_in_use_) return;
  hv_timer_in_use_ = false;
  apic_timer_expired(cpu, false);
}

void Lapic::timer_fn(hw::VmxCpu& cpu) {
  sw_timer_armed_ = false;
  cpu.charge(cpu.costs().kvm_apic_timer_expired);
  apic_timer_expired(cpu, true);
}

void Lapic::apic_timer_expired(hw::VmxCpu& cpu, bool from_timer_fn) {
  ++vcpu_.stat.timer_fired;
  if (tsc_deadline_mode()) {
    expired_tscdeadline_ = tscdeadline_;
    tscdeadline_ = 0;  // IA32_TSC_DEADLINE reads 0 once the timer fired
    expires_ = sim::kNever;
  } else if (hw::lvtt_mode(regs.lvtt()) == hw::TimerMode::Periodic && period_) {
    start_ = expires_;  // advance_periodic_target_expiration
    expires_ += period_;
  } else {
    expires_ = sim::kNever;
  }
  inject_or_pend(cpu, from_timer_fn);
  if (expires_ != sim::kNever) start_apic_timer(cpu);  // periodic: re-arm
}

void Lapic::inject_or_pend(hw::VmxCpu& cpu, bool from_timer_fn) {
  if (!from_timer_fn && vcpu_.apicv_active()) {
    inject_pending_timer(cpu);
    return;
  }
  // kvm_use_posted_timer_interrupt: the exitless timer posts from the housekeeping CPU
  // to a vCPU in guest mode, with no exit on the vCPU's CPU.
  const KvmParams& p = vcpu_.kvm.params();
  if (from_timer_fn && p.pi_inject_timer && p.hlt_in_guest && vcpu_.apicv_active() &&
      vcpu_.mode == VcpuMode::IN_GUEST_MODE) {
    inject_pending_timer(cpu);
    return;
  }
  ++pending_timer_;
  if (from_timer_fn) vcpu_.kick(cpu);
}

void Lapic::inject_pending_timer(hw::VmxCpu& cpu) {
  pending_timer_ = 0;
  const uint32_t lvtt = regs.lvtt();
  if (lvtt & hw::APIC_LVT_MASKED) {  // architecturally dropped: masked LVT
    ++vcpu_.stat.interrupts_dropped_masked;
    return;
  }
  cpu.charge(cpu.costs().kvm_apic_timer_expired);
  vcpu_.deliver_interrupt(cpu, static_cast<uint8_t>(lvtt & 0xFF));
}

void Lapic::switch_to_sw_timer(hw::VmxCpu& cpu) {
  if (!hv_timer_in_use_) return;
  hv_timer_in_use_ = false;
  const sim::Picos deadline = expires_;
  const sim::Picos advance = advance_ps();
  cpu.charge(cpu.costs().kvm_hrtimer_start);
  sw_timer_armed_ = true;
  ++vcpu_.stat.sw_timer_armed;
  vcpu_.host->start_timer(cpu, deadline > advance ? deadline - advance : 0);
}

void Lapic::switch_to_hv_timer(hw::VmxCpu& cpu) {
  if (!sw_timer_armed_ || expires_ == sim::kNever || !can_use_hv_timer(cpu)) return;
  const sim::Picos keep = expires_;
  cancel_apic_timer(cpu);
  expires_ = keep;
  hv_timer_in_use_ = true;
  ++vcpu_.stat.hv_timer_armed;
}

void Lapic::tpt_save(hw::VmxCpu& cpu, sim::Picos hw_deadline) {
  if (!tsc_deadline_mode()) return;
  if (hw_deadline == sim::kNever) {
    tscdeadline_ = 0;
    expires_ = sim::kNever;
    hv_timer_in_use_ = false;
    return;
  }
  expires_ = hw_deadline;
  tscdeadline_ = hw::guest_tsc(cpu.host_tsc() + static_cast<uint64_t>(sim::to_us(hw_deadline > cpu.now() ? hw_deadline - cpu.now() : 0) * cpu.tsc_mhz()),
                               vcpu_.tsc_multiplier, vcpu_.tsc_offset);
  hv_timer_in_use_ = true;
}

void Lapic::wait_lapic_expire_slow(hw::VmxCpu& cpu) {
  const uint64_t deadline = expired_tscdeadline_;
  expired_tscdeadline_ = 0;
  const uint64_t now = vcpu_.guest_tsc(cpu);
  const int64_t delta = static_cast<int64_t>(now - deadline);  // < 0: early
  if (Tracer* t = vcpu_.kvm.tracer) [[unlikely]]
    t->kvm_wait_lapic_expire(cpu.now(), cpu.cpu(), vcpu_.kvm.trace_pid_base + static_cast<uint32_t>(vcpu_.vcpu_id), vcpu_.vcpu_id, delta);
  if (delta < 0) cpu.charge_ps(vcpu_.guest_tsc_to_time(cpu, deadline) - cpu.now());  // busy-wait
  if (advance_adaptive_) adjust_advance(delta);
  vcpu_.stat.lapic_timer_advance_ns = timer_advance_ns_;
}

// adjust_lapic_timer_advance: step 1/8 of the error, within [100, 10000] cycles.
void Lapic::adjust_advance(int64_t delta_cycles) {
  const int64_t mag = std::llabs(delta_cycles);
  if (mag < kAdjustMinCycles || mag > kAdjustMaxCycles) return;
  const double tsc_mhz = vcpu_.kvm.tsc_mhz;
  const int64_t ns = static_cast<int64_t>(static_cast<double>(mag) * 1000.0 / tsc_mhz);
  timer_advance_ns_ += (delta_cycles < 0 ? -ns : ns) / kAdjustStep;
  if (timer_advance_ns_ > kAdvanceMaxNs) timer_advance_ns_ = kAdvanceInitNs;
  if (timer_advance_ns_ < 0) timer_advance_ns_ = 0;
}

}  // namespace kvm
