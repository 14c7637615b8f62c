#include "run/calibrate_sim.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>
#include <stdexcept>

#include "run/runner.h"
#include "run/schema.h"

namespace run {

CalibrationSim::CalibrationSim(std::string platform, std::string perf_scenario, std::vector<CalibrationTarget> targets,
                               std::vector<std::string> keys, uint64_t goal_cycles, std::vector<std::string> sets)
    : platform_(std::move(platform)), perf_scenario_(std::move(perf_scenario)), targets_(std::move(targets)),
      keys_(std::move(keys)), sets_(std::move(sets)), goal_cycles_(goal_cycles) {
  for (const auto& t : targets_)
    if (t.kind == "perf" && perf_scenario_.empty())
      throw std::runtime_error("calibrate: perf kvm stat measurements need --scenario FILE (the workload they were taken under)");
}

std::vector<double> CalibrationSim::operator()(const std::vector<double>& costs) const {
  std::vector<std::string> common = sets_;
  for (size_t k = 0; k < keys_.size(); ++k) {
    char v[64];
    std::snprintf(v, sizeof v, "%.17g", costs[k]);
    common.push_back("cost." + keys_[k] + "=" + v);
  }
  std::vector<double> out(targets_.size(), 0.0);
  // One run per (kind, overrides) group, in the order the groups first appear.
  std::vector<std::pair<std::string, std::vector<std::string>>> groups;
  for (const auto& t : targets_)
    if (std::find(groups.begin(), groups.end(), std::make_pair(t.kind, t.sets)) == groups.end()) groups.emplace_back(t.kind, t.sets);
  for (const auto& [kind, own] : groups) {
    std::vector<std::string> sets = common;
    sets.insert(sets.end(), own.begin(), own.end());
    auto in_group = [&, &kind = kind, &own = own](const CalibrationTarget& t) { return t.kind == kind && t.sets == own; };
    if (kind == "vmexit") {
      std::string tests;
      for (const auto& t : targets_)
        if (in_group(t)) tests += (tests.empty() ? "" : ", ") + t.name;
      const std::string yaml = "name: calibrate\nplatform: " + platform_ +
                               "\nrun: {progress: false, max_sim_ms: 10000}\nworkload: {kind: vmexit}\nvmexit: {tests: [" + tests +
                               "], goal_cycles: " + std::to_string(goal_cycles_) + "}\n";
      const RunResult r = run_scenario(sim::Config::load_text(scenario_schema(), yaml, "calibrate.yaml", sets));
      for (size_t j = 0; j < targets_.size(); ++j)
        if (in_group(targets_[j])) {
          const auto it = r.metrics.find("vmexit." + targets_[j].name);
          if (it != r.metrics.end()) out[j] = it->second;
        }
    } else {
      sets.push_back("run.progress=false");
      const RunResult r = run_scenario(load_scenario_file(perf_scenario_, sets));
      // Mean kvm_exit-to-kvm_entry time per reason over every vCPU (exits_by_vcpu.csv).
      std::map<std::string, std::pair<double, double>> by_reason;  // reason -> (n, sum us)
      for (const ExitRow& row : parse_exits_by_vcpu_csv(r.exits_by_vcpu_csv)) {
        auto& [n, sum] = by_reason[row.reason];
        n += static_cast<double>(row.count);
        sum += static_cast<double>(row.count) * row.mean_us;
      }
      for (size_t j = 0; j < targets_.size(); ++j)
        if (in_group(targets_[j]))
          if (const auto it = by_reason.find(targets_[j].name); it != by_reason.end() && it->second.first > 0)
            out[j] = it->second.second / it->second.first;
    }
  }
  return out;
}

}  // namespace run
