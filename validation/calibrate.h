// `kvmsim calibrate`: fit a platform's cost-table entries to measurements from real machines
// (kvm-unit-tests vmexit logs: cycles per test; perf kvm stat reports: mean time per exit
// reason) by non-negative linear least squares.
//
// Each measured quantity y_j is, in the model, a sum of cost-table entries (each charged some
// number of times on the paths the test exercises) plus parts that do not depend on the
// table. The design matrix J (dy_j / dc_k) is derived from the model itself: the simulator is
// run once with the prior table and once with each candidate entry raised (finite
// differences; exact for a sum of entries). The fit solves, in units of the prior (x_k =
// c_k / prior_k), min ||W (J x - r)||^2 + mu^2 ||N^T (x - 1)||^2 subject to x >= 0 with
// Lawson-Hanson NNLS, W = 1/measured (relative residuals), N a basis of the null space of
// W J (from its SVD), and repeats with the simulator's new values (Gauss-Newton with a fixed
// J) until the residuals stop improving. The N term acts only along directions the data
// cannot see, keeping the prior there; the entries with a component in them are reported.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace validation {

struct Measurement {
  std::string source;  // file it came from
  std::string kind;    // "vmexit" (TSC cycles per iteration) or "perf" (avg us of an exit reason)
  std::string name;    // test name or exit reason
  double value = 0;
  std::vector<std::string> sets;  // overrides of the simulated run for this measurement (the
                                  // host's setting when it was taken, e.g. kvm.hlt_in_guest=true)
};

// Reads every usable number of a kvm-unit-tests vmexit log or a perf kvm stat report
// (format detected). Throws ParseError / std::runtime_error naming the file.
std::vector<Measurement> read_measurements(const std::string& path);
// The same for text already read; `source` names it in errors and in Measurement::source.
std::vector<Measurement> measurements_from_text(const std::string& text, const std::string& source);

// Simulated values of the measurements (same order) for a full vector of candidate costs.
using SimulateFn = std::function<std::vector<double>(const std::vector<double>& costs)>;

struct CalibrationResult {
  std::vector<std::string> keys;
  std::vector<double> prior, fitted;
  std::vector<double> measured, simulated_prior, simulated;  // per measurement
  std::vector<bool> touched;  // some measurement depends on the entry
  // Entries the data pins down only in combination with others: a component of e_k lies in
  // the null space of W J (null_share = its norm, 0..1).
  std::vector<std::string> unidentifiable;
  std::vector<double> null_share;
  int rank = 0;         // numerical rank of W J over the touched entries
  int simulations = 0;  // simulator runs used
  int iterations = 0;
  double max_rel_residual() const;
  std::string report(const std::vector<Measurement>& ms) const;
};

// `prior` the platform's table for `keys`; `step(k)` the raise used for entry k's column.
CalibrationResult calibrate(const std::vector<std::string>& keys, const std::vector<double>& prior,
                            const std::vector<Measurement>& ms, const SimulateFn& simulate, int max_iterations = 6);

// The platform file `yaml` with the fitted entries rewritten (value and a source naming the
// measurement files) and its name suffixed "-calibrated". Entries not moved keep their line.
std::string rewrite_platform(const std::string& yaml, const CalibrationResult& r, const std::string& measurement_desc);

}  // namespace validation
