// A workload: guest programs installed on a VM's vCPUs, and what it reports.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "guest/guest_cpu.h"
#include "hw/platform.h"

namespace guest {

// What a workload can see of the VM it runs in.
struct VmView {
  std::vector<GuestCpu*> cpus;          // by vCPU index
  std::vector<uint32_t> apic_ids;       // guest APIC id of each vCPU
  const hw::Platform* platform = nullptr;
};

class Workload {
 public:
  virtual ~Workload() = default;
  virtual void setup(VmView& vm) = 0;
  virtual bool done() const = 0;
  // Metrics (flat names) and text outputs (file name -> contents).
  virtual void report(std::map<std::string, double>& metrics, std::map<std::string, std::string>& files) const = 0;
  // A 0..1 estimate of progress, for the progress line.
  virtual double progress() const { return 0.0; }
};

}  // namespace guest
