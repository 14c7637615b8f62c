#include "kvm/nested/nested_vmx.h"

#include <string>

#include "hw/apic_regs.h"
#include "hw/lapic_timer.h"
#include "hw/vmx.h"
#include "kvm/kvm.h"
#include "kvm/nested/reflect.h"

namespace kvm::nested {

using namespace hw;

namespace {
// Hyper-V's re-enlightenment notification vector in L1 (HYPERV_REENLIGHTENMENT_VECTOR).
constexpr uint8_t HYPERV_REENLIGHTENMENT_VECTOR = 0xee;
}  // namespace

const char* phase_name(Phase p) {
  static constexpr const char* kNames[kNumPhases] = {"l2_exit_hw", "l0_reflect", "emulated_vmexit", "l1_handler",
                                                     "vmcs_traps", "l1_vmresume", "l0_entry_to_l2"};
  return kNames[static_cast<int>(p)];
}

// ---- The virtual VMX -----------------------------------------------------------------------

VirtualVmx::VirtualVmx(NestedVmx& n, VmxCpu& phys, const CostTable& l1_costs, const VmxCapabilities& l1_caps)
    : n_(n), phys_(phys), costs_(l1_costs), caps_(l1_caps) {
  ps_per_cycle = phys.ps_per_cycle;
  vmcs_hook = &n;
}

int VirtualVmx::cpu() const { return phys_.cpu(); }

// L1's TSC: the host TSC through vmcs01's offset (read at L1's current time).
uint64_t VirtualVmx::host_tsc() const {
  phys_.local_ps = local_ps;  // L1 runs on this CPU now: its clock is the CPU's
  return n_.l0_.guest_tsc(phys_);
}
double VirtualVmx::tsc_mhz() const { return phys_.tsc_mhz(); }
sim::Picos VirtualVmx::time_of_host_tsc(uint64_t tsc) const { return n_.l0_.guest_tsc_to_time(phys_, tsc); }

void VirtualVmx::vmenter(Vmcs& vmcs, GuestSoftware&) { n_.l1_vmenter(vmcs); }

// L1's x2APIC ICR write: an MSR exit L0 emulates (kvm_x2apic_msr_write + kvm_apic_send_ipi).
void VirtualVmx::send_ipi(const Icr&) {
  ++n_.stats_.other_l1_traps;
  n_.l1_trap(EXIT_REASON_MSR_WRITE, phys_.costs().kvm_handle_x2apic_msr + phys_.costs().kvm_handle_icr);
}

// L1's hrtimer for L2's LAPIC timer (the Lapic charged hrtimer_start): when it becomes the
// first timer, L1's clockevent writes IA32_TSC_DEADLINE, an exit L0 emulates.
void VirtualVmx::start_timer(VmxCpu&, sim::Picos expires) {
  ++n_.stats_.other_l1_traps;
  n_.l1_trap(EXIT_REASON_MSR_WRITE, phys_.costs().kvm_handle_tsc_deadline);
  n_.l1_timer_expires_ = expires;
  if (n_.arm_l1_timer) n_.arm_l1_timer(n_.arm_l1_timer_ctx, expires);
}
void VirtualVmx::cancel_timer(VmxCpu&) {
  n_.l1_timer_expires_ = sim::kNever;
  if (n_.arm_l1_timer) n_.arm_l1_timer(n_.arm_l1_timer_ctx, sim::kNever);
}

void VirtualVmx::send_ipi_to_vcpu_cpu(VmxCpu&, uint8_t) { send_ipi(Icr{}); }

// L1's own interrupts, taken on an EXTERNAL_INTERRUPT exit from L2 (all that are pending).
void VirtualVmx::handle_host_irq(VmxCpu&, uint8_t) {
  const uint32_t pending = n_.pending_l1_irqs_;
  n_.pending_l1_irqs_ = 0;
  if (pending & NestedVmx::kL1TimerIrq) {
    // L1's hrtimer_interrupt runs the expired timer: KVM's emulated LAPIC timer of L2.
    charge(costs_.host_irq_entry + costs_.host_hrtimer_interrupt);
    n_.l1_->lapic.timer_fn(*this);
  }
  if (pending & NestedVmx::kL1ReenlightenmentIrq) {
    // kvm_hyperv_tsc_notifier: update the master clock and every vCPU's pvclock, then tell
    // Hyper-V to stop emulating the TSC (HV_X64_MSR_TSC_EMULATION_STATUS, an MSR exit).
    charge(costs_.host_irq_entry + costs_.kvm_reenlightenment_notify);
    if (n_.on_l1_reenlightenment) n_.on_l1_reenlightenment(n_.reenlightenment_ctx);
    ++n_.stats_.other_l1_traps;
    n_.l1_trap(EXIT_REASON_MSR_WRITE, phys_.costs().kvm_handle_msr);
    n_.tsc_emulation_ = false;
    n_.tsc_emulation_end_ = local_ps;
  }
}

// ---- L0's nested state ----------------------------------------------------------------------

NestedVmx::NestedVmx(Vcpu& l0_vcpu, VmxCpu& phys, const NestedParams& p, const CostTable& l1_costs,
                     const VmxCapabilities& l1_caps)
    : l0_(l0_vcpu), phys_(phys), p_(p), vvmx_(*this, phys, l1_costs, l1_caps) {}

void NestedVmx::attach_l1(Vcpu& l1_vcpu, GuestSoftware& l2_guest) {
  l1_ = &l1_vcpu;
  l2_guest_ = &l2_guest;
  launch_pending_ = true;
  dirty_vmcs12_ = true;
  hv_clean_fields_ = 0;
}

void NestedVmx::enter_l1_code(VmxCpu& c) {
  in_l1_ = true;
  vvmx_.local_ps = c.local_ps;
}

void NestedVmx::leave_l1_code(VmxCpu& c) {
  in_l1_ = false;
  c.local_ps = vvmx_.local_ps;
}

void NestedVmx::mark(Phase ending, sim::Picos now) {
  if (!sampling_) return;
  stats_.phase_ps[static_cast<size_t>(ending)] += now - phase_mark_;
  phase_mark_ = now;
}

// L0's vcpu_enter_guest tail and the hardware entry, charged for an entry L0 makes on the
// way back to L1 inside one exit (a trap's return or the emulated exit).
void NestedVmx::l0_entry_costs(VmxCpu& c) {
  const CostTable& k = c.costs();
  c.charge(k.kvm_enter_path);
  if (l0_.kvm.mds_clear()) c.charge(k.mitigation_mds_clear);
  c.charge(k.vmx_vmentry);
}

// An L1 instruction that exits to L0: hardware exit, L0's exit path and handler, the skip
// and L0's entry back into L1. Counted as an L0 exit of its reason.
void NestedVmx::l1_trap(uint16_t reason, double handler_cycles) {
  VmxCpu& c = phys_;
  mark(Phase::L1Handler, vvmx_.now());
  leave_l1_code(c);
  const CostTable& k = c.costs();
  c.charge(k.vmx_vmexit);
  ++l0_.stat.exits;
  ++l0_.stat.exits_by_reason[reason];
  c.charge(k.kvm_exit_path + k.kvm_handle_exit + handler_cycles + k.kvm_skip_instruction);
  l0_entry_costs(c);
  enter_l1_code(c);
  if (sampling_) {
    mark(Phase::VmcsTraps, vvmx_.now());
    ++stats_.l1_traps_in_sample;
  }
}

// ---- L1's VMREAD/VMWRITE ---------------------------------------------------------------------

uint64_t NestedVmx::vmread(VmxCpu& cpu, const Vmcs& v, VmcsField f) {
  if (p_.access == Vmcs12Access::Enlightened) {
    ++stats_.evmcs_accesses;
    cpu.charge(cpu.costs().vmx_vmread);  // a load from the eVMCS page, charged as a VMREAD
    return v.read(f);
  }
  if (p_.access == Vmcs12Access::Shadow && shadow_field_kind(f) != ShadowKind::None) {
    ++stats_.shadowed_accesses;
    cpu.charge(cpu.costs().vmx_vmread);  // the CPU reads the shadow VMCS
    return v.read(f);
  }
  ++stats_.vmread_traps;
  l1_trap(EXIT_REASON_VMREAD, phys_.costs().nested_handle_vmx_instruction);
  return vmcs12_.read(f);
}

void NestedVmx::vmwrite(VmxCpu& cpu, Vmcs& v, VmcsField f, uint64_t value) {
  v.write(f, value);
  if (p_.access == Vmcs12Access::Enlightened) {
    ++stats_.evmcs_accesses;
    cpu.charge(cpu.costs().vmx_vmwrite);
    if (const int g = evmcs_group(f); g >= 0) hv_clean_fields_ &= ~(1u << g);
    return;
  }
  if (p_.access == Vmcs12Access::Shadow && shadow_field_kind(f) == ShadowKind::ReadWrite) {
    ++stats_.shadowed_accesses;
    cpu.charge(cpu.costs().vmx_vmwrite);
    return;
  }
  ++stats_.vmwrite_traps;
  l1_trap(EXIT_REASON_VMWRITE, phys_.costs().nested_handle_vmx_instruction);
  vmcs12_.write(f, value);
  // handle_vmwrite: fields prepare_vmcs02 does not copy every time make vmcs12 dirty.
  if (shadow_field_kind(f) != ShadowKind::ReadWrite) dirty_vmcs12_ = true;
}

// An access on one of KVM's fixed paths: its hardware cost is in the path's cost, so only a
// trap adds anything.
void NestedVmx::path_access(VmxCpu&, const Vmcs& v, VmcsField f, bool write) {
  if (p_.access == Vmcs12Access::Enlightened) {
    ++stats_.evmcs_accesses;
    if (write)
      if (const int g = evmcs_group(f); g >= 0) hv_clean_fields_ &= ~(1u << g);
    return;
  }
  const ShadowKind kind = shadow_field_kind(f);
  if (p_.access == Vmcs12Access::Shadow && (write ? kind == ShadowKind::ReadWrite : kind != ShadowKind::None)) {
    ++stats_.shadowed_accesses;
    return;
  }
  if (write) {
    ++stats_.vmwrite_traps;
    l1_trap(EXIT_REASON_VMWRITE, phys_.costs().nested_handle_vmx_instruction);
    vmcs12_.write(f, v.read(f));
    if (kind != ShadowKind::ReadWrite) dirty_vmcs12_ = true;
  } else {
    ++stats_.vmread_traps;
    l1_trap(EXIT_REASON_VMREAD, phys_.costs().nested_handle_vmx_instruction);
  }
}

// ---- L1's VMLAUNCH/VMRESUME -> L0's nested_vmx_run ------------------------------------------

void NestedVmx::l1_vmenter(Vmcs& l1_vmcs) {
  VmxCpu& c = phys_;
  mark(Phase::L1Handler, vvmx_.now());
  leave_l1_code(c);
  const bool launch = !guest_mode_ && launch_pending_;
  launch_pending_ = false;
  ++stats_.vmresume_traps;
  const CostTable& k = c.costs();
  c.charge(k.vmx_vmexit);
  ++l0_.stat.exits;
  ++l0_.stat.exits_by_reason[launch ? EXIT_REASON_VMLAUNCH : EXIT_REASON_VMRESUME];
  c.charge(k.kvm_exit_path + k.kvm_handle_exit);
  (void)l1_vmcs;
  nested_vmx_run(c, launch);
  enter_l1_code(c);  // L1's stack unwinds (its time is the CPU's from here)
  mark(Phase::L1Vmresume, vvmx_.now());
}

// What L1 wrote reaches vmcs12: the shadow VMCS's RW fields (copy_shadow_to_vmcs12), the
// dirty eVMCS groups (copy_enlightened_to_vmcs12), or nothing (every write trapped).
void NestedVmx::sync_l1_to_vmcs12(VmxCpu& c) {
  const Vmcs& l1 = l1_->vmcs;
  const CostTable& k = c.costs();
  if (p_.access == Vmcs12Access::Shadow) {
    for (int i = 0; i < kNumVmcsFields; ++i) {
      const auto f = static_cast<VmcsField>(i);
      if (shadow_field_kind(f) != ShadowKind::ReadWrite) continue;
      vmcs12_.write(f, l1.read(f));
      ++stats_.shadow_fields_copied;
      c.charge(k.nested_shadow_field_copy);
    }
  } else if (p_.access == Vmcs12Access::Enlightened) {
    for (int g = -1; g < kEvmcsGroups; ++g) {
      if (g >= 0 && (hv_clean_fields_ >> g) & 1) continue;  // clean: L0 keeps its copy
      for (int i = 0; i < kNumVmcsFields; ++i) {
        const auto f = static_cast<VmcsField>(i);
        if (evmcs_group(f) == g && !is_exit_info_field(f)) vmcs12_.write(f, l1.read(f));
      }
      if (g >= 0) {
        ++stats_.evmcs_groups_copied;
        if (g == HV_VMX_ENLIGHTENED_CLEAN_FIELD_GUEST_GRP2 || g == HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_GRP1 ||
            g == HV_VMX_ENLIGHTENED_CLEAN_FIELD_MSR_BITMAP || g == HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_GRP2)
          dirty_vmcs12_ = true;  // groups prepare_vmcs02_rare consumes
      }
      c.charge(k.nested_evmcs_group_copy);
    }
    hv_clean_fields_ = HV_VMX_ENLIGHTENED_CLEAN_FIELD_ALL;  // L1 marks all clean after VMRESUME
  }
  // Model check: every L1 write must have reached vmcs12 by now (a clean eVMCS group may
  // legitimately hold L1 changes L0 ignores).
  for (int i = 0; i < kNumVmcsFields; ++i) {
    const auto f = static_cast<VmcsField>(i);
    if (is_exit_info_field(f) || l1.read(f) == vmcs12_.read(f)) continue;
    if (p_.access == Vmcs12Access::Enlightened && evmcs_group(f) >= 0) continue;
    ++stats_.unseen_vmcs12_writes;
    c.report_violation("nested_unseen_vmcs12_writes",
                       "L1 changed " + std::string(vmcs_field_name(f)) + " without a VMWRITE L0 saw");
    vmcs12_.write(f, l1.read(f));
  }
  vmcs12_.msr_bitmap = l1.msr_bitmap;
  vmcs12_.virtual_apic = l1.virtual_apic;
  vmcs12_.pi_desc = l1.pi_desc;
}

// nested_vmx_check_controls & co.: the eVMCSv1 limits, and the control combinations the
// SDM forbids (the model's subset, as the core checks for vmcs01).
int NestedVmx::consistency_check_failures() const {
  int fails = 0;
  if (p_.access == Vmcs12Access::Enlightened) fails += evmcs1_violations(vmcs12_);
  const uint32_t pin = vmcs12_.pin(), secondary = vmcs12_.secondary();
  if ((pin & PIN_BASED_POSTED_INTR) && !(secondary & SECONDARY_EXEC_VIRTUAL_INTR_DELIVERY)) ++fails;
  if ((secondary & SECONDARY_EXEC_VIRTUAL_INTR_DELIVERY) && !(pin & PIN_BASED_EXT_INTR_MASK)) ++fails;
  if ((secondary & SECONDARY_EXEC_VIRTUALIZE_X2APIC_MODE) && (secondary & SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES)) ++fails;
  return fails;
}

void NestedVmx::nested_vmx_run(VmxCpu& c, bool launch) {
  const CostTable& k = c.costs();
  c.charge(k.nested_vmx_run);
  if (launch) {  // VMPTRLD/VMLAUNCH: L0 reads the whole vmcs12
    for (int i = 0; i < kNumVmcsFields; ++i) vmcs12_.write(static_cast<VmcsField>(i), l1_->vmcs.read(static_cast<VmcsField>(i)));
    vmcs12_.msr_bitmap = l1_->vmcs.msr_bitmap;
    vmcs12_.virtual_apic = l1_->vmcs.virtual_apic;
    dirty_vmcs12_ = true;
    hv_clean_fields_ = HV_VMX_ENLIGHTENED_CLEAN_FIELD_ALL;
  } else {
    sync_l1_to_vmcs12(c);
  }
  c.charge(k.nested_consistency_checks);
  if (const int f = consistency_check_failures(); f > 0) {
    stats_.entry_failures += static_cast<uint64_t>(f);
    c.report_violation("nested_entry_failures", std::to_string(f) + " vmcs12 control(s) fail L0's VM-entry checks" +
                                                    (p_.access == Vmcs12Access::Enlightened ? " (eVMCSv1 limits)" : ""));
  }
  const bool rare = dirty_vmcs12_;
  prepare_vmcs02(c, rare);
  dirty_vmcs12_ = false;
  guest_mode_ = true;
  // The event L1 injected is delivered by this entry: the valid bit clears in vmcs12.
  const uint64_t inj = vmcs12_.read(VmcsField::VM_ENTRY_INTR_INFO_FIELD);
  if (inj & INTR_INFO_VALID_MASK) {
    vmcs12_.write(VmcsField::VM_ENTRY_INTR_INFO_FIELD, 0);
    l1_->vmcs.write(VmcsField::VM_ENTRY_INTR_INFO_FIELD, 0);
  }
}

// vmcs02 = vmcs01 (L0's wishes) merged with vmcs12 (L1's).
void NestedVmx::prepare_vmcs02(VmxCpu& c, bool rare) {
  const CostTable& k = c.costs();
  const Vmcs& v01 = l0_.vmcs;
  c.charge(k.nested_prepare_vmcs02);
  if (rare) {
    c.charge(k.nested_prepare_vmcs02_rare);
    ++stats_.vmcs02_rare_syncs;
    // nested_vmx_prepare_msr_bitmap: an MSR passes through only if L0 and L1 both let it.
    if (vmcs12_.msr_bitmap && (vmcs12_.primary() & CPU_BASED_USE_MSR_BITMAPS) && v01.msr_bitmap)
      msr_bitmap02_.merge_intercepts(*v01.msr_bitmap, *vmcs12_.msr_bitmap);
    else
      msr_bitmap02_ = MsrBitmap();
    for (int i = 0; i < kNumVmcsFields; ++i) {
      const auto f = static_cast<VmcsField>(i);
      if (!is_exit_info_field(f)) vmcs02_.write(f, vmcs12_.read(f));
    }
  }
  // Always: the shadowed (frequently changing) fields and the merged controls.
  for (int i = 0; i < kNumVmcsFields; ++i) {
    const auto f = static_cast<VmcsField>(i);
    if (shadow_field_kind(f) == ShadowKind::ReadWrite) vmcs02_.write(f, vmcs12_.read(f));
  }
  uint32_t pin = (v01.pin() & ~(PIN_BASED_POSTED_INTR | PIN_BASED_VMX_PREEMPTION_TIMER)) |
                 (vmcs12_.pin() & ~PIN_BASED_POSTED_INTR);
  uint32_t primary = (v01.primary() & ~(CPU_BASED_INTR_WINDOW_EXITING | CPU_BASED_TPR_SHADOW | CPU_BASED_USE_IO_BITMAPS)) |
                     vmcs12_.primary() | CPU_BASED_UNCOND_IO_EXITING | CPU_BASED_USE_MSR_BITMAPS |
                     CPU_BASED_ACTIVATE_SECONDARY_CONTROLS;
  primary &= ~CPU_BASED_USE_IO_BITMAPS;
  if (tsc_emulation_) primary |= CPU_BASED_RDTSC_EXITING;  // L0 emulating the TSC for L1 and L2
  uint32_t secondary = (vmcs12_.secondary() & ~SECONDARY_EXEC_SHADOW_VMCS) |
                       (v01.secondary() & (SECONDARY_EXEC_ENABLE_EPT | SECONDARY_EXEC_ENABLE_VPID));
  vmcs02_.write(VmcsField::PIN_BASED_VM_EXEC_CONTROL, pin);
  vmcs02_.write(VmcsField::CPU_BASED_VM_EXEC_CONTROL, primary);
  vmcs02_.write(VmcsField::SECONDARY_VM_EXEC_CONTROL, secondary);
  vmcs02_.write(VmcsField::EXCEPTION_BITMAP, v01.read(VmcsField::EXCEPTION_BITMAP) | vmcs12_.read(VmcsField::EXCEPTION_BITMAP));
  // TSC: L2's offset is L1's (vmcs01) plus the one L1 gave L2 (no scaling on this CPU).
  const uint64_t off01 = (v01.primary() & CPU_BASED_USE_TSC_OFFSETTING) ? v01.read(VmcsField::TSC_OFFSET) : 0;
  const uint64_t off12 = (vmcs12_.primary() & CPU_BASED_USE_TSC_OFFSETTING) ? vmcs12_.read(VmcsField::TSC_OFFSET) : 0;
  vmcs02_.write(VmcsField::TSC_OFFSET, off01 + off12);
  vmcs02_.write(VmcsField::TSC_MULTIPLIER, 1ull << 48);
  vmcs02_.msr_bitmap = &msr_bitmap02_;
  vmcs02_.virtual_apic = vmcs12_.virtual_apic;
  vmcs02_.pi_desc = nullptr;
  vmcs02_.icr_monitor = nullptr;
}

// ---- L2 exits --------------------------------------------------------------------------------

ExitResult NestedVmx::handle_l2_exit(VmxCpu& c, const ExitInfo& e) {
  Vcpu& v = l0_;
  if (v.mode == VcpuMode::OUTSIDE_GUEST_MODE) ++v.stat.illegal_transitions;
  v.mode = VcpuMode::OUTSIDE_GUEST_MODE;
  ++v.stat.exits;
  ++stats_.l2_exits;
  if (e.reason < kNumExitReasons) {
    ++v.stat.exits_by_reason[e.reason];
    ++v.stat.exits_by_cause[static_cast<size_t>(Vcpu::exit_cause(e))];
  }
  v.last_exit_start_ = e.start;
  v.last_exit_reason_ = e.reason;
  v.exit_open_ = true;
  const CostTable& k = c.costs();
  sampling_ = true;
  phase_mark_ = e.start;
  mark(Phase::L2ExitHw, c.now());
  c.charge(k.kvm_exit_path);
  c.charge(k.nested_reflect);
  const L2Exit x{e.reason, e.qualification, e.intr_info, e.op};
  if (!nested_vmx_reflect_vmexit(vmcs12_, x)) {
    sampling_ = false;
    ++stats_.l0_handled;
    return handle_in_l0(c, e);
  }
  mark(Phase::L0Reflect, c.now());
  nested_vmx_vmexit(c, e);
  mark(Phase::EmulatedExit, c.now());
  return run_l1_handler(c, e);
}

ExitResult NestedVmx::run_l1_handler(VmxCpu& c, const ExitInfo& e) {
  ++stats_.reflected;
  enter_l1_code(c);
  ExitInfo e1 = e;
  e1.start = vvmx_.now();
  const ExitResult r = l1_->handle_exit(vvmx_, e1);
  if (r == ExitResult::Halt) {
    // L1's vCPU thread for L2 blocks and L1 idles (nothing else runs in the model's L1):
    // L0 resumes L1 itself, whose idle loop halts.
    mark(Phase::L1Handler, vvmx_.now());
    leave_l1_code(c);
    sampling_ = false;
    return ExitResult::Reenter;
  }
  l1_->enter_guest(vvmx_);  // L1's vcpu_run goes round: VMRESUME, trapping to L0
  leave_l1_code(c);
  return ExitResult::Reenter;
}

// nested_vmx_vmexit: vmcs02 -> vmcs12 (exit information, guest state), L1's host state,
// back to vmcs01; vmcs12 is then visible to L1 through the shadow VMCS or the eVMCS.
void NestedVmx::nested_vmx_vmexit(VmxCpu& c, const ExitInfo& e) {
  const CostTable& k = c.costs();
  c.charge(k.nested_prepare_vmcs12);
  vmcs12_.write(VmcsField::VM_EXIT_REASON, e.reason);
  vmcs12_.write(VmcsField::EXIT_QUALIFICATION, e.qualification);
  vmcs12_.write(VmcsField::VM_EXIT_INTR_INFO, e.intr_info);
  vmcs12_.write(VmcsField::GUEST_PHYSICAL_ADDRESS, vmcs02_.read(VmcsField::GUEST_PHYSICAL_ADDRESS));
  vmcs12_.write(VmcsField::IDT_VECTORING_INFO_FIELD, 0);
  vmcs12_.write(VmcsField::GUEST_INTR_STATUS, vmcs02_.read(VmcsField::GUEST_INTR_STATUS));
  Vmcs& l1 = l1_->vmcs;
  for (VmcsField f : {VmcsField::VM_EXIT_REASON, VmcsField::EXIT_QUALIFICATION, VmcsField::VM_EXIT_INTR_INFO,
                      VmcsField::GUEST_PHYSICAL_ADDRESS, VmcsField::IDT_VECTORING_INFO_FIELD, VmcsField::GUEST_INTR_STATUS})
    l1.write(f, vmcs12_.read(f));
  c.charge(k.nested_load_l1_host_state);
  if (p_.access == Vmcs12Access::Shadow) {  // copy_vmcs12_to_shadow: every shadowed field
    for (int i = 0; i < kNumVmcsFields; ++i) {
      if (shadow_field_kind(static_cast<VmcsField>(i)) == ShadowKind::None) continue;
      ++stats_.shadow_fields_copied;
      c.charge(k.nested_shadow_field_copy);
    }
  } else if (p_.access == Vmcs12Access::Enlightened) {
    c.charge(k.nested_evmcs_sync_out);  // copy_vmcs12_to_enlightened
  }
  guest_mode_ = false;
  l0_entry_costs(c);  // L0 resumes L1 at its exit handler
}

// Exits L0 keeps: a physical interrupt, its EPT02, TSC emulation; anything else the model
// has no L0 handling for is skipped (counted as an L0-handled exit).
ExitResult NestedVmx::handle_in_l0(VmxCpu& c, const ExitInfo& e) {
  const CostTable& k = c.costs();
  switch (e.reason) {
    case EXIT_REASON_EXTERNAL_INTERRUPT: {
      c.charge(k.kvm_handle_exit);
      l0_.handle_external_interrupt(c, e);
      if (pending_l1_irqs_) {  // the interrupt was L1's: an exit to L1 (L1 wants them)
        const uint8_t vec = (pending_l1_irqs_ & kL1TimerIrq) ? LOCAL_TIMER_VECTOR : HYPERV_REENLIGHTENMENT_VECTOR;
        ExitInfo e1 = e;
        e1.intr_info = INTR_INFO_VALID_MASK | INTR_TYPE_EXT_INTR | vec;
        nested_vmx_vmexit(c, e1);
        return run_l1_handler(c, e1);
      }
      return ExitResult::Reenter;
    }
    case EXIT_REASON_PREEMPTION_TIMER:
      c.charge(k.kvm_handle_preemption_timer);
      l0_.lapic.expired_hv_timer(c);
      return ExitResult::Reenter;
    case EXIT_REASON_EPT_VIOLATION:
    case EXIT_REASON_EPT_MISCONFIG: {
      // Walk EPT12: a hole L1 must fill (or L1's MMIO) is L1's exit; otherwise L0 installs
      // the EPT02 entry and L2 retries.
      c.charge(k.nested_ept02_fault);
      ++stats_.ept02_faults;
      const bool l1_owns = e.reason == EXIT_REASON_EPT_MISCONFIG || (e.op && (e.op->d & 1));
      if (l1_owns) {
        nested_vmx_vmexit(c, e);
        return run_l1_handler(c, e);
      }
      if (e.op) e.op->d |= 2;  // EPT02 entry present: the access retries and succeeds
      return ExitResult::Reenter;
    }
    case EXIT_REASON_RDTSC:
    case EXIT_REASON_RDTSCP: {
      // TSC emulation during the re-enlightenment window: L2 reads the TSC it expects.
      c.charge(k.kvm_handle_exit + k.nested_tsc_emulation);
      ++stats_.tsc_emulated;
      const int64_t off = static_cast<int64_t>(vmcs02_.read(VmcsField::TSC_OFFSET));
      l2_guest_->regs.result = hw::guest_tsc(c.host_tsc(), 1ull << 48, off);
      c.charge(k.kvm_skip_instruction);
      c.skip_instruction();
      return ExitResult::Reenter;
    }
    default:
      c.charge(k.kvm_handle_exit);
      c.skip_instruction();
      return ExitResult::Reenter;
  }
}

// L0's VMRESUME of vmcs02 (and L1's first VMLAUNCH, done at L1's first entry).
void NestedVmx::enter_l2(VmxCpu& c) {
  if (launch_pending_) {
    enter_l1_code(c);
    l1_->vcpu_load(vvmx_);
    l1_->enter_guest(vvmx_);
    leave_l1_code(c);
  }
  if (!guest_mode_) {  // L1 idles instead of running L2
    c.vmenter(l0_.vmcs, *l0_.guest);
    return;
  }
  if (vvmx_.skip_pending) {  // the L2 instruction L1 emulated retires
    vvmx_.skip_pending = false;
    c.skip_instruction();
  }
  c.vmenter(vmcs02_, *l2_guest_);
  if (sampling_) {
    mark(Phase::L0EntryToL2, c.now());
    ++stats_.phase_samples;
    sampling_ = false;
  }
}

// ---- Re-enlightenment ------------------------------------------------------------------------

void NestedVmx::start_tsc_emulation(VmxCpu& c) {
  tsc_emulation_ = true;
  tsc_emulation_start_ = c.now();
  tsc_emulation_end_ = 0;
  vmcs02_.set_bits(VmcsField::CPU_BASED_VM_EXEC_CONTROL, CPU_BASED_RDTSC_EXITING, true);
}

void NestedVmx::notify_reenlightenment(VmxCpu&) { pending_l1_irqs_ |= kL1ReenlightenmentIrq; }

}  // namespace kvm::nested
