// validation/calibrate + validation/nnls + run/calibrate_sim: `kvmsim calibrate` recovers a
// known cost table from measurements the simulator itself produced.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "hw/platform.h"
#include "run/calibrate_sim.h"
#include "validation/calibrate.h"
#include "validation/nnls.h"

namespace {

TEST(Calibrate, NnlsMatchesUnconstrainedWhenFeasibleAndClampsOtherwise) {
  Eigen::MatrixXd A(3, 2);
  A << 1, 0, 0, 1, 1, 1;
  Eigen::VectorXd b(3);
  b << 1, 2, 3;  // x = (1, 2) fits exactly
  Eigen::VectorXd x = validation::nnls(A, b);
  EXPECT_NEAR(x(0), 1.0, 1e-12);
  EXPECT_NEAR(x(1), 2.0, 1e-12);
  b << -1, 2, 1;  // unconstrained optimum has x0 = -1; with x >= 0: x0 = 0, x1 = 1.5
  x = validation::nnls(A, b);
  EXPECT_NEAR(x(0), 0.0, 1e-12);
  EXPECT_NEAR(x(1), 1.5, 1e-12);
}

TEST(Calibrate, RecoversAKnownCostTableWithinOnePercent) {
  // Truth: the platform's table with five entries moved; measurements: the simulator's own
  // vmexit log with the truth. The fit starts from the platform's table.
  const hw::Platform p = hw::Platform::load("skylake-sp-2s");
  const std::vector<std::string> keys = {"vmx.vmexit", "kvm.handle_cpuid", "kvm.handle_hypercall", "kvm.handle_msr",
                                         "kvm.handle_io_kernel", "kvm.userspace_exit"};
  std::vector<double> prior, truth;
  for (const auto& k : keys) prior.push_back(*hw::find_cost(p.costs, k));
  truth = {500, 150, 120, 400, 1500, 4000};
  const std::vector<std::string> tests = {"cpuid", "vmcall", "inl_from_qemu", "inl_from_kernel", "wr_tsc_adjust_msr",
                                          "ipi", "tscdeadline_immed"};
  std::vector<run::CalibrationTarget> targets;
  for (const auto& t : tests) targets.push_back({"vmexit", t});
  const uint64_t goal = 1u << 17;
  const run::CalibrationSim sim(p.file, "", targets, keys, goal);
  const std::vector<double> measured = sim(truth);
  std::string log;
  for (size_t j = 0; j < tests.size(); ++j) log += tests[j] + " " + std::to_string(static_cast<long>(measured[j])) + "\n";
  const std::string path = ::testing::TempDir() + "/calibrate-truth.log";
  std::ofstream(path) << log;
  const auto ms = validation::read_measurements(path);
  ASSERT_EQ(ms.size(), tests.size());
  // read_measurements sorts by test name: simulate in that order.
  std::vector<run::CalibrationTarget> sorted;
  for (const auto& m : ms) sorted.push_back({m.kind, m.name});
  const run::CalibrationSim sim2(p.file, "", sorted, keys, goal);
  const validation::CalibrationResult r = validation::calibrate(keys, prior, ms, sim2);
  EXPECT_EQ(r.rank, static_cast<int>(keys.size()));
  EXPECT_TRUE(r.unidentifiable.empty());
  for (size_t k = 0; k < keys.size(); ++k) EXPECT_NEAR(r.fitted[k], truth[k], 0.01 * truth[k]) << keys[k];
  EXPECT_LT(r.max_rel_residual(), 0.01);
  EXPECT_NE(r.report(ms).find("rank 6"), std::string::npos);
  // The new platform file names the measurements and loads.
  std::ifstream f(p.file);
  std::stringstream text;
  text << f.rdbuf();
  const std::string out = validation::rewrite_platform(text.str(), r, "calibrate-truth.log");
  EXPECT_NE(out.find("calibrate: fit to calibrate-truth.log"), std::string::npos);
  const std::string out_path = ::testing::TempDir() + "/calibrated.yaml";
  std::ofstream(out_path) << out;
  const hw::Platform q = hw::Platform::load(out_path);
  EXPECT_EQ(q.name, "skylake-sp-2s-calibrated");
  EXPECT_NEAR(*hw::find_cost(q.costs, "kvm.userspace_exit"), 4000, 40);
}

TEST(Calibrate, ReportsEntriesTheDataCannotSeparate) {
  // vmx.vmexit and vmx.vmentry are charged once each on every exit: only their sum is seen.
  const hw::Platform p = hw::Platform::load("skylake-sp-2s");
  const std::vector<std::string> keys = {"vmx.vmexit", "vmx.vmentry", "kvm.handle_cpuid", "guest.ipi_handler"};
  std::vector<double> prior;
  for (const auto& k : keys) prior.push_back(*hw::find_cost(p.costs, k));
  const std::vector<validation::Measurement> ms = {{"x", "vmexit", "cpuid", 1500, {}}, {"x", "vmexit", "vmcall", 1530, {}}};
  const run::CalibrationSim sim(p.file, "", {{"vmexit", "cpuid"}, {"vmexit", "vmcall"}}, keys, 1u << 16);
  const validation::CalibrationResult r = validation::calibrate(keys, prior, ms, sim);
  EXPECT_EQ(r.rank, 2);
  EXPECT_FALSE(r.touched[3]);  // no cpuid/vmcall path runs the guest IPI handler
  EXPECT_NE(std::find(r.unidentifiable.begin(), r.unidentifiable.end(), "vmx.vmexit"), r.unidentifiable.end());
  EXPECT_NE(std::find(r.unidentifiable.begin(), r.unidentifiable.end(), "vmx.vmentry"), r.unidentifiable.end());
  // Only the sum moved, split by the minimum change from the prior; both tests are matched.
  EXPECT_LT(r.max_rel_residual(), 0.01);
}

}  // namespace
