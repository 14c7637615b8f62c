// The host kernel on one physical CPU: its run queue and current task, its hrtimers and
// periodic tick, and its interrupt handlers. It is the core's root-mode software.
//
// Parameters: scheduler policy, tick period (HZ), whether the tick stops when idle.
// Statistics: context switches, ticks, interrupts by vector, time per task.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "host/hrtimer.h"
#include "host/sched_policy.h"
#include "host/task.h"
#include "hw/icr.h"
#include "hw/vmx_cpu.h"

namespace hw {
class Core;
}

namespace host {

class Kernel;

class Cpu : public hw::RootSoftware {
 public:
  Cpu(Kernel& kernel, hw::Core& core, std::unique_ptr<SchedPolicy> policy, sim::Picos tick_period);

  int id() const { return id_; }
  uint32_t apic_id() const;
  hw::Core& core() { return core_; }
  // Root-mode operations for code that must not see the SystemC core (model/kvm).
  hw::VmxCpu& vmx();
  sim::Picos now() const;
  void busy_until(sim::Picos t);
  void idle();
  void post_soft_event(sim::Picos at, uint64_t cookie);
  void send_ipi(const hw::Icr& icr);
  double line_latency_ns(int other_cpu) const;
  Kernel& kernel() { return kernel_; }
  Task* curr() const { return curr_; }
  bool need_resched() const { return need_resched_; }
  void set_need_resched() { need_resched_ = true; }
  size_t nr_running() const { return policy_->nr_queued() + (curr_ != &idle_ ? 1 : 0); }

  // Scheduling.
  void enqueue_initial(Task* t);
  void start();                  // begin running at time 0
  void schedule();               // pick the next task and switch to it
  void block_current();          // current task sleeps; schedule away
  // Wake `t` (queued on this CPU); `waker` is the CPU whose code does it, at its now().
  void wake_up(Task* t, Cpu& waker);
  // yield_to (kernel/sched/core.c) from the current task to `p`: -ESRCH (-3) when both run
  // queues hold one task, 0 when `p` runs or sleeps or the class refuses, 1 when the class
  // took the hint. The caller's CPU reschedules at its next need_resched check; a remote
  // target's CPU gets a reschedule IPI (resched_curr).
  int yield_to(Task* p);
  SchedPolicy& policy() { return *policy_; }

  // Timers.
  void hrtimer_start(HrTimer& t, sim::Picos expires);
  void hrtimer_cancel(HrTimer& t);

  // The host IDT: handles a physical interrupt (already acknowledged) and EOIs it.
  void handle_irq(uint8_t vector);

  // RootSoftware.
  void on_vmexit(const hw::ExitInfo& exit) override { curr_->on_vmexit(*this, exit); }
  void on_interrupt(uint8_t vector) override;
  void on_busy_done() override { curr_->on_busy_done(*this); }
  void on_soft_event(uint64_t cookie) override { curr_->on_soft_event(*this, cookie); }

  // Statistics.
  uint64_t context_switches() const { return context_switches_; }
  uint64_t ticks() const { return ticks_; }
  uint64_t yield_to_calls() const { return yield_to_calls_; }
  uint64_t yield_to_success() const { return yield_to_success_; }
  // Of the taken yields: target on this CPU's run queue; the yielder picked again at once
  // (the hint lost on the yielder's own queue, seed 003 problem 1).
  uint64_t yield_to_same_rq() const { return yield_to_same_rq_; }
  uint64_t yield_repicked() const { return yield_repicked_; }
  uint64_t irqs(uint8_t vector) const { return irqs_[vector]; }
  bool is_idle_task(const Task* t) const { return t == &idle_; }
  // task_sched_runtime: sum_exec plus the running task's not yet accounted delta (a
  // nohz_full CPU's only task is accounted at no tick or switch), as of time `at`.
  sim::Picos task_sched_runtime(const Task& t, sim::Picos at) const {
    return t.sum_exec + (&t == curr_ && at > t.exec_start ? at - t.exec_start : 0);
  }
  // nohz_full: the tick also stops while exactly one task runs (issue 3, CPU isolation).
  void set_nohz_full(bool on) { nohz_full_ = on; }
  bool nohz_full() const { return nohz_full_; }
  // host.nohz_full_residual_hz: 0 = the tick fully stops (offloaded, Linux >= 4.17).
  void set_nohz_residual(sim::Picos period) { nohz_residual_ = period; }
  void set_tick_offset(sim::Picos offset) { tick_offset_ = offset; }

 private:
  void program_timer();
  void tick_fn();
  void update_tick();
  bool tick_stopped_full() const;
  void account_curr();

  Kernel& kernel_;
  hw::Core& core_;
  int id_;
  std::unique_ptr<SchedPolicy> policy_;
  IdleTask idle_;
  Task* curr_;
  bool need_resched_ = false;
  HrTimerQueue timers_;
  HrTimer tick_;
  sim::Picos tick_period_;
  bool nohz_full_ = false;
  sim::Picos nohz_residual_ = 0;
  sim::Picos tick_offset_ = 0;  // skew_tick
  uint64_t context_switches_ = 0, ticks_ = 0;
  uint64_t yield_to_calls_ = 0, yield_to_success_ = 0, yield_to_same_rq_ = 0, yield_repicked_ = 0;
  Task* yielder_ = nullptr;  // curr after a taken yield_to, until the next schedule()
  std::array<uint64_t, 256> irqs_{};
};

}  // namespace host
