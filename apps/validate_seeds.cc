#include "apps/validate_seeds.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "run/runner.h"
#include "sim/config.h"

namespace tools {
namespace {

struct Row {
  std::string source, name, scenario, sets, metric, op, baseline_sets, baseline_metric;
  double published = 0, tolerance = 0;
  double abs_tolerance = 0;  // op value: "0.3 or 2" also passes within 2 units
  bool quick = false;
};

std::vector<std::string> split(const std::string& s, char c) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string x; std::getline(ss, x, c);) out.push_back(x);
  if (!s.empty() && s.back() == c) out.emplace_back();
  return out;
}

std::vector<Row> read_rows(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error(path + ": cannot read");
  std::vector<Row> rows;
  std::string line;
  bool header = true;
  int no = 0;
  while (std::getline(f, line)) {
    ++no;
    if (line.empty() || line[0] == '#') continue;
    if (header) {
      header = false;
      continue;
    }
    const auto c = split(line, ',');
    if (c.size() != 11) throw std::runtime_error(path + ":" + std::to_string(no) + ": 11 columns expected, found " + std::to_string(c.size()));
    Row r{c[0], c[1], c[2], c[3], c[4], c[5], c[8], c[9]};
    try {
      r.published = std::stod(c[6]);
      const std::string& t = c[7];
      const size_t o = t.find(" or ");
      r.tolerance = t.empty() ? 0.0 : std::stod(t.substr(0, o));
      if (o != std::string::npos) r.abs_tolerance = std::stod(t.substr(o + 4));
    } catch (const std::exception&) {
      throw std::runtime_error(path + ":" + std::to_string(no) + ": published and tolerance must be numbers");
    }
    r.quick = c[10] == "1";
    rows.push_back(std::move(r));
  }
  return rows;
}

struct RunOut {
  std::optional<run::RunResult> result;
  std::string error;  // why there is no result
};

std::optional<double> metric_of(const run::RunResult& r, const std::string& m) {
  if (auto it = r.metrics.find(m); it != r.metrics.end()) return it->second;
  if (m.rfind("exits.", 0) == 0) {
    if (auto it = r.exits.find(m.substr(6)); it != r.exits.end()) return static_cast<double>(it->second);
    return 0.0;  // a reason the run never produced
  }
  return std::nullopt;
}

}  // namespace

nlohmann::json ValidateResult::to_json() const {
  return {{"rows", rows}, {"passed", passed}, {"failed", failed}, {"pending", pending}};
}

ValidateResult validate_seeds(const ValidateOptions& opt) {
  const std::string ref = opt.reference.empty() ? std::string(KVMSIM_SOURCE_DIR) + "/validation/reference/seeds.csv" : opt.reference;
  const std::string dir = opt.scenarios.empty() ? std::string(KVMSIM_SOURCE_DIR) + "/scenarios" : opt.scenarios;
  const std::vector<Row> rows = read_rows(ref);
  std::map<std::string, RunOut> runs;  // scenario + sets -> run
  auto get_run = [&](const std::string& scenario, const std::string& sets) -> RunOut& {
    const std::string key = scenario + "\n" + sets;
    if (auto it = runs.find(key); it != runs.end()) return it->second;
    RunOut& out = runs[key];
    const std::string path = dir + "/" + scenario;
    if (!std::filesystem::exists(path)) {
      out.error = "scenario " + scenario + " not built yet";
      return out;
    }
    std::vector<std::string> s;
    for (const auto& x : split(sets, '|'))
      if (!x.empty()) s.push_back(x);
    s.push_back("run.progress=false");
    try {
      out.result = run::run_scenario(run::load_scenario_file(path, s));
    } catch (const sim::ConfigError& e) {
      out.error = std::string("mechanism not built yet: ") + e.what();
    } catch (const std::exception& e) {
      out.error = std::string("run failed: ") + e.what();
    }
    return out;
  };

  ValidateResult res;
  std::ostringstream table;
  char line[512];
  std::snprintf(line, sizeof line, "%-58s %-10s %10s %10s %8s %-18s %s\n", "row", "source", "published", "simulated",
                "error", "tolerance", "result");
  table << line;
  for (const Row& r : rows) {
    if (opt.quick && !r.quick) continue;
    if (!opt.only.empty() && r.name.find(opt.only) == std::string::npos && r.source.find(opt.only) == std::string::npos) continue;
    std::string status, why;
    std::optional<double> sim;
    RunOut& a = get_run(r.scenario, r.sets);
    if (!a.result) {
      status = "pending";
      why = a.error;
    } else if (const auto v = metric_of(*a.result, r.metric); !v) {
      status = "pending";
      why = "metric " + r.metric + " not produced yet";
    } else if (r.op == "value" || r.op == "max" || r.op == "min") {
      sim = *v;
    } else {
      const bool same_run = r.baseline_sets.empty();
      RunOut& b = same_run ? a : get_run(r.scenario, r.baseline_sets);
      const std::string bm = r.baseline_metric.empty() ? r.metric : r.baseline_metric;
      const auto bv = b.result ? metric_of(*b.result, bm) : std::nullopt;
      if (!bv) {
        status = "pending";
        why = b.result ? "metric " + bm + " not produced yet" : b.error;
      } else if (r.op == "reduction_pct") {
        sim = *bv != 0 ? 100.0 * (1.0 - *v / *bv) : 0.0;
      } else {
        sim = *bv != 0 ? *v / *bv : INFINITY;
      }
    }
    bool ok = false;
    std::string tol;
    if (r.op == "value") {
      tol = "+-" + std::to_string(static_cast<int>(std::lround(100 * r.tolerance))) + "%";
      if (r.abs_tolerance > 0) tol += " or +-" + std::to_string(static_cast<int>(std::lround(r.abs_tolerance)));
    }
    else if (r.op == "reduction_pct") tol = "+-" + std::to_string(static_cast<int>(r.tolerance)) + " pts";
    else if (r.op == "ratio_min") tol = "ratio >=";
    else if (r.op == "ratio_max") tol = "ratio <=";
    else if (r.op == "max") tol = "<= +" + std::to_string(static_cast<int>(r.tolerance));
    else if (r.op == "min") tol = ">= -" + std::to_string(static_cast<int>(r.tolerance));
    if (sim) {
      const double s = *sim, p = r.published;
      if (r.op == "value") ok = std::abs(s - p) <= std::max(r.tolerance * std::abs(p), r.abs_tolerance);
      else if (r.op == "reduction_pct") ok = std::abs(s - p) <= r.tolerance;
      else if (r.op == "ratio_min") ok = s >= p;
      else if (r.op == "ratio_max") ok = s <= p;
      else if (r.op == "max") ok = s <= p + r.tolerance;
      else if (r.op == "min") ok = s >= p - r.tolerance;
      status = ok ? "pass" : "FAIL";
      (ok ? res.passed : res.failed)++;
    } else {
      ++res.pending;
    }
    std::string err = "-";
    std::optional<double> err_pct;
    if (sim && r.published != 0) {
      err_pct = 100.0 * (*sim - r.published) / std::abs(r.published);
      std::snprintf(line, sizeof line, "%+.1f%%", *err_pct);
      err = line;
    }
    // "seed 000" for a seed file, else the reference's first word.
    std::string src = r.source.substr(0, r.source.find_first_of(" ("));
    if (src.size() > 4 && std::isdigit(static_cast<unsigned char>(src[0])) && src[3] == '_') src = "seed " + src.substr(0, 3);
    else if (src == "issue") src = r.source.substr(0, r.source.find(' ', 6));
    else if (src.rfind("calibration", 0) == 0) src = "calib-data";
    char simtxt[32] = "-";
    if (sim) std::snprintf(simtxt, sizeof simtxt, "%.4g", *sim);
    std::snprintf(line, sizeof line, "%-58.58s %-10.10s %10.4g %10s %8s %-18s %s\n", r.name.c_str(), src.c_str(), r.published,
                  simtxt, err.c_str(), tol.c_str(), status.c_str());
    table << line;
    using nlohmann::json;
    json j{{"source", r.source},     {"name", r.name},
           {"published", r.published}, {"simulated", sim ? json(*sim) : json()},
           {"tolerance", tol},       {"within_tolerance", sim ? json(ok) : json()},
           {"status", status},       {"scenario", r.scenario},
           {"sets", r.sets},         {"metric", r.metric},
           {"op", r.op},             {"error_pct", err_pct ? json(*err_pct) : json()}};
    if (!why.empty()) j["pending_reason"] = why;
    res.rows.push_back(std::move(j));
  }
  res.table = table.str();
  return res;
}

}  // namespace tools
