// Assembly of issue 3's latency-critical machine: rt.mode and the per-mechanism switches
// (bare metal, CPU isolation with nohz_full, DirectIRQ, exitless timer, timer passthrough),
// the interrupt sources of rt.load (host CPU load, an SR-IOV VF receiving iperf traffic),
// host kernel-thread noise, the cyclictest workload, and their metrics.
//
// rt.mode only chooses defaults: every mechanism has its own key, whose `auto` value
// follows the mode (`true`/`false` override it). Impossible combinations are a ConfigError.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hw/platform.h"
#include "kvm/params.h"
#include "sim/config.h"
#include "sim/time.h"

namespace hw {
class SriovVf;
}
namespace guest {
class Workload;
}
namespace host {
class Task;
class NativeTask;
class KthreadNoise;
class IrqThread;
}
namespace kvm {
class RtTimer;
}

namespace run {

class System;
struct VmInstance;

struct RtConfig {
  std::string mode = "none", load = "idle", nic_delivery = "forwarded";
  bool bare_metal = false, direct_irq = false, pi_inject_timer = false, timer_passthrough = false, hlt_in_guest = false;
  std::vector<int64_t> isolated;  // nohz_full, no host tasks
  int vcpu_rt_priority = 0;
  int housekeeping_cpu = 0;
  bool lazy_fpu = false;          // kvm.lazy_fpu
  bool assigned_irq_threaded = false;  // kvm.assigned_irq=threaded
};

// What the system owns for issue 3.
struct RtParts {
  RtParts();
  ~RtParts();
  RtConfig cfg;
  std::vector<int64_t> pin;
  std::vector<host::Task*> host_tasks;  // load and kthreads (for host.cpu_pct)
  std::vector<std::unique_ptr<kvm::RtTimer>> timers;
  std::vector<host::NativeTask*> native_tasks;
  std::vector<host::KthreadNoise*> kthreads;
  std::unique_ptr<hw::SriovVf> vf;
  host::IrqThread* irq_thread = nullptr;  // kvm.assigned_irq=threaded
  uint64_t rx_packets = 0;  // bare metal's host-side NAPI
};

// Platform what-ifs (rt.whatif_posted_interrupts), before the cores exist.
void apply_rt_platform(const sim::Config& cfg, hw::Platform& platform);
// rt.mode defaults, switches and their validation; `pin` is each vCPU's host CPU.
RtConfig resolve_rt(const sim::Config& cfg, const hw::Platform& platform, const std::vector<int64_t>& pin);
void apply_rt_params(const RtConfig& rt, kvm::KvmParams& k);
// After the VM's vCPU threads exist (none with bare metal): everything else.
void build_rt(System& sys, const sim::Config& cfg, RtConfig rt, const std::vector<int64_t>& pin);
std::unique_ptr<guest::Workload> make_cyclictest(const sim::Config& cfg, System& sys, VmInstance& vm);
void collect_rt_metrics(System& sys, sim::Picos end, std::map<std::string, double>& m);

}  // namespace run
