// What KVM may do with the physical CPU its vCPU thread runs on: the small hardware
// interface of DESIGN.md. Plain C++ (no SystemC) so model/kvm can be unit-tested
// against a fake, and so an L1 hypervisor can later run against L0's virtual VMX.
#pragma once

#include <cstdint>

#include "hw/guest_op.h"
#include "hw/icr.h"
#include "hw/platform.h"
#include "hw/vmcs.h"
#include <string>
#include <vector>

#include "sim/fault.h"
#include "sim/time.h"
#include "sim/violations.h"

namespace hw {

struct ExitInfo {
  uint16_t reason = 0;
  uint64_t qualification = 0;
  uint32_t intr_info = 0;    // VM_EXIT_INTR_INFO (vector of an acknowledged interrupt)
  GuestOp* op = nullptr;     // the guest's instruction and registers at the exit
  sim::Picos start = 0;      // when the exit began (the kvm_exit timestamp)
};

class VmxCpu;

// Nested VMX (issue 7): an L1 hypervisor's VMX is virtual, so its VMCS accesses are
// operations L0 decides (trap, shadow VMCS, or enlightened VMCS). Null on a physical CPU.
class VmcsAccessHook {
 public:
  virtual ~VmcsAccessHook() = default;
  virtual uint64_t vmread(VmxCpu& cpu, const Vmcs& v, VmcsField f) = 0;
  virtual void vmwrite(VmxCpu& cpu, Vmcs& v, VmcsField f, uint64_t value) = 0;
  // An access KVM makes on a fixed path, whose hardware cost the path's cost already holds.
  virtual void path_access(VmxCpu& cpu, const Vmcs& v, VmcsField f, bool write) = 0;
};

class VmxCpu {
 public:
  virtual ~VmxCpu() = default;
  virtual int cpu() const = 0;
  // Local time of the code running here, and charging it. Not virtual: they are on every
  // path of every exit; an implementation sets ps_per_cycle and owns local_ps.
  sim::Picos now() const { return local_ps; }
  void charge(double cycles) {  // software on this CPU spends cycles
    charged_cycles += cycles;
    local_ps += static_cast<sim::Picos>(cycles * ps_per_cycle + 0.5);
  }
  void charge_ps(sim::Picos ps) {
    charged_ps += ps;
    local_ps += ps;
  }
  sim::Picos local_ps = 0;
  double ps_per_cycle = 1000.0;
  double charged_cycles = 0;   // totals, for tests and accounting
  sim::Picos charged_ps = 0;
  virtual const CostTable& costs() const = 0;
  virtual const VmxCapabilities& caps() const = 0;
  virtual uint64_t host_tsc() const = 0;           // host TSC at now()
  virtual double tsc_mhz() const = 0;
  virtual sim::Picos time_of_host_tsc(uint64_t tsc) const = 0;
  // VMRESUME/VMLAUNCH of `vmcs` running `guest`: returns at once; the exit comes back
  // through RootSoftware::on_vmexit.
  virtual void vmenter(Vmcs& vmcs, GuestSoftware& guest) = 0;
  // The exiting instruction retires (RIP advanced) when the guest resumes.
  virtual void skip_instruction() = 0;
  // Physical ICR write from root mode (x2APIC).
  virtual void send_ipi(const Icr& icr) = 0;
  // INVVPID single-context (issue 6): drop this CPU's cached translations of `vpid`.
  virtual void invvpid_single_context(uint16_t vpid) {}
  // VMREAD/VMWRITE by software beyond the fixed paths: charged at the table's cost.
  void vmwrite(Vmcs& v, VmcsField f, uint64_t value) {
    if (vmcs_hook) [[unlikely]] return vmcs_hook->vmwrite(*this, v, f, value);
    charge(costs().vmx_vmwrite);
    v.write(f, value);
  }
  uint64_t vmread(const Vmcs& v, VmcsField f) {
    if (vmcs_hook) [[unlikely]] return vmcs_hook->vmread(*this, v, f);
    charge(costs().vmx_vmread);
    return v.read(f);
  }
  // A VMREAD/VMWRITE on a fixed KVM path (costed in the path): nothing on hardware.
  void vmcs_path_read(const Vmcs& v, VmcsField f) {
    if (vmcs_hook) [[unlikely]] vmcs_hook->path_access(*this, v, f, false);
  }
  void vmcs_path_write(const Vmcs& v, VmcsField f) {
    if (vmcs_hook) [[unlikely]] vmcs_hook->path_access(*this, v, f, true);
  }
  VmcsAccessHook* vmcs_hook = nullptr;
  // The physical LAPIC timer, for KVM modes that hand it to the guest (issue 3: timer
  // passthrough, DirectIRQ's direct LAPIC timer). The defaults are a CPU without one (fakes).
  virtual sim::Picos lapic_timer_deadline() const { return sim::kNever; }
  virtual void set_lapic_timer_deadline(sim::Picos) {}
  virtual void set_lapic_lvtt(uint32_t) {}
  virtual void lapic_eoi() {}

  // Invariant checking. Checkers count violations themselves and report them here; the
  // run keeps the first of each invariant with this CPU's recent events (null in unit
  // tests: counting only).
  sim::ViolationLog* violations = nullptr;
  sim::FaultPlan* fault = nullptr;  // fault.inject: deliberate faults for the checkers' tests
  bool fault_due(sim::Fault f) { return fault && fault->due(f, now()); }
  void report_violation(const char* invariant, std::string what) {
    if (!violations || violations->has(invariant)) return;
    violations->record({invariant, now(), cpu(), std::move(what), recent_events()});
  }
  // The last things this CPU did (exits, entries, interrupts), oldest first.
  virtual std::vector<std::string> recent_events() const { return {}; }
};

// The host kernel on one CPU, as the core sees it in root mode (model/host implements it).
class RootSoftware {
 public:
  virtual ~RootSoftware() = default;
  virtual void on_vmexit(const ExitInfo& exit) = 0;
  // A physical interrupt taken in root mode (already acknowledged: ISR set); the handler
  // must EOI it through Core::eoi().
  virtual void on_interrupt(uint8_t vector) = 0;
  virtual void on_busy_done() = 0;                 // a Core::root_busy_until period ended
  virtual void on_soft_event(uint64_t cookie) = 0; // a signal posted with Core::post_soft_event
};

}  // namespace hw
