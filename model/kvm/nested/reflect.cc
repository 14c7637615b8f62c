#include "kvm/nested/reflect.h"

#include "hw/vmx.h"

namespace kvm::nested {

using namespace hw;

bool nested_vmx_l0_wants_exit(const Vmcs& vmcs12, const L2Exit& e) {
  switch (e.reason) {
    case EXIT_REASON_EXCEPTION_NMI:
      return ((e.intr_info >> 8) & 7) == 2;  // an NMI is L0's
    case EXIT_REASON_EXTERNAL_INTERRUPT:    // L0 acks it; L1 sees it later as its own interrupt
    case EXIT_REASON_MCE_DURING_VMENTRY:
    case EXIT_REASON_EPT_VIOLATION:         // L0 owns EPT02 (shadowing EPT12)
    case EXIT_REASON_EPT_MISCONFIG:
    case EXIT_REASON_PML_FULL:
      return true;
    case EXIT_REASON_PREEMPTION_TIMER:      // L0's own timer unless L1 armed one for L2
      return !(vmcs12.pin() & PIN_BASED_VMX_PREEMPTION_TIMER);
    case EXIT_REASON_RDTSC:
    case EXIT_REASON_RDTSCP:                // L0 emulating the TSC (re-enlightenment window)
      return !(vmcs12.primary() & CPU_BASED_RDTSC_EXITING);
    default:
      return false;
  }
}

bool nested_vmx_l1_wants_exit(const Vmcs& vmcs12, const L2Exit& e) {
  const uint32_t primary = vmcs12.primary();
  const uint32_t secondary = vmcs12.secondary();
  switch (e.reason) {
    case EXIT_REASON_EXCEPTION_NMI: {
      const uint32_t vector = e.intr_info & 0xFF;
      return (vmcs12.read(VmcsField::EXCEPTION_BITMAP) >> vector) & 1;
    }
    case EXIT_REASON_EXTERNAL_INTERRUPT:
      return vmcs12.pin() & PIN_BASED_EXT_INTR_MASK;
    case EXIT_REASON_TRIPLE_FAULT:
    case EXIT_REASON_TASK_SWITCH:
    case EXIT_REASON_CPUID:
    case EXIT_REASON_INVD:
    case EXIT_REASON_VMCALL:
    case EXIT_REASON_VMCLEAR:
    case EXIT_REASON_VMLAUNCH:
    case EXIT_REASON_VMPTRLD:
    case EXIT_REASON_VMPTRST:
    case EXIT_REASON_VMREAD:    // no VMCS shadowing for L2 (L3 is not modelled)
    case EXIT_REASON_VMRESUME:
    case EXIT_REASON_VMWRITE:
    case EXIT_REASON_VMOFF:
    case EXIT_REASON_VMON:
    case EXIT_REASON_INVEPT:
    case EXIT_REASON_INVVPID:
    case EXIT_REASON_XSETBV:
      return true;
    case EXIT_REASON_INTERRUPT_WINDOW:
      return primary & CPU_BASED_INTR_WINDOW_EXITING;
    case EXIT_REASON_NMI_WINDOW:
      return primary & CPU_BASED_NMI_WINDOW_EXITING;
    case EXIT_REASON_HLT:
      return primary & CPU_BASED_HLT_EXITING;
    case EXIT_REASON_INVLPG:
      return primary & CPU_BASED_INVLPG_EXITING;
    case EXIT_REASON_RDPMC:
      return primary & CPU_BASED_RDPMC_EXITING;
    case EXIT_REASON_RDTSC:
    case EXIT_REASON_RDTSCP:
      return primary & CPU_BASED_RDTSC_EXITING;
    case EXIT_REASON_CR_ACCESS: {
      // nested_vmx_exit_handled_cr: CR8 by its load/store controls, CR3 likewise, CR0/CR4
      // writes when L1 owns a bit (guest/host mask) - the model's L2 only touches CR8.
      const uint64_t cr = e.qualification & 0xF;
      const bool load = ((e.qualification >> 4) & 3) == 0;
      if (cr == 8) return primary & (load ? CPU_BASED_CR8_LOAD_EXITING : CPU_BASED_CR8_STORE_EXITING);
      if (cr == 3) return primary & (load ? CPU_BASED_CR3_LOAD_EXITING : CPU_BASED_CR3_STORE_EXITING);
      if (cr == 0) return vmcs12.read(VmcsField::CR0_GUEST_HOST_MASK) != 0;
      if (cr == 4) return vmcs12.read(VmcsField::CR4_GUEST_HOST_MASK) != 0;
      return true;
    }
    case EXIT_REASON_IO_INSTRUCTION:
      // nested_vmx_exit_handled_io: unconditional I/O exiting, or the I/O bitmaps (the model
      // has no I/O bitmap contents: every port is intercepted by them).
      return primary & (CPU_BASED_UNCOND_IO_EXITING | CPU_BASED_USE_IO_BITMAPS);
    case EXIT_REASON_MSR_READ:
    case EXIT_REASON_MSR_WRITE: {
      // nested_vmx_exit_handled_msr: no MSR bitmaps in vmcs12 means every MSR access exits.
      if (!(primary & CPU_BASED_USE_MSR_BITMAPS) || !vmcs12.msr_bitmap || !e.op) return true;
      const uint32_t msr = e.op->a32;
      return e.reason == EXIT_REASON_MSR_WRITE ? vmcs12.msr_bitmap->write_exits(msr) : vmcs12.msr_bitmap->read_exits(msr);
    }
    case EXIT_REASON_MWAIT_INSTRUCTION:
      return primary & CPU_BASED_MWAIT_EXITING;
    case EXIT_REASON_MONITOR_TRAP_FLAG:
      return true;
    case EXIT_REASON_MONITOR_INSTRUCTION:
      return primary & CPU_BASED_MONITOR_EXITING;
    case EXIT_REASON_PAUSE_INSTRUCTION:
      return (primary & CPU_BASED_PAUSE_EXITING) || (secondary & SECONDARY_EXEC_PAUSE_LOOP_EXITING);
    case EXIT_REASON_TPR_BELOW_THRESHOLD:
      return primary & CPU_BASED_TPR_SHADOW;
    case EXIT_REASON_APIC_ACCESS:
      return secondary & SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES;
    case EXIT_REASON_APIC_WRITE:
    case EXIT_REASON_EOI_INDUCED:
      return true;  // only possible with APIC virtualization L1 enabled
    case EXIT_REASON_PREEMPTION_TIMER:
      return vmcs12.pin() & PIN_BASED_VMX_PREEMPTION_TIMER;
    case EXIT_REASON_EPT_VIOLATION:
    case EXIT_REASON_EPT_MISCONFIG:
      return false;  // L0's; it injects into L1 what EPT12 says is L1's (see NestedVmx)
    default:
      return true;
  }
}

}  // namespace kvm::nested
