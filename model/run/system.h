// A simulated machine built from a scenario: the platform's cores on an APIC bus, the
// host kernel, the VM with its vCPU threads, and the guest workload.
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

namespace run {

class System {
 public:
  System(const sim::Config& cfg, const hw::Platform& platform);
  ~System();
  void start();

  hw::Platform platform;  // with the scenario's cost overrides applied
  std::vector<double> line_ns;  // cpus x cpus line-transfer latency
  std::vector<std::vector<double>> line_ns_by_cpu;
  std::vector<std::unique_ptr<hw::Core>> cores;
  std::unique_ptr<hw::ApicBus> bus;
  std::unique_ptr<host::Kernel> kernel;
  std::unique_ptr<kvm::Kvm> vm;
  std::vector<std::unique_ptr<guest::GuestCpu>> guests;
  std::vector<kvm::VcpuThread*> vcpu_threads;
  std::unique_ptr<guest::Workload> workload;
  guest::VmView view;
  guest::GuestVm guest_vm;
};

}  // namespace run
