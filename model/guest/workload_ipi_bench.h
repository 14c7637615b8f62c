// An IPI microbenchmark in the spirit of the kernel's ipi_benchmark module that seed 000
// used: vCPU 0 sends call-function IPIs through the guest's APIC driver (whatever
// guest.ipi_mode says) and the targets run a handler that releases the call's csd.
//   ipi.single_ns     sender-side cost of one IPI to one target (the send itself)
//   ipi.roundtrip_ns  smp_call_function_single(wait=1): send and wait for the handler
//   ipi.broadcast_ns  smp_call_function_many(all others, wait=1)
//   ipi.nmi_broadcast_ns  (ipi.nmi) an NMI to all others, waiting until every handler ran,
//                     as trigger_all_cpu_backtrace -> nmi_trigger_cpumask_backtrace does
#pragma once

#include <cstdint>

#include "guest/workload.h"

namespace guest {

struct IpiBenchParams {
  uint64_t iterations = 200;  // per measurement
  int target = 1;             // vCPU of the single and round-trip tests
  bool nmi = false;           // add the NMI broadcast measurement
  bool hotplug = false;       // add the CPU offline/online (INIT/SIPI) measurement
  bool smi = false;           // add the SMI measurement
};

std::unique_ptr<Workload> make_ipi_bench_workload(const IpiBenchParams& p);

}  // namespace guest
