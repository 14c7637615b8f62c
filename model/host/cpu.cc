#include "host/cpu.h"

#include "host/kernel.h"
#include "hw/core.h"
#include "hw/apic_regs.h"

namespace host {

void BusyTask::run(Cpu& cpu) { cpu.busy_until(sim::kNever); }
void IdleTask::run(Cpu& cpu) { cpu.idle(); }

Cpu::Cpu(Kernel& kernel, hw::Core& core, std::unique_ptr<SchedPolicy> policy, sim::Picos tick_period)
    : kernel_(kernel), core_(core), id_(core.cpu()), policy_(std::move(policy)), curr_(&idle_),
      tick_period_(tick_period) {
  idle_.cpu = core.cpu();
  idle_.state = TaskState::Running;
  tick_.fn = [](Cpu& c) { c.tick_fn(); };
}

hw::VmxCpu& Cpu::vmx() { return core_; }
uint32_t Cpu::apic_id() const { return core_.apic_id(); }
sim::Picos Cpu::now() const { return core_.now(); }
void Cpu::busy_until(sim::Picos t) { core_.root_busy_until(t); }
void Cpu::idle() {
  const hw::PowerTable& t = core_.platform().power;
  if (kernel_.params().cpuidle != "menu" || !t.present) {
    core_.root_idle(hw::CState::C1);
    return;
  }
  const sim::Picos next = timers_.next(), now = core_.now();
  const double idle_us = next == sim::kNever ? 1e12 : sim::to_us(next > now ? next - now : 0);
  core_.root_idle(t.deepest_for(idle_us));
}
void Cpu::post_soft_event(sim::Picos at, uint64_t cookie) { core_.post_soft_event(at, cookie); }
void Cpu::send_ipi(const hw::Icr& icr) { core_.send_ipi(icr); }
double Cpu::line_latency_ns(int other_cpu) const { return core_.line_latency_ns(other_cpu); }

void Cpu::enqueue_initial(Task* t) {
  t->state = TaskState::Runnable;
  policy_->enqueue(t, false);
}

void Cpu::start() {
  need_resched_ = true;
  schedule();
}

void Cpu::account_curr() {
  const sim::Picos now = core_.now();
  if (now > curr_->exec_start) {
    const sim::Picos delta = now - curr_->exec_start;
    curr_->sum_exec += delta;
    if (curr_ != &idle_) policy_->update_curr(curr_, delta);
    curr_->exec_start = now;
  }
}

void Cpu::schedule() {
  need_resched_ = false;
  account_curr();
  Task* prev = curr_;
  bool preempted = false;
  if (prev != &idle_ && prev->state == TaskState::Running) {
    prev->state = TaskState::Runnable;
    policy_->enqueue(prev, false);
    preempted = true;
  } else if (prev != &idle_ && prev->state == TaskState::Blocked) {
    policy_->curr_blocked(prev);
  }
  if (policy_->nr_queued() == 0) kernel_.load_balance(*this);  // newidle_balance
  Task* next = policy_->pick_next();
  if (!next) next = &idle_;
  next->state = TaskState::Running;
  if (yielder_) {
    if (next == yielder_ && prev == yielder_) ++yield_repicked_;
    yielder_ = nullptr;
  }
  if (next == prev) {
    update_tick();
    prev->resume(*this);
    return;
  }
  prev->switched_out(*this, preempted);
  if (preempted) ++prev->nr_preemptions;
  core_.charge(core_.costs().host_context_switch);
  ++context_switches_;
  ++next->nr_switches;
  curr_ = next;
  next->exec_start = core_.now();
  update_tick();
  next->run(*this);
}

void Cpu::block_current() {
  curr_->state = TaskState::Blocked;
  schedule();
}

void Cpu::wake_up(Task* t, Cpu& waker) {
  if (t->state != TaskState::Blocked) return;
  waker.core().charge(waker.core().costs().host_try_to_wake_up);
  t->state = TaskState::Runnable;
  ++t->nr_wakeups;
  policy_->enqueue(t, true);
  const bool preempt = curr_ == &idle_ || policy_->wakeup_preempt(curr_, t);
  if (!preempt) return;
  if (&waker == this) {
    need_resched_ = true;
  } else {
    // A remote wake-up that must run soon: a reschedule IPI (also what ends C1).
    hw::Icr icr;
    icr.vector = hw::RESCHEDULE_VECTOR;
    icr.dest = core_.apic_id();
    waker.core().send_ipi(icr);
  }
}

int Cpu::yield_to(Task* p) {
  constexpr int kEsrch = 3;
  ++yield_to_calls_;
  core_.charge(core_.costs().host_yield_to);
  Cpu& prq = kernel_.cpu(p->cpu);
  if (nr_running() == 1 && prq.nr_running() == 1) return -kEsrch;
  if (p->state != TaskState::Runnable || curr_ == &idle_) return 0;  // task_on_cpu / !task_is_running
  account_curr();  // yield_task_fair's update_curr
  if (!policy_->yield_to_task(curr_, p, *prq.policy_)) return 0;
  ++yield_to_success_;
  yielder_ = curr_;
  if (&prq == this) ++yield_to_same_rq_;
  if (&prq != this) {  // resched_curr(p_rq)
    hw::Icr icr;
    icr.vector = hw::RESCHEDULE_VECTOR;
    icr.dest = prq.core_.apic_id();
    core_.send_ipi(icr);
  }
  need_resched_ = true;  // yield_to's schedule(), at the caller's next need_resched check
  return 1;
}

// The tick runs only while a task runs (NO_HZ_IDLE); ticks stay on the HZ grid (shifted by
// the CPU's skew_tick offset). nohz_full: with one runnable task the tick stops
// (tick_nohz_full: no other tick dependency), except for a residual tick every
// nohz_residual_ when set (kernels before 4.17 kept a 1 Hz tick on the CPU itself;
// d84b31313ef8 moved it to a housekeeping CPU, sched_tick_remote).
bool Cpu::tick_stopped_full() const { return nohz_full_ && policy_->nr_queued() == 0; }

void Cpu::update_tick() {
  const bool full = curr_ != &idle_ && tick_stopped_full();
  if (curr_ == &idle_ || (full && nohz_residual_ == 0)) {
    if (tick_.active()) hrtimer_cancel(tick_);
    return;
  }
  const sim::Picos period = full ? nohz_residual_ : tick_period_;
  const sim::Picos now = core_.now();
  if (tick_.active() && (full || tick_.expires <= now + tick_period_)) return;
  if (tick_.active()) hrtimer_cancel(tick_);  // a residual tick far away: back to HZ
  const sim::Picos base = now >= tick_offset_ ? now - tick_offset_ : 0;
  hrtimer_start(tick_, (base / period + 1) * period + tick_offset_);
}

void Cpu::tick_fn() {
  ++ticks_;
  core_.charge(core_.costs().host_tick);
  account_curr();
  if (curr_ != &idle_ && policy_->tick_preempt(curr_)) need_resched_ = true;
  if (kernel_.params().load_balance && ticks_ % static_cast<uint64_t>(kernel_.params().balance_interval_ticks) == 0 &&
      !kernel_.nohz_idle_balance(*this))
    kernel_.load_balance(*this);
  if (curr_ == &idle_) return;
  if (!tick_stopped_full()) hrtimer_start(tick_, tick_.expires + tick_period_);
  else if (nohz_residual_ != 0) hrtimer_start(tick_, tick_.expires + nohz_residual_);
}

void Cpu::hrtimer_start(HrTimer& t, sim::Picos expires) {
  timers_.add(&t, expires, id());
  program_timer();
}

void Cpu::hrtimer_cancel(HrTimer& t) {
  if (!t.active()) return;
  timers_.remove(&t);
  program_timer();
}

void Cpu::program_timer() { core_.arm_lapic_timer(timers_.next()); }

void Cpu::handle_irq(uint8_t vector) {
  ++irqs_[vector];
  core_.charge(core_.costs().host_irq_entry);
  switch (vector) {
    case hw::LOCAL_TIMER_VECTOR: {
      core_.charge(core_.costs().host_hrtimer_interrupt);
      while (HrTimer* t = timers_.pop_expired(core_.now())) t->fn(*this);
      program_timer();
      break;
    }
    case hw::RESCHEDULE_VECTOR:
      core_.charge(core_.costs().host_reschedule_ipi);
      need_resched_ = true;
      break;
    case hw::POSTED_INTR_WAKEUP_VECTOR:
      if (kernel_.pi_wakeup_handler) kernel_.pi_wakeup_handler(*this);
      break;
    default:  // POSTED_INTR_VECTOR in root mode: kvm_posted_intr_ipi does nothing
      if (kernel_.device_irq_handler) kernel_.device_irq_handler(*this, vector);
      break;
  }
  core_.eoi();
}

void Cpu::on_interrupt(uint8_t vector) {
  handle_irq(vector);
  if ((need_resched_ && curr_->preemptible()) || curr_ == &idle_) {
    schedule();
  } else {
    curr_->resume(*this);
  }
}

}  // namespace host
