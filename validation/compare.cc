#include "validation/compare.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "validation/detect.h"
#include "validation/parse_common.h"
#include "validation/json.h"
#include "validation/cyclictest.h"
#include "validation/ftrace_kvm.h"
#include "validation/kvm_stats.h"
#include "validation/perf_kvm_stat.h"
#include "validation/vmexit_log.h"

namespace validation {
namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string fmt(const char* f, double a, double b = 0, double c = 0, double d = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, f, a, b, c, d);
  return buf;
}

}  // namespace

double exit_mix_score(const nlohmann::json& real, const nlohmann::json& sim) {
  const auto& re = real.at("exits");
  const auto& se = sim.at("exits");
  double tvd = 0, time_err = 0;
  for (auto it = re.begin(); it != re.end(); ++it) {
    const double p = it.value().value("pct", 0.0) / 100.0;
    const double q = se.contains(it.key()) ? se.at(it.key()).value("pct", 0.0) / 100.0 : 0.0;
    tvd += std::abs(p - q);
    const double ra = it.value().value("avg_us", 0.0);
    const double sa = se.contains(it.key()) ? se.at(it.key()).value("avg_us", 0.0) : 0.0;
    if (ra > 0 && sa > 0) time_err += p * std::abs(std::log(sa / ra));
    else if (ra > 0) time_err += p;  // a reason the simulation never produced
  }
  for (auto it = se.begin(); it != se.end(); ++it)
    if (!re.contains(it.key())) tvd += it.value().value("pct", 0.0) / 100.0;
  tvd *= 0.5;
  return 100.0 * (1.0 - std::min(1.0, tvd)) * (1.0 - std::min(1.0, time_err));
}

double cycles_score(const nlohmann::json& real, const nlohmann::json& sim) {
  const auto& r = real.at("vmexit");
  const auto& s = sim.at("vmexit");
  double err = 0;
  int n = 0;
  for (auto it = r.begin(); it != r.end(); ++it) {
    if (!s.contains(it.key())) continue;
    const double a = it.value().get<double>(), b = s.at(it.key()).get<double>();
    if (a <= 0 || b <= 0) continue;
    err += std::abs(std::log(b / a));
    ++n;
  }
  return n ? 100.0 * std::exp(-err / n) : -1.0;
}

Comparison compare(const std::string& real_text, const std::string& real_name, const std::string& sim_dir) {
  Comparison c;
  const Format f = detect_format(real_text);
  c.kind = to_string(f);
  const std::filesystem::path dir(sim_dir);
  std::ostringstream out;
  out << "real: " << real_name << " (" << c.kind << ")\n";
  out << "sim:  " << (sim_dir.empty() ? std::string("(none)") : sim_dir) << "\n\n";
  switch (f) {
    case Format::PerfKvmStat: {
      c.real = to_json(parse_perf_kvm_stat(real_text));
      if (!sim_dir.empty()) c.sim = to_json(parse_perf_kvm_stat(read_file(dir / "perf-kvm-stat.txt")));
      char line[200];
      std::snprintf(line, sizeof line, "%-22s %9s %9s %11s %11s\n", "VM-EXIT", "real %", "sim %", "real avg us", "sim avg us");
      out << line;
      for (auto it = c.real["exits"].begin(); it != c.real["exits"].end(); ++it) {
        const bool has = !c.sim.is_null() && c.sim["exits"].contains(it.key());
        std::snprintf(line, sizeof line, "%-22s %8.2f%% %8.2f%% %11.2f %11.2f\n", it.key().c_str(),
                      it.value().value("pct", 0.0), has ? c.sim["exits"][it.key()].value("pct", 0.0) : 0.0,
                      it.value().value("avg_us", 0.0), has ? c.sim["exits"][it.key()].value("avg_us", 0.0) : 0.0);
        out << line;
      }
      if (!c.sim.is_null()) c.score = exit_mix_score(c.real, c.sim);
      break;
    }
    case Format::VmexitLog: {
      c.real = to_json(parse_vmexit_log(real_text));
      if (!sim_dir.empty()) c.sim = to_json(parse_vmexit_log(read_file(dir / "vmexit.txt")));
      char line[200];
      std::snprintf(line, sizeof line, "%-26s %12s %12s %8s\n", "test", "real cycles", "sim cycles", "sim/real");
      out << line;
      for (auto it = c.real["vmexit"].begin(); it != c.real["vmexit"].end(); ++it) {
        const bool has = !c.sim.is_null() && c.sim["vmexit"].contains(it.key());
        const double r = it.value().get<double>(), s = has ? c.sim["vmexit"][it.key()].get<double>() : 0.0;
        std::snprintf(line, sizeof line, "%-26s %12.0f %12s %8s\n", it.key().c_str(), r, has ? fmt("%.0f", s).c_str() : "-",
                      has && r > 0 ? fmt("%.2f", s / r).c_str() : "-");
        out << line;
      }
      if (!c.sim.is_null()) c.score = cycles_score(c.real, c.sim);
      break;
    }
    case Format::Cyclictest:
      c.real = to_json(parse_cyclictest(real_text));
      out << "the simulator does not write cyclictest output yet (issue 3); real side only\n" << c.real.dump(2) << "\n";
      break;
    case Format::Ftrace:
      c.real = to_json(parse_ftrace_kvm(real_text));
      out << "the simulator does not write trace.txt yet; real side only\n" << c.real.dump(2) << "\n";
      break;
    case Format::KvmStats:
      c.real = to_json(parse_kvm_stats(real_text));
      out << c.real.dump(2) << "\n";
      break;
    case Format::Unknown:
      throw ParseError(0, real_name + ": not a format kvmsim reads (perf kvm stat, ftrace kvm events, cyclictest, "
                                      "kvm-unit-tests vmexit, KVM stats)");
  }
  if (c.score >= 0) out << "\nrealism score: " << fmt("%.1f", c.score) << " / 100\n";
  c.text = out.str();
  return c;
}

}  // namespace validation
