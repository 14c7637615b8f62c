// The simulator side of `kvmsim calibrate` (validation/calibrate.h): the simulated value of
// each measurement for a candidate cost table, from in-process runs with cost.<key>
// overrides. vmexit measurements run the kvm-unit-tests vmexit workload on the platform;
// perf measurements (mean time of an exit reason) run a scenario the caller names. Targets
// with their own overrides (measured under another host setting) get runs of their own: one
// per kind and distinct set of overrides.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace run {

struct CalibrationTarget {
  std::string kind;  // "vmexit" | "perf"
  std::string name;  // test or exit reason
  std::vector<std::string> sets = {};  // overrides for this target's run (after the common ones)
};

class CalibrationSim {
 public:
  // `platform`: file or name; `perf_scenario`: scenario file for perf targets (may be empty
  // when there are none); `sets`: extra overrides for every run.
  CalibrationSim(std::string platform, std::string perf_scenario, std::vector<CalibrationTarget> targets,
                 std::vector<std::string> keys, uint64_t goal_cycles, std::vector<std::string> sets = {});
  // One value per target, in order (0 when the run does not produce it).
  std::vector<double> operator()(const std::vector<double>& costs) const;

 private:
  std::string platform_, perf_scenario_;
  std::vector<CalibrationTarget> targets_;
  std::vector<std::string> keys_, sets_;
  uint64_t goal_cycles_;
};

}  // namespace run
