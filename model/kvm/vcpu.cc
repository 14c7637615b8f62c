#include "kvm/vcpu.h"

#include <algorithm>

#include "hw/apic_regs.h"
#include "hw/lapic_timer.h"
#include "hw/vmx.h"
#include "kvm/disable_exits.h"
#include "kvm/kvm.h"
#include "kvm/on_spin.h"
#include "kvm/nested/nested_vmx.h"
#include "kvm/ple.h"
#include "kvm/rt_timer.h"

namespace kvm {

using namespace hw;

namespace {
constexpr uint64_t kApicBaseAddr = 0xFEE00000ull;
constexpr uint64_t kApicBaseEnable = 1ull << 11;
constexpr uint64_t kApicBaseExtd = 1ull << 10;
constexpr uint32_t MSR_FS_BASE = 0xC0000100, MSR_GS_BASE = 0xC0000101, MSR_KERNEL_GS_BASE = 0xC0000102;
constexpr uint32_t MSR_IA32_SYSENTER_CS = 0x174, MSR_IA32_SYSENTER_ESP = 0x175, MSR_IA32_SYSENTER_EIP = 0x176;
}  // namespace

// The exit-handler table (vmx.c kvm_vmx_exit_handlers).
const std::array<Vcpu::Handler, kNumExitReasons> Vcpu::kExitHandlers = [] {
  std::array<Handler, kNumExitReasons> t{};
  t.fill(&Vcpu::handle_unknown);
  t[EXIT_REASON_EXCEPTION_NMI] = &Vcpu::handle_exception_nmi;
  t[EXIT_REASON_EXTERNAL_INTERRUPT] = &Vcpu::handle_external_interrupt;
  t[EXIT_REASON_INTERRUPT_WINDOW] = &Vcpu::handle_interrupt_window;
  t[EXIT_REASON_NMI_WINDOW] = &Vcpu::handle_nmi_window;
  t[EXIT_REASON_CPUID] = &Vcpu::handle_cpuid;
  t[EXIT_REASON_HLT] = &Vcpu::handle_hlt;
  t[EXIT_REASON_VMCALL] = &Vcpu::handle_vmcall;
  t[EXIT_REASON_CR_ACCESS] = &Vcpu::handle_cr;
  t[EXIT_REASON_IO_INSTRUCTION] = &Vcpu::handle_io;
  t[EXIT_REASON_MSR_READ] = &Vcpu::handle_msr_read;
  t[EXIT_REASON_MSR_WRITE] = &Vcpu::handle_msr_write;
  t[EXIT_REASON_PAUSE_INSTRUCTION] = &Vcpu::handle_pause;
  t[EXIT_REASON_TPR_BELOW_THRESHOLD] = &Vcpu::handle_tpr_below_threshold;
  t[EXIT_REASON_APIC_ACCESS] = &Vcpu::handle_apic_access;
  t[EXIT_REASON_EOI_INDUCED] = &Vcpu::handle_eoi_induced;
  t[EXIT_REASON_EPT_MISCONFIG] = &Vcpu::handle_ept_misconfig;
  t[EXIT_REASON_EPT_VIOLATION] = &Vcpu::handle_ept_violation;
  t[EXIT_REASON_PREEMPTION_TIMER] = &Vcpu::handle_preemption_timer;
  t[EXIT_REASON_APIC_WRITE] = &Vcpu::handle_apic_write;
  return t;
}();

Vcpu::Vcpu(Kvm& k, int id, uint32_t apic_id)
    : kvm(k), vcpu_id(id), lapic(*this, apic_id), ple_window(k.params().ple_window),
      apic_base_(kApicBaseAddr | kApicBaseEnable | kApicBaseExtd) {
  setup_vmcs();
}

bool Vcpu::apicv_active() const { return kvm.apicv(); }

void Vcpu::setup_vmcs() {
  const KvmParams& p = kvm.params();
  const VmxCapabilities& caps = kvm.caps();
  lazy_fpu.enabled = p.lazy_fpu;
  uint32_t pin = PIN_BASED_EXT_INTR_MASK | PIN_BASED_NMI_EXITING | PIN_BASED_VIRTUAL_NMIS;
  if (p.direct_irq) pin &= ~PIN_BASED_EXT_INTR_MASK;  // seed 001: physical interrupts go to the guest IDT
  if (apicv_active()) pin |= PIN_BASED_POSTED_INTR;
  uint32_t primary = CPU_BASED_HLT_EXITING | CPU_BASED_MWAIT_EXITING | CPU_BASED_MONITOR_EXITING |
                     CPU_BASED_UNCOND_IO_EXITING | CPU_BASED_USE_MSR_BITMAPS | CPU_BASED_TPR_SHADOW |
                     CPU_BASED_USE_TSC_OFFSETTING | CPU_BASED_ACTIVATE_SECONDARY_CONTROLS;
  uint32_t secondary = SECONDARY_EXEC_ENABLE_EPT | SECONDARY_EXEC_ENABLE_VPID;
  if (apicv_active()) secondary |= SECONDARY_EXEC_APIC_REGISTER_VIRT | SECONDARY_EXEC_VIRTUAL_INTR_DELIVERY;
  if (caps.ple && p.ple_gap) secondary |= SECONDARY_EXEC_PAUSE_LOOP_EXITING;
  else if (!caps.ple) primary |= 0;  // without PLE, KVM leaves PAUSE exiting off too
  if (caps.tsc_scaling) secondary |= SECONDARY_EXEC_TSC_SCALING;
  if (p.hlt_in_guest) primary &= ~CPU_BASED_HLT_EXITING;
  if (kvm.ipiv()) {  // init_vmcs with vmx_can_use_ipiv: tertiary controls and the PID table
    primary |= CPU_BASED_ACTIVATE_TERTIARY_CONTROLS;
    vmcs.write(VmcsField::TERTIARY_VM_EXEC_CONTROL, TERTIARY_EXEC_IPI_VIRT);
    vmcs.write(VmcsField::PID_POINTER_TABLE, reinterpret_cast<uintptr_t>(&kvm.pid_table()));
    vmcs.write(VmcsField::LAST_PID_POINTER_INDEX, Kvm::KVM_MAX_VCPU_IDS - 1);
    vmcs.pid_table = &kvm.pid_table();
  }
  vmcs.write(VmcsField::PIN_BASED_VM_EXEC_CONTROL, pin);
  vmcs.write(VmcsField::CPU_BASED_VM_EXEC_CONTROL, primary);
  vmcs.write(VmcsField::SECONDARY_VM_EXEC_CONTROL, secondary);
  vmcs.write(VmcsField::PLE_GAP, p.ple_gap);
  vmcs.write(VmcsField::PLE_WINDOW, ple_window);
  vmcs.write(VmcsField::POSTED_INTR_NV, POSTED_INTR_VECTOR);
  vmcs.write(VmcsField::TSC_OFFSET, static_cast<uint64_t>(tsc_offset));
  vmcs.write(VmcsField::TSC_MULTIPLIER, tsc_multiplier);
  vmcs.write(VmcsField::VIRTUAL_PROCESSOR_ID, static_cast<uint64_t>(vcpu_id + 1));
  vmcs.write(VmcsField::EPT_POINTER, kvm.eptp());
  vmcs.msr_bitmap = &msr_bitmap;
  vmcs.virtual_apic = &lapic.regs;
  vmcs.pi_desc = &pi_desc;
  pi_desc.nv = POSTED_INTR_VECTOR;
  // MSRs KVM lets the guest access directly (vmx_disable_intercept_for_msr).
  for (uint32_t m : {MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE, MSR_IA32_SYSENTER_CS, MSR_IA32_SYSENTER_ESP,
                     MSR_IA32_SYSENTER_EIP})
    msr_bitmap.intercept(m, false, false);
  apply_disable_exits(p.disable_exits, vmcs, msr_bitmap);
  update_apic_mode_controls();
}

// vmx_update_msr_bitmap_x2apic + the APIC-access controls for the guest's APIC mode.
void Vcpu::update_apic_mode_controls() {
  const bool x2apic = (apic_base_ & kApicBaseExtd) != 0;
  lapic.regs.set_x2apic_mode(x2apic);
  if (guest) guest->regs.x2apic = x2apic;
  const bool apicv = apicv_active();
  const uint64_t secondary = vmcs.read(VmcsField::SECONDARY_VM_EXEC_CONTROL);
  vmcs.set_bits(VmcsField::SECONDARY_VM_EXEC_CONTROL, SECONDARY_EXEC_VIRTUALIZE_X2APIC_MODE, x2apic);
  vmcs.set_bits(VmcsField::SECONDARY_VM_EXEC_CONTROL, SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES, !x2apic);
  if (vmcs.read(VmcsField::SECONDARY_VM_EXEC_CONTROL) != secondary) apic_mode_vmwrites_ = true;
  for (uint32_t msr = X2APIC_MSR_BASE; msr <= X2APIC_MSR_LAST; ++msr) msr_bitmap.intercept(msr, true, true);
  if (!x2apic) return;
  if (apicv) {
    for (uint32_t msr = X2APIC_MSR_BASE; msr <= X2APIC_MSR_LAST; ++msr)
      msr_bitmap.intercept(msr, msr == MSR_X2APIC_TMCCT, true);
    msr_bitmap.intercept(MSR_X2APIC_TPR, false, false);
    msr_bitmap.intercept(MSR_X2APIC_EOI, true, false);
    msr_bitmap.intercept(MSR_X2APIC_SELF_IPI, true, false);
    if (kvm.ipiv()) msr_bitmap.intercept(MSR_X2APIC_ICR, false, false);  // !enable_ipiv: the CPU virtualizes it
    if (kvm.params().noexit_pv_ipi) {
      msr_bitmap.intercept(MSR_X2APIC_ICR, true, false);  // seed 002: the guest owns the ICR
      vmcs.icr_monitor = &kvm;
    }
  } else {
    msr_bitmap.intercept(MSR_X2APIC_TPR, false, false);  // TPR shadow
  }
}

void Vcpu::set_apic_base(uint64_t value) {
  apic_base_ = value;
  update_apic_mode_controls();
}

uint64_t Vcpu::guest_tsc(const VmxCpu& cpu) const { return hw::guest_tsc(cpu.host_tsc(), tsc_multiplier, tsc_offset); }

sim::Picos Vcpu::guest_tsc_to_time(const VmxCpu& cpu, uint64_t g) const {
  return cpu.time_of_host_tsc(hw::host_tsc_for_guest(g, tsc_multiplier, tsc_offset));
}

// ---- Scheduling in and out ----------------------------------------------------------------

void Vcpu::vcpu_load(VmxCpu& c) {
  c.charge(c.costs().kvm_vcpu_load);
  if (cpu != c.cpu()) l1tf_flush_l1d = true;
  cpu = c.cpu();
  // vmx_vcpu_pi_load: point notifications at this CPU with the normal vector again.
  pi_desc.ndst = cpu_apic_id;
  pi_desc.nv = POSTED_INTR_VECTOR;
  pi_desc.pi_clear_sn();
  if (!pi_desc.pi_is_pir_empty()) pi_desc.pi_test_and_set_on();
  l1tf_flush_l1d = true;
  // kvm_arch_vcpu_load: the run delay since a preemption is steal; record it at entry.
  if (was_preempted) {
    was_preempted = false;
    pending_steal_ns += static_cast<uint64_t>(sim::to_ns(c.now() - std::min(c.now(), preempted_at)));
  }
  requests |= KVM_REQ_STEAL_UPDATE;
  sched_in(c);
}

// kvm_sched_in + vmx_sched_in (issue 5): clear the preempted/ready state, leave a spin
// loop we yielded from, drop seed 003's IPI mask, and shrink the PLE window (<= 6.11).
void Vcpu::sched_in(VmxCpu& c) {
  scheduled_out = false;
  preempted = false;
  ready = false;
  ipi_received = 0;
  if (spin_loop_until_load) {
    spin_loop_until_load = false;
    in_spin_loop = false;
    dy_eligible = false;
  }
  const KvmParams& p = kvm.params();
  if (kvm.caps().ple && p.ple_gap) {
    const uint32_t old = ple_window;
    ple_window = shrink_ple_window(ple_window, p.ple_window, p.ple_window_shrink, p.ple_window);
    if (ple_window != old) note_ple_window(c, old);
  }
}

void Vcpu::note_ple_window(VmxCpu& c, uint32_t old) {
  ple_window_dirty = true;
  ++stat.ple_window_updates;
  if (kvm.params().trace_ple_window) kvm.ple_window_trace.push_back({c.now(), vcpu_id, c.cpu(), old, ple_window});
  if (kvm.tracer) [[unlikely]]
    kvm.tracer->kvm_ple_window_update(c.now(), c.cpu(), kvm.trace_pid_base + static_cast<uint32_t>(vcpu_id), vcpu_id, old,
                                      ple_window);
}

void Vcpu::vcpu_put(VmxCpu& c, bool preempted) {
  c.charge(c.costs().kvm_vcpu_put);
  lazy_fpu.put(c);
  // kvm_sched_out: a still-runnable vCPU is preempted and ready; x86 caches its CPL.
  scheduled_out = true;
  if (preempted) {
    this->preempted = true;
    ready = true;
    preempted_in_kernel = guest && guest->regs.cpl == 0;
    ++(preempted_in_kernel ? stat.preempted_in_kernel : stat.preempted_in_user);
  }
  // vmx_vcpu_pi_put: a blocking vCPU gets the wake-up vector; a preempted one suppresses.
  if (blocking && guest && guest->regs.rflags_if) {
    pi_desc.nv = POSTED_INTR_WAKEUP_VECTOR;
  } else if (preempted) {
    pi_desc.pi_set_sn();
    ++stat.preemption_reported;
  }
  if (preempted) {  // kvm_arch_vcpu_put with vcpu->preempted
    was_preempted = true;
    preempted_at = c.now();
    if (steal_time.enabled) {
      c.charge(c.costs().kvm_steal_time_set_preempted);
      steal_time.set_preempted(c.now());
    }
  }
}

// record_steal_time (x86.c): at the first entry after a load, clear `preempted` and do the
// TLB flush the guest asked for with KVM_VCPU_FLUSH_TLB before any guest instruction runs.
void Vcpu::record_steal_time(VmxCpu& c) {
  requests &= ~KVM_REQ_STEAL_UPDATE;
  if (!steal_time.enabled) return;
  const sim::Picos start = c.now();
  c.charge(c.costs().kvm_record_steal_time);
  bool flush = steal_time.record_steal_time(start, pending_steal_ns, kvm.params().steal_time_nonatomic_clear, c.now());
  if (flush && c.fault_due(sim::Fault::LostTlbFlush)) flush = false;  // fault.inject: the request is forgotten
  pending_steal_ns = 0;
  if (flush) {  // kvm_vcpu_flush_tlb_guest -> vpid_sync_context
    c.charge(c.costs().vmx_invvpid);
    c.invvpid_single_context(static_cast<uint16_t>(vmcs.read(VmcsField::VIRTUAL_PROCESSOR_ID)));
    ++pv_tlb_flushes;
  }
}

// x86.c vcpu_block: the hv timer runs only in guest mode, so switch to the software timer
// before halt-polling (an expired timer must end the poll) and back after the halt.
void Vcpu::pre_halt(VmxCpu& c) {
  halting = true;
  lapic.switch_to_sw_timer(c);
}

void Vcpu::post_halt(VmxCpu& c) {
  halting = false;
  pv_unhalted = false;
  blocking = false;
  lapic.switch_to_hv_timer(c);
}

// kvm_vcpu_check_block / kvm_vcpu_has_events: a maskable interrupt ends a halt only when
// the guest can take it (RFLAGS.IF); INIT/SIPI, SMI and NMI do regardless. A vCPU waiting
// for SIPI wakes only for INIT/SIPI (its RFLAGS.IF is 0 after the reset, and KVM's
// nmi_allowed / smi checks hold it there).
bool Vcpu::has_wake_event() const {
  if (apic_pending_events && !in_smm) [[unlikely]] return true;
  if (mp_state == MpState::INIT_RECEIVED) [[unlikely]] return false;
  if (pv_unhalted) return true;  // KVM_HC_KICK_CPU wakes even a halt with IF=0
  if ((requests & (KVM_REQ_NMI | KVM_REQ_SMI)) || nmi_pending || (smi_pending && !in_smm)) return true;  // ignore RFLAGS.IF
  if (guest && !guest->regs.rflags_if) return false;
  if (lapic.timer_pending()) return true;
  if (apicv_active()) {
    if (pi_desc.pi_test_on() || !pi_desc.pi_is_pir_empty()) return true;
  }
  return lapic.regs.deliverable_vector() >= 0;
}

// ---- Interrupt delivery -------------------------------------------------------------------

void Vcpu::deliver_interrupt(VmxCpu& from, uint8_t vector) {
  from.charge(from.costs().kvm_deliver_interrupt);
  ++stat.interrupts_sent;
  if (from.fault_due(sim::Fault::LostInterrupt)) return;  // fault.inject: dropped without a trace
  if (apicv_active()) {
    // vmx_deliver_posted_interrupt
    ++stat.posted_interrupts;
    const PiPostResult r = pi_desc.pi_post(vector);
    if (r == PiPostResult::AlreadyPending) ++stat.interrupts_coalesced;
    if (r != PiPostResult::NeedsNotification) return;
    if (mode == VcpuMode::IN_GUEST_MODE && cpu != from.cpu()) {
      host->send_ipi_to_vcpu_cpu(from, pi_desc.nv);  // processed by the CPU with no exit
    } else {
      host->wake_up(from);  // merged into the vIRR at the next entry
    }
    return;
  }
  if (!lapic.regs.accept_fixed(vector, false)) ++stat.interrupts_coalesced;
  requests |= KVM_REQ_EVENT;
  kick(from);
}

void Vcpu::kick(VmxCpu& from) {
  if (mode == VcpuMode::IN_GUEST_MODE && cpu != from.cpu()) {
    mode = VcpuMode::EXITING_GUEST_MODE;
    from.charge(from.costs().kvm_vcpu_kick);
    host->send_ipi_to_vcpu_cpu(from, RESCHEDULE_VECTOR);
  } else {
    host->wake_up(from);
  }
}

void Vcpu::sync_pir_to_irr(VmxCpu& c) {
  if (!pi_desc.pi_test_on()) return;
  c.charge(c.costs().kvm_sync_pir_to_irr);
  pi_desc.pi_clear_on();
  stat.interrupts_coalesced += static_cast<uint64_t>(pi_pir_irr_overlap(pi_desc, lapic.regs));
  const int highest = pi_desc.pi_harvest_pir(lapic.regs);
  if (highest >= 0) {
    const uint64_t st = vmcs.read(VmcsField::GUEST_INTR_STATUS);
    const uint64_t rvi = std::max<uint64_t>(st & 0xFF, static_cast<uint64_t>(highest));
    vmcs.write(VmcsField::GUEST_INTR_STATUS, (st & ~0xFFull) | rvi);
    c.vmcs_path_write(vmcs, VmcsField::GUEST_INTR_STATUS);
  }
}

void Vcpu::set_ctl_bits(VmxCpu& c, VmcsField f, uint64_t bits, bool on) {
  const uint64_t old = vmcs.read(f);
  vmcs.set_bits(f, bits, on);
  if (vmcs.read(f) != old) c.vmcs_path_write(vmcs, f);
}

// kvm_check_and_inject_events without APICv: inject when the guest can take it, else ask
// for an interrupt-window exit.
void Vcpu::inject_pending_events(VmxCpu& c) {
  requests &= ~KVM_REQ_EVENT;
  const int v = lapic.regs.deliverable_vector();
  bool want_window = false;
  if (v >= 0) {
    // One event per entry: behind an NMI being injected, wait for the window.
    const bool nmi_injecting = vmcs.read(VmcsField::VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID_MASK;
    if (guest->regs.rflags_if && !guest->regs.sti_shadow && !nmi_injecting) {
      c.charge(c.costs().kvm_inject_irq);
      lapic.regs.start_service(static_cast<uint8_t>(v));
      vmcs.write(VmcsField::VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID_MASK | INTR_TYPE_EXT_INTR | static_cast<uint32_t>(v));
      c.vmcs_path_write(vmcs, VmcsField::VM_ENTRY_INTR_INFO_FIELD);
      ++stat.irq_injections;
      if (kvm.tracer) [[unlikely]]
        kvm.tracer->kvm_inj_virq(c.now(), c.cpu(), kvm.trace_pid_base + static_cast<uint32_t>(vcpu_id), vcpu_id, static_cast<uint8_t>(v));
    } else {
      want_window = true;
    }
  }
  set_ctl_bits(c, VmcsField::CPU_BASED_VM_EXEC_CONTROL, CPU_BASED_INTR_WINDOW_EXITING, want_window);
}

// ---- Entry --------------------------------------------------------------------------------

void Vcpu::enter_guest(VmxCpu& c) {
  if (c.fault_due(sim::Fault::IllegalTransition)) mode = VcpuMode::IN_GUEST_MODE;
  if (mode == VcpuMode::IN_GUEST_MODE || mp_state != MpState::RUNNABLE) {
    ++stat.illegal_transitions;
    c.report_violation("illegal_transitions", "vcpu " + std::to_string(vcpu_id) + " entering the guest while " +
                                                  (mode == VcpuMode::IN_GUEST_MODE ? "already in guest mode" : "not runnable"));
  }
  const CostTable& costs = c.costs();
  c.charge(costs.kvm_enter_path);
  if (rt) rt->before_inject(c);
  if (requests & KVM_REQ_STEAL_UPDATE) record_steal_time(c);
  lazy_fpu.before_entry(c, vmcs);
  if (lapic.timer_pending()) lapic.inject_pending_timer(c);
  if ((requests & KVM_REQ_SMI) || smi_pending) [[unlikely]] inject_smi(c);
  if ((requests & KVM_REQ_NMI) || nmi_pending) [[unlikely]] inject_nmi_events(c);
  if (apicv_active()) {
    sync_pir_to_irr(c);
  } else if ((requests & KVM_REQ_EVENT) || lapic.regs.deliverable_vector() >= 0) {
    inject_pending_events(c);
  }
  // The hv timer: reprogram the VMX-preemption timer for this entry.
  const int64_t hv = lapic.hv_timer_value(c);
  if (hv >= 0) {
    c.vmwrite(vmcs, VmcsField::VMX_PREEMPTION_TIMER_VALUE, static_cast<uint64_t>(hv));
    set_ctl_bits(c, VmcsField::PIN_BASED_VM_EXEC_CONTROL, PIN_BASED_VMX_PREEMPTION_TIMER, true);
  } else {
    set_ctl_bits(c, VmcsField::PIN_BASED_VM_EXEC_CONTROL, PIN_BASED_VMX_PREEMPTION_TIMER, false);
  }
  if (apic_mode_vmwrites_) {
    apic_mode_vmwrites_ = false;
    c.vmcs_path_write(vmcs, VmcsField::SECONDARY_VM_EXEC_CONTROL);
  }
  if (ple_window_dirty) {
    ple_window_dirty = false;
    c.vmwrite(vmcs, VmcsField::PLE_WINDOW, ple_window);
  }
  ipi_received = 0;  // seed 003 patch 2 clears the IPI-sender mask in vmx_vcpu_run
  lapic.wait_lapic_expire(c);
  if (kvm.l1d_flush() && l1tf_flush_l1d) c.charge(costs.mitigation_l1d_flush);
  l1tf_flush_l1d = false;
  if (kvm.mds_clear()) c.charge(costs.mitigation_mds_clear);
  check_vmcs_tsc(c);
  // fault.inject=vmentry_check: virtual NMIs without NMI exiting for one entry.
  if (vmentry_fault_) {
    vmentry_fault_ = false;
    vmcs.set_bits(VmcsField::PIN_BASED_VM_EXEC_CONTROL, PIN_BASED_NMI_EXITING, true);
  }
  if (c.fault_due(sim::Fault::VmentryCheck)) {
    vmentry_fault_ = true;
    vmcs.set_bits(VmcsField::PIN_BASED_VM_EXEC_CONTROL, PIN_BASED_NMI_EXITING, false);
  }
  if (rip_dirty_) {  // vmx_vcpu_run writes back a dirty RIP
    rip_dirty_ = false;
    c.vmcs_path_write(vmcs, VmcsField::GUEST_RIP);
  }
  mode = VcpuMode::IN_GUEST_MODE;
  if (kvm.tracer) [[unlikely]]
    kvm.tracer->kvm_entry(c.now(), c.cpu(), kvm.trace_pid_base + static_cast<uint32_t>(vcpu_id), vcpu_id);
  if (exit_open_) {  // kvm_entry: close the exit's time span
    exit_open_ = false;
    stat.exit_time_ns[last_exit_reason_].add(sim::to_ns(c.now() - last_exit_start_));
  }
  if (rt) rt->before_vmenter(c);
  if (nested && nested->wants_l2_entry()) [[unlikely]] {  // VMRESUME of vmcs02 (or L1's first VMLAUNCH)
    nested->enter_l2(c);
    return;
  }
  c.vmenter(vmcs, *guest);
}

// ---- Exits --------------------------------------------------------------------------------

ExitCause Vcpu::exit_cause(const ExitInfo& e) {
  switch (e.reason) {
    case EXIT_REASON_MSR_WRITE:
    case EXIT_REASON_MSR_READ: {
      const uint32_t msr = e.op->a32;
      if (msr == MSR_IA32_TSC_DEADLINE || msr == MSR_X2APIC_TMICT || msr == MSR_X2APIC_LVTT || msr == MSR_X2APIC_TMCCT)
        return ExitCause::Timer;
      if (msr == MSR_X2APIC_ICR || msr == MSR_X2APIC_SELF_IPI || msr == MSR_KVM_PV_ICR) return ExitCause::Ipi;
      return ExitCause::Other;
    }
    case EXIT_REASON_PREEMPTION_TIMER: return ExitCause::Timer;
    case EXIT_REASON_VMCALL: return e.op->a == KVM_HC_SEND_IPI ? ExitCause::Ipi : ExitCause::Other;
    case EXIT_REASON_APIC_WRITE: return (e.qualification & 0xFF0) == APIC_ICR_LOW ? ExitCause::Ipi : ExitCause::Other;
    case EXIT_REASON_HLT: return ExitCause::Halt;
    case EXIT_REASON_EXTERNAL_INTERRUPT: return ExitCause::HostInterrupt;
    case EXIT_REASON_IO_INSTRUCTION:
    case EXIT_REASON_EPT_MISCONFIG: return ExitCause::Io;
    default: return ExitCause::Other;
  }
}

void Vcpu::skip(VmxCpu& c) {
  c.charge(c.costs().kvm_skip_instruction);
  // kvm_skip_emulated_instruction: RFLAGS (single-step check), RIP + instruction length,
  // and the interrupt shadow; RIP is written back at the next entry.
  c.vmcs_path_read(vmcs, VmcsField::GUEST_RFLAGS);
  c.vmcs_path_read(vmcs, VmcsField::GUEST_RIP);
  c.vmcs_path_read(vmcs, VmcsField::VM_EXIT_INSTRUCTION_LEN);
  c.vmcs_path_read(vmcs, VmcsField::GUEST_INTERRUPTIBILITY_INFO);
  rip_dirty_ = true;
  c.skip_instruction();
}

// TSC consistency: the guest reads host TSC x multiplier + offset from the VMCS (SDM
// 25.3), and KVM converts guest deadlines with what it believes those are
// (kvm_read_l1_tsc); the two must agree at every entry.
void Vcpu::check_vmcs_tsc(VmxCpu& c) {
  if (c.fault_due(sim::Fault::TscMismatch)) vmcs.write(VmcsField::TSC_OFFSET, static_cast<uint64_t>(tsc_offset + 1000));
  const uint64_t mult = (vmcs.secondary() & SECONDARY_EXEC_TSC_SCALING) ? vmcs.read(VmcsField::TSC_MULTIPLIER) : hw::TSC_MULTIPLIER_ONE;
  const int64_t off = (vmcs.primary() & CPU_BASED_USE_TSC_OFFSETTING) ? static_cast<int64_t>(vmcs.read(VmcsField::TSC_OFFSET)) : 0;
  if (mult == tsc_multiplier && off == tsc_offset) return;
  ++stat.tsc_mismatches;
  c.report_violation("tsc_mismatches", "vcpu " + std::to_string(vcpu_id) + " enters with TSC offset " + std::to_string(off) +
                                           " and multiplier " + std::to_string(mult) + "; KVM computes with " +
                                           std::to_string(tsc_offset) + " and " + std::to_string(tsc_multiplier));
}

ExitResult Vcpu::handle_exit(VmxCpu& c, const ExitInfo& e) {
  if (nested && nested->guest_mode()) [[unlikely]] return nested->handle_l2_exit(c, e);  // an L2 exit
  if (mode == VcpuMode::OUTSIDE_GUEST_MODE) {  // an exit without an entry
    ++stat.illegal_transitions;
    c.report_violation("illegal_transitions", "vcpu " + std::to_string(vcpu_id) + " exits without having entered");
  }
  mode = VcpuMode::OUTSIDE_GUEST_MODE;
  c.charge(c.costs().kvm_exit_path);
  // vmx_vcpu_run after the exit: the exit reason, the IDT-vectoring information and (as the
  // 4.15-era vmx_handle_external_intr did after every exit) the exit interruption information.
  c.vmcs_path_read(vmcs, VmcsField::VM_EXIT_REASON);
  c.vmcs_path_read(vmcs, VmcsField::IDT_VECTORING_INFO_FIELD);
  c.vmcs_path_read(vmcs, VmcsField::VM_EXIT_INTR_INFO);
  ++stat.exits;
  if (e.reason >= kNumExitReasons) {  // not an SDM basic exit reason the model knows
    ++stat.exits_unknown_reason;
    c.charge(c.costs().kvm_handle_exit);
    return handle_unknown(c, e);
  }
  ++stat.exits_by_reason[e.reason];
  ++stat.exits_by_cause[static_cast<size_t>(exit_cause(e))];
  last_exit_start_ = e.start;
  last_exit_reason_ = e.reason;
  exit_open_ = true;
  if (kvm.tracer) [[unlikely]]
    kvm.tracer->kvm_exit(e.start, c.cpu(), kvm.trace_pid_base + static_cast<uint32_t>(vcpu_id), vcpu_id, e.reason,
                         e.qualification, e.intr_info);
  if (rt && rt->after_vmexit(c, e)) return ExitResult::Reenter;
  if (kvm.params().fastpath && handle_fastpath(c, e)) {
    ++stat.fastpath_exits;
    return ExitResult::Reenter;
  }
  c.charge(c.costs().kvm_handle_exit);
  return (this->*kExitHandlers[e.reason])(c, e);
}

// vmx_exit_handlers_fastpath: single-target physical ICR writes, TSC_DEADLINE writes and
// the preemption timer are handled with IRQs off and re-enter without the full path.
bool Vcpu::handle_fastpath(VmxCpu& c, const ExitInfo& e) {
  switch (e.reason) {
    case EXIT_REASON_MSR_WRITE: {
      const uint32_t msr = e.op->a32;
      if (msr == MSR_X2APIC_ICR && lapic.regs.x2apic_mode()) {
        const Icr icr = Icr::decode_x2apic(e.op->a);
        if (icr.shorthand != Shorthand::None || icr.logical || icr.mode != DeliveryMode::Fixed ||
            icr.dest == 0xFFFFFFFFu)
          return false;
        lapic.x2apic_msr_write(c, msr, e.op->a);
        skip(c);
        return true;
      }
      if (msr == MSR_IA32_TSC_DEADLINE) {
        lapic.set_tscdeadline(c, e.op->a);
        skip(c);
        return true;
      }
      return false;
    }
    case EXIT_REASON_PREEMPTION_TIMER:
      c.charge(c.costs().kvm_handle_preemption_timer);
      lapic.expired_hv_timer(c);
      return true;
    default:
      return false;
  }
}

ExitResult Vcpu::handle_cpuid(VmxCpu& c, const ExitInfo& e) {
  c.charge(c.costs().kvm_handle_cpuid);
  // A few leaves with their architectural meaning; others read as zero.
  uint64_t eax = 0;
  if (e.op->a == 0) eax = 0xD;
  else if (e.op->a == 0x40000000) eax = 0x40000001;  // KVM_CPUID_SIGNATURE
  guest->regs.result = eax;
  skip(c);
  return ExitResult::Reenter;
}

ExitResult Vcpu::handle_vmcall(VmxCpu& c, const ExitInfo& e) {
  c.charge(c.costs().kvm_handle_hypercall);
  ++stat.hypercalls;
  int64_t ret = -KVM_ENOSYS;
  switch (e.op->a) {
    case KVM_HC_VAPIC_POLL_IRQ: ret = 0; break;
    case KVM_HC_SEND_IPI:
      if (kvm.params().pv_send_ipi) ret = kvm.pv_send_ipi(c, e.op->b, e.op->c, static_cast<uint32_t>(e.op->d), e.op->e);
      break;
    case KVM_HC_KICK_CPU:       // pv spinlocks: kvm_pv_kick_cpu_op, then yield to the target
      if (Vcpu* t = e.op->c <= 0xFFFFFFFFull ? kvm.vcpu_by_apic_id(static_cast<uint32_t>(e.op->c)) : nullptr) {
        c.charge(c.costs().kvm_pv_kick_cpu);
        ++stat.pv_kick;
        t->pv_unhalted = true;
        t->kick(c);
      }
      kvm_sched_yield(c, *this, e.op->c);
      ret = 0;
      break;
    case KVM_HC_SCHED_YIELD:    // PV sched yield: to the (preempted) IPI target
      ++stat.pv_sched_yield;
      kvm_sched_yield(c, *this, e.op->b);
      ret = 0;
      break;
    default: ret = -KVM_ENOSYS; break;
  }
  guest->regs.result = static_cast<uint64_t>(ret);
  skip(c);
  return ExitResult::Reenter;
}

ExitResult Vcpu::handle_hlt(VmxCpu& c, const ExitInfo&) {
  c.charge(c.costs().kvm_handle_hlt);
  ++stat.halt_exits;
  skip(c);
  mp_state = MpState::HALTED;
  return ExitResult::Halt;
}

ExitResult Vcpu::handle_msr_read(VmxCpu& c, const ExitInfo& e) {
  const uint32_t msr = e.op->a32;
  uint64_t v = 0;
  if (is_x2apic_msr(msr) && lapic.regs.x2apic_mode()) {
    v = lapic.x2apic_msr_read(c, msr);
  } else {
    c.charge(c.costs().kvm_handle_msr);
    if (msr == MSR_IA32_TSC_DEADLINE) v = lapic.tscdeadline();
    else if (msr == MSR_IA32_TSC_ADJUST) v = tsc_adjust_;
    else if (msr == MSR_IA32_APICBASE) v = apic_base_;
    else if (msr == MSR_KVM_POLL_CONTROL) v = msr_poll_control;
  }
  guest->regs.result = v;
  skip(c);
  return ExitResult::Reenter;
}

ExitResult Vcpu::handle_msr_write(VmxCpu& c, const ExitInfo& e) {
  const uint32_t msr = e.op->a32;
  const uint64_t v = e.op->a;
  if (is_x2apic_msr(msr) && lapic.regs.x2apic_mode()) {
    lapic.x2apic_msr_write(c, msr, v);
  } else if (msr == MSR_IA32_TSC_DEADLINE) {
    lapic.set_tscdeadline(c, v);
  } else {
    c.charge(c.costs().kvm_handle_msr);
    if (msr == MSR_IA32_TSC_ADJUST) tsc_adjust_ = v;
    else if (msr == MSR_IA32_APICBASE) set_apic_base(v);
    else if (msr == MSR_KVM_STEAL_TIME) steal_time.enabled = v & KVM_MSR_ENABLED;
    else if (msr == MSR_KVM_POLL_CONTROL) msr_poll_control = v & 1;
    else if (msr == MSR_KVM_PV_ICR && kvm.params().noexit_pv_ipi) lapic.send_ipi(c, Icr::decode_x2apic(v));  // seed 002
  }
  skip(c);
  return ExitResult::Reenter;
}

ExitResult Vcpu::handle_io(VmxCpu& c, const ExitInfo& e) {
  c.vmcs_path_read(vmcs, VmcsField::EXIT_QUALIFICATION);
  const uint32_t port = static_cast<uint32_t>(e.qualification >> 16);
  const bool in = e.qualification & IO_QUAL_IN;
  if (kvm.is_kernel_io_port(port)) {
    c.charge(c.costs().kvm_handle_io_kernel);
  } else {
    c.charge(c.costs().kvm_userspace_exit);  // KVM_EXIT_IO to the VMM and back
    ++stat.userspace_exits;
    l1tf_flush_l1d = true;
  }
  guest->regs.result = in ? 0xFFFFFFFFull >> (32 - 8 * std::min<uint64_t>(e.op->b, 4)) : 0;
  skip(c);
  return ExitResult::Reenter;
}

// MMIO: KVM makes device pages' EPT entries misconfigured. A write to an ioeventfd (e.g. a
// virtio notify) completes in the kernel; everything else is KVM_EXIT_MMIO to the VMM.
ExitResult Vcpu::handle_ept_misconfig(VmxCpu& c, const ExitInfo& e) {
  c.vmcs_path_read(vmcs, VmcsField::GUEST_PHYSICAL_ADDRESS);
  if (e.op->kind == OpKind::MmioWrite && e.op->d == 1) {
    c.charge(c.costs().kvm_handle_mmio_kernel);
  } else {
    c.charge(c.costs().kvm_userspace_exit);
    ++stat.userspace_exits;
    l1tf_flush_l1d = true;
  }
  guest->regs.result = 0;
  skip(c);
  return ExitResult::Reenter;
}

// handle_ept_violation -> kvm_mmu_page_fault: the missing EPT entry is installed and the
// access retries (fault-like: no skip). The model's EPT state is the access's own bits
// (hw/guest_op.h EptFault): this hypervisor's EPT now maps it; on a physical CPU that EPT
// is the one the CPU walks, for an L1 hypervisor L0 shadows it (EPT02).
ExitResult Vcpu::handle_ept_violation(VmxCpu& c, const ExitInfo& e) {
  c.charge(c.costs().kvm_handle_ept_violation);
  c.vmcs_path_read(vmcs, VmcsField::EXIT_QUALIFICATION);
  c.vmcs_path_read(vmcs, VmcsField::GUEST_PHYSICAL_ADDRESS);
  ++stat.ept_violations;
  if (e.op) {
    e.op->d &= ~1ull;
    if (!c.vmcs_hook) e.op->d |= 2;
  }
  return ExitResult::Reenter;
}

ExitResult Vcpu::handle_external_interrupt(VmxCpu& c, const ExitInfo& e) {
  // handle_external_interrupt_irqoff: run the host's handler for the acknowledged vector.
  c.charge(c.costs().kvm_handle_external_interrupt);
  c.vmcs_path_read(vmcs, VmcsField::VM_EXIT_INTR_INFO);
  l1tf_flush_l1d = true;
  host->handle_host_irq(c, static_cast<uint8_t>(e.intr_info & 0xFF));
  return ExitResult::Reenter;
}

ExitResult Vcpu::handle_preemption_timer(VmxCpu& c, const ExitInfo&) {
  c.charge(c.costs().kvm_handle_preemption_timer);
  lapic.expired_hv_timer(c);
  return ExitResult::Reenter;
}

ExitResult Vcpu::handle_interrupt_window(VmxCpu& c, const ExitInfo&) {
  c.charge(c.costs().kvm_handle_interrupt_window);
  set_ctl_bits(c, VmcsField::CPU_BASED_VM_EXEC_CONTROL, CPU_BASED_INTR_WINDOW_EXITING, false);
  requests |= KVM_REQ_EVENT;
  return ExitResult::Reenter;
}

// handle_pause: grow the window (unless PAUSE exits were disabled) and, later, on_spin.
ExitResult Vcpu::handle_pause(VmxCpu& c, const ExitInfo&) {
  c.charge(c.costs().kvm_handle_pause);
  const KvmParams& p = kvm.params();
  const uint32_t old = ple_window;
  ++stat.ple_exits;
  stat.ple_window_sum += ple_window;
  kvm.pause_exits_per_ms.add(c.now());
  ple_window = grow_ple_window(ple_window, p.ple_window, p.ple_window_grow, p.ple_window_max);
  if (ple_window != old) note_ple_window(c, old);
  kvm_vcpu_on_spin(c, *this, true);
  return ExitResult::Reenter;
}

ExitResult Vcpu::handle_apic_write(VmxCpu& c, const ExitInfo& e) {
  c.charge(c.costs().kvm_handle_apic_write);
  c.vmcs_path_read(vmcs, VmcsField::EXIT_QUALIFICATION);
  lapic.apic_write_nodecode(c, static_cast<uint32_t>(e.qualification & 0xFF0));
  return ExitResult::Reenter;
}

ExitResult Vcpu::handle_apic_access(VmxCpu& c, const ExitInfo& e) {
  c.charge(c.costs().kvm_handle_apic_access);  // instruction emulation
  c.vmcs_path_read(vmcs, VmcsField::EXIT_QUALIFICATION);
  const uint32_t offset = static_cast<uint32_t>(e.qualification & 0xFF0);
  if (e.op->kind == OpKind::MmioWrite) lapic.mmio_write(c, offset, static_cast<uint32_t>(e.op->c));
  else guest->regs.result = lapic.mmio_read(c, offset);
  skip(c);
  return ExitResult::Reenter;
}

ExitResult Vcpu::handle_eoi_induced(VmxCpu& c, const ExitInfo&) {
  c.charge(c.costs().kvm_handle_eoi_induced);
  return ExitResult::Reenter;
}

ExitResult Vcpu::handle_cr(VmxCpu& c, const ExitInfo& e) {
  c.charge(c.costs().kvm_handle_cr);
  c.vmcs_path_read(vmcs, VmcsField::EXIT_QUALIFICATION);
  if ((e.qualification & 0xF) == 8) {
    if (((e.qualification >> 4) & 3) == 0) lapic.regs.set_tpr(static_cast<uint8_t>((e.op->a & 0xF) << 4));
    else guest->regs.result = lapic.regs.tpr() >> 4;
    requests |= KVM_REQ_EVENT;
  } else if ((e.qualification & 0xF) == 0 && ((e.qualification >> 4) & 3) == 2) {
    lazy_fpu.clts(c, vmcs);  // handle_clts
  }
  skip(c);
  return ExitResult::Reenter;
}

ExitResult Vcpu::handle_tpr_below_threshold(VmxCpu& c, const ExitInfo&) {
  c.charge(c.costs().kvm_handle_cr);
  requests |= KVM_REQ_EVENT;
  return ExitResult::Reenter;
}

ExitResult Vcpu::handle_unknown(VmxCpu& c, const ExitInfo&) {
  skip(c);
  return ExitResult::Reenter;
}

}  // namespace kvm
