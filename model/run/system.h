// A simulated machine built from a scenario: the platform's cores on an APIC bus, the
// host kernel, and vm.count VMs, each with its vCPU threads and its guest workload.
#pragma once

#include <memory>
#include <vector>

#include "guest/guest_cpu.h"
#include "guest/guest_vm.h"
#include "guest/workload.h"
#include "host/kernel.h"
#include "hw/apic_bus.h"
#include "hw/core.h"
#include "hw/platform.h"
#include "kvm/kvm.h"
#include "kvm/vcpu_thread.h"
#include "sim/config.h"
#include "sim/fault.h"
#include "sim/violations.h"

namespace run {

struct RtParts;
struct NestedSetup;

// One VM: KVM's state for it, its guest vCPUs, their host threads (owned by the host
// kernel) and the workload running inside it.
struct VmInstance {
  int index = 0;  // VM k is named "vm<k>"; VM 0 is the measured VM (unprefixed metrics)
  std::unique_ptr<kvm::Kvm> kvm;
  std::vector<std::unique_ptr<guest::GuestCpu>> guests;  // by vCPU index
  std::vector<kvm::VcpuThread*> vcpu_threads;             // by vCPU index
  std::unique_ptr<guest::Workload> workload;              // null: every vCPU idles
  std::string workload_kind;                              // its workload.kind / vm.workloads entry
  guest::VmView view;
  guest::GuestVm guest_vm;
};

class System {
 public:
  System(const sim::Config& cfg, const hw::Platform& platform);
  ~System();
  void start();

  hw::Platform platform;  // with the scenario's cost overrides applied
  sim::ViolationLog violations;  // the first violation of each invariant, with its timeline
  sim::FaultPlan fault;          // fault.inject (tests of the invariant checkers)
  std::vector<double> line_ns;  // cpus x cpus line-transfer latency
  std::vector<std::vector<double>> line_ns_by_cpu;
  std::vector<std::unique_ptr<hw::Core>> cores;
  std::unique_ptr<hw::ApicBus> bus;
  std::unique_ptr<host::Kernel> kernel;
  std::vector<std::unique_ptr<VmInstance>> vms;  // vm.count of them
  std::vector<kvm::VcpuThread*> vcpu_threads;     // every VM's, in VM order
  std::unique_ptr<kvm::Tracer> tracer;            // output.trace (else null)
  std::unique_ptr<NestedSetup> nested;            // nested.*: L2 in VM 0, clocksources (issue 7)
  std::string power_model = "off";                 // host.power_model resolved: off | account | feedback
  std::unique_ptr<hw::PackagePower> power;         // C-states and turbo (platforms with a power table)

  // Every VM's workload is done (VMs without one do not hold the run up; a run where no VM
  // has one ends at run.max_sim_ms).
  bool workloads_done() const;
  double workload_progress() const;  // the least advanced VM's, 0..1; -1 without workloads
  std::unique_ptr<RtParts> rt;  // issue 3 (rt_setup.h)
};

}  // namespace run
