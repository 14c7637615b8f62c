#include "apps/calibrate_platform.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "guest/workload_vmexit.h"
#include "hw/platform.h"
#include "run/calibrate_sim.h"

namespace tools {

PlatformCalibration calibrate_platform(const CalibrateOptions& opt) {
  PlatformCalibration out;
  const hw::Platform p = hw::Platform::load(opt.platform);
  out.platform_name = p.name;
  out.platform_file = std::filesystem::absolute(p.file).string();
  std::vector<validation::Measurement> all;
  for (const auto& [f, sets] : opt.files) {
    for (auto& m : validation::read_measurements(f)) {
      m.sets = sets;
      all.push_back(std::move(m));
    }
    std::string desc = std::filesystem::path(f).filename().string();
    for (const auto& x : sets) desc += " @" + x;
    out.sources += (out.sources.empty() ? "" : ", ") + desc;
  }
  for (const auto& m : opt.measurements) {
    all.push_back(m);
    if (out.sources.find(m.source) == std::string::npos) out.sources += (out.sources.empty() ? "" : ", ") + m.source;
  }
  const auto& known = guest::vmexit_test_names();
  for (auto& m : all) {
    if (m.kind != "vmexit" && m.kind != "perf")
      throw std::runtime_error(m.source + ": measurement kind '" + m.kind + "': expected vmexit or perf");
    if (m.kind == "vmexit" && std::find(known.begin(), known.end(), m.name) == known.end()) {
      out.left_out.push_back(m.source + ": test '" + m.name + "' is not modelled; left out");
      continue;
    }
    out.measurements.push_back(std::move(m));
  }
  if (out.measurements.empty()) throw std::runtime_error("calibrate: no measurement the model can simulate");
  std::vector<std::string> keys;
  std::vector<double> prior;
  for (const auto& k : hw::cost_keys()) {
    const std::string key = k.key;
    if (!opt.fit.empty() &&
        std::none_of(opt.fit.begin(), opt.fit.end(), [&](const std::string& x) { return key.rfind(x, 0) == 0; }))
      continue;
    keys.push_back(key);
    prior.push_back(p.costs.*k.member);
  }
  if (keys.empty()) throw std::runtime_error("calibrate: the fit prefixes match no cost-table key (platforms/README.md lists them)");
  std::vector<run::CalibrationTarget> targets;
  for (const auto& m : out.measurements) targets.push_back({m.kind, m.name, m.sets});
  const run::CalibrationSim sim(out.platform_file, opt.scenario, targets, keys, opt.goal_cycles, opt.sets);
  if (!opt.progress) {
    out.result = validation::calibrate(keys, prior, out.measurements, sim);
    return out;
  }
  int done = 0;
  const validation::SimulateFn counted = [&](const std::vector<double>& costs) {
    opt.progress(done++, keys.size(), out.measurements.size());
    return sim(costs);
  };
  out.result = validation::calibrate(keys, prior, out.measurements, counted);
  return out;
}

std::string PlatformCalibration::platform_yaml() const {
  std::ifstream f(platform_file);
  if (!f) throw std::runtime_error(platform_file + ": cannot read");
  std::ostringstream text;
  text << f.rdbuf();
  return validation::rewrite_platform(text.str(), result, sources);
}

nlohmann::json PlatformCalibration::to_json() const {
  using nlohmann::json;
  const auto& r = result;
  json j{{"platform", platform_name},   {"platform_file", platform_file},     {"rank", r.rank},
         {"simulations", r.simulations}, {"iterations", r.iterations},         {"max_rel_residual", r.max_rel_residual()},
         {"left_out", left_out},         {"unidentifiable", json::object()}, {"untouched", json::array()}};
  json entries = json::array();
  for (size_t k = 0; k < r.keys.size(); ++k) {
    const auto u = std::find(r.unidentifiable.begin(), r.unidentifiable.end(), r.keys[k]);
    const double share = u == r.unidentifiable.end() ? 0.0 : r.null_share[static_cast<size_t>(u - r.unidentifiable.begin())];
    entries.push_back({{"key", r.keys[k]},
                       {"prior", r.prior[k]},
                       {"fitted", r.fitted[k]},
                       {"change_pct", r.prior[k] != 0 ? 100.0 * (r.fitted[k] - r.prior[k]) / r.prior[k] : 0.0},
                       {"touched", static_cast<bool>(r.touched[k])},
                       {"pinned", r.touched[k] && u == r.unidentifiable.end()},
                       {"null_share", r.touched[k] ? share : 1.0}});
    if (!r.touched[k]) j["untouched"].push_back(r.keys[k]);
  }
  for (size_t i = 0; i < r.unidentifiable.size(); ++i) j["unidentifiable"][r.unidentifiable[i]] = r.null_share[i];
  json ms = json::array();
  for (size_t i = 0; i < measurements.size(); ++i) {
    const auto& m = measurements[i];
    ms.push_back({{"source", m.source},
                  {"sets", m.sets},
                  {"kind", m.kind},
                  {"name", m.name},
                  {"measured", r.measured[i]},
                  {"simulated_prior", r.simulated_prior[i]},
                  {"simulated", r.simulated[i]},
                  {"residual_pct", r.measured[i] != 0 ? 100.0 * (r.simulated[i] - r.measured[i]) / r.measured[i] : 0.0}});
  }
  j["entries"] = std::move(entries);
  j["measurements"] = std::move(ms);
  return j;
}

}  // namespace tools
