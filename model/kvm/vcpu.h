// A KVM vCPU (struct kvm_vcpu + struct vcpu_vmx): its VMCS, MSR bitmap, posted-interrupt
// descriptor and emulated LAPIC, and the pieces of the run loop (arch/x86/kvm/x86.c
// vcpu_enter_guest, vmx.c vmx_vcpu_run / vmx_handle_exit / the fastpath). The vCPU thread
// (vcpu_thread.h) strings these together and handles halting and scheduling.
//
// Plain C++: the hardware is reached only through hw::VmxCpu, the host through VcpuHostOps.
#pragma once

#include <array>
#include <cstdint>

#include "hw/pi_desc.h"
#include "hw/vmcs.h"
#include "hw/vmx_cpu.h"
#include "kvm/host_ops.h"
#include "kvm/lapic.h"
#include "kvm/lazy_fpu.h"
#include "kvm/stats.h"
#include "kvm/steal_time.h"

namespace kvm {

class Kvm;
class RtTimer;
namespace nested {
class NestedVmx;
class VirtualVmx;
}

enum class VcpuMode : uint8_t { OUTSIDE_GUEST_MODE, IN_GUEST_MODE, EXITING_GUEST_MODE };
// KVM_MP_STATE_*: INIT_RECEIVED is the wait-for-SIPI state of an AP after INIT.
enum class MpState : uint8_t { RUNNABLE, HALTED, INIT_RECEIVED };
// What the run loop does after an exit.
enum class ExitResult : uint8_t { Reenter, Halt };

inline constexpr uint64_t KVM_REQ_EVENT = 1u << 0;
inline constexpr uint64_t KVM_REQ_STEAL_UPDATE = 1u << 1;
inline constexpr uint64_t KVM_REQ_NMI = 1u << 2;
inline constexpr uint64_t KVM_REQ_SMI = 1u << 3;
// struct kvm_lapic pending_events bits.
inline constexpr uint8_t KVM_APIC_INIT = 1u << 0;
inline constexpr uint8_t KVM_APIC_SIPI = 1u << 1;
inline constexpr uint64_t KVM_HC_VAPIC_POLL_IRQ = 1;
inline constexpr uint64_t KVM_HC_KICK_CPU = 5;
inline constexpr uint64_t KVM_HC_SEND_IPI = 10;
inline constexpr uint64_t KVM_HC_SCHED_YIELD = 11;
inline constexpr int64_t KVM_ENOSYS = 1000;

class Vcpu {
 public:
  Vcpu(Kvm& kvm, int vcpu_id, uint32_t apic_id);
  Vcpu(const Vcpu&) = delete;

  Kvm& kvm;
  const int vcpu_id;
  Lapic lapic;
  hw::Vmcs vmcs;
  hw::MsrBitmap msr_bitmap;
  hw::PiDesc pi_desc;
  hw::GuestSoftware* guest = nullptr;
  VcpuHostOps* host = nullptr;

  VcpuMode mode = VcpuMode::OUTSIDE_GUEST_MODE;
  MpState mp_state = MpState::RUNNABLE;
  int cpu = -1;                  // physical CPU it runs or last ran on
  uint32_t cpu_apic_id = 0;      // that CPU's APIC id (PI NDST)
  uint64_t requests = 0;
  bool blocking = false;         // inside kvm_vcpu_block
  bool halting = false;          // inside kvm_vcpu_halt (polling or blocked)
  uint64_t halt_poll_ns = 0;     // current polling window
  uint32_t ple_window;
  bool ple_window_dirty = false;
  bool l1tf_flush_l1d = true;
  uint64_t tsc_multiplier = 1ull << 48;
  int64_t tsc_offset = 0;
  void check_vmcs_tsc(hw::VmxCpu& c);  // the VMCS's TSC fields against KVM's own (invariant)
  VcpuStats stat;
  // Timer passthrough / DirectIRQ entry and exit steps (rt_timer.h); null when both are off.
  RtTimer* rt = nullptr;
  LazyFpu lazy_fpu;  // kvm.lazy_fpu (issue 3)
  // Directed yield (struct kvm_vcpu: preempted, ready, spin_loop; x86 preempted_in_kernel,
  // pv.pv_unhalted) and seed 003's IPI tracking (sched_outed, ipi_received: a bit per
  // sender vCPU id that sent an IPI while this vCPU was scheduled out).
  bool preempted = false;            // scheduled out while still runnable
  bool ready = false;                // preempted or woken, not yet running again
  bool preempted_in_kernel = false;  // CPL 0 when it was preempted
  bool scheduled_out = false;
  bool in_spin_loop = false;
  bool dy_eligible = false;
  bool spin_loop_until_load = false; // yielded from on_spin: still "in the spin loop" until it runs
  bool pv_unhalted = false;          // KVM_HC_KICK_CPU arrived
  uint64_t ipi_received = 0;
  // L0's nested-VMX state (struct nested_vmx) when this vCPU runs an L1 hypervisor that
  // runs L2 (issue 7); null otherwise.
  nested::NestedVmx* nested = nullptr;
  // Issue 6: the guest's struct kvm_steal_time (guest memory KVM writes) and steal accounting.
  StealTime steal_time;
  sim::Picos preempted_at = 0;     // when it was last put while runnable
  bool was_preempted = false;
  uint64_t pending_steal_ns = 0;   // run delay not yet added to steal_time.steal
  uint64_t pv_tlb_flushes = 0;     // INVVPIDs done for KVM_VCPU_FLUSH_TLB
  uint64_t msr_poll_control = 1;   // MSR_KVM_POLL_CONTROL: bit 0 = host may halt-poll
  // NMIs (issue 4; kvm_vcpu_arch nmi_queued / nmi_pending): queued by senders, moved to
  // pending (at most 2) before entry, injected one at a time through VM_ENTRY_INTR_INFO.
  uint32_t nmi_queued = 0;
  uint32_t nmi_pending = 0;
  // INIT/SIPI and SMI (issue 4, kvm/apic_events.cc): kvm_lapic pending_events and
  // sipi_vector, kvm_vcpu_arch smi_pending and HF_SMM_MASK.
  uint8_t apic_pending_events = 0;
  uint8_t sipi_vector = 0;
  bool smi_pending = false;
  bool in_smm = false;

  bool apicv_active() const;
  // An exit whose kvm_entry has not happened yet (halted, preempted, or the run ended).
  int open_exit_reason() const { return exit_open_ ? last_exit_reason_ : -1; }
  uint32_t apic_id() const { return lapic.regs.apic_id(); }

  // init_vmcs / vmx_vcpu_reset: controls from KVM's parameters and the CPU's capabilities.
  void setup_vmcs();
  // Load/put around being scheduled in and out (vmx_vcpu_load + vmx_vcpu_pi_load, ...).
  void vcpu_load(hw::VmxCpu& cpu);
  void vcpu_put(hw::VmxCpu& cpu, bool preempted);
  void sched_in(hw::VmxCpu& cpu);
  // vcpu_enter_guest: requests, event injection, timers, mitigations, VMRESUME.
  void enter_guest(hw::VmxCpu& cpu);
  // kvm_exit: fastpath with IRQs off, else the handler table.
  ExitResult handle_exit(hw::VmxCpu& cpu, const hw::ExitInfo& exit);
  // kvm_vcpu_check_block: is there a reason to stop halting?
  bool has_wake_event() const;
  // Around a halt (vcpu_block: hv -> sw timer and back). `blocking` marks the part spent
  // in kvm_vcpu_block, where vcpu_put installs the PI wake-up vector.
  void pre_halt(hw::VmxCpu& cpu);
  void post_halt(hw::VmxCpu& cpu);

  // __apic_accept_irq for a fixed interrupt, from code running on `from`.
  void deliver_interrupt(hw::VmxCpu& from, uint8_t vector);
  // kvm_inject_nmi: queue an NMI, KVM_REQ_NMI, kick (kvm/nmi.cc).
  void deliver_nmi(hw::VmxCpu& from);
  // kvm_vcpu_kick: get the vCPU out of the guest (IPI) or out of halt (wake-up).
  void kick(hw::VmxCpu& from);
  // __apic_accept_irq for APIC_DM_SMI, APIC_DM_INIT and APIC_DM_STARTUP (apic_events.cc).
  void accept_special_irq(hw::VmxCpu& from, const hw::Icr& icr);
  // kvm_apic_accept_events: act on a pending INIT (reset, wait for SIPI) or SIPI (start).
  void kvm_apic_accept_events(hw::VmxCpu& cpu);
  bool has_apic_events() const { return apic_pending_events != 0; }

  uint64_t guest_tsc(const hw::VmxCpu& cpu) const;
  sim::Picos guest_tsc_to_time(const hw::VmxCpu& cpu, uint64_t guest_tsc) const;

 private:
  friend class nested::NestedVmx;  // L0's nested code runs L0's handlers on L2 exits
  bool handle_fastpath(hw::VmxCpu& cpu, const hw::ExitInfo& exit);
  static ExitCause exit_cause(const hw::ExitInfo& e);
  ExitResult handle_cpuid(hw::VmxCpu& cpu, const hw::ExitInfo& e);
  ExitResult handle_vmcall(hw::VmxCpu& cpu, const hw::ExitInfo& e);
  ExitResult handle_hlt(hw::VmxCpu& cpu, const hw::ExitInfo& e);
  ExitResult handle_msr_read(hw::VmxCpu& cpu, const hw::ExitInfo& e);
  ExitResult handle_msr_write(hw::VmxCpu& cpu, const hw::ExitInfo& e);
  ExitResult handle_io(hw::VmxCpu& cpu, const hw::ExitInfo& e);
  ExitResult handle_ept_misconfig(hw::VmxCpu& cpu, const hw::ExitInfo& e);
  ExitResult handle_ept_violation(hw::VmxCpu& cpu, const hw::ExitInfo& e);
  ExitResult handle_external_interrupt(hw::VmxCpu& cpu, const hw::ExitInfo& e);
  ExitResult handle_preemption_timer(hw::VmxCpu& cpu, const hw::ExitInfo& e);
  ExitResult handle_interrupt_window(hw::VmxCpu& cpu, const hw::ExitInfo& e);
  ExitResult handle_nmi_window(hw::VmxCpu& cpu, const hw::ExitInfo& e);
  ExitResult handle_pause(hw::VmxCpu& cpu, const hw::ExitInfo& e);
  ExitResult handle_apic_write(hw::VmxCpu& cpu, const hw::ExitInfo& e);
  ExitResult handle_apic_access(hw::VmxCpu& cpu, const hw::ExitInfo& e);
  ExitResult handle_eoi_induced(hw::VmxCpu& cpu, const hw::ExitInfo& e);
  ExitResult handle_cr(hw::VmxCpu& cpu, const hw::ExitInfo& e);
  ExitResult handle_tpr_below_threshold(hw::VmxCpu& cpu, const hw::ExitInfo& e);
  ExitResult handle_unknown(hw::VmxCpu& cpu, const hw::ExitInfo& e);
  ExitResult handle_exception_nmi(hw::VmxCpu& cpu, const hw::ExitInfo& e);  // #UD from RSM
  friend class RtTimer;
  void set_apic_base(uint64_t value);
  void update_apic_mode_controls();
  void sync_pir_to_irr(hw::VmxCpu& cpu);
  void inject_pending_events(hw::VmxCpu& cpu);
  void inject_nmi_events(hw::VmxCpu& cpu);  // process_nmi + the NMI part of kvm_check_and_inject_events
  void inject_smi(hw::VmxCpu& cpu);         // process_smi + enter_smm (apic_events.cc)
  void kvm_vcpu_reset_init(hw::VmxCpu& cpu);
  void record_steal_time(hw::VmxCpu& cpu);
  void skip(hw::VmxCpu& cpu);
  void note_ple_window(hw::VmxCpu& cpu, uint32_t old);
  // A control-field update KVM makes only when the value changes (its controls cache).
  void set_ctl_bits(hw::VmxCpu& cpu, hw::VmcsField f, uint64_t bits, bool on);

  using Handler = ExitResult (Vcpu::*)(hw::VmxCpu&, const hw::ExitInfo&);
  static const std::array<Handler, hw::kNumExitReasons> kExitHandlers;

  sim::Picos last_exit_start_ = 0;
  uint16_t last_exit_reason_ = 0;
  bool exit_open_ = false;       // an exit awaits its kvm_entry
  bool vmentry_fault_ = false;   // fault.inject=vmentry_check: restore NMI exiting next entry
  bool rip_dirty_ = false;       // GUEST_RIP to be written back at the next entry
  bool apic_mode_vmwrites_ = false;  // APIC-mode controls changed: written at the next entry
  uint64_t apic_base_;
  uint64_t tsc_adjust_ = 0;
};

}  // namespace kvm
