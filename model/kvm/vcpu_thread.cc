#include "kvm/vcpu_thread.h"

#include "hw/apic_regs.h"
#include "kvm/kvm.h"

namespace kvm {

VcpuThread::VcpuThread(Vcpu& vcpu, host::Kernel& kernel, hw::GuestSoftware& guest)
    : host::Task("vcpu" + std::to_string(vcpu.vcpu_id)), vcpu_(vcpu), kernel_(kernel) {
  vcpu.guest = &guest;
  vcpu.host = this;
  guest.regs.x2apic = vcpu.lapic.regs.x2apic_mode();
  const KvmParams& p = vcpu.kvm.params();
  halt_poll_ = {p.halt_poll_ns, p.halt_poll_ns_grow, p.halt_poll_ns_grow_start, p.halt_poll_ns_shrink};
  lapic_timer_.fn = [this](host::Cpu& c) { vcpu_.lapic.timer_fn(c.vmx()); };
  vm = &vcpu.kvm;
}

void VcpuThread::run(host::Cpu& cpu) {
  vcpu_.cpu_apic_id = cpu.apic_id();
  vcpu_.vcpu_load(cpu.vmx());
  loaded_ = true;
  switch (phase_) {
    case Phase::Guest:
      if (vcpu_.has_apic_events()) [[unlikely]] {  // INIT/SIPI raced with the preemption
        continue_to_guest(cpu);
        break;
      }
      vcpu_.enter_guest(cpu.vmx());
      break;
    case Phase::Blocked:
      finish_halt(cpu, false);
      break;
    case Phase::Polling:  // preempted while polling: the halt goes on as a block
      if (vcpu_.has_wake_event()) finish_halt(cpu, false);
      else block(cpu);
      break;
  }
}

void VcpuThread::switched_out(host::Cpu& cpu, bool preempted) {
  loaded_ = false;
  vcpu_.vcpu_put(cpu.vmx(), preempted);
}

void VcpuThread::resume(host::Cpu& cpu) {
  switch (phase_) {
    case Phase::Guest:
      continue_to_guest(cpu);
      break;
    case Phase::Polling:
      // A host interrupt during the poll (e.g. the LAPIC timer's hrtimer) may be the event.
      if (vcpu_.has_wake_event()) finish_halt(cpu, true);
      else cpu.busy_until(poll_end_);
      break;
    case Phase::Blocked:
      break;
  }
}

void VcpuThread::on_vmexit(host::Cpu& cpu, const hw::ExitInfo& exit) {
  if (vcpu_.handle_exit(cpu.vmx(), exit) == ExitResult::Halt) {
    start_halt(cpu);
  } else {
    continue_to_guest(cpu);
  }
}

// vcpu_run: leave for the scheduler when asked (need_resched), else enter again.
void VcpuThread::continue_to_guest(host::Cpu& cpu) {
  if (cpu.need_resched()) {
    cpu.schedule();
    return;
  }
  // vcpu_enter_guest's KVM_REQ_EVENT step: INIT/SIPI first; an AP waiting for its SIPI
  // goes to vcpu_block (kvm_vcpu_block, no halt polling) instead of the guest.
  if (vcpu_.has_apic_events()) [[unlikely]] vcpu_.kvm_apic_accept_events(cpu.vmx());
  if (vcpu_.mp_state == MpState::INIT_RECEIVED) [[unlikely]] {
    halt_start_ = cpu.now();
    waiting_for_sipi_ = true;
    vcpu_.pre_halt(cpu.vmx());
    block(cpu);
    return;
  }
  vcpu_.enter_guest(cpu.vmx());
}

// kvm_vcpu_halt: poll for up to halt_poll_ns while nothing else wants the CPU, then block.
void VcpuThread::start_halt(host::Cpu& cpu) {
  halt_start_ = cpu.now();
  vcpu_.pre_halt(cpu.vmx());
  if (vcpu_.has_wake_event()) {
    finish_halt(cpu, true);
    return;
  }
  if (vcpu_.halt_poll_ns > halt_poll_.max_ns) vcpu_.halt_poll_ns = halt_poll_.max_ns;
  // kvm_arch_no_poll: the guest turned host polling off (MSR_KVM_POLL_CONTROL bit 0 = 0).
  if (vcpu_.halt_poll_ns && cpu.nr_running() <= 1 && (vcpu_.msr_poll_control & 1)) {
    ++vcpu_.stat.halt_attempted_poll;
    set_phase(static_cast<int>(Phase::Polling));
    ++poll_generation_;
    poll_end_ = halt_start_ + sim::ns(static_cast<double>(vcpu_.halt_poll_ns));
    cpu.busy_until(poll_end_);
    return;
  }
  block(cpu);
}

void VcpuThread::on_busy_done(host::Cpu& cpu) {
  if (phase_ != Phase::Polling) return;
  if (vcpu_.has_wake_event()) finish_halt(cpu, true);
  else block(cpu);
}

void VcpuThread::on_soft_event(host::Cpu& cpu, uint64_t cookie) {
  if (phase_ != Phase::Polling || cookie != poll_generation_) return;
  if (vcpu_.has_wake_event()) finish_halt(cpu, true);
}

void VcpuThread::block(host::Cpu& cpu) {
  if (phase_ == Phase::Polling) vcpu_.stat.halt_poll_fail_ns += (cpu.now() - halt_start_) / 1000;
  set_phase(static_cast<int>(Phase::Blocked));
  vcpu_.blocking = true;
  cpu.vmx().charge(cpu.vmx().costs().kvm_vcpu_block);
  if (vcpu_.has_wake_event()) {  // the event raced with blocking: kvm_vcpu_check_block
    finish_halt(cpu, false);
    return;
  }
  cpu.block_current();
}

void VcpuThread::finish_halt(host::Cpu& cpu, bool polled) {
  const sim::Picos now = cpu.now();
  const uint64_t halt_ns = static_cast<uint64_t>(sim::to_ns(now - halt_start_));
  if (waiting_for_sipi_) [[unlikely]] {  // kvm_vcpu_block for INIT_RECEIVED: no halt stats, no polling
    waiting_for_sipi_ = false;
    vcpu_.post_halt(cpu.vmx());
    set_phase(static_cast<int>(Phase::Guest));
    continue_to_guest(cpu);
    return;
  }
  if (phase_ == Phase::Polling || (polled && phase_ == Phase::Guest)) {
    ++vcpu_.stat.halt_successful_poll;
    vcpu_.stat.halt_poll_success_ns += halt_ns;
    cpu.vmx().charge(cpu.vmx().costs().kvm_halt_poll_exit);
  } else {
    ++vcpu_.stat.halt_wakeup;
    vcpu_.stat.halt_wait_ns += halt_ns;
  }
  vcpu_.post_halt(cpu.vmx());
  vcpu_.halt_poll_ns = update_halt_poll_ns(vcpu_.halt_poll_ns, halt_ns, true, halt_poll_);
  set_phase(static_cast<int>(Phase::Guest));
  if (vcpu_.mp_state == MpState::HALTED) vcpu_.mp_state = MpState::RUNNABLE;  // vcpu_block
  continue_to_guest(cpu);
}

void VcpuThread::pi_wakeup(host::Cpu& c) {
  if (phase_ != Phase::Blocked || cpu != c.id() || !vcpu_.pi_desc.pi_test_on()) return;
  c.vmx().charge(c.vmx().costs().kvm_vcpu_wakeup);
  vcpu_.ready = true;
  kernel_.cpu(cpu).wake_up(this, c);
}

void VcpuThread::set_phase(int next_i) {
  const Phase next = static_cast<Phase>(next_i);
  const bool legal = (phase_ == Phase::Guest && next != Phase::Guest) ||
                     (phase_ == Phase::Polling && next != Phase::Polling) ||
                     (phase_ == Phase::Blocked && next == Phase::Guest) ||
                     (phase_ == Phase::Guest && next == Phase::Guest && vcpu_.mp_state == MpState::HALTED);
  if (!legal) {
    ++vcpu_.stat.illegal_transitions;
    static constexpr const char* kPhase[] = {"guest", "polling", "blocked"};
    kernel_.cpu(cpu).vmx().report_violation("illegal_transitions", "vcpu thread " + std::to_string(vcpu_.vcpu_id) + " going from " +
                                                                       kPhase[static_cast<int>(phase_)] + " to " + kPhase[next_i]);
  }
  phase_ = next;
}

// ---- VcpuHostOps ------------------------------------------------------------------------

// The exitless timer's hrtimer runs on a housekeeping CPU (nohz_full moves it there).
int VcpuThread::timer_cpu() const {
  const KvmParams& p = vcpu_.kvm.params();
  return p.pi_inject_timer && p.hlt_in_guest && vcpu_.apicv_active() ? p.housekeeping_cpu : cpu;
}

void VcpuThread::start_timer(hw::VmxCpu& from, sim::Picos expires) {
  kernel_.cpu(timer_cpu()).hrtimer_start(lapic_timer_, expires);
}

void VcpuThread::cancel_timer(hw::VmxCpu& from) { kernel_.cpu(timer_cpu()).hrtimer_cancel(lapic_timer_); }

// kvm_vcpu_wake_up: a polling thread sees the event after the line transfer; a blocked
// one is woken through the scheduler.
void VcpuThread::wake_up(hw::VmxCpu& from) {
  if (phase_ == Phase::Polling) {
    host::Cpu& target = kernel_.cpu(cpu);
    const sim::Picos seen = from.now() + sim::ns(target.line_latency_ns(from.cpu()));
    target.post_soft_event(seen, poll_generation_);
  } else if (phase_ == Phase::Blocked) {
    from.charge(from.costs().kvm_vcpu_wakeup);
    vcpu_.ready = true;  // kvm_vcpu_wake_up: a waiter was woken
    kernel_.cpu(cpu).wake_up(this, kernel_.cpu(from.cpu()));
  }
}

int VcpuThread::yield_to(hw::VmxCpu& from, Vcpu& target) {
  auto* t = dynamic_cast<VcpuThread*>(target.host);
  if (!t) return 0;
  return kernel_.cpu(from.cpu()).yield_to(t);
}

bool VcpuThread::single_task_running(hw::VmxCpu& from) { return kernel_.cpu(from.cpu()).nr_running() == 1; }

void VcpuThread::send_ipi_to_vcpu_cpu(hw::VmxCpu& from, uint8_t vector) {
  hw::Icr icr;
  icr.vector = vector;
  icr.dest = vcpu_.cpu_apic_id;
  // DirectIRQ: the guest owns the IDT on its core, so host requests travel as NMIs.
  if (vector == hw::RESCHEDULE_VECTOR && vcpu_.kvm.params().direct_irq) icr.mode = hw::DeliveryMode::NMI;
  from.send_ipi(icr);
}

void VcpuThread::handle_host_irq(hw::VmxCpu& c, uint8_t vector) { kernel_.cpu(c.cpu()).handle_irq(vector); }

}  // namespace kvm
