// The host thread that runs one vCPU: QEMU's vCPU thread inside KVM_RUN
// (kvm_arch_vcpu_ioctl_run -> vcpu_run), including kvm_vcpu_halt's polling and blocking.
// It is a host task, so preemption, wake-ups and the preempted state come from the host
// scheduler.
#pragma once

#include <cstdint>

#include "host/hrtimer.h"
#include "host/kernel.h"
#include "host/task.h"
#include "kvm/halt_poll.h"
#include "kvm/host_ops.h"
#include "kvm/vcpu.h"

namespace kvm {

class VcpuThread : public host::Task, public VcpuHostOps {
 public:
  VcpuThread(Vcpu& vcpu, host::Kernel& kernel, hw::GuestSoftware& guest);

  Vcpu& vcpu() { return vcpu_; }
  bool blocked() const { return phase_ == Phase::Blocked; }
  // pi_wakeup_handler's per-vCPU step: a blocked vCPU on `cpu` whose descriptor has ON
  // set (a device posted to it through the wake-up vector) is woken.
  void pi_wakeup(host::Cpu& cpu);

  // host::Task
  void run(host::Cpu& cpu) override;
  void switched_out(host::Cpu& cpu, bool preempted) override;
  void resume(host::Cpu& cpu) override;
  void on_vmexit(host::Cpu& cpu, const hw::ExitInfo& exit) override;
  void on_busy_done(host::Cpu& cpu) override;
  void on_soft_event(host::Cpu& cpu, uint64_t cookie) override;

  // VcpuHostOps
  void start_timer(hw::VmxCpu& from, sim::Picos expires) override;
  void cancel_timer(hw::VmxCpu& from) override;
  void wake_up(hw::VmxCpu& from) override;
  void send_ipi_to_vcpu_cpu(hw::VmxCpu& from, uint8_t vector) override;
  void handle_host_irq(hw::VmxCpu& cpu, uint8_t vector) override;
  int yield_to(hw::VmxCpu& from, Vcpu& target) override;
  bool single_task_running(hw::VmxCpu& from) override;

 private:
  enum class Phase : uint8_t { Guest, Polling, Blocked };
  void continue_to_guest(host::Cpu& cpu);
  void start_halt(host::Cpu& cpu);
  void block(host::Cpu& cpu);
  void finish_halt(host::Cpu& cpu, bool polled);
  void set_phase(int next);
  int timer_cpu() const;  // legal: Guest->Polling|Blocked, Polling->Guest|Blocked, Blocked->Guest

  Vcpu& vcpu_;
  host::Kernel& kernel_;
  Phase phase_ = Phase::Guest;
  bool loaded_ = false;
  sim::Picos halt_start_ = 0;
  sim::Picos poll_end_ = 0;
  bool waiting_for_sipi_ = false;  // blocked in INIT_RECEIVED (kvm_vcpu_block, not a halt)
  uint64_t poll_generation_ = 0;
  host::HrTimer lapic_timer_;
  HaltPollParams halt_poll_;
};

}  // namespace kvm
