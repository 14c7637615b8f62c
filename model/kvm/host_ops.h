// What a vCPU's KVM code needs from the host kernel around it: an hrtimer for the
// emulated LAPIC timer, and waking or kicking the vCPU's thread. Implemented by the
// vCPU thread (vcpu_thread.h) and by a fake in unit tests.
#pragma once

#include "hw/vmx_cpu.h"
#include "sim/time.h"

namespace kvm {

class Vcpu;

class VcpuHostOps {
 public:
  virtual ~VcpuHostOps() = default;
  virtual void start_timer(hw::VmxCpu& from, sim::Picos expires) = 0;  // hrtimer_start
  virtual void cancel_timer(hw::VmxCpu& from) = 0;
  // kvm_vcpu_wake_up: make a halted (polling or blocked) vCPU thread run again.
  virtual void wake_up(hw::VmxCpu& from) = 0;
  // Send a physical IPI to the CPU this vCPU runs on (kick or posted-interrupt notification).
  virtual void send_ipi_to_vcpu_cpu(hw::VmxCpu& from, uint8_t vector) = 0;
  // The host IDT handler for a vector acknowledged on an EXTERNAL_INTERRUPT exit.
  virtual void handle_host_irq(hw::VmxCpu& cpu, uint8_t vector) = 0;
  // yield_to(target's task) from the task running on `from` (kvm_vcpu_yield_to): > 0 when
  // the scheduler took the hint, 0 when not, < 0 (-ESRCH) when nothing else can run.
  virtual int yield_to(hw::VmxCpu& from, Vcpu& target) { return 0; }
  // single_task_running() on `from`.
  virtual bool single_task_running(hw::VmxCpu& from) { return false; }
};

}  // namespace kvm
