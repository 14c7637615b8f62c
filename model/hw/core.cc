#include "hw/core.h"

#include <algorithm>
#include <cstdio>
#include <string>

#include "hw/lapic_timer.h"
#include "hw/mem_line.h"
#include "hw/pi_desc.h"
#include "hw/vmx.h"

namespace hw {
namespace {

sim::Picos sc_now() { return sc_core::sc_time_stamp().value(); }

constexpr uint64_t kApicBase = 0xFEE00000ull;
bool is_xapic_page(uint64_t gpa) { return gpa >= kApicBase && gpa < kApicBase + 0x1000; }

}  // namespace

Core::Core(sc_core::sc_module_name name, int cpu, uint32_t apic_id, const Platform& platform,
           const CostTable& costs)
    : sc_module(name),
      apic_out("apic_out"),
      apic_in("apic_in"),
      cpu_(cpu),
      apic_id_(apic_id),
      platform_(platform),
      costs_(costs),
      clock_(platform.freq_mhz),
      tsc_(platform.tsc_mhz),
      phys_(apic_id) {
  apic_in.register_b_transport(this, &Core::b_transport);
  ps_per_cycle = 1e6 / platform.freq_mhz;
  phys_.set_x2apic_mode(true);
  phys_.write(APIC_SPIV, APIC_SPIV_APIC_ENABLED | 0xFF);
  phys_.write(APIC_LVTT, (2u << 17) | LOCAL_TIMER_VECTOR);  // Linux's lapic-deadline clockevent
  arrivals_.reserve(16);
  SC_METHOD(run);
  sensitive << wake_;
  dont_initialize();
}

// ---------------------------------------------------------------------------------------
// Scheduling of the core's single wake-up event.

void Core::push_arrival(const Arrival& a) {
  arrivals_.push_back(a);
  std::push_heap(arrivals_.begin(), arrivals_.end(), std::greater<>());
}

void Core::b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay) {
  const auto* msg = reinterpret_cast<const ApicMessage*>(trans.get_data_ptr());
  const sim::Picos at = sc_now() + delay.value();
  push_arrival({at, arrival_seq_++, msg->icr.vector, false, msg->icr.mode == DeliveryMode::NMI ? kNmiCookie : 0});
  trans.set_response_status(tlm::TLM_OK_RESPONSE);
  if (!wake_pending_ || at < wake_at_) schedule_wake();
}

void Core::post_soft_event(sim::Picos at, uint64_t cookie) {
  push_arrival({std::max(at, sc_now()), arrival_seq_++, 0, true, cookie});
  schedule_wake();
}

void Core::arm_lapic_timer(sim::Picos deadline) {
  lapic_timer_at_ = deadline;
  schedule_wake();
}

void Core::notify_line(MemLine* line, sim::Picos stored_at) {
  if (line != watched_) return;
  const int writer = line->last_writer();
  const sim::Picos visible =
      stored_at + (writer == cpu_ ? 0 : sim::ns(line_latency_ns(writer)));
  line_wake_at_ = std::min(line_wake_at_, visible);
  schedule_wake();
}

double Core::line_latency_ns(int other_cpu) const {
  if (other_cpu < 0 || !line_ns_) return 0.0;
  return (*line_ns_)[static_cast<size_t>(other_cpu)];
}

void Core::schedule_wake() { schedule_wake(sc_now()); }

void Core::schedule_wake(sim::Picos now) {
  sim::Picos t = sim::kNever;
  if (!arrivals_.empty()) t = arrivals_.front().at;
  t = std::min(t, lapic_timer_at_);
  switch (state_) {
    case State::Guest:
      t = std::min({t, preempt_at_, line_wake_at_, op_timed_ ? op_end_ : resume_at_});
      break;
    case State::Busy: t = std::min(t, busy_until_); break;
    case State::Idle:
    case State::Root: break;
  }
  if (t != sim::kNever) t = std::max(t, resume_at_);
  if (wake_pending_) {
    if (t == wake_at_) return;
    wake_.cancel();
    wake_pending_ = false;
  }
  if (t == sim::kNever) return;
  wake_.notify(sc_core::sc_time::from_value(t > now ? t - now : 0));
  wake_pending_ = true;
  wake_at_ = t;
}

void Core::set_state(State s, sim::Picos at) {
  static constexpr int kSlot[] = {1, 1, 2, 0};  // Root, Busy -> root; Idle; Guest
  if (at > state_since_) {
    acc_[kSlot[static_cast<int>(state_)]] += at - state_since_;
    state_since_ = at;
  }
  state_ = s;
}

void Core::finish_accounting(sim::Picos end) { set_state(state_, end); }

void Core::sync_local() { local_ = std::max(local_, sc_now()); }

// ---------------------------------------------------------------------------------------
// The process: take what is due, then let the current mode make progress.

void Core::take_arrivals(sim::Picos now) {
  if (lapic_timer_at_ > now && (arrivals_.empty() || arrivals_.front().at > now)) return;  // the common case
  if (lapic_timer_at_ <= now) {
    lapic_timer_at_ = sim::kNever;
    ++lapic_timer_fires_;
    // The vector is LVTT's (the host's LOCAL_TIMER_VECTOR unless a guest owns the timer).
    const uint32_t lvtt = phys_.lvtt();
    if (!(lvtt & APIC_LVT_MASKED) || (lvtt & 0xFF) == 0)
      phys_.accept_fixed((lvtt & 0xFF) ? static_cast<uint8_t>(lvtt & 0xFF) : LOCAL_TIMER_VECTOR, false);
  }
  while (!arrivals_.empty() && arrivals_.front().at <= now) {
    std::pop_heap(arrivals_.begin(), arrivals_.end(), std::greater<>());
    Arrival a = arrivals_.back();
    arrivals_.pop_back();
    if (!a.soft) {
      if (a.cookie == kNmiCookie) nmi_pending_ = true;
      else phys_.accept_fixed(a.vector, false);
    } else if (state_ != State::Guest && root_) {
      // Software signals are for code running in root mode (a polling vCPU thread); a
      // CPU back in the guest has already seen what the signal was about.
      local_ = std::max(local_, now);
      State before = state_;
      set_state(State::Root, local_);
      root_->on_soft_event(a.cookie);
      if (state_ == State::Root) set_state(before, local_);
    }
  }
}

void Core::run() {
  wake_pending_ = false;
  const sim::Picos now = sc_now();
  ++events_;
  if (now < resume_at_) {  // inside a transition: interrupts wait for its end
    schedule_wake(now);
    return;
  }
  take_arrivals(now);
  switch (state_) {
    case State::Guest:
      run_guest(now);
      break;
    case State::Busy:
    case State::Idle:
    case State::Root: {
      nmi_pending_ = false;  // the host's NMI handler: nothing the model needs from it
      const int v = phys_.deliverable_vector();
      if (v >= 0 && root_) {
        local_ = std::max(local_, now);
        if (state_ == State::Idle) {
          local_ += cstate_exit_ps(idle_cstate_);
          if (power_) power_->set(cpu_, CState::C0, now);
        }
        set_state(State::Root, now);
        phys_.start_service(static_cast<uint8_t>(v));
        note(Recent::Interrupt, static_cast<uint32_t>(v));
        root_->on_interrupt(static_cast<uint8_t>(v));
      } else if (state_ == State::Busy && now >= busy_until_ && root_) {
        local_ = std::max(local_, now);
        set_state(State::Root, now);
        busy_until_ = sim::kNever;
        root_->on_busy_done();
      }
      break;
    }
  }
  schedule_wake(now);
}

void Core::root_busy_until(sim::Picos t) {
  busy_until_ = std::max(t, local_);
  set_state(State::Busy, local_);
  resume_at_ = local_;
}

void Core::root_idle(CState s) {
  idle_cstate_ = s;
  if (power_) power_->set(cpu_, s, local_);
  set_state(State::Idle, local_);
  resume_at_ = local_;
}

void Core::send_ipi(const Icr& icr) {
  charge(costs_.cpu_apic_icr_write);
  note(Recent::IpiSent, icr.dest);
  ApicMessage msg{icr, cpu_};
  tlm::tlm_generic_payload trans;
  trans.set_command(tlm::TLM_WRITE_COMMAND);
  trans.set_data_ptr(reinterpret_cast<unsigned char*>(&msg));
  trans.set_data_length(sizeof(msg));
  sc_core::sc_time delay = sc_core::sc_time::from_value(local_ - std::min(local_, sc_now()));
  apic_out->b_transport(trans, delay);
}

// ---------------------------------------------------------------------------------------
// VMX transitions.

// The subset of the SDM's VM-entry checks on VMX controls (26.2.1.1) that the model's
// fields cover. A failure is counted (invariant.vmentry_check_failures); the model enters
// anyway so the run shows what followed.
int Core::vmentry_check_failures(const Vmcs& v) const {
  int fails = 0;
  const uint32_t pin = v.pin(), primary = v.primary(), secondary = v.secondary();
  const bool vid = secondary & SECONDARY_EXEC_VIRTUAL_INTR_DELIVERY;
  if ((pin & PIN_BASED_POSTED_INTR) && (!vid || !v.pi_desc || v.read(VmcsField::POSTED_INTR_NV) > 0xFF)) ++fails;
  if (vid && !(pin & PIN_BASED_EXT_INTR_MASK)) ++fails;
  if ((secondary & SECONDARY_EXEC_VIRTUALIZE_X2APIC_MODE) && (secondary & SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES)) ++fails;
  if (!(primary & CPU_BASED_TPR_SHADOW) &&
      (secondary & (SECONDARY_EXEC_VIRTUALIZE_X2APIC_MODE | SECONDARY_EXEC_APIC_REGISTER_VIRT | SECONDARY_EXEC_VIRTUAL_INTR_DELIVERY)))
    ++fails;
  if ((primary & CPU_BASED_TPR_SHADOW) && !v.virtual_apic) ++fails;
  if ((primary & CPU_BASED_USE_MSR_BITMAPS) && !v.msr_bitmap) ++fails;
  if ((pin & PIN_BASED_VIRTUAL_NMIS) && !(pin & PIN_BASED_NMI_EXITING)) ++fails;
  if ((pin & PIN_BASED_VMX_PREEMPTION_TIMER) && !platform_.vmx.preemption_timer) ++fails;
  if ((pin & PIN_BASED_POSTED_INTR) && !platform_.vmx.posted_interrupts) ++fails;
  if (vid && !platform_.vmx.apicv) ++fails;
  // IPI virtualization needs the CPU feature, a TPR shadow and a PID-pointer table.
  if ((v.tertiary() & TERTIARY_EXEC_IPI_VIRT) && (!platform_.vmx.ipiv || !(primary & CPU_BASED_TPR_SHADOW) || !v.pid_table)) ++fails;
  return fails;
}

std::vector<std::string> Core::recent_events() const {
  static constexpr const char* kKind[] = {"VM exit, reason", "VM entry", "interrupt, vector", "IPI sent to APIC id"};
  std::vector<std::string> out;
  const unsigned n = std::min(recent_n_, kRecent);
  for (unsigned i = recent_n_ - n; i != recent_n_; ++i) {
    const RecentEvent& e = recent_[i % kRecent];
    char line[120];
    std::snprintf(line, sizeof line, "%14.3f us  cpu%d  %s", sim::to_us(e.at), cpu_, kKind[static_cast<int>(e.kind)]);
    std::string l = line;
    if (e.kind == Recent::Exit) (l += " ") += exit_reason_name(e.code);
    else if (e.kind != Recent::Entry) l += " " + std::to_string(e.code);
    out.push_back(std::move(l));
  }
  return out;
}

void Core::vmenter(Vmcs& vmcs, GuestSoftware& guest) {
  vmcs_ = &vmcs;
  guest_ = &guest;
  vmcs.launched = true;
  // The checks depend on the controls (and on pointers KVM sets once): re-run them when
  // the controls changed.
  const uint64_t ctl[3] = {vmcs.read(VmcsField::PIN_BASED_VM_EXEC_CONTROL), vmcs.read(VmcsField::CPU_BASED_VM_EXEC_CONTROL),
                           vmcs.read(VmcsField::SECONDARY_VM_EXEC_CONTROL)};
  if (&vmcs != checked_vmcs_ || ctl[0] != checked_ctl_[0] || ctl[1] != checked_ctl_[1] || ctl[2] != checked_ctl_[2]) {
    checked_vmcs_ = &vmcs;
    std::copy(ctl, ctl + 3, checked_ctl_);
    checked_failures_ = vmentry_check_failures(vmcs);
  }
  if (checked_failures_) {
    entry_check_failures_ += static_cast<uint64_t>(checked_failures_);
    char what[160];
    std::snprintf(what, sizeof what, "VM entry with %d failed check(s): pin 0x%llx, primary 0x%llx, secondary 0x%llx",
                  checked_failures_, static_cast<unsigned long long>(ctl[0]), static_cast<unsigned long long>(ctl[1]),
                  static_cast<unsigned long long>(ctl[2]));
    report_violation("vmentry_check_failures", what);
  }
  if (fault_due(sim::Fault::TimeRegression)) local_ = last_entry_ > 1000 ? last_entry_ - 1000 : 0;
  if (local_ < last_entry_) {  // time monotonicity per core
    ++time_regressions_;
    report_violation("time_regressions", "VM entry at " + std::to_string(local_) + " ps, before the previous entry at " +
                                             std::to_string(last_entry_) + " ps");
  }
  last_entry_ = local_;
  note(Recent::Entry, 0);
  if (!vmcs.native) charge(costs_.vmx_vmentry);
  if (guest.regs.skip_pending) {
    guest.regs.skip_pending = false;
    guest_->complete_op();
    guest_->regs.sti_shadow = false;
  }
  // VM-entry event injection (SDM 26.6): the event is delivered before any instruction.
  const uint64_t inj = vmcs.read(VmcsField::VM_ENTRY_INTR_INFO_FIELD);
  if (inj & INTR_INFO_VALID_MASK) {
    vmcs.write(VmcsField::VM_ENTRY_INTR_INFO_FIELD, 0);
    charge(vmcs.native ? costs_.cpu_interrupt_delivery : costs_.vmx_event_injection);
    if ((inj & INTR_TYPE_MASK) == INTR_TYPE_NMI_INTR) guest_->deliver_nmi();
    else guest_->deliver_interrupt(static_cast<uint8_t>(inj & 0xFF));
  }
  // The VMX-preemption timer counts down each time bit `rate` of the TSC changes.
  preempt_at_ = sim::kNever;
  if (vmcs.pin() & PIN_BASED_VMX_PREEMPTION_TIMER) {
    const unsigned rate = platform_.vmx.preemption_timer_rate;
    const uint64_t value = vmcs.read(VmcsField::VMX_PREEMPTION_TIMER_VALUE) & 0xFFFFFFFFull;
    const uint64_t tick = (host_tsc() >> rate) + value;
    preempt_at_ = value == 0 ? local_ : std::max(local_, tsc_.time_of_count(tick << rate));
  }
  op_timed_ = false;
  set_state(State::Guest, local_);
  resume_at_ = local_;
  ++entries_;
}

void Core::vmexit(uint16_t reason, uint64_t qualification, uint32_t intr_info) {
  if (guest_cstate_) leave_guest_cstate();
  if (watched_) {
    watched_->unwatch(this);
    watched_ = nullptr;
  }
  line_wake_at_ = sim::kNever;
  op_timed_ = false;
  preempt_at_ = sim::kNever;
  vmcs_->write(VmcsField::VM_EXIT_REASON, reason);
  vmcs_->write(VmcsField::EXIT_QUALIFICATION, qualification);
  vmcs_->write(VmcsField::VM_EXIT_INTR_INFO, intr_info);
  ExitInfo e{reason, qualification, intr_info, &guest_->current_op(), local_};
  note(Recent::Exit, reason);
  set_state(State::Root, local_);
  if (!vmcs_->native) charge(costs_.vmx_vmexit);
  ++exits_;
  root_->on_vmexit(e);
}

// The instruction retires in the guest without leaving it.
void Core::retire(uint64_t result) {
  guest_->regs.result = result;
  guest_->complete_op();
}

// ---------------------------------------------------------------------------------------
// Non-root operation.

sim::Picos Core::ple_window_ps() const {
  const uint64_t window = vmcs_->read(VmcsField::PLE_WINDOW);
  return tsc_.time_of_count(window);
}

// A physical interrupt in non-root mode (SDM 25.2 and 29.6): the posted-interrupt
// notification vector is processed without an exit; others exit when external-interrupt
// exiting is set (acknowledged on exit, as KVM configures), regardless of RFLAGS.IF.
bool Core::recognize_physical_interrupt() {
  const int v = phys_.deliverable_vector();
  if (v < 0) return false;
  const uint32_t pin = vmcs_->pin();
  if ((pin & PIN_BASED_POSTED_INTR) && v == static_cast<int>(vmcs_->read(VmcsField::POSTED_INTR_NV))) {
    phys_.start_service(static_cast<uint8_t>(v));
    phys_.eoi();
    process_posted_interrupts();
    return false;
  }
  if (pin & PIN_BASED_EXT_INTR_MASK) {
    phys_.start_service(static_cast<uint8_t>(v));
    vmexit(EXIT_REASON_EXTERNAL_INTERRUPT, 0, INTR_INFO_VALID_MASK | INTR_TYPE_EXT_INTR | static_cast<uint32_t>(v));
    return true;
  }
  // External-interrupt exiting off (direct interrupt delivery): the guest IDT takes it.
  if (guest_->regs.rflags_if && !guest_->regs.sti_shadow) {
    phys_.start_service(static_cast<uint8_t>(v));
    charge(costs_.cpu_interrupt_delivery);
    ++direct_guest_interrupts_;
    guest_->deliver_interrupt(static_cast<uint8_t>(v));
  }
  return false;
}

void Core::process_posted_interrupts() {
  PiDesc* pi = vmcs_->pi_desc;
  if (!pi || !vmcs_->virtual_apic) return;
  charge(costs_.vmx_posted_intr_process);
  ++pi_notifications_;
  pi->pi_clear_on();
  coalesced_ += static_cast<uint64_t>(pi_pir_irr_overlap(*pi, *vmcs_->virtual_apic));
  const int highest = pi->pi_harvest_pir(*vmcs_->virtual_apic);
  if (highest >= 0) {
    uint64_t st = vmcs_->read(VmcsField::GUEST_INTR_STATUS);
    const uint64_t rvi = std::max<uint64_t>(st & 0xFF, static_cast<uint64_t>(highest));
    vmcs_->write(VmcsField::GUEST_INTR_STATUS, (st & ~0xFFull) | rvi);
  }
}

// Virtual-interrupt delivery (SDM 29.2): RVI against VPPR, when RFLAGS.IF allows.
bool Core::deliver_virtual_interrupt() {
  if (!(vmcs_->secondary() & SECONDARY_EXEC_VIRTUAL_INTR_DELIVERY)) return false;
  if (!guest_->regs.rflags_if || guest_->regs.sti_shadow) return false;
  LapicRegisters& va = *vmcs_->virtual_apic;
  const int v = va.deliverable_vector();
  if (v < 0) return false;
  va.start_service(static_cast<uint8_t>(v));
  const int rvi = std::max(va.highest_irr(), 0);
  vmcs_->write(VmcsField::GUEST_INTR_STATUS, static_cast<uint64_t>(v) << 8 | static_cast<uint64_t>(rvi));
  charge(costs_.vmx_virtual_intr_delivery);
  guest_->deliver_interrupt(static_cast<uint8_t>(v));
  return true;
}

// EOI virtualization (SDM 29.1.2): trap-like EOI_INDUCED exit for vectors in the bitmap.
// Returns true if it exited.
bool Core::virtual_eoi() {
  LapicRegisters& va = *vmcs_->virtual_apic;
  charge(costs_.vmx_virtual_eoi);
  const int v = va.eoi();
  const int svi = std::max(va.highest_isr(), 0);
  const int rvi = std::max(va.highest_irr(), 0);
  vmcs_->write(VmcsField::GUEST_INTR_STATUS, static_cast<uint64_t>(svi) << 8 | static_cast<uint64_t>(rvi));
  if (v >= 0 && vmcs_->eoi_exit(static_cast<uint8_t>(v))) {
    vmexit(EXIT_REASON_EOI_INDUCED, static_cast<uint64_t>(v));
    return true;
  }
  return false;
}

void Core::run_guest(sim::Picos now) {
  local_ = std::max(local_, now);
  GuestRegs& regs = guest_->regs;
  // A timed operation in progress: finished, or interrupted?
  if (op_timed_) {
    GuestOp& op = guest_->current_op();
    if (line_wake_at_ <= now && op.kind == OpKind::SpinUntil) {
      line_wake_at_ = sim::kNever;
      const uint64_t seen = op.line->load(cpu_, now, 0);
      if ((op.b == 0) == (seen == op.a)) {
        op_timed_ = false;
        watched_->unwatch(this);
        watched_ = nullptr;
        retire(seen);
      }
    }
    if (op_timed_ && now >= op_end_) {
      op_timed_ = false;
      // A pause loop that ran out of PAUSEs before the PLE window retires (a bounded
      // spin-wait returns the value it last saw).
      if ((op.kind == OpKind::SpinUntil || op.kind == OpKind::Pause) && now < ple_end_) {
        if (watched_) { watched_->unwatch(this); watched_ = nullptr; }
        line_wake_at_ = sim::kNever;
        pause_loop_end_ = now;
        retire(op.kind == OpKind::SpinUntil ? op.line->load(cpu_, now, 0) : 0);
      } else if (op.kind == OpKind::SpinUntil || op.kind == OpKind::Pause) {
        // The pause loop outlasted the PLE window (SDM 25.1.3): exit. The spin goes on
        // after re-entry as a new loop.
        const uint64_t spun = static_cast<uint64_t>(clock_.to_cycles(now - op_start_) / std::max(1.0, costs_.cpu_pause));
        if (op.kind == OpKind::Pause) op.a -= std::min<uint64_t>(op.a, spun);
        if (op.kind == OpKind::SpinUntil && op.d) op.d = std::max<uint64_t>(1, op.d - std::min(op.d, spun));
        if (watched_) { watched_->unwatch(this); watched_ = nullptr; }
        vmexit(EXIT_REASON_PAUSE_INSTRUCTION);
        return;
      } else {
        retire();
      }
    }
    if (op_timed_) {
      // Still running: only an interrupt or the preemption timer can cut it short.
      const bool phys = phys_.deliverable_vector() >= 0 || nmi_pending_;
      const bool virt = (vmcs_->secondary() & SECONDARY_EXEC_VIRTUAL_INTR_DELIVERY) &&
                        regs.rflags_if && vmcs_->virtual_apic->deliverable_vector() >= 0;
      if (!phys && !virt && preempt_at_ > now) return;
      // Split the operation at `now`.
      op_timed_ = false;
      if (op.kind == OpKind::Compute) {
        op.a = static_cast<uint64_t>(clock_.to_cycles(op_end_ - now) / op_scale_ + 0.5);
      } else if (op.kind == OpKind::Pause) {
        op.a -= std::min<uint64_t>(op.a, static_cast<uint64_t>(clock_.to_cycles(now - op_start_) / std::max(1.0, costs_.cpu_pause)));
      } else if (op.kind == OpKind::SpinUntil && op.d) {
        const uint64_t spun = static_cast<uint64_t>(clock_.to_cycles(now - op_start_) / std::max(1.0, costs_.cpu_pause));
        op.d = std::max<uint64_t>(1, op.d - std::min(op.d, spun));
      } else if (op.kind == OpKind::Hlt || op.kind == OpKind::Mwait) {
        if (guest_cstate_) leave_guest_cstate();
        retire();  // an interrupt ends the halt; the handler runs after it
      }
      if (watched_) { watched_->unwatch(this); watched_ = nullptr; }
      line_wake_at_ = sim::kNever;
    }
  }
  // Instruction boundaries: recognize events, then execute.
  // Conservative lookahead: nothing this core does not know of yet can reach it before
  // now + lookahead (the smallest CPU-to-CPU latency), so instructions that retire before
  // then need no event of their own - and neither does an exit that KVM handled and
  // re-entered from within this activation (vmenter left the core in Guest state).
  const auto within_lookahead = [&] { return local_ < std::min(now + lookahead_, next_known_event()); };
  const auto reentered = [&] { return state_ == State::Guest && !op_timed_ && within_lookahead(); };
  for (int budget = 256; budget > 0; --budget) {
    if (preempt_at_ <= local_) {
      vmexit(EXIT_REASON_PREEMPTION_TIMER);
      if (reentered()) continue;
      return;
    }
    if (nmi_pending_ && (vmcs_->pin() & PIN_BASED_NMI_EXITING)) {  // SDM 25.2: NMI exiting
      nmi_pending_ = false;
      vmexit(EXIT_REASON_EXCEPTION_NMI, 0, INTR_INFO_VALID_MASK | INTR_TYPE_NMI_INTR | 2);
      if (reentered()) continue;
      return;
    }
    if (recognize_physical_interrupt()) {
      if (reentered()) continue;
      return;
    }
    if (const uint32_t primary = vmcs_->primary(); primary & (CPU_BASED_INTR_WINDOW_EXITING | CPU_BASED_NMI_WINDOW_EXITING)) [[unlikely]] {
      // NMI window first (SDM 26.7.6: an NMI-window exit takes priority over an interrupt window).
      if ((primary & CPU_BASED_NMI_WINDOW_EXITING) && !regs.nmi_blocked) {
        vmexit(EXIT_REASON_NMI_WINDOW);
        if (reentered()) continue;
        return;
      }
      if ((primary & CPU_BASED_INTR_WINDOW_EXITING) && regs.rflags_if && !regs.sti_shadow) {
        vmexit(EXIT_REASON_INTERRUPT_WINDOW);
        if (reentered()) continue;
        return;
      }
    }
    deliver_virtual_interrupt();
    GuestOp& op = guest_->current_op();
    const bool shadow = regs.sti_shadow;
    const uint64_t exits_before = exits_;
    // Blocking by STI ends once the next instruction has begun (a HLT after STI is
    // woken by the interrupt STI held back).
    const bool retired = execute(op);
    if (shadow && op.kind != OpKind::Sti) regs.sti_shadow = false;
    if (!retired) {
      if (exits_ != exits_before && reentered()) continue;
      return;
    }
    if (local_ > now && !within_lookahead()) {
      resume_at_ = local_;
      return;
    }
  }
  resume_at_ = local_;
}

sim::Picos Core::next_known_event() const {
  sim::Picos t = std::min({lapic_timer_at_, preempt_at_, line_wake_at_});
  if (!arrivals_.empty()) t = std::min(t, arrivals_.front().at);
  return t;
}

bool Core::execute(GuestOp& op) {
  const uint32_t primary = vmcs_->primary();
  GuestRegs& regs = guest_->regs;
  switch (op.kind) {
    case OpKind::Compute:
      if (op.a == 0) { retire(); return true; }
      op_timed_ = true;
      op_start_ = local_;
      op_scale_ = power_feedback_ ? compute_scale() : 1.0;
      op_end_ = local_ + clock_.cycles(static_cast<double>(op.a) * op_scale_);
      return false;
    case OpKind::Cpuid:
      vmexit(EXIT_REASON_CPUID);
      return false;
    case OpKind::Vmcall:
      vmexit(EXIT_REASON_VMCALL);
      return false;
    case OpKind::Rsm:
      // Not in real SMM, so RSM raises #UD; KVM always has #UD in the exception bitmap.
      vmexit(EXIT_REASON_EXCEPTION_NMI, 0, INTR_INFO_VALID_MASK | INTR_TYPE_HARD_EXCEPTION | UD_VECTOR);
      return false;
    case OpKind::Rdmsr:
      return execute_msr(op, false);
    case OpKind::Wrmsr:
      return execute_msr(op, true);
    case OpKind::In:
    case OpKind::Out:
      if (primary & (CPU_BASED_UNCOND_IO_EXITING | CPU_BASED_USE_IO_BITMAPS)) {
        const uint64_t qual = ((op.b - 1) & 7) | (op.kind == OpKind::In ? IO_QUAL_IN : 0) |
                              (static_cast<uint64_t>(op.a32) << 16);
        vmexit(EXIT_REASON_IO_INSTRUCTION, qual);
        return false;
      }
      charge(costs_.cpu_io);
      retire();
      return true;
    case OpKind::MmioRead:
      return execute_mmio(op, false);
    case OpKind::MmioWrite:
      return execute_mmio(op, true);
    case OpKind::Hlt:
      if (primary & CPU_BASED_HLT_EXITING) {
        vmexit(EXIT_REASON_HLT);
        return false;
      }
      op_timed_ = true;  // guest activity state HLT until an interrupt
      op_start_ = local_;
      op_end_ = sim::kNever;
      enter_guest_cstate(op);
      return false;
    case OpKind::Mwait:
      if (primary & CPU_BASED_MWAIT_EXITING) {
        vmexit(EXIT_REASON_MWAIT_INSTRUCTION);
        return false;
      }
      op_timed_ = true;
      op_start_ = local_;
      op_end_ = sim::kNever;
      enter_guest_cstate(op);
      return false;
    case OpKind::Monitor:
      if (primary & CPU_BASED_MONITOR_EXITING) {
        vmexit(EXIT_REASON_MONITOR_INSTRUCTION);
        return false;
      }
      charge(1);
      retire();
      return true;
    case OpKind::Pause:
      if (primary & CPU_BASED_PAUSE_EXITING) {
        vmexit(EXIT_REASON_PAUSE_INSTRUCTION);
        return false;
      }
      return execute_pause_loop(op, local_);
    case OpKind::SpinUntil: {
      const int writer = op.line->last_writer();
      const sim::Picos transfer = writer == cpu_ ? 0 : sim::ns(line_latency_ns(writer));
      const uint64_t seen = op.line->load(cpu_, local_, transfer);
      if ((op.b == 0) == (seen == op.a)) {
        retire(seen);
        return true;
      }
      // A store this CPU cannot see yet: wake when it becomes visible.
      if (writer != cpu_ && op.line->stored_at() + transfer > local_)
        line_wake_at_ = std::min(line_wake_at_, op.line->stored_at() + transfer);
      return execute_pause_loop(op, local_);
    }
    case OpKind::CmpXchg:
    case OpKind::XAdd: {
      // A locked RMW sees the latest value once it owns the line (issue 5's lock words).
      const int writer = op.line->last_writer();
      charge(costs_.cpu_atomic_rmw);
      if (writer >= 0 && writer != cpu_) charge_ps(sim::ns(line_latency_ns(writer)));
      const uint64_t old = op.line->latest();
      if (op.kind == OpKind::XAdd) op.line->store(old + op.a, cpu_, local_);
      else if (old == op.a) op.line->store(op.b, cpu_, local_);
      retire(old);
      return true;
    }
    case OpKind::Store:
      charge(1);
      op.line->store(op.a, cpu_, local_);
      retire();
      return true;
    case OpKind::Rdtsc: {
      if (primary & CPU_BASED_RDTSC_EXITING) {
        vmexit(EXIT_REASON_RDTSC);
        return false;
      }
      charge(costs_.cpu_rdtsc);
      uint64_t mult = (vmcs_->secondary() & SECONDARY_EXEC_TSC_SCALING) ? vmcs_->read(VmcsField::TSC_MULTIPLIER) : (1ull << 48);
      const int64_t off = (primary & CPU_BASED_USE_TSC_OFFSETTING) ? static_cast<int64_t>(vmcs_->read(VmcsField::TSC_OFFSET)) : 0;
      retire(guest_tsc(host_tsc(), mult, off));
      return true;
    }
    case OpKind::MovToCr8:
      if (primary & CPU_BASED_TPR_SHADOW) {
        LapicRegisters& va = *vmcs_->virtual_apic;
        charge(costs_.cpu_mov_cr8);
        va.set_tpr(static_cast<uint8_t>((op.a & 0xF) << 4));
        retire();
        // Without virtual-interrupt delivery, lowering VTPR below the threshold traps.
        if (!(vmcs_->secondary() & SECONDARY_EXEC_VIRTUAL_INTR_DELIVERY) &&
            (op.a & 0xF) < (vmcs_->read(VmcsField::TPR_THRESHOLD) & 0xF)) {
          vmexit(EXIT_REASON_TPR_BELOW_THRESHOLD);
          return false;
        }
        return true;
      }
      if (primary & CPU_BASED_CR8_LOAD_EXITING) {
        vmexit(EXIT_REASON_CR_ACCESS, 8 | (0ull << 4));
        return false;
      }
      charge(costs_.cpu_mov_cr8);
      retire();
      return true;
    case OpKind::MovFromCr8:
      if (primary & CPU_BASED_TPR_SHADOW) {
        charge(costs_.cpu_mov_cr8);
        retire(vmcs_->virtual_apic->tpr() >> 4);
        return true;
      }
      if (primary & CPU_BASED_CR8_STORE_EXITING) {
        vmexit(EXIT_REASON_CR_ACCESS, 8 | (1ull << 4));
        return false;
      }
      charge(costs_.cpu_mov_cr8);
      retire();
      return true;
    case OpKind::Sti:
      regs.rflags_if = true;
      regs.sti_shadow = true;
      charge(1);
      retire();
      return true;
    case OpKind::Cli:
      regs.rflags_if = false;
      charge(1);
      retire();
      return true;
    case OpKind::Nop:
      charge(1);
      retire();
      return true;
    case OpKind::EptFault:
      // An access through the EPT (SDM 28.3.3): a missing entry is an EPT violation.
      if (op.d & 2) {
        charge(1);
        retire();
        return true;
      }
      vmcs_->write(VmcsField::GUEST_PHYSICAL_ADDRESS, op.a);
      vmexit(EXIT_REASON_EPT_VIOLATION, 0x181);  // data read, guest-linear address valid
      return false;
    case OpKind::PiPost: {
      // Locked RMWs on another vCPU's descriptor line: one line transfer from its CPU.
      PiDesc* pi = op.pi;
      charge_ps(sim::ns(line_latency_ns(platform_.topology.cpu_of_apic_id(pi->ndst))));
      const bool had = pi->pi_test_and_set_pir(static_cast<uint8_t>(op.a));
      const bool on_was = had || pi->pi_test_and_set_on();
      ++guest_posts_;
      if (had) ++coalesced_;
      retire(static_cast<uint64_t>(pi->nv) | (static_cast<uint64_t>(pi->ndst) << 8) |
             (static_cast<uint64_t>(pi->pi_test_sn()) << 40) | (static_cast<uint64_t>(!on_was) << 41));
      return true;
    }
    case OpKind::TlbAccess:
    case OpKind::Invlpg:
      return execute_tlb(op);
    case OpKind::TimedAccess:
      regs.op_time_ps = local_;
      retire(op.timed->access(local_, cpu_));
      return true;
    case OpKind::Clts:
      // SDM 25.1.3: CLTS exits when TS is set in both the CR0 guest/host mask and read shadow.
      if (vmcs_->read(VmcsField::CR0_GUEST_HOST_MASK) & vmcs_->read(VmcsField::CR0_READ_SHADOW) & 8) {
        vmexit(EXIT_REASON_CR_ACCESS, 2u << 4);  // CR0, access type 2 (CLTS)
        return false;
      }
      charge(costs_.cpu_mov_cr8);  // a control-register write that does not exit, costed as MOV CR8
      retire();
      return true;
  }
  return true;
}

// A loop of PAUSEs (SDM 25.1.3): with PAUSE-loop exiting at CPL 0, a loop whose PAUSEs are
// less than PLE_GAP apart exits once it has lasted longer than PLE_WINDOW. A tight spin-wait
// loop (PAUSE plus a load and a branch) is one such loop.
bool Core::execute_pause_loop(GuestOp& op, sim::Picos spin_start) {
  op_timed_ = true;
  op_start_ = spin_start;
  sim::Picos end = sim::kNever;
  if (op.kind == OpKind::Pause) end = spin_start + clock_.cycles(costs_.cpu_pause * static_cast<double>(op.a));
  if (op.kind == OpKind::SpinUntil && op.d) end = spin_start + clock_.cycles(costs_.cpu_pause * static_cast<double>(op.d));
  ple_end_ = sim::kNever;
  // op.c != 0 marks a tight loop without PAUSE (`while (!flag);`): PLE cannot see it.
  const bool ple = op.c == 0 && (vmcs_->secondary() & SECONDARY_EXEC_PAUSE_LOOP_EXITING) &&
                   guest_->regs.cpl == 0 && vmcs_->read(VmcsField::PLE_GAP) != 0;
  sim::Picos loop_start = spin_start;
  if (op.kind == OpKind::SpinUntil && op.e && pause_loop_end_ <= spin_start &&
      spin_start - pause_loop_end_ <= tsc_.time_of_count(vmcs_->read(VmcsField::PLE_GAP)))
    loop_start = pause_loop_start_;  // the same loop, a few instructions later
  pause_loop_start_ = loop_start;
  pause_loop_end_ = sim::kNever;
  if (ple) {
    const sim::Picos window_end = std::max(spin_start + 1, loop_start + ple_window_ps());
    if (window_end <= end) end = ple_end_ = window_end;
  }
  if (op.kind == OpKind::SpinUntil) {
    watched_ = op.line;
    op.line->watch(this);
  }
  op_end_ = end;
  return false;
}

bool Core::execute_msr(GuestOp& op, bool write) {
  const uint32_t msr = op.a32;
  const bool bitmaps = vmcs_->primary() & CPU_BASED_USE_MSR_BITMAPS;
  const bool exits = !bitmaps || !vmcs_->msr_bitmap ||
                     (write ? vmcs_->msr_bitmap->write_exits(msr) : vmcs_->msr_bitmap->read_exits(msr));
  if (exits) {
    vmexit(write ? EXIT_REASON_MSR_WRITE : EXIT_REASON_MSR_READ);
    return false;
  }
  const uint32_t secondary = vmcs_->secondary();
  if (is_x2apic_msr(msr) && (secondary & SECONDARY_EXEC_VIRTUALIZE_X2APIC_MODE) && vmcs_->virtual_apic) {
    // x2APIC virtualization (SDM 29.5): these accesses touch the virtual-APIC page.
    LapicRegisters& va = *vmcs_->virtual_apic;
    const bool vid = secondary & SECONDARY_EXEC_VIRTUAL_INTR_DELIVERY;
    if (!write) {
      if (msr == MSR_X2APIC_TPR || (secondary & SECONDARY_EXEC_APIC_REGISTER_VIRT)) {
        charge(costs_.vmx_virtual_apic_access);
        retire(va.read(x2apic_msr_to_offset(msr)).value_or(0));
        return true;
      }
    } else if (msr == MSR_X2APIC_TPR) {
      charge(costs_.vmx_virtual_apic_access);
      va.set_tpr(static_cast<uint8_t>(op.a));
      retire();
      return true;
    } else if (msr == MSR_X2APIC_EOI && vid) {
      retire();
      return !virtual_eoi();
    } else if (msr == MSR_X2APIC_SELF_IPI && vid) {
      // Self-IPI virtualization: vIRR and RVI, delivered at the next boundary.
      charge(costs_.vmx_virtual_apic_access);
      ++virtual_self_ipis_;
      if (!va.accept_fixed(static_cast<uint8_t>(op.a & 0xFF), false)) ++coalesced_;
      retire();
      return true;
    }
    if (msr == MSR_X2APIC_ICR && (vmcs_->tertiary() & TERTIARY_EXEC_IPI_VIRT)) [[unlikely]] {
      // IPI virtualization: the write lands in the virtual-APIC page, then the CPU posts it
      // or traps (hw/ipiv.h).
      charge(costs_.vmx_virtual_apic_access);
      const Icr icr = Icr::decode_x2apic(op.a);  // before retire(): the guest moves on to its next op
      va.set_icr(op.a);
      retire();
      return virtualize_icr_write(icr);
    }
    // Anything else reaches the physical x2APIC (only with passthrough configurations).
    if (msr != MSR_X2APIC_ICR) return physical_msr(op, write);
    if (write && msr == MSR_X2APIC_ICR) {
      // A guest-owned ICR (NoExit PV IPI): the IPI leaves on the physical bus as written.
      const Icr icr = Icr::decode_x2apic(op.a);
      if (vmcs_->icr_monitor && !vmcs_->icr_monitor->allowed(icr)) {
        ++isolation_violations_;
        report_violation("isolation_violations", "guest ICR write to APIC id " + std::to_string(icr.dest) + " vector " +
                                                     std::to_string(icr.vector) + " reaches outside its VM's posted-interrupt vectors");
      }
      send_ipi(icr);
      retire();
      return true;
    }
  }
  return physical_msr(op, write);
}

// A guest access that neither exits nor is virtualized reaches the physical LAPIC: bare
// metal, DirectIRQ's direct EOI and TMICT/TMCCT/TDCR, timer passthrough's TSC_DEADLINE.
// A TSC-deadline value is in the guest's TSC: the timer compares the host TSC, so the value
// goes through the VMCS offset and multiplier (seed 002 arranges the same by adjusting the
// TSC at entry).
bool Core::physical_msr(GuestOp& op, bool write) {
  if (write && op.a32 == MSR_X2APIC_ICR) {  // bare metal's APIC driver (issue 4): the IPI leaves as written
    send_ipi(Icr::decode_x2apic(op.a));
    retire();
    return true;
  }
  charge(costs_.cpu_msr_access);
  const uint32_t msr = op.a32;
  uint64_t result = 0;
  const uint32_t primary = vmcs_->primary();
  const uint64_t mult = (vmcs_->secondary() & SECONDARY_EXEC_TSC_SCALING) ? vmcs_->read(VmcsField::TSC_MULTIPLIER) : (1ull << 48);
  const int64_t off = (primary & CPU_BASED_USE_TSC_OFFSETTING) ? static_cast<int64_t>(vmcs_->read(VmcsField::TSC_OFFSET)) : 0;
  const sim::Picos bus_ps = static_cast<sim::Picos>(1e6 / platform_.apic_bus_mhz + 0.5);
  switch (msr) {
    case MSR_IA32_TSC_DEADLINE:
      if (lvtt_mode(phys_.lvtt()) != TimerMode::TscDeadline) break;  // ignored outside the mode
      if (write) arm_lapic_timer(op.a == 0 ? sim::kNever : std::max(local_, tsc_.time_of_count(host_tsc_for_guest(op.a, mult, off))));
      else if (lapic_timer_at_ != sim::kNever) result = guest_tsc(tsc_.count_at(lapic_timer_at_), mult, off);
      break;
    case MSR_X2APIC_EOI:
      if (write) phys_.eoi();
      break;

    case MSR_X2APIC_LVTT:
      if (write) set_lapic_lvtt(static_cast<uint32_t>(op.a));
      else result = phys_.lvtt();
      break;
    case MSR_X2APIC_TDCR:
      if (write) phys_.write(APIC_TDCR, static_cast<uint32_t>(op.a));
      else result = phys_.tdcr();
      break;
    case MSR_X2APIC_TMICT:
      if (lvtt_mode(phys_.lvtt()) == TimerMode::TscDeadline) break;
      if (write) {
        phys_.write(APIC_TMICT, static_cast<uint32_t>(op.a));
        phys_timer_start_ = local_;
        arm_lapic_timer(op.a == 0 ? sim::kNever : local_ + static_cast<sim::Picos>(period_ps(static_cast<uint32_t>(op.a), phys_.tdcr(), static_cast<uint64_t>(bus_ps))));
      } else {
        result = phys_.tmict();
      }
      break;
    case MSR_X2APIC_TMCCT:
      if (!write && lapic_timer_at_ != sim::kNever && lapic_timer_at_ > local_)
        result = current_count(phys_.tmict(), tdcr_divide(phys_.tdcr()), static_cast<uint64_t>(bus_ps), phys_timer_start_, local_, false, 0);
      break;
    default:
      break;
  }
  retire(result);
  return true;
}

void Core::set_lapic_lvtt(uint32_t lvtt) {
  const bool mode_change = lvtt_mode(lvtt) != lvtt_mode(phys_.lvtt());
  phys_.write(APIC_LVTT, lvtt);
  if (mode_change) arm_lapic_timer(sim::kNever);  // a mode change disarms the timer
}

bool Core::execute_mmio(GuestOp& op, bool write) {
  const uint64_t gpa = op.a;
  const uint32_t secondary = vmcs_->secondary();
  if (is_xapic_page(gpa) && !guest_->regs.x2apic && (secondary & SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES) &&
      vmcs_->virtual_apic) {
    const uint32_t offset = static_cast<uint32_t>(gpa & 0xFF0);
    LapicRegisters& va = *vmcs_->virtual_apic;
    if (!(secondary & SECONDARY_EXEC_APIC_REGISTER_VIRT)) {
      // Fault-like APIC-access exit; KVM emulates the instruction.
      vmexit(EXIT_REASON_APIC_ACCESS, offset | (write ? (1ull << 12) : 0));
      return false;
    }
    if (!write) {
      charge(costs_.vmx_virtual_apic_access);
      retire(va.read(offset).value_or(0));
      return true;
    }
    if (offset == APIC_TPR || offset == APIC_ICR_HIGH) {
      // Virtualized without an exit (SDM 29.4.3.2): TPR virtualization; ICR high is data.
      charge(costs_.vmx_virtual_apic_access);
      if (offset == APIC_TPR) va.set_tpr(static_cast<uint8_t>(op.c));
      else va.write(offset, static_cast<uint32_t>(op.c));
      retire();
      return true;
    }
    if (offset == APIC_EOI && (secondary & SECONDARY_EXEC_VIRTUAL_INTR_DELIVERY)) {
      retire();
      return !virtual_eoi();
    }
    // APIC-write emulation (SDM 29.4.3.3): the write lands in the virtual-APIC page, then a
    // trap-like APIC_WRITE exit lets the VMM act on it.
    va.write(offset, static_cast<uint32_t>(op.c));
    charge(costs_.vmx_virtual_apic_access);
    retire();
    if (offset == APIC_ICR_LOW && (vmcs_->tertiary() & TERTIARY_EXEC_IPI_VIRT))
      return virtualize_icr_write(Icr::decode_xapic(va.icr_low(), va.icr_high()));
    vmexit(EXIT_REASON_APIC_WRITE, offset);
    return false;
  }
  // Device MMIO: KVM marks these EPT entries misconfigured so they exit quickly.
  vmcs_->write(VmcsField::GUEST_PHYSICAL_ADDRESS, gpa);
  vmexit(EXIT_REASON_EPT_MISCONFIG);
  return false;
}

}  // namespace hw
