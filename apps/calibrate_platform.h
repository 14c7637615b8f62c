// The engine of `kvmsim calibrate` (and of kvmsim.calibrate in Python): measurements read,
// the platform's candidate entries chosen, the simulator run (in-process, run/calibrate_sim.h)
// and the fit made (validation/calibrate.h), with the report and the rewritten platform file.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "validation/calibrate.h"

namespace tools {

struct CalibrateOptions {
  std::string platform;                                 // platform name or file
  // vmexit logs and perf kvm stat reports, each with the overrides it was measured under
  // (simulated runs for its measurements add them after `sets`).
  std::vector<std::pair<std::string, std::vector<std::string>>> files;
  std::vector<validation::Measurement> measurements;    // more, given directly (Python)
  std::string scenario;           // the workload perf measurements were taken under
  std::vector<std::string> fit;   // fit only keys starting with one of these (empty: all)
  uint64_t goal_cycles = 1u << 20;  // vmexit loop goal of the simulated runs
  std::vector<std::string> sets;  // overrides for every simulated run
  // Called before each simulated cost table (0 before the first), with the number of
  // entries and measurements fitted: long calibrations show progress (the CLI on stderr).
  std::function<void(int done, size_t entries, size_t measurements)> progress;
};

struct PlatformCalibration {
  std::string platform_name, platform_file;
  std::vector<validation::Measurement> measurements;  // those fitted, in order
  std::vector<std::string> left_out;  // notes on measurements the model cannot simulate
  std::string sources;                // the measurement files, for the new sources
  validation::CalibrationResult result;

  std::string report() const { return result.report(measurements); }
  // The platform file with the fitted entries rewritten (validation::rewrite_platform).
  std::string platform_yaml() const;
  // {"platform", "rank", "simulations", "iterations", "max_rel_residual",
  //  "entries": [{key, prior, fitted, change_pct, touched, pinned, null_share}],
  //  "measurements": [{source, sets, kind, name, measured, simulated_prior, simulated, residual_pct}],
  //  "unidentifiable": {key: share}, "untouched": [key], "left_out": [note]}
  nlohmann::json to_json() const;
};

// Throws sim::ConfigError (bad platform or --set), std::runtime_error (unreadable
// measurements, no key matching `fit`, no usable measurement).
PlatformCalibration calibrate_platform(const CalibrateOptions& opt);

}  // namespace tools
