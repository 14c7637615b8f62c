// kvmsim calibrate PLATFORM MEASUREMENTS... [--out new.yaml] [--scenario FILE] [--fit PREFIXES]
//                  [--goal-cycles N] [--set key=value]... [--json]
// A measurement FILE@key=value@... is simulated with those overrides (its host's setting).
// Fits the platform's cost-table entries to kvm-unit-tests vmexit logs and perf kvm stat
// reports (validation/calibrate.h says how), prints residuals and the entries the data
// cannot pin down, and writes a platform file naming the measurements. The work is in
// apps/calibrate_platform.h (shared with Python).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "apps/calibrate_platform.h"
#include "apps/commands.h"

int cmd_calibrate(int argc, char** argv) {
  tools::CalibrateOptions opt;
  std::string out;
  bool json = false;
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
    else if (a == "--json") json = true;
    else if (a == "--scenario") opt.scenario = value();
    else if (a == "--set") opt.sets.push_back(value());
    else if (a == "--goal-cycles") opt.goal_cycles = std::stoull(value());
    else if (a == "--fit") {
      std::stringstream s(value());
      for (std::string p; std::getline(s, p, ',');)
        if (!p.empty()) opt.fit.push_back(p);
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "kvmsim: unknown option '%s'\n", a.c_str());
      return 2;
    } else if (opt.platform.empty()) {
      opt.platform = a;
    } else {
      // FILE@key=value@key=value: the host setting the file was measured under.
      std::vector<std::string> parts;
      std::stringstream s(a);
      for (std::string p; std::getline(s, p, '@');) parts.push_back(p);
      const bool tagged = parts.size() > 1 && std::all_of(parts.begin() + 1, parts.end(), [](const std::string& p) {
                            return p.find('=') != std::string::npos;
                          });
      if (tagged) opt.files.push_back({parts[0], std::vector<std::string>(parts.begin() + 1, parts.end())});
      else opt.files.push_back({a, {}});
    }
  }
  if (opt.platform.empty() || opt.files.empty()) {
    std::fprintf(stderr,
                 "usage: kvmsim calibrate PLATFORM MEASUREMENTS... [--out new.yaml] [--scenario FILE]\n"
                 "                        [--fit prefix,...] [--goal-cycles N] [--set key=value]... [--json]\n"
                 "MEASUREMENTS: kvm-unit-tests vmexit logs, perf kvm stat reports (these need --scenario,\n"
                 "the scenario that reproduces the measured workload); FILE@key=value[@key=value] simulates\n"
                 "that file's measurements with those overrides (the host setting it was taken under).\n"
                 "--fit limits the fitted entries to keys starting with a prefix (default: every entry).\n");
    return 2;
  }
  // Progress on stderr: the plan once, then a counter of simulations on a terminal.
  const bool tty = isatty(fileno(stderr)) != 0;
  opt.progress = [tty](int done, size_t entries, size_t measurements) {
    if (done == 0)
      std::fprintf(stderr, "kvmsim: calibrating %zu entries against %zu measurements\n", entries, measurements);
    else if (tty)
      std::fprintf(stderr, "\rkvmsim: %d simulations", done);
  };
  const tools::PlatformCalibration c = tools::calibrate_platform(opt);
  if (tty && c.result.simulations > 1) std::fprintf(stderr, "\n");
  for (const auto& note : c.left_out) std::fprintf(stderr, "kvmsim: %s\n", note.c_str());
  if (json) std::cout << c.to_json().dump(2) << "\n";
  else std::cout << c.report();
  if (!out.empty()) {
    std::ofstream o(out);
    o << c.platform_yaml();
    if (!o) {
      std::fprintf(stderr, "kvmsim: cannot write %s\n", out.c_str());
      return 1;
    }
    if (!json) std::cout << "wrote " << out << "\n";
  }
  return 0;
}
