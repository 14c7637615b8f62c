// kvmsim calibrate PLATFORM MEASUREMENTS... [--out new.yaml] [--scenario FILE] [--fit PREFIXES]
//                  [--goal-cycles N] [--set key=value]...
// Fits the platform's cost-table entries to kvm-unit-tests vmexit logs and perf kvm stat
// reports (validation/calibrate.h says how), prints residuals and the entries the data
// cannot pin down, and writes a platform file naming the measurements.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "guest/workload_vmexit.h"
#include "hw/platform.h"
#include "run/calibrate_sim.h"
#include "validation/calibrate.h"

int cmd_calibrate(int argc, char** argv) {
  std::string platform, out, scenario;
  std::vector<std::string> files, prefixes, sets;
  uint64_t goal = 1u << 20;  // enough iterations for a stable per-iteration cost; 2^30 is slow
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "kvmsim: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--out") out = value();
    else if (a == "--scenario") scenario = value();
    else if (a == "--set") sets.push_back(value());
    else if (a == "--goal-cycles") goal = std::stoull(value());
    else if (a == "--fit") {
      std::stringstream s(value());
      for (std::string p; std::getline(s, p, ',');)
        if (!p.empty()) prefixes.push_back(p);
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "kvmsim: unknown option '%s'\n", a.c_str());
      return 2;
    } else if (platform.empty()) platform = a;
    else files.push_back(a);
  }
  if (platform.empty() || files.empty()) {
    std::fprintf(stderr,
                 "usage: kvmsim calibrate PLATFORM MEASUREMENTS... [--out new.yaml] [--scenario FILE]\n"
                 "                        [--fit prefix,...] [--goal-cycles N] [--set key=value]...\n"
                 "MEASUREMENTS: kvm-unit-tests vmexit logs, perf kvm stat reports (these need --scenario,\n"
                 "the scenario that reproduces the measured workload). --fit limits the fitted entries to\n"
                 "keys starting with a prefix (default: every cost-table entry).\n");
    return 2;
  }
  const hw::Platform p = hw::Platform::load(platform);
  std::vector<validation::Measurement> ms;
  const auto& known = guest::vmexit_test_names();
  for (const auto& f : files)
    for (auto& m : validation::read_measurements(f)) {
      if (m.kind == "vmexit" && std::find(known.begin(), known.end(), m.name) == known.end()) {
        std::fprintf(stderr, "kvmsim: %s: test '%s' is not modelled; left out\n", f.c_str(), m.name.c_str());
        continue;
      }
      ms.push_back(std::move(m));
    }
  std::vector<std::string> keys;
  std::vector<double> prior;
  for (const auto& k : hw::cost_keys()) {
    const std::string key = k.key;
    if (!prefixes.empty() &&
        std::none_of(prefixes.begin(), prefixes.end(), [&](const std::string& x) { return key.rfind(x, 0) == 0; }))
      continue;
    keys.push_back(key);
    prior.push_back(p.costs.*k.member);
  }
  if (keys.empty()) {
    std::fprintf(stderr, "kvmsim: --fit matches no cost-table key (platforms/README.md lists them)\n");
    return 2;
  }
  std::vector<run::CalibrationTarget> targets;
  for (const auto& m : ms) targets.push_back({m.kind, m.name});
  const run::CalibrationSim sim(std::filesystem::absolute(p.file).string(), scenario, targets, keys, goal, sets);
  std::fprintf(stderr, "calibrating %zu entries of %s to %zu measurements (%zu simulations for the design matrix)\n",
               keys.size(), p.name.c_str(), ms.size(), keys.size() + 1);
  const validation::CalibrationResult r = validation::calibrate(keys, prior, ms, sim);
  std::cout << r.report(ms);
  if (!out.empty()) {
    std::ifstream f(p.file);
    std::ostringstream text;
    text << f.rdbuf();
    std::string desc;
    for (const auto& x : files) desc += (desc.empty() ? "" : ", ") + std::filesystem::path(x).filename().string();
    std::ofstream o(out);
    o << validation::rewrite_platform(text.str(), r, desc);
    if (!o) {
      std::fprintf(stderr, "kvmsim: cannot write %s\n", out.c_str());
      return 1;
    }
    std::cout << "wrote " << out << "\n";
  }
  return 0;
}
