// Helpers shared by the tests that run whole simulations (test_core.cc, test_scenarios.cc):
// building a scenario from YAML text, running it in-process, and reading costs back from
// the platform file.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "hw/platform.h"
#include "run/runner.h"
#include "run/schema.h"
#include "sim/config.h"

namespace testutil {

inline sim::Config scenario(const std::string& yaml, const std::vector<std::string>& sets = {}) {
  return sim::Config::load_text(run::scenario_schema(), yaml, "test.yaml", sets);
}

// "[a, b, c]" for a YAML flow list.
inline std::string yaml_list(const std::vector<std::string>& items) {
  std::string s = "[";
  for (size_t i = 0; i < items.size(); ++i) s += (i ? ", " : "") + items[i];
  return s + "]";
}

// A kvm-unit-tests vmexit run of `tests` on the default platform (skylake-sp-2s, 2 vCPUs).
// Capped at 200 ms of simulated time (a few ms suffice), so a model that stalls fails fast
// (the missing vmexit.* metric) instead of simulating the default minute.
inline sim::Config vmexit_scenario(const std::vector<std::string>& tests, uint64_t goal_cycles,
                                   const std::vector<std::string>& sets = {}) {
  const std::string yaml = "name: test\nrun: {progress: false, max_sim_ms: 200}\nvmexit:\n  tests: " + yaml_list(tests) +
                           "\n  goal_cycles: " + std::to_string(goal_cycles) + "\n";
  return scenario(yaml, sets);
}

inline run::RunResult run_vmexit(const std::vector<std::string>& tests, uint64_t goal_cycles,
                                 const std::vector<std::string>& sets = {}) {
  return run::run_scenario(vmexit_scenario(tests, goal_cycles, sets));
}

// A metric that must be present (a test failure, and 0, if it is not).
inline double metric(const run::RunResult& r, const std::string& key) {
  const auto it = r.metrics.find(key);
  if (it == r.metrics.end()) {
    ADD_FAILURE() << "metric '" << key << "' missing";
    return 0.0;
  }
  return it->second;
}

// Exits of one reason over the VM (0 if none happened).
inline uint64_t exits(const run::RunResult& r, const std::string& reason) {
  const auto it = r.exits.find(reason);
  return it == r.exits.end() ? 0 : it->second;
}

inline double cost(const hw::Platform& p, const std::string& key) {
  const double* v = hw::find_cost(p.costs, key);
  if (!v) {
    ADD_FAILURE() << "no cost '" << key << "'";
    return 0.0;
  }
  return *v;
}

inline bool has_mitigation(const hw::Platform& p, const std::string& name) {
  for (const auto& m : p.mitigations)
    if (m == name) return true;
  return false;
}

// The cycles of one CPUID iteration of kvm-unit-tests vmexit, from the cost table: the
// hardware exit, KVM's full exit path and CPUID handler, the entry path with the
// platform's default entry mitigation (MDS clear on Skylake-SP), and the hardware entry.
inline double cpuid_round_trip_cycles(const hw::Platform& p) {
  return cost(p, "vmx.vmexit") + cost(p, "kvm.exit_path") + cost(p, "kvm.handle_exit") +
         cost(p, "kvm.handle_cpuid") + cost(p, "kvm.skip_instruction") + cost(p, "kvm.enter_path") +
         (has_mitigation(p, "mds_clear") ? cost(p, "mitigation.mds_clear") : 0.0) + cost(p, "vmx.vmentry");
}

// Loop iterations of one kvm-unit-tests vmexit test: do_test doubles the count from 64
// until one loop lasts `goal` TSC cycles, so the last loop has N = 64 * 2^k iterations,
// the first N with N * cycles_per_iteration >= goal, and all loops together 2N - 64.
inline uint64_t vmexit_final_iterations(uint64_t goal, double cycles_per_iteration) {
  uint64_t n = 64;
  while (static_cast<double>(n) * cycles_per_iteration < static_cast<double>(goal)) n *= 2;
  return n;
}
inline uint64_t vmexit_total_iterations(uint64_t goal, double cycles_per_iteration) {
  return 2 * vmexit_final_iterations(goal, cycles_per_iteration) - 64;
}

}  // namespace testutil
