// Bare metal (vm.bare_metal): a program that runs natively on the host kernel, as a host
// task. It is the same guest program (model/guest coroutines) executed by the same core,
// with a "native" VMCS: no VMX transition is charged, physical interrupts go to the host
// kernel (the host's IDT), and what a guest kernel would do with the LAPIC timer is the host
// kernel's hrtimer/clockevent path. So the program's TSC_DEADLINE write is hrtimer_start on
// this CPU, its HLT is the thread sleeping (schedule to idle or another task), and the
// hrtimer's expiry wakes the thread (try_to_wake_up, preemption of a lower-priority task,
// context switch) and hands it the timer vector.
//
// Statistics: timer interrupts handed to the program.
#pragma once

#include <cstdint>
#include <string>

#include "host/hrtimer.h"
#include "host/task.h"
#include "hw/guest_op.h"
#include "hw/vmcs.h"

namespace host {

class NativeTask : public Task {
 public:
  NativeTask(std::string name, hw::GuestSoftware& program, double apic_bus_mhz = 100.0);
  void run(Cpu& cpu) override { enter(cpu); }
  void resume(Cpu& cpu) override { enter(cpu); }
  void on_vmexit(Cpu& cpu, const hw::ExitInfo& exit) override;
  uint64_t timer_interrupts() const { return timer_interrupts_; }
  // A device interrupt the host kernel hands to the program (bare metal's NIC softirq).
  void raise(Cpu& cpu, uint8_t vector);
  const hw::Vmcs& vmcs() const { return vmcs_; }

 private:
  void enter(Cpu& cpu);
  hw::GuestSoftware& program_;
  hw::Vmcs vmcs_;
  hw::MsrBitmap msr_bitmap_;
  HrTimer timer_;
  uint32_t lvtt_ = 0x10000;
  double apic_bus_mhz_ = 100.0;  // TDCR divide 1 assumed (the cyclictest guest's setting)
  int pending_ = -1;           // the timer's vector, waiting for the program
  int pending_device_ = -1;
  uint64_t timer_interrupts_ = 0;
};

}  // namespace host
