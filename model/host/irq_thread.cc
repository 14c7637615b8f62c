#include "host/irq_thread.h"

#include "host/cpu.h"

namespace host {

IrqThread::IrqThread(std::string name, std::function<void(Cpu&)> handler, int priority)
    : Task(std::move(name)), handler_(std::move(handler)) {
  rt_priority = priority;
}

void IrqThread::wake(Cpu& cpu) {
  pending_ = true;
  ++wakeups_;
  cpu.wake_up(this, cpu);
}

// irq_thread: run the handler for every wake-up that came in, then sleep again.
void IrqThread::run(Cpu& cpu) {
  while (pending_) {
    pending_ = false;
    ++runs_;
    cpu.vmx().charge(cpu.vmx().costs().host_irq_thread);
    handler_(cpu);
  }
  cpu.block_current();
}

}  // namespace host
