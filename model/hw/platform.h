// A named machine: topology, VMX capabilities, enabled mitigations and the cost table the
// models charge, loaded from platforms/<name>.yaml (format: platforms/README.md).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "hw/topology.h"

namespace hw {

// Every cost of hw/costs.def: cycles of the platform's nominal clock, or ns for *_ns keys.
struct CostTable {
#define COST(field, key, doc) double field = 0;
#include "hw/costs.def"
#undef COST
};

struct CostKey {
  const char* key;  // as written in platforms/*.yaml, e.g. "vmx.vmexit"
  const char* doc;
  double CostTable::*member;
};

const std::vector<CostKey>& cost_keys();                    // in costs.def order
double* find_cost(CostTable& table, std::string_view key);  // nullptr if unknown
const double* find_cost(const CostTable& table, std::string_view key);
// Keys ending in _ns are nanoseconds (given as `ns:`); the others cycles (`cycles:`).
inline bool cost_in_ns(std::string_view key) { return key.ends_with("_ns"); }

// What the CPU offers (IA32_VMX_* capability MSRs); whether KVM uses it is configuration.
struct VmxCapabilities {
  bool apicv = false;              // APIC-register virtualization + virtual-interrupt delivery
  bool posted_interrupts = false;  // pin-based "process posted interrupts"
  bool ipiv = false;               // IPI virtualization (tertiary controls, Sapphire Rapids+)
  bool tsc_scaling = false;        // secondary bit 25
  bool vmcs_shadowing = false;     // secondary bit 14 (Haswell+)
  bool ple = false;                // pause-loop exiting
  bool preemption_timer = false;
  unsigned preemption_timer_rate = 0;  // IA32_VMX_MISC[4:0]: ticks every 2^rate TSC cycles
};

// Issue 6: idle states and turbo of a package (optional `power:` section of a platform file).
// C-states as intel_idle lists them: exit latency and target residency in us; a state the
// part does not offer is absent. Turbo: the highest frequency by active cores in a package.
enum class CState : uint8_t { C0, C1, C1E, C3, C6, C7 };
inline constexpr int kNumCStates = 6;
inline constexpr const char* kCStateNames[kNumCStates] = {"C0", "C1", "C1E", "C3", "C6", "C7"};
struct PowerTable {
  bool present = false;
  bool has[kNumCStates] = {true, false, false, false, false, false};
  double exit_us[kNumCStates] = {};
  double residency_us[kNumCStates] = {};
  std::vector<double> turbo_mhz;  // [active cores - 1], 1 .. cores_per_socket
  std::string cstates_source, turbo_source;
  // host.power_model when the scenario says auto: "account" or "off" (power.default_model;
  // tables added after issue 6's first platform default to off so no result moves).
  std::string default_model = "off";
  // The deepest offered state not deeper than `s` (C1 at least when C1 exists).
  CState clamp(CState s) const;
  // The deepest offered state whose target residency fits `idle_us` (cpuidle's choice).
  CState deepest_for(double idle_us) const;
};

struct Platform {
  std::string name, description, microarchitecture;
  std::string file;         // path it was loaded from
  double freq_mhz = 0;      // nominal core clock: cost tables are in cycles of this clock
  double tsc_mhz = 0;       // invariant TSC rate
  double apic_bus_mhz = 0;  // physical LAPIC timer clock
  int sockets = 0, cores_per_socket = 0, threads_per_core = 0;
  VmxCapabilities vmx;
  std::vector<std::string> mitigations;  // on by default here: subset of {l1d_flush, mds_clear}
  CostTable costs;
  std::map<std::string, std::string> cost_source;  // key -> where the number comes from
  Topology topology;                               // built from the counts
  PowerTable power;                                // issue 6 (absent: no C-state/turbo model)

  // A path if the argument contains '/' or ends in .yaml; otherwise a name looked up as
  // <name>.yaml in $KVMSIM_PLATFORMS (if set), then KVMSIM_SOURCE_DIR/platforms.
  // Every problem throws sim::ConfigError (file, line, key, expected, found).
  static Platform load(const std::string& name_or_path);
  // The same from text already read (`file` names it in errors); the fuzz target uses it.
  static Platform load_text(const std::string& text, const std::string& file);
};

// The mitigation names a platform may list.
const std::vector<std::string>& known_mitigations();

// IPI wire latency on the APIC bus between two CPUs (SameThread uses the same-core cost).
double wire_latency_ns(const Platform& p, int a, int b);
// Cache-line handoff between two CPUs (SameThread uses the same-core cost).
double line_transfer_ns(const Platform& p, int a, int b);

}  // namespace hw
