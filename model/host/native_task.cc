#include "host/native_task.h"

#include <utility>

#include "host/cpu.h"
#include "hw/apic_regs.h"
#include "hw/vmx.h"

namespace host {

using namespace hw;

NativeTask::NativeTask(std::string name, GuestSoftware& program, double apic_bus_mhz)
    : Task(std::move(name)), program_(program), apic_bus_mhz_(apic_bus_mhz) {
  // Physical interrupts belong to the host kernel; HLT is the thread going to sleep; the
  // LAPIC timer registers are the kernel's clockevent. Everything else runs natively.
  vmcs_.write(VmcsField::PIN_BASED_VM_EXEC_CONTROL, PIN_BASED_EXT_INTR_MASK);
  vmcs_.write(VmcsField::CPU_BASED_VM_EXEC_CONTROL, CPU_BASED_HLT_EXITING | CPU_BASED_USE_MSR_BITMAPS);
  for (uint32_t m = X2APIC_MSR_BASE; m <= X2APIC_MSR_LAST; ++m) msr_bitmap_.intercept(m, false, false);
  for (uint32_t m : {MSR_X2APIC_LVTT, MSR_X2APIC_TMICT, MSR_X2APIC_TMCCT, MSR_X2APIC_TDCR}) msr_bitmap_.intercept(m, true, true);
  vmcs_.msr_bitmap = &msr_bitmap_;
  vmcs_.native = true;
  program_.regs.x2apic = true;
  timer_.fn = [this](Cpu& c) {  // hrtimer_wakeup
    pending_ = static_cast<int>(lvtt_ & 0xFF);
    c.wake_up(this, c);
  };
}

void NativeTask::raise(Cpu& cpu, uint8_t vector) {
  pending_device_ = vector;
  cpu.wake_up(this, cpu);
}

void NativeTask::enter(Cpu& cpu) {
  if (pending_ < 0 && pending_device_ >= 0) std::swap(pending_, pending_device_);
  if (pending_ >= 0) {
    if (program_.regs.rflags_if && !program_.regs.sti_shadow) {
      vmcs_.write(VmcsField::VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID_MASK | INTR_TYPE_EXT_INTR | static_cast<uint32_t>(pending_));
      if (pending_ == static_cast<int>(lvtt_ & 0xFF)) ++timer_interrupts_;
      pending_ = -1;
      vmcs_.set_bits(VmcsField::CPU_BASED_VM_EXEC_CONTROL, CPU_BASED_INTR_WINDOW_EXITING, false);
    } else {
      vmcs_.set_bits(VmcsField::CPU_BASED_VM_EXEC_CONTROL, CPU_BASED_INTR_WINDOW_EXITING, true);
    }
  }
  cpu.vmx().vmenter(vmcs_, program_);
}

void NativeTask::on_vmexit(Cpu& cpu, const ExitInfo& e) {
  VmxCpu& c = cpu.vmx();
  switch (e.reason) {
    case EXIT_REASON_EXTERNAL_INTERRUPT:
      cpu.handle_irq(static_cast<uint8_t>(e.intr_info & 0xFF));
      if (cpu.need_resched()) return cpu.schedule();
      return enter(cpu);
    case EXIT_REASON_HLT:
      c.skip_instruction();
      if (pending_ >= 0 || pending_device_ >= 0) return enter(cpu);
      return cpu.block_current();  // the thread sleeps until its hrtimer
    case EXIT_REASON_INTERRUPT_WINDOW:
      return enter(cpu);
    case EXIT_REASON_MSR_WRITE: {
      const uint32_t msr = e.op->a32;
      if (msr == MSR_IA32_TSC_DEADLINE) {  // clockevent programming: the kernel's hrtimer
        if (e.op->a == 0) {
          c.charge(c.costs().kvm_hrtimer_cancel);
          cpu.hrtimer_cancel(timer_);
        } else {
          c.charge(c.costs().kvm_hrtimer_start);
          cpu.hrtimer_start(timer_, c.time_of_host_tsc(e.op->a));
        }
      } else if (msr == MSR_X2APIC_LVTT) {
        lvtt_ = static_cast<uint32_t>(e.op->a);
      } else if (msr == MSR_X2APIC_TMICT) {  // one-shot clockevent: the same hrtimer
        c.charge(c.costs().kvm_hrtimer_start);
        if (e.op->a == 0) cpu.hrtimer_cancel(timer_);
        else cpu.hrtimer_start(timer_, c.now() + static_cast<sim::Picos>(static_cast<double>(e.op->a) * 1e6 / apic_bus_mhz_));
      }
      c.charge(c.costs().cpu_msr_access);
      c.skip_instruction();
      return enter(cpu);
    }
    case EXIT_REASON_MSR_READ:
      program_.regs.result = e.op->a32 == MSR_X2APIC_LVTT ? lvtt_ : 0;
      c.charge(c.costs().cpu_msr_access);
      c.skip_instruction();
      return enter(cpu);
    default:  // CPUID and the like: native instructions in effect
      c.charge(c.costs().cpu_cpuid);
      program_.regs.result = 0;
      c.skip_instruction();
      return enter(cpu);
  }
}

}  // namespace host
