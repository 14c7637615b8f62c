// Nested virtualization in a run (issue 7): nested.level 2 turns VM 0 into an L1 hypervisor
// running the same model/kvm code for an L2 guest on each of its vCPUs (kvm/nested), with
// nested.l0, nested.evmcs, nested.shadow_vmcs, nested.stable_clock; at any level it gives
// the guest its clocksource and builds seed 004's workloads (cpuid_loop, clock_gettime,
// kbuild), and simulates one L1 migration (nested.migrate_at_ms) for re-enlightenment.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "guest/clocksource.h"
#include "guest/guest_cpu.h"
#include "guest/workload.h"
#include "host/hrtimer.h"
#include "host/kernel.h"
#include "kvm/kvm.h"
#include "kvm/nested/nested_vmx.h"
#include "sim/config.h"

namespace run {

class System;
struct VmInstance;

struct NestedSetup {
  int level = 1;
  kvm::nested::NestedParams params;
  std::unique_ptr<kvm::Kvm> l1_kvm;                               // L1's KVM (level 2)
  std::vector<std::unique_ptr<kvm::nested::NestedVmx>> vmx;       // L0's state per vCPU
  std::vector<std::unique_ptr<guest::GuestCpu>> l2_guests;
  struct L1Clockevent {  // L1's LAPIC timer as L0 emulates it: a host timer on its CPU
    host::Kernel* kernel = nullptr;
    int cpu = 0;
    host::HrTimer timer;
  };
  std::vector<std::unique_ptr<L1Clockevent>> l1_timers;
  guest::ClockPage clock_page;
  guest::Clocksource clocksource;
  host::HrTimer migrate_timer, notify_timer;
  sim::Picos migrate_at = 0, notify_delay = 0;
  System* sys = nullptr;

  void start();  // arms the migration timers
  void report(std::map<std::string, double>& m) const;
};

std::unique_ptr<NestedSetup> make_nested(const sim::Config& cfg, System& sys);
// Seed 004's workload kinds; nullptr for the others.
std::unique_ptr<guest::Workload> make_nested_workload(const sim::Config& cfg, const std::string& kind,
                                                      const NestedSetup& n);

}  // namespace run
