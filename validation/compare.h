// `kvmsim compare`: a real tool's output beside a simulated run's, with a realism score.
// Formats the simulator writes itself (perf kvm stat, kvm-unit-tests vmexit) are compared
// number by number; others are summarized on the real side until the simulator emits them.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "validation/detect.h"

namespace validation {

struct Comparison {
  std::string kind;       // detected format of the real file
  nlohmann::json real;    // the parsed real file (to_json shape)
  nlohmann::json sim;     // the same shape from the simulated run, or null
  double score = -1;      // 0..100, -1 when there is nothing to compare
  // Derived numbers both sides share (latency percentiles, KS / Wasserstein distances,
  // rates); null when there is no simulated side. Printed by --json as "details".
  nlohmann::json details;
  // Data for --plot: {"bars": {label: [real, sim]}, "bar_unit", "cdf": {"real": [[x, F]...],
  // "sim": [...]}, "cdf_unit"}.
  nlohmann::json plot;
  std::string text;       // the side-by-side table
};

// `real_text` is the real tool's output; `sim_dir` a kvmsim result folder (may be empty);
// `format` the real text's format (Unknown: detected from the content).
// Throws ParseError (unrecognizable real input) or std::runtime_error (missing sim files).
Comparison compare(const std::string& real_text, const std::string& real_name, const std::string& sim_dir,
                   Format format = Format::Unknown);

// The score formulas, exposed for tests and documentation.
// Exit mix: 100 * (1 - TVD) * (1 - min(1, sum_i p_i |ln(sim_avg_i / real_avg_i)|)), where
// TVD = 0.5 * sum_i |p_i - q_i| over reasons (p real shares, q simulated shares).
double exit_mix_score(const nlohmann::json& real_perf, const nlohmann::json& sim_perf);
// Microbenchmarks: 100 * exp(-mean_i |ln(sim_i / real_i)|) over the tests both have.
double cycles_score(const nlohmann::json& real_vmexit, const nlohmann::json& sim_vmexit);
// Traces: exit_mix_score over the traced shares and mean times, times (1 - D), D the
// Kolmogorov-Smirnov distance between the per-exit kvm_exit-to-kvm_entry times of exits
// other than HLT (whose time is mostly the halted guest's sleep).
double trace_score(const nlohmann::json& real_trace, const nlohmann::json& sim_trace, double ks);
// cyclictest: 100 * (1 - D) * exp(-(|ln((s_avg+.5)/(r_avg+.5))| + |ln((s_max+.5)/(r_max+.5))|) / 2),
// D the KS distance of the histograms (0 when either has none), avg the count-weighted mean
// of the threads' Avg, max the largest Max, in us (+0.5 us: cyclictest prints whole us).
double cyclictest_score(const nlohmann::json& real_ct, const nlohmann::json& sim_ct, double ks);

}  // namespace validation
