// One guest operation: what a guest program asks the core to execute next. The core
// decides from the VMCS whether it exits (SDM ch. 25 "VMX non-root operation"); the guest
// program never decides that. Operand fields mirror the registers the instruction uses,
// so KVM's handlers read them as they would read RAX/RCX/RDX.
#pragma once

#include <cstdint>

namespace hw {

class MemLine;
struct PiDesc;

enum class OpKind : uint8_t {
  Compute,     // a: cycles of plain computation (interruptible, never exits)
  Cpuid,       // a: leaf (EAX), b: subleaf (ECX); result: EAX
  Vmcall,      // a: nr (RAX), b..e: RBX, RCX, RDX, RSI; result: RAX
  Rdmsr,       // a32: MSR index (ECX); result: value
  Wrmsr,       // a32: MSR index, a: value (EDX:EAX)
  In,          // a32: port, b: size in bytes; result: value
  Out,         // a32: port, b: size, a: value
  MmioRead,    // a: guest-physical address, b: size; result: value
  MmioWrite,   // a: guest-physical address, b: size, c: value
  Hlt,         // halt until an interrupt
  Mwait,       // MWAIT with hint a (C-state)
  Monitor,     // MONITOR on line
  Pause,       // a: number of PAUSE instructions in a tight loop
  SpinUntil,   // spin with PAUSE until line->value() == a (or != a when b == 1); d: at most
               // d PAUSEs (0: unbounded), then retire with the value seen; e == 1: the same
               // PAUSE loop as a bounded spin that ended less than PLE_GAP before
  CmpXchg,     // LOCK CMPXCHG on line: if value == a store b; result: the old value
  XAdd,        // LOCK XADD on line: add a; result: the old value
  Store,       // line->store(a)
  Rdtsc,       // result: guest TSC
  MovToCr8,    // a: new TPR class (CR8 = TPR[7:4])
  MovFromCr8,  // result: TPR[7:4]
  Sti,         // set IF; blocks interrupts for one instruction (STI shadow)
  Cli,         // clear IF
  Nop,
  PiPost,      // NoExit PV IPI: atomically set PIR[a] and ON in another vCPU's descriptor `pi`;
               // result: NV | NDST << 8 | SN << 40 | (ON was clear) << 41
  EptFault,    // a: guest-physical address of a first touch; d bit 0: absent from the EPT of
               // the hypervisor running this guest, bit 1: present in the EPT the CPU walks
               // (KVM/L0 sets them when it installs the entry: the access then retries)
  // --- issue 6: TLB and memory shared with the host ---
  TlbAccess,   // a guest memory access through the TLB: a = the mm's tlb_gen now, b = the
               // context (PCID/mm id); result: the generation of the translation used
  Invlpg,      // INVLPG / local flush of the current context b
  TimedAccess, // `timed`->access(now, cpu): a locked access to memory the host also writes
               // (the steal-time area); result: its return value
  // --- issue 4: SMM ---
  Rsm,         // leave SMM; outside real SMM (KVM emulates it) the CPU raises #UD, which exits
  // --- issue 3 ---
  Clts,        // CLTS: clear CR0.TS (a lazy-FPU guest switching to a task that uses the FPU)
};

// Memory that another agent updates on its own timeline (KVM writing a vCPU's steal-time
// area): the access runs at the core's local time so the two orders are consistent.
class TimedAccess {
 public:
  virtual ~TimedAccess() = default;
  virtual uint64_t access(int64_t now_ps, int cpu) = 0;
};

struct GuestOp {
  OpKind kind = OpKind::Nop;
  uint32_t a32 = 0;
  uint64_t a = 0, b = 0, c = 0, d = 0, e = 0;
  MemLine* line = nullptr;
  PiDesc* pi = nullptr;
  TimedAccess* timed = nullptr;
};

// Architectural guest state the core reads and writes (the VMCS guest-state area in
// real hardware); kept beside the guest software that owns it.
struct GuestRegs {
  bool rflags_if = true;
  bool sti_shadow = false;  // blocking by STI for the next instruction
  bool x2apic = true;       // IA32_APIC_BASE.EXTD
  uint8_t cpl = 0;          // 0 kernel, 3 user
  uint64_t result = 0;      // destination register of the current operation
  bool skip_pending = false; // KVM advanced RIP past the exiting instruction: it retires at entry
  bool nmi_blocked = false;  // blocking by NMI: from NMI delivery to the handler's IRET (SDM 6.7.1)
  int64_t op_time_ps = 0;   // model-level: when the last TlbAccess/TimedAccess ran (checkers)
};

// The guest software running on a vCPU, seen from the core: a stream of operations plus
// the IDT. Implemented by model/guest.
class GuestSoftware {
 public:
  virtual ~GuestSoftware() = default;
  // The operation the guest is executing now; the core may update it in place when it
  // is split (remaining compute cycles, remaining PAUSEs).
  virtual GuestOp& current_op() = 0;
  // The current operation retired with regs.result set: run guest code to the next one.
  virtual void complete_op() = 0;
  // Deliver an interrupt through the IDT: the handler runs on top of the interrupted
  // operation, which resumes after IRET. Clears IF, as an interrupt gate does.
  virtual void deliver_interrupt(uint8_t vector) = 0;
  // Deliver an NMI (IDT vector 2): blocks further NMIs until the handler's IRET.
  virtual void deliver_nmi() {
    regs.nmi_blocked = true;
    deliver_interrupt(2);
  }
  // KVM's enter_smm rewrote the state: the firmware's SMI handler runs from SMBASE+0x8000
  // with IF=0 and ends in RSM, after which the interrupted code resumes.
  virtual void enter_smm() {}
  // INIT (kvm_vcpu_reset with init_event): the architectural state resets; the program
  // stays parked where it was (Linux only INITs a CPU in play_dead) and goes on after
  // the SIPI, as the AP's startup code.
  virtual void init_reset() {
    regs.rflags_if = false;
    regs.sti_shadow = false;
    regs.cpl = 0;
    regs.nmi_blocked = false;
  }
  GuestRegs regs;
};

}  // namespace hw
