#include "guest/guest_cpu.h"

namespace guest {

GuestCpu::GuestCpu(int index, const hw::CostTable& costs) : index_(index), costs_(costs), idt_(256) {
  threads_.reserve(8);
}

void GuestCpu::push_thread(Task<> t, bool handler, bool saved_if, uint8_t saved_cpl, bool nmi) {
  Thread th;
  th.is_nmi = nmi;
  th.saved_cpl = saved_cpl;
  th.leaf = t.handle();
  th.task = std::move(t);
  th.is_handler = handler;
  th.saved_if = saved_if;
  threads_.push_back(std::move(th));
  threads_.back().leaf.resume();  // run to its first operation
  retire_finished();
}

void GuestCpu::start(Task<> program) {
  threads_.clear();
  main_done_ = false;
  push_thread(std::move(program), false, true);
}

void GuestCpu::start_idle() {
  threads_.clear();
  main_done_ = true;
  push_thread(idle_task(), false, true);
}

// Pops threads that returned: IRET for handlers (restoring IF), the idle loop for main.
void GuestCpu::retire_finished() {
  while (!threads_.empty() && threads_.back().task.done()) {
    const bool handler = threads_.back().is_handler;
    const bool saved_if = threads_.back().saved_if;
    const uint8_t saved_cpl = threads_.back().saved_cpl;
    const bool nmi = threads_.back().is_nmi;
    const bool smm = threads_.back().is_smm, saved_nmi = threads_.back().saved_nmi;
    threads_.pop_back();
    if (nmi) regs.nmi_blocked = false;
    if (smm) [[unlikely]] regs.nmi_blocked = saved_nmi;
    if (handler) {
      regs.rflags_if = saved_if;
      regs.cpl = saved_cpl;
    } else {
      main_done_ = true;
      push_thread(idle_task(), false, true);
      return;
    }
  }
}

void GuestCpu::complete_op() {
  threads_.back().leaf.resume();
  retire_finished();
}

void GuestCpu::deliver_interrupt(uint8_t vector) {
  ++interrupts_;
  const bool saved_if = regs.rflags_if;
  const uint8_t saved_cpl = regs.cpl;
  regs.cpl = 0;            // the handler runs in the kernel
  regs.rflags_if = false;  // interrupt gate
  regs.sti_shadow = false;
  IsrFactory& isr = idt_[vector];
  if (isr) {
    push_thread(isr(*this, vector), true, saved_if, saved_cpl);
  } else {
    // No handler registered: the guest kernel's spurious-interrupt path, EOI and return.
    push_thread([](GuestCpu& g) -> Task<> {
      co_await g.compute(static_cast<uint64_t>(g.costs().guest_irq_entry));
      co_await g.apic_eoi();
    }(*this), true, saved_if, saved_cpl);
  }
}

// NMI through IDT vector 2: like an interrupt gate (IF cleared) and blocking NMIs until
// IRET; no EOI (NMIs do not go through the ISR).
void GuestCpu::deliver_nmi() {
  ++interrupts_;
  ++nmis_;
  const bool saved_if = regs.rflags_if;
  const uint8_t saved_cpl = regs.cpl;
  regs.cpl = 0;
  regs.rflags_if = false;
  regs.sti_shadow = false;
  regs.nmi_blocked = true;
  Task<> t = nmi_handler_ ? nmi_handler_(*this, hw::NMI_VECTOR) : [](GuestCpu& g) -> Task<> {
    co_await g.compute(static_cast<uint64_t>(g.costs().guest_nmi_handler));
  }(*this);
  push_thread(std::move(t), true, saved_if, saved_cpl, true);
}

// KVM's enter_smm: IF=0, NMIs blocked, the firmware's handler from SMBASE+0x8000 up to RSM
// (its #UD exit is KVM's emulation); RSM restores what the SMI interrupted.
void GuestCpu::enter_smm() {
  ++smis_;
  if (regs.skip_pending) {  // the exiting instruction retired before the SMI: RIP is past it
    regs.skip_pending = false;
    complete_op();
  }
  const bool saved_if = regs.rflags_if, saved_nmi = regs.nmi_blocked;
  const uint8_t saved_cpl = regs.cpl;
  regs.cpl = 0;
  regs.rflags_if = false;
  regs.sti_shadow = false;
  regs.nmi_blocked = true;
  Task<> t = [](GuestCpu& g) -> Task<> {
    co_await g.compute(static_cast<uint64_t>(g.costs().guest_smi_handler));
    if (g.smm_hook_) co_await g.smm_hook_(g, 0);
    co_await g.rsm();
  }(*this);
  push_thread(std::move(t), true, saved_if, saved_cpl);
  threads_.back().is_smm = true;
  threads_.back().saved_nmi = saved_nmi;
}

void GuestCpu::init_reset() {
  ++inits_;
  hw::GuestSoftware::init_reset();
}

GuestCpu::OpAwaiter GuestCpu::apic_write(uint32_t offset, uint32_t value) {
  if (regs.x2apic) return wrmsr(hw::x2apic_msr(offset), value);
  return mmio_write(0xFEE00000ull + offset, 4, value);
}

GuestCpu::OpAwaiter GuestCpu::apic_read(uint32_t offset) {
  if (regs.x2apic) return rdmsr(hw::x2apic_msr(offset));
  return mmio_read(0xFEE00000ull + offset, 4);
}

Task<> GuestCpu::apic_icr_write(hw::Icr icr) {
  if (regs.x2apic) {
    co_await wrmsr(hw::MSR_X2APIC_ICR, icr.encode_x2apic());
  } else {
    const hw::XapicIcr x = icr.encode_xapic();
    co_await mmio_write(0xFEE00000ull + hw::APIC_ICR_HIGH, 4, x.high);
    co_await mmio_write(0xFEE00000ull + hw::APIC_ICR_LOW, 4, x.low);
  }
}

Task<> GuestCpu::safe_halt() {
  co_await sti();
  co_await hlt();
}

Task<> GuestCpu::poll_idle_loop(GuestCpu& g) {
  co_await g.sti();
  for (;;) co_await g.pause(1ull << 40);  // cpu_relax() until need_resched, in effect forever
}

Task<> GuestCpu::idle_loop(GuestCpu& g) {
  for (;;) {
    co_await g.sti();
    co_await g.hlt();
  }
}

}  // namespace guest
