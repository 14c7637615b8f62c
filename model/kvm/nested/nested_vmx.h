// Nested VMX (issue 7; reference §8): L0's per-vCPU nested state (struct nested_vmx) and
// the virtual VMX it gives the L1 hypervisor.
//
// The L1 hypervisor is the same model/kvm code as L0 (a kvm::Vcpu for each L2 vCPU); it
// reaches "hardware" through VirtualVmx, an hw::VmxCpu whose VMREAD/VMWRITE/VMRESUME are
// operations L0 decides: with trapping, each one is an exit to L0 that L0 emulates; with VMCS
// shadowing, the fields of the shadow lists are read and written by the CPU without an exit;
// with Hyper-V's enlightened VMCS, they are plain memory accesses and L0 copies only the
// clean-field groups L1 marked dirty.
//
// An L2 exit reaches L0 (Vcpu::handle_exit -> handle_l2_exit), which reflects it to L1 or
// keeps it; a reflected exit is an emulated VM exit (vmcs02 -> vmcs12, L1's host state),
// L1's handler on the virtual VMX, and L1's VMRESUME trapping back to L0 (consistency
// checks, prepare_vmcs02, _rare only when vmcs12 is dirty), then L0's entry into L2.
//
// L1 runs on the same physical CPU, synchronously, inside L0's handling of the exit (as an
// exit handler does); its cycles and L0's are charged on the core's local clock in order.
// Approximation: events for L1 itself (its timer, IPIs to it) while L2 runs are not modelled
// beyond the re-enlightenment notification.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "hw/guest_op.h"
#include "hw/vmcs.h"
#include "hw/vmx_cpu.h"
#include "kvm/host_ops.h"
#include "kvm/vcpu.h"
#include "kvm/nested/vmcs12_fields.h"

namespace kvm::nested {

enum class L0Kind : uint8_t { Kvm, HyperV };
enum class Vmcs12Access : uint8_t { Trap, Shadow, Enlightened };

struct NestedParams {
  L0Kind l0 = L0Kind::Kvm;
  Vmcs12Access access = Vmcs12Access::Trap;
};

// Where the cycles of one L2 exit that L1 handles go (the breakdown chart).
enum class Phase : uint8_t {
  L2ExitHw,         // hardware VM exit from L2 to L0
  L0Reflect,        // L0's exit path and the reflection decision
  EmulatedExit,     // prepare_vmcs12, L1 host state, vmcs12 -> shadow/eVMCS, entry into L1
  L1Handler,        // L1's own exit handling (its KVM code), without traps
  VmcsTraps,        // L1 VMREAD/VMWRITEs that exit to L0, round trip each
  L1Vmresume,       // L1's VMRESUME trap: sync, checks, prepare_vmcs02[_rare]
  L0EntryToL2,      // L0's entry path and the hardware entry into L2
  kCount
};
inline constexpr int kNumPhases = static_cast<int>(Phase::kCount);
const char* phase_name(Phase p);

struct NestedStats {
  uint64_t l2_exits = 0;           // hardware exits from L2 (all reach L0)
  uint64_t reflected = 0;          // emulated VM exits to L1
  uint64_t l0_handled = 0;         // L2 exits L0 kept
  uint64_t vmread_traps = 0, vmwrite_traps = 0;
  uint64_t vmresume_traps = 0;     // VMLAUNCH/VMRESUME by L1
  uint64_t other_l1_traps = 0;     // other L1 exits while L2 is its guest (MSR writes, ...)
  uint64_t shadowed_accesses = 0;  // VMREAD/VMWRITEs the shadow VMCS absorbed
  uint64_t evmcs_accesses = 0;     // eVMCS plain loads/stores
  uint64_t vmcs02_rare_syncs = 0;
  uint64_t shadow_fields_copied = 0;
  uint64_t evmcs_groups_copied = 0;
  uint64_t entry_failures = 0;     // VMLAUNCH/VMRESUME that failed L0's consistency checks
  uint64_t unseen_vmcs12_writes = 0;  // L1 writes L0 never saw (a model bug: invariant)
  uint64_t tsc_emulated = 0;       // RDTSCs L0 emulated (re-enlightenment window)
  uint64_t ept02_faults = 0;
  std::array<sim::Picos, kNumPhases> phase_ps{};
  uint64_t phase_samples = 0;      // reflected exits whose phases were recorded
  uint64_t l1_traps_in_sample = 0;
};

class NestedVmx;

// The virtual VMX L0 gives L1 (and the services L1's kernel gives L1's KVM).
class VirtualVmx : public hw::VmxCpu, public VcpuHostOps {
 public:
  VirtualVmx(NestedVmx& n, hw::VmxCpu& phys, const hw::CostTable& l1_costs, const hw::VmxCapabilities& l1_caps);
  int cpu() const override;
  const hw::CostTable& costs() const override { return costs_; }
  const hw::VmxCapabilities& caps() const override { return caps_; }
  uint64_t host_tsc() const override;  // L1's TSC
  double tsc_mhz() const override;
  sim::Picos time_of_host_tsc(uint64_t tsc) const override;
  void vmenter(hw::Vmcs& vmcs, hw::GuestSoftware& guest) override;  // L1's VMLAUNCH/VMRESUME
  void skip_instruction() override { skip_pending = true; }
  void send_ipi(const hw::Icr& icr) override;  // L1's x2APIC ICR write

  // VcpuHostOps: L1's kernel for L1's KVM.
  void start_timer(hw::VmxCpu& from, sim::Picos expires) override;
  void cancel_timer(hw::VmxCpu& from) override;
  void wake_up(hw::VmxCpu&) override {}
  void send_ipi_to_vcpu_cpu(hw::VmxCpu& from, uint8_t vector) override;
  void handle_host_irq(hw::VmxCpu& cpu, uint8_t vector) override;

  bool skip_pending = false;  // L1 emulated the L2 instruction: it retires at L2 entry

 private:
  NestedVmx& n_;
  hw::VmxCpu& phys_;
  const hw::CostTable& costs_;
  hw::VmxCapabilities caps_;
};

class NestedVmx : public hw::VmcsAccessHook {
 public:
  NestedVmx(Vcpu& l0_vcpu, hw::VmxCpu& phys, const NestedParams& p, const hw::CostTable& l1_costs,
            const hw::VmxCapabilities& l1_caps);

  // L1's KVM vCPU that runs L2, and L2's software. L1 launches L2 at its first entry.
  void attach_l1(Vcpu& l1_vcpu, hw::GuestSoftware& l2_guest);
  VirtualVmx& vvmx() { return vvmx_; }
  Vcpu& l1_vcpu() { return *l1_; }
  const NestedParams& params() const { return p_; }
  const NestedStats& stats() const { return stats_; }
  const hw::Vmcs& vmcs12() const { return vmcs12_; }
  const hw::Vmcs& vmcs02() const { return vmcs02_; }
  uint32_t hv_clean_fields() const { return hv_clean_fields_; }

  // Hooks from L0's run loop (kvm::Vcpu).
  bool guest_mode() const { return guest_mode_; }
  bool wants_l2_entry() const { return guest_mode_ || launch_pending_; }
  void enter_l2(hw::VmxCpu& c);
  ExitResult handle_l2_exit(hw::VmxCpu& c, const hw::ExitInfo& e);

  // From the virtual VMX.
  void l1_vmenter(hw::Vmcs& l1_vmcs);
  // An L1 instruction that exits to L0 and that L0 emulates (`handler_cycles` of L0 work).
  void l1_trap(uint16_t reason, double handler_cycles);

  // hw::VmcsAccessHook: L1's VMREAD/VMWRITEs.
  uint64_t vmread(hw::VmxCpu& cpu, const hw::Vmcs& v, hw::VmcsField f) override;
  void vmwrite(hw::VmxCpu& cpu, hw::Vmcs& v, hw::VmcsField f, uint64_t value) override;
  void path_access(hw::VmxCpu& cpu, const hw::Vmcs& v, hw::VmcsField f, bool write) override;

  // L1 migration with re-enlightenment (Hyper-V L0): TSC accesses are emulated from
  // `tsc_emulation_on` until L1 has updated its guests' pvclock pages.
  void start_tsc_emulation(hw::VmxCpu& c);
  // The re-enlightenment interrupt reaches L1 (an exit to L1 if L2 runs); L1's handler
  // (kvm_hyperv_tsc_notifier) updates the pvclocks and turns emulation off.
  void notify_reenlightenment(hw::VmxCpu& c);
  // L0's emulated LAPIC timer of L1 fired (an L1 hrtimer for L2 when L1 has no hv timer):
  // L1 takes its timer interrupt at the next L2 exit L0 sees.
  void notify_l1_timer() { pending_l1_irqs_ |= kL1TimerIrq; }
  // The assembly arms/cancels the host timer that stands for L1's clockevent.
  void (*arm_l1_timer)(void* ctx, sim::Picos expires) = nullptr;
  void* arm_l1_timer_ctx = nullptr;
  bool tsc_emulation() const { return tsc_emulation_; }
  sim::Picos tsc_emulation_start() const { return tsc_emulation_start_; }
  sim::Picos tsc_emulation_end() const { return tsc_emulation_end_; }
  // Called by L1's kvm_hyperv_tsc_notifier (set by the assembly: bumps L2's pvclock).
  void (*on_l1_reenlightenment)(void* ctx) = nullptr;
  void* reenlightenment_ctx = nullptr;
  // Testing: L0 stops enforcing the eVMCSv1 limits on L1's capabilities.
  bool test_offer_unsupported_evmcs_controls = false;

 private:
  friend class VirtualVmx;
  void enter_l1_code(hw::VmxCpu& c);
  void leave_l1_code(hw::VmxCpu& c);
  void mark(Phase p, sim::Picos now);
  void nested_vmx_vmexit(hw::VmxCpu& c, const hw::ExitInfo& e);
  void nested_vmx_run(hw::VmxCpu& c, bool launch);
  void sync_l1_to_vmcs12(hw::VmxCpu& c);
  void prepare_vmcs02(hw::VmxCpu& c, bool rare);
  int consistency_check_failures() const;
  ExitResult handle_in_l0(hw::VmxCpu& c, const hw::ExitInfo& e);
  ExitResult run_l1_handler(hw::VmxCpu& c, const hw::ExitInfo& e);
  void l0_entry_costs(hw::VmxCpu& c);

  Vcpu& l0_;
  hw::VmxCpu& phys_;
  NestedParams p_;
  VirtualVmx vvmx_;
  Vcpu* l1_ = nullptr;
  hw::GuestSoftware* l2_guest_ = nullptr;
  hw::Vmcs vmcs12_;             // L0's cached copy of L1's VMCS for L2
  hw::Vmcs vmcs02_;             // what the CPU runs L2 with
  hw::MsrBitmap msr_bitmap02_;  // vmcs01's and vmcs12's intercepts merged
  bool guest_mode_ = false;
  bool launch_pending_ = false;
  bool dirty_vmcs12_ = true;    // a non-shadowed field changed: prepare_vmcs02_rare
  uint32_t hv_clean_fields_ = 0;
  bool in_l1_ = false;          // L1 code is running (its time is the virtual VMX's)
  bool sampling_ = false;       // recording the phases of one reflected exit
  Phase phase_ = Phase::L2ExitHw;
  sim::Picos phase_mark_ = 0;
  bool tsc_emulation_ = false;
  sim::Picos tsc_emulation_start_ = 0, tsc_emulation_end_ = 0;
  static constexpr uint32_t kL1TimerIrq = 1, kL1ReenlightenmentIrq = 2;
  uint32_t pending_l1_irqs_ = 0;
  sim::Picos l1_timer_expires_ = sim::kNever;
  NestedStats stats_;
};

}  // namespace kvm::nested
