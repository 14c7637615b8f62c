// One simulation run: build the system from a resolved scenario, simulate until the
// workload is done, and collect everything a result folder holds.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/config.h"

namespace run {

class System;

struct RunOptions {
  bool progress = false;  // print a progress line to stderr
  // Called after the system is built, before it starts: tests install their own guest
  // programs here.
  std::function<void(System&)> customize;
  std::function<bool(System&)> done;  // an extra end condition (with custom programs)
};

struct RunResult {
  nlohmann::json summary;                       // summary.json
  std::map<std::string, double> metrics;        // flat name -> number (also in summary)
  std::map<std::string, uint64_t> exits;        // SDM reason name -> count
  std::string exits_by_vcpu_csv;
  std::map<std::string, std::string> files;     // other outputs: perf-kvm-stat.txt, vmexit.txt
};

// Loads the scenario (file or text) against the schema and applies --set overrides.
sim::Config load_scenario_file(const std::string& path, const std::vector<std::string>& sets);

// Runs in a fresh SystemC simulation context, so several runs can follow each other in
// one process.
RunResult run_scenario(const sim::Config& cfg, const RunOptions& opts = {});

// Writes summary.json, exits_by_vcpu.csv and the text outputs into `dir` (created).
void write_results(const RunResult& r, const std::string& dir);

// One row of exits_by_vcpu.csv, read back (calibration and tests use the simulator's own CSV).
struct ExitRow {
  std::string vm;
  int vcpu = 0;
  std::string reason;
  uint64_t count = 0;
  double mean_us = 0, max_us = 0;
};
std::vector<ExitRow> parse_exits_by_vcpu_csv(const std::string& csv);

// The human-readable summary `kvmsim run` prints.
std::string format_summary(const RunResult& r);

const char* version();
std::string resolve_platform(const sim::Config& cfg);

}  // namespace run
