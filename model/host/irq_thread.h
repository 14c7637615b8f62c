// A threaded interrupt handler (request_threaded_irq with no primary handler): the hard
// interrupt only wakes the irq/N thread, a SCHED_FIFO priority-50 kernel thread on the
// CPU that took the interrupt, which runs the handler function in process context. Linux
// 3.5's KVM device assignment (virt/kvm/assigned-dev.c, kvm_assigned_dev_thread_msi/_msix)
// forwarded a passed-through device's MSI this way; from 3.7 the hard handler injects MSIs
// itself (kvm_set_irq_inatomic, "kvm: deliver msix interrupts from irq handler"), as vfio's
// irqfd path does today. The thread outranks a SCHED_RR vCPU thread of lower priority, so
// an interrupt that exits the guest also switches the vCPU thread out and back in.
//
// Parameters: the handler, its priority. Statistics: wake-ups, runs.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "host/task.h"

namespace host {

class IrqThread : public Task {
 public:
  IrqThread(std::string name, std::function<void(Cpu&)> handler, int priority = 50);
  // The hard handler's IRQ_WAKE_THREAD (__irq_wake_thread), on the CPU that took it.
  void wake(Cpu& cpu);
  void run(Cpu& cpu) override;
  uint64_t wakeups() const { return wakeups_; }
  uint64_t runs() const { return runs_; }

 private:
  std::function<void(Cpu&)> handler_;  // set once at setup
  bool pending_ = false;                // IRQTF_RUNTHREAD
  uint64_t wakeups_ = 0, runs_ = 0;
};

}  // namespace host
