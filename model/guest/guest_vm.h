// What every vCPU of a guest knows about its VM: the APIC ids of its CPUs, how its APIC
// driver sends IPIs, and (NoExit PV IPI) the mapping of every vCPU's PI descriptor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hw {
struct PiDesc;
struct PowerTable;
}
namespace kvm {
class StealTime;
}

namespace guest {

class GuestCpu;

enum class IpiMode : uint8_t {
  X2apicPhysical,  // x2apic_phys: one ICR write per destination
  X2apicCluster,   // x2apic_cluster: one ICR write per cluster of 16 logical ids
  Pv,              // kvm_send_ipi_mask: KVM_HC_SEND_IPI with 128-id bitmaps
  NoexitPv,        // seed 002: post into the target's PI descriptor, ICR not intercepted
  Ipiv,            // x2apic_phys on a host with IPI virtualization (the CPU posts the ICR write)
};

IpiMode ipi_mode_from_string(const std::string& s);
const char* to_string(IpiMode m);

struct GuestVm {
  IpiMode ipi_mode = IpiMode::X2apicPhysical;
  std::vector<uint32_t> apic_ids;      // by vCPU index
  std::vector<hw::PiDesc*> pi_descs;   // NoExit PV IPI: mapped descriptors, by vCPU index
  // Issue 6: each vCPU's registered struct kvm_steal_time (empty: steal time not enabled),
  // and whether the guest uses kvm_flush_tlb_multi (KVM_FEATURE_PV_TLB_FLUSH).
  std::vector<kvm::StealTime*> steal_time;
  bool pv_tlb_flush = false;
  // PV sched yield (kvm_smp_send_call_func_ipi, guest/pv_sched_yield.h), and every vCPU of
  // the VM (idle_cpu() of another CPU).
  bool pv_sched_yield = false;
  std::vector<const GuestCpu*> cpus;
  // The guest's idle drivers: the MWAIT states it sees (the host's, through CPUID leaf 5),
  // the TSC rate, and cpuidle-haltpoll's guest_halt_poll_ns.
  const hw::PowerTable* power = nullptr;
  double tsc_mhz = 1000.0;
  uint64_t guest_halt_poll_ns = 200000;
};

}  // namespace guest
