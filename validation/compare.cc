#include "validation/compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "validation/detect.h"
#include "validation/distance.h"
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

std::string sim_file(const std::filesystem::path& dir, const char* name, const char* how) {
  const std::filesystem::path p = dir / name;
  if (!std::filesystem::exists(p))
    throw std::runtime_error(p.string() + " does not exist: " + how);
  return read_file(p);
}

// Per-exit times of a trace, HLT excluded (its time is the guest's sleep).
Distribution exit_times(const KvmTrace& t) {
  std::vector<double> v;
  v.reserve(t.exits.size());
  for (const auto& e : t.exits)
    if (e.reason != "HLT" && e.reason != "hlt") v.push_back(e.duration_us);
  return Distribution(v);
}

// First to last event with a timestamp of the trace, seconds.
double trace_span_s(const KvmTrace& t) {
  if (t.exits.empty()) return 0;
  double lo = t.exits.front().start_s, hi = lo;
  for (const auto& e : t.exits) {
    lo = std::min(lo, e.start_s);
    hi = std::max(hi, e.start_s + e.duration_us * 1e-6);
  }
  return hi - lo;
}

nlohmann::json percentiles(const Distribution& d) {
  return {{"p50", d.quantile(0.5)}, {"p90", d.quantile(0.9)}, {"p99", d.quantile(0.99)},
          {"p99.9", d.quantile(0.999)}, {"max", d.quantile(1.0)}, {"mean", d.mean()}, {"n", d.total_weight()}};
}

nlohmann::json cdf_json(const Distribution& d) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& [x, f] : d.cdf_points()) a.push_back({x, f});
  return a;
}

// All threads' histogram rows merged (bucket in us, weight = count).
Distribution histogram(const Cyclictest& c) {
  std::vector<std::pair<double, double>> w;
  for (const auto& b : c.histogram) {
    double n = 0;
    for (uint64_t k : b.counts) n += static_cast<double>(k);
    w.emplace_back(b.bucket_us, n);
  }
  return Distribution(std::move(w));
}

// Count-weighted mean of the threads' Avg and the largest Max, us.
std::pair<double, double> avg_max(const nlohmann::json& ct) {
  double n = 0, s = 0, mx = 0;
  for (const auto& t : ct.at("threads")) {
    const double c = std::max(1.0, t.value("count", 0.0));
    n += c;
    s += c * t.value("avg_us", 0.0);
    mx = std::max(mx, t.value("max_us", 0.0));
  }
  return {n > 0 ? s / n : 0.0, mx};
}

std::string pct_line(const char* what, const nlohmann::json& r, const nlohmann::json& s) {
  char line[256];
  std::snprintf(line, sizeof line, "%-10s %10s %10s\n", what, "real", "sim");
  std::string out = line;
  for (const char* k : {"p50", "p90", "p99", "p99.9", "max", "mean"}) {
    std::snprintf(line, sizeof line, "%-10s %10.3f %10.3f\n", k, r.value(k, 0.0), s.value(k, 0.0));
    out += line;
  }
  return out;
}

}  // namespace

double trace_score(const nlohmann::json& real, const nlohmann::json& sim, double ks) {
  // The perf-like shape exit_mix_score reads: shares in percent.
  auto as_perf = [](const nlohmann::json& t) {
    double total = 0;
    for (const auto& [k, v] : t.at("exits").items()) total += v.value("samples", 0.0);
    nlohmann::json e = nlohmann::json::object();
    for (const auto& [k, v] : t.at("exits").items())
      e[k] = {{"pct", total > 0 ? 100.0 * v.value("samples", 0.0) / total : 0.0}, {"avg_us", v.value("avg_us", 0.0)}};
    return nlohmann::json{{"exits", e}};
  };
  return exit_mix_score(as_perf(real), as_perf(sim)) * (1.0 - std::clamp(ks, 0.0, 1.0));
}

double cyclictest_score(const nlohmann::json& real, const nlohmann::json& sim, double ks) {
  const auto [ra, rm] = avg_max(real);
  const auto [sa, sm] = avg_max(sim);
  const double err = (std::abs(std::log((sa + 0.5) / (ra + 0.5))) + std::abs(std::log((sm + 0.5) / (rm + 0.5)))) / 2;
  return 100.0 * (1.0 - std::clamp(ks, 0.0, 1.0)) * std::exp(-err);
}

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

Comparison compare(const std::string& real_text, const std::string& real_name, const std::string& sim_dir, Format format) {
  Comparison c;
  const Format f = format == Format::Unknown ? detect_format(real_text) : format;
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
      if (!c.sim.is_null()) {
        c.score = exit_mix_score(c.real, c.sim);
        for (auto it = c.real["exits"].begin(); it != c.real["exits"].end(); ++it)
          c.plot["bars"][it.key()] = {it.value().value("pct", 0.0),
                                      c.sim["exits"].contains(it.key()) ? c.sim["exits"][it.key()].value("pct", 0.0) : 0.0};
        c.plot["bar_unit"] = "share of exits (%)";
      }
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
      if (!c.sim.is_null()) {
        c.score = cycles_score(c.real, c.sim);
        for (auto it = c.real["vmexit"].begin(); it != c.real["vmexit"].end(); ++it)
          if (c.sim["vmexit"].contains(it.key())) c.plot["bars"][it.key()] = {it.value(), c.sim["vmexit"][it.key()]};
        c.plot["bar_unit"] = "TSC cycles per iteration";
      }
      break;
    }
    case Format::Cyclictest: {
      const Cyclictest real = parse_cyclictest(real_text);
      c.real = to_json(real);
      const Distribution rh = histogram(real);
      c.plot["cdf"]["real"] = cdf_json(rh);
      c.plot["cdf_unit"] = "latency (us)";
      if (sim_dir.empty()) {
        out << c.real.dump(2) << "\n";
        break;
      }
      const Cyclictest sim = parse_cyclictest(sim_file(dir, "cyclictest.txt", "run a cyclictest scenario (scenarios/rt_cyclictest.yaml)"));
      c.sim = to_json(sim);
      const Distribution sh = histogram(sim);
      c.plot["cdf"]["sim"] = cdf_json(sh);
      const bool both = !rh.empty() && !sh.empty();
      const double ks = both ? ks_distance(rh, sh) : 0.0;
      const auto [ra, rm] = avg_max(c.real);
      const auto [sa, sm] = avg_max(c.sim);
      c.details = {{"avg_us", {ra, sa}}, {"max_us", {rm, sm}}};
      if (both) {
        c.details["latency_us"] = {{"real", percentiles(rh)}, {"sim", percentiles(sh)}};
        c.details["ks"] = ks;
        c.details["wasserstein_us"] = wasserstein1(rh, sh);
      }
      char line[200];
      std::snprintf(line, sizeof line, "%-8s %4s %10s %9s %9s %9s\n", "side", "T", "count", "min us", "avg us", "max us");
      out << line;
      for (const auto* side : {&c.real, &c.sim}) {
        int i = 0;
        for (const auto& t : side->at("threads")) {
          std::snprintf(line, sizeof line, "%-8s %4d %10.0f %9.1f %9.1f %9.1f\n", side == &c.real ? "real" : "sim", i++,
                        t.value("count", 0.0), t.value("min_us", 0.0), t.value("avg_us", 0.0), t.value("max_us", 0.0));
          out << line;
        }
      }
      c.plot["bars"] = {{"avg us", {ra, sa}}, {"max us", {rm, sm}}};
      c.plot["bar_unit"] = "us";
      if (both) {
        out << "\nlatency histogram (all threads), us:\n"
            << pct_line("", c.details["latency_us"]["real"], c.details["latency_us"]["sim"]);
        out << fmt("Kolmogorov-Smirnov D = %.4f, Wasserstein-1 = %.3f us\n", ks, c.details["wasserstein_us"].get<double>());
      } else {
        out << "\n(no histogram on " << (rh.empty() ? "the real" : "the simulated") << " side: cyclictest -h gives one)\n";
      }
      c.score = cyclictest_score(c.real, c.sim, ks);
      break;
    }
    case Format::Ftrace: {
      const KvmTrace real = parse_ftrace_kvm(real_text);
      c.real = to_json(real);
      const Distribution rd = exit_times(real);
      c.plot["cdf"]["real"] = cdf_json(rd);
      c.plot["cdf_unit"] = "kvm_exit to kvm_entry, HLT excluded (us)";
      if (sim_dir.empty()) {
        out << c.real.dump(2) << "\n";
        break;
      }
      const KvmTrace sim = parse_ftrace_kvm(sim_file(dir, "trace.txt", "run the scenario with --set output.trace=true"));
      c.sim = to_json(sim);
      const Distribution sd = exit_times(sim);
      c.plot["cdf"]["sim"] = cdf_json(sd);
      const double rs = trace_span_s(real), ss = trace_span_s(sim);
      const double ks = ks_distance(rd, sd);
      c.details = {{"span_s", {rs, ss}},
                   {"exit_time_us", {{"real", percentiles(rd)}, {"sim", percentiles(sd)}}},
                   {"ks", ks},
                   {"wasserstein_us", wasserstein1(rd, sd)},
                   {"ipis_per_s", {rs > 0 ? real.ipis.size() / rs : 0.0, ss > 0 ? sim.ipis.size() / ss : 0.0}},
                   {"ple_window_updates_per_s",
                    {rs > 0 ? real.ple_window_updates.size() / rs : 0.0, ss > 0 ? sim.ple_window_updates.size() / ss : 0.0}}};
      double rt = 0, st = 0;
      for (const auto& [k, v] : real.by_reason) rt += static_cast<double>(v.count);
      for (const auto& [k, v] : sim.by_reason) st += static_cast<double>(v.count);
      char line[256];
      std::snprintf(line, sizeof line, "%-22s %8s %8s %11s %11s %11s %11s\n", "VM-EXIT", "real %", "sim %", "real avg us",
                    "sim avg us", "real /s", "sim /s");
      out << line;
      std::map<std::string, bool> reasons;
      for (const auto& [k, v] : real.by_reason) reasons[k] = true;
      for (const auto& [k, v] : sim.by_reason) reasons[k] = true;
      nlohmann::json rates = nlohmann::json::object();
      for (const auto& [k, unused] : reasons) {
        const auto ri = real.by_reason.find(k);
        const auto si = sim.by_reason.find(k);
        const double rn = ri != real.by_reason.end() ? static_cast<double>(ri->second.count) : 0.0;
        const double sn = si != sim.by_reason.end() ? static_cast<double>(si->second.count) : 0.0;
        const double ra = ri != real.by_reason.end() ? ri->second.avg_us() : 0.0;
        const double sa = si != sim.by_reason.end() ? si->second.avg_us() : 0.0;
        const double rr = rs > 0 ? rn / rs : 0.0, sr = ss > 0 ? sn / ss : 0.0;
        rates[k] = {{"share", {rt > 0 ? rn / rt : 0.0, st > 0 ? sn / st : 0.0}}, {"avg_us", {ra, sa}}, {"per_s", {rr, sr}}};
        c.plot["bars"][k] = {rt > 0 ? 100 * rn / rt : 0.0, st > 0 ? 100 * sn / st : 0.0};
        std::snprintf(line, sizeof line, "%-22s %7.2f%% %7.2f%% %11.3f %11.3f %11.1f %11.1f\n", k.c_str(),
                      rt > 0 ? 100 * rn / rt : 0.0, st > 0 ? 100 * sn / st : 0.0, ra, sa, rr, sr);
        out << line;
      }
      c.plot["bar_unit"] = "share of exits (%)";
      c.details["reasons"] = rates;
      out << "\nexit time (kvm_exit to kvm_entry, HLT excluded), us:\n"
          << pct_line("", c.details["exit_time_us"]["real"], c.details["exit_time_us"]["sim"]);
      out << fmt("Kolmogorov-Smirnov D = %.4f, Wasserstein-1 = %.3f us\n", ks, c.details["wasserstein_us"].get<double>());
      out << fmt("IPIs %.0f vs %.0f per s, PLE window updates %.0f vs %.0f per s\n", c.details["ipis_per_s"][0].get<double>(),
                 c.details["ipis_per_s"][1].get<double>(), c.details["ple_window_updates_per_s"][0].get<double>(),
                 c.details["ple_window_updates_per_s"][1].get<double>());
      c.score = trace_score(c.real, c.sim, ks);
      break;
    }
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
