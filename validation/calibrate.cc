#include "validation/calibrate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

#include <Eigen/Dense>

#include "validation/detect.h"
#include "validation/nnls.h"
#include "validation/parse_common.h"
#include "validation/perf_kvm_stat.h"
#include "validation/vmexit_log.h"

namespace validation {

std::vector<Measurement> read_measurements(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error(path + ": cannot read");
  std::ostringstream s;
  s << f.rdbuf();
  return measurements_from_text(s.str(), path);
}

std::vector<Measurement> measurements_from_text(const std::string& text, const std::string& source) {
  std::vector<Measurement> out;
  switch (detect_format(text)) {
    case Format::VmexitLog:
      for (const auto& [test, cycles] : parse_vmexit_log(text).cycles) out.push_back({source, "vmexit", test, cycles, {}});
      break;
    case Format::PerfKvmStat:
      for (const auto& row : parse_perf_kvm_stat(text).rows)
        if (row.samples > 0 && row.avg_us > 0) out.push_back({source, "perf", row.name, row.avg_us, {}});
      break;
    default:
      throw std::runtime_error(source + ": calibrate reads kvm-unit-tests vmexit logs and perf kvm stat reports, not " +
                               to_string(detect_format(text)));
  }
  if (out.empty()) throw std::runtime_error(source + ": no measurement in it");
  return out;
}

double CalibrationResult::max_rel_residual() const {
  double m = 0;
  for (size_t j = 0; j < measured.size(); ++j)
    if (measured[j] != 0) m = std::max(m, std::abs(simulated[j] - measured[j]) / std::abs(measured[j]));
  return m;
}

CalibrationResult calibrate(const std::vector<std::string>& keys, const std::vector<double>& prior,
                            const std::vector<Measurement>& ms, const SimulateFn& simulate, int max_iterations) {
  CalibrationResult r;
  r.keys = keys;
  r.prior = prior;
  const Eigen::Index n = static_cast<Eigen::Index>(keys.size()), m = static_cast<Eigen::Index>(ms.size());
  for (const auto& x : ms) r.measured.push_back(x.value);
  Eigen::VectorXd scale(n), meas(m), w(m);
  for (Eigen::Index k = 0; k < n; ++k) scale(k) = prior[static_cast<size_t>(k)] > 0 ? prior[static_cast<size_t>(k)] : 1.0;
  for (Eigen::Index j = 0; j < m; ++j) {
    meas(j) = ms[static_cast<size_t>(j)].value;
    w(j) = 1.0 / std::max(std::abs(meas(j)), 1e-9);
  }
  auto run = [&](const std::vector<double>& c) {
    ++r.simulations;
    const std::vector<double> y = simulate(c);
    if (y.size() != ms.size()) throw std::runtime_error("calibrate: the simulation gave a different number of values");
    return Eigen::Map<const Eigen::VectorXd>(y.data(), m).eval();
  };
  // Jacobian in units of the prior: column k = dy / dx_k = scale_k dy / dc_k. A large raise
  // (the entry doubled, at least 100 cycles or ns) keeps the simulator's whole-cycle
  // rounding small against the difference.
  const Eigen::VectorXd y0 = run(prior);
  r.simulated_prior.assign(y0.data(), y0.data() + m);
  Eigen::MatrixXd J(m, n);
  r.touched.assign(static_cast<size_t>(n), false);
  for (Eigen::Index k = 0; k < n; ++k) {
    std::vector<double> c = prior;
    const double d = std::max(prior[static_cast<size_t>(k)], 100.0);
    c[static_cast<size_t>(k)] += d;
    J.col(k) = (run(c) - y0) * (scale(k) / d);
    r.touched[static_cast<size_t>(k)] = (J.col(k).cwiseProduct(w)).cwiseAbs().maxCoeff() > 1e-6;
  }
  // Identifiability: SVD of W J over the entries some measurement depends on. N (n x d)
  // spans its null space; entry k is pinned down alone when e_k has no component in it.
  std::vector<Eigen::Index> cols;
  for (Eigen::Index k = 0; k < n; ++k)
    if (r.touched[static_cast<size_t>(k)]) cols.push_back(k);
  const Eigen::Index nt = static_cast<Eigen::Index>(cols.size());
  const Eigen::MatrixXd WJ = w.asDiagonal() * J;
  Eigen::MatrixXd N(n, 0);
  double smax = 0;
  if (nt > 0) {
    Eigen::MatrixXd WJt(m, nt);
    for (Eigen::Index i = 0; i < nt; ++i) WJt.col(i) = WJ.col(cols[static_cast<size_t>(i)]);
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(WJt, Eigen::ComputeFullV);
    const Eigen::VectorXd sv = svd.singularValues();
    smax = sv.size() ? sv(0) : 0.0;
    if (const char* dbg = std::getenv("KVMSIM_CALIBRATE_DEBUG")) {  // the fit's inputs, for offline checks
      std::ofstream d(dbg);
      d.precision(17);
      d << "{\"J\": [";
      for (Eigen::Index j = 0; j < m; ++j) {
        d << (j ? ",[" : "[");
        for (Eigen::Index k = 0; k < n; ++k) d << (k ? "," : "") << J(j, k);
        d << "]";
      }
      d << "], \"meas\": [";
      for (Eigen::Index j = 0; j < m; ++j) d << (j ? "," : "") << meas(j);
      d << "], \"y0\": [";
      for (Eigen::Index j = 0; j < m; ++j) d << (j ? "," : "") << y0(j);
      d << "]}\n";
    }
    r.rank = 0;
    for (Eigen::Index i = 0; i < sv.size(); ++i)
      if (sv(i) > 1e-2 * smax) ++r.rank;  // below: whole-cycle rounding of the runs
    const Eigen::MatrixXd V = svd.matrixV();
    N = Eigen::MatrixXd::Zero(n, nt - r.rank);
    for (Eigen::Index i = r.rank; i < nt; ++i)
      for (Eigen::Index k = 0; k < nt; ++k) N(cols[static_cast<size_t>(k)], i - r.rank) = V(k, i);
    for (Eigen::Index k = 0; k < n; ++k) {
      const double share = N.row(k).norm();  // 0: pinned down; 1: invisible to the data
      if (r.touched[static_cast<size_t>(k)] && share > 0.05) {
        r.unidentifiable.push_back(keys[static_cast<size_t>(k)]);
        r.null_share.push_back(share);
      }
    }
  }
  // Gauss-Newton with the fixed J: x_{i+1} = argmin_{x >= 0} ||W (J (x - x_i) - (meas - y_i))||^2
  // + mu^2 ||N^T (x - 1)||^2. The second term only acts along the null space (invisible to
  // the data), where it keeps the prior: it biases nothing the measurements determine.
  const double mu = std::max(smax, 1e-12);
  const Eigen::Index d = N.cols();
  Eigen::MatrixXd A(m + d + n, n);
  A.topRows(m) = WJ;
  A.middleRows(m, d) = mu * N.transpose();
  // Entries no measurement touches stay fixed (their column is zero anyway).
  A.bottomRows(n) = Eigen::MatrixXd::Zero(n, n);
  for (Eigen::Index k = 0; k < n; ++k)
    if (!r.touched[static_cast<size_t>(k)]) A(m + d + k, k) = mu;
  Eigen::VectorXd x = Eigen::VectorXd::Ones(n);
  Eigen::VectorXd y = y0;
  std::vector<double> best_c = prior;
  Eigen::VectorXd best_y = y0;
  double best = (w.cwiseProduct(y0 - meas)).norm();
  for (int it = 0; it < max_iterations && best > 1e-7; ++it) {
    Eigen::VectorXd b(m + d + n);
    b.head(m) = w.cwiseProduct(meas - y) + WJ * x;
    b.segment(m, d) = mu * N.transpose() * Eigen::VectorXd::Ones(n);
    b.tail(n) = mu * Eigen::VectorXd::Ones(n);
    const Eigen::VectorXd xn = nnls(A, b);
    std::vector<double> c(static_cast<size_t>(n));
    for (Eigen::Index k = 0; k < n; ++k) c[static_cast<size_t>(k)] = r.touched[static_cast<size_t>(k)] ? xn(k) * scale(k) : prior[static_cast<size_t>(k)];
    const Eigen::VectorXd yn = run(c);
    ++r.iterations;
    const double res = (w.cwiseProduct(yn - meas)).norm();
    if (res >= best * (1 - 1e-6)) break;  // no further progress
    best = res;
    best_c = c;
    best_y = yn;
    x = xn;
    y = yn;
  }
  r.fitted = best_c;
  r.simulated.assign(best_y.data(), best_y.data() + m);
  return r;
}

std::string CalibrationResult::report(const std::vector<Measurement>& ms) const {
  std::ostringstream o;
  char line[256];
  o << "measurements (" << measured.size() << "):\n";
  std::snprintf(line, sizeof line, "  %-8s %-26s %12s %12s %12s %8s\n", "kind", "name", "measured", "prior sim", "fitted sim",
                "resid %");
  o << line;
  for (size_t j = 0; j < measured.size(); ++j) {
    std::snprintf(line, sizeof line, "  %-8s %-26s %12.3f %12.3f %12.3f %+8.3f\n", ms[j].kind.c_str(), ms[j].name.c_str(),
                  measured[j], simulated_prior[j], simulated[j],
                  measured[j] != 0 ? 100.0 * (simulated[j] - measured[j]) / measured[j] : 0.0);
    o << line;
  }
  o << "\ncost entries (" << keys.size() << " candidates, rank " << rank << " of the "
    << std::count(touched.begin(), touched.end(), true) << " the measurements depend on):\n";
  std::snprintf(line, sizeof line, "  %-32s %12s %12s %9s\n", "entry", "prior", "fitted", "change");
  o << line;
  for (size_t k = 0; k < keys.size(); ++k) {
    if (!touched[k]) continue;
    std::snprintf(line, sizeof line, "  %-32s %12.2f %12.2f %+8.2f%%\n", keys[k].c_str(), prior[k], fitted[k],
                  prior[k] != 0 ? 100.0 * (fitted[k] - prior[k]) / prior[k] : 0.0);
    o << line;
  }
  if (!unidentifiable.empty()) {
    o << "\nnot pinned down alone (only in combination with others; the fit keeps the part of each\n"
         "the data cannot see at the prior; share = norm of the entry's null-space component):\n";
    for (size_t i = 0; i < unidentifiable.size(); ++i) {
      std::snprintf(line, sizeof line, "  %-32s share %.2f\n", unidentifiable[i].c_str(), null_share[i]);
      o << line;
    }
  }
  std::vector<std::string> untouched;
  for (size_t k = 0; k < keys.size(); ++k)
    if (!touched[k]) untouched.push_back(keys[k]);
  if (!untouched.empty()) {
    o << "\nno measurement depends on (kept at the prior):";
    for (const auto& k : untouched) o << ' ' << k;
    o << "\n";
  }
  std::snprintf(line, sizeof line, "\n%d simulations, %d fit iterations, largest residual %.3f%%\n", simulations, iterations,
                100 * max_rel_residual());
  o << line;
  return o.str();
}

std::string rewrite_platform(const std::string& yaml, const CalibrationResult& r, const std::string& desc) {
  std::istringstream in(yaml);
  std::ostringstream out;
  out << "# Calibrated by `kvmsim calibrate` from " << desc << ";\n"
      << "# entries marked \"calibrate:\" were fitted (non-negative least squares), the others are the prior's.\n";
  std::string line;
  const std::regex cost_line(R"re(^(\s*)([a-z_0-9]+\.[a-z_0-9]+): \{(cycles|ns): ([^,]+), source: "(.*)"\}(\s*)$)re");
  const std::regex name_line(R"(^name:\s*(\S+)\s*$)");
  std::smatch mt;
  while (std::getline(in, line)) {
    if (std::regex_match(line, mt, name_line)) {
      out << "name: " << mt[1].str() << "-calibrated\n";
      continue;
    }
    if (std::regex_match(line, mt, cost_line)) {
      const auto it = std::find(r.keys.begin(), r.keys.end(), mt[2].str());
      if (it != r.keys.end()) {
        const size_t k = static_cast<size_t>(it - r.keys.begin());
        if (r.touched[k] && std::abs(r.fitted[k] - r.prior[k]) > 1e-9 * std::max(1.0, std::abs(r.prior[k]))) {
          char v[64];
          std::snprintf(v, sizeof v, "%.6g", r.fitted[k]);
          std::string old_src = mt[5].str();
          out << mt[1].str() << mt[2].str() << ": {" << mt[3].str() << ": " << v << ", source: \"calibrate: fit to " << desc
              << "; prior " << mt[4].str() << " (" << old_src << ")\"}\n";
          continue;
        }
      }
    }
    out << line << "\n";
  }
  return out.str();
}

}  // namespace validation
