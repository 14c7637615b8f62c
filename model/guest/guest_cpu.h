// The guest software on one vCPU, seen from the core: the guest kernel's threads of
// control (the running program, nested interrupt handlers on top) written as coroutines
// that await operations, plus the IDT and the guest's APIC driver.
//
// A program is ordinary sequential C++: `co_await g.cpuid(0); co_await g.wrmsr(...)`.
// Each awaited operation is executed by the core, which decides whether it exits.
#pragma once

#include <coroutine>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "hw/apic_regs.h"
#include "hw/guest_op.h"
#include "hw/icr.h"
#include "hw/mem_line.h"
#include "guest/guest_vm.h"
#include "hw/platform.h"
#include "sim/coro.h"

namespace guest {

using sim::Task;
class GuestCpu;

// An interrupt handler: runs with IF=0 and returns with IRET.
using IsrFactory = std::function<Task<>(GuestCpu&, uint8_t vector)>;

class GuestCpu : public hw::GuestSoftware {
 public:
  GuestCpu(int index, const hw::CostTable& costs);
  int index() const { return index_; }
  const hw::CostTable& costs() const { return costs_; }

  // The main program; when it returns the vCPU idles (sti; hlt forever).
  void start(Task<> program);
  void start_idle();
  // The guest kernel's idle: `halt` (default_idle: sti; hlt), `poll` (idle=poll: spin
  // with PAUSE and interrupts enabled), `mwait` (intel_idle: MONITOR/MWAIT with the hint
  // of the deepest C-state that fits before the next timer) or `haltpoll` (cpuidle-haltpoll:
  // poll up to an adaptive limit, then HLT; host polling turned off). guest/idle.cc.
  enum class Idle { Halt, Poll, Mwait, Haltpoll };
  void set_idle(Idle idle) { idle_ = idle; }
  bool started() const { return !threads_.empty(); }
  void set_isr(uint8_t vector, IsrFactory isr) { idt_[vector] = std::move(isr); }
  bool program_done() const { return main_done_; }
  uint64_t interrupts_taken() const { return interrupts_; }

  // hw::GuestSoftware
  hw::GuestOp& current_op() override { return threads_.back().op; }
  void complete_op() override;
  void deliver_interrupt(uint8_t vector) override;
  void deliver_nmi() override;
  // The NMI handler (default: the NMI entry and handler list, guest.nmi_handler cycles).
  void set_nmi_handler(IsrFactory h) { nmi_handler_ = std::move(h); }
  uint64_t nmis_taken() const { return nmis_; }
  // SMM (issue 4): KVM's enter_smm starts the firmware's SMI handler, which ends in RSM.
  // The workload may add code that runs inside SMM before the RSM (default: none).
  void enter_smm() override;
  void set_smm_hook(IsrFactory h) { smm_hook_ = std::move(h); }
  uint64_t smis_taken() const { return smis_; }
  // INIT: the architectural reset; the program stays parked until the SIPI.
  void init_reset() override;
  uint64_t init_resets() const { return inits_; }

  // --- Operations (each awaitable yields the instruction's result) ---
  struct OpAwaiter {
    GuestCpu* g;
    hw::GuestOp op;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) noexcept {
      g->threads_.back().leaf = h;
      g->threads_.back().op = op;
    }
    uint64_t await_resume() const noexcept { return g->regs.result; }
  };
  OpAwaiter op(hw::GuestOp o) { return {this, o}; }
  OpAwaiter compute(uint64_t cycles) { return op({hw::OpKind::Compute, 0, cycles}); }
  OpAwaiter cpuid(uint64_t leaf, uint64_t subleaf = 0) { return op({hw::OpKind::Cpuid, 0, leaf, subleaf}); }
  OpAwaiter vmcall(uint64_t nr, uint64_t a0 = 0, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0) {
    return op({hw::OpKind::Vmcall, 0, nr, a0, a1, a2, a3});
  }
  OpAwaiter rdmsr(uint32_t msr) { return op({hw::OpKind::Rdmsr, msr}); }
  OpAwaiter wrmsr(uint32_t msr, uint64_t v) { return op({hw::OpKind::Wrmsr, msr, v}); }
  OpAwaiter in(uint32_t port, uint64_t size) { return op({hw::OpKind::In, port, 0, size}); }
  OpAwaiter out(uint32_t port, uint64_t size, uint64_t v) { return op({hw::OpKind::Out, port, v, size}); }
  OpAwaiter mmio_read(uint64_t gpa, uint64_t size) { return op({hw::OpKind::MmioRead, 0, gpa, size}); }
  // `ioeventfd`: the address is registered with KVM for in-kernel completion.
  OpAwaiter mmio_write(uint64_t gpa, uint64_t size, uint64_t v, bool ioeventfd = false) {
    return op({hw::OpKind::MmioWrite, 0, gpa, size, v, ioeventfd ? 1u : 0u});
  }
  OpAwaiter hlt() { return op({hw::OpKind::Hlt}); }
  OpAwaiter sti() { return op({hw::OpKind::Sti}); }
  OpAwaiter cli() { return op({hw::OpKind::Cli}); }
  OpAwaiter nop() { return op({hw::OpKind::Nop}); }
  OpAwaiter pause(uint64_t count = 1) { return op({hw::OpKind::Pause, 0, count}); }
  OpAwaiter rdtsc() { return op({hw::OpKind::Rdtsc}); }
  OpAwaiter mov_to_cr8(uint64_t v) { return op({hw::OpKind::MovToCr8, 0, v}); }
  OpAwaiter mov_from_cr8() { return op({hw::OpKind::MovFromCr8}); }
  OpAwaiter store(hw::MemLine& line, uint64_t v) { return op({hw::OpKind::Store, 0, v, 0, 0, 0, 0, &line}); }
  // Spin until the line holds `value` (or differs from it with `until_not`); with PAUSE in
  // the loop (cpu_relax) unless `tight` (`while (!flag);`).
  OpAwaiter spin_until(hw::MemLine& line, uint64_t value, bool until_not = false, bool tight = false) {
    return op({hw::OpKind::SpinUntil, 0, value, until_not ? 1u : 0u, tight ? 1u : 0u, 0, 0, &line});
  }
  // A spin-wait of at most `max_pauses` PAUSEs; yields the value last seen. With
  // `continues_loop` it is the same PAUSE loop as the bounded spin just before it (a check
  // between, as pv_wait_node's every 256 PAUSEs), which PLE sees as one loop.
  OpAwaiter spin_until_bounded(hw::MemLine& line, uint64_t value, uint64_t max_pauses, bool continues_loop = false) {
    return op({hw::OpKind::SpinUntil, 0, value, 0, 0, max_pauses, continues_loop ? 1u : 0u, &line});
  }
  OpAwaiter cmpxchg(hw::MemLine& line, uint64_t expected, uint64_t desired) {
    return op({hw::OpKind::CmpXchg, 0, expected, desired, 0, 0, 0, &line});
  }
  OpAwaiter xadd(hw::MemLine& line, uint64_t add) { return op({hw::OpKind::XAdd, 0, add, 0, 0, 0, 0, &line}); }

  // --- The guest's APIC driver (x2APIC MSRs or xAPIC MMIO, by the current mode) ---
  OpAwaiter apic_write(uint32_t offset, uint32_t value);
  OpAwaiter apic_read(uint32_t offset);
  OpAwaiter apic_eoi() { return apic_write(hw::APIC_EOI, 0); }
  OpAwaiter apic_self_ipi_x2apic(uint8_t vector) { return wrmsr(hw::MSR_X2APIC_SELF_IPI, vector); }
  OpAwaiter rsm() { return op({hw::OpKind::Rsm}); }
  // One ICR write (x2APIC: a single MSR write; xAPIC: ICR_HIGH then ICR_LOW).
  Task<> apic_icr_write(hw::Icr icr);
  // The APIC driver's send_IPI_mask for the VM's IPI mode: `targets` are vCPU indices.
  Task<> send_ipi_mask(std::vector<int> targets, uint8_t vector);
  // INIT, SIPI or SMI to vCPU `target` (icr.dest is filled in): apic_icr_write in every
  // mode, MSR_KVM_PV_ICR under noexit_pv (seed 002: special IPIs exit).
  Task<> send_special_ipi(int target, hw::Icr icr);
  void set_vm(const GuestVm* vm) { vm_ = vm; }
  const GuestVm* vm() const { return vm_; }
  uint64_t ipi_sends() const { return ipi_sends_; }
  // "sti; hlt": the STI shadow makes the pair atomic against interrupts.
  Task<> safe_halt();

 private:
  struct Thread {
    Task<> task;
    std::coroutine_handle<> leaf;
    hw::GuestOp op;
    bool saved_if = true;  // RFLAGS.IF to restore on IRET
    uint8_t saved_cpl = 0; // CPL to restore on IRET (an interrupt runs its handler at CPL 0)
    bool is_handler = false;
    bool is_nmi = false;   // IRET unblocks NMIs
    bool is_smm = false;   // RSM restores NMI blocking as it was
    bool saved_nmi = false;
  };
  void push_thread(Task<> t, bool handler, bool saved_if, uint8_t saved_cpl = 0, bool nmi = false);
  void retire_finished();
  static Task<> idle_loop(GuestCpu& g);
  static Task<> poll_idle_loop(GuestCpu& g);
  static Task<> mwait_idle_loop(GuestCpu& g);
  static Task<> haltpoll_idle_loop(GuestCpu& g);
  Task<> idle_task();

 public:
  // The guest's next timer deadline (guest TSC), for the idle governors; workloads that arm
  // the LAPIC timer set it. ~0: none.
  uint64_t next_timer_tsc = ~0ull;
  uint64_t haltpoll_limit_ns = 0;     // cpuidle-haltpoll's current poll limit
  uint64_t haltpoll_polls = 0, haltpoll_poll_hits = 0;

 private:

  int index_;
  const hw::CostTable& costs_;
  std::vector<Thread> threads_;
  std::vector<IsrFactory> idt_;
  bool main_done_ = false;
  Idle idle_ = Idle::Halt;
  const GuestVm* vm_ = nullptr;
  uint64_t ipi_sends_ = 0;
  uint64_t interrupts_ = 0;
  uint64_t nmis_ = 0;
  IsrFactory nmi_handler_;
  uint64_t smis_ = 0, inits_ = 0;
  IsrFactory smm_hook_;
};

}  // namespace guest
