// validation/compare: `kvmsim compare` on each format against a simulated result folder:
// cyclictest (sample file and a synthetic sim folder), traces (a run with output.trace), and
// the documented score formulas.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>

#include "parse_test_util.h"
#include "run/runner.h"
#include "run/schema.h"
#include "validation/compare.h"

namespace {

std::string sim_dir_with(const std::string& name, const std::string& file, const std::string& text) {
  const std::string dir = ::testing::TempDir() + "/compare-" + name;
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/" + file) << text;
  return dir;
}

// Every histogram bucket (and Min/Avg/Max) of a cyclictest text moved up by `shift` us.
std::string shift_cyclictest(const std::string& text, int shift) {
  std::istringstream in(text);
  std::ostringstream out;
  std::string line;
  const std::regex bucket(R"(^(\d{6})(\s.*)$)");
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_match(line, m, bucket)) {
      char b[16];
      std::snprintf(b, sizeof b, "%06d", std::stoi(m[1]) + shift);
      out << b << m[2] << "\n";
    } else if (line.rfind("T:", 0) == 0) {
      for (const char* k : {"Min:", "Act:", "Avg:", "Max:"}) {
        const size_t at = line.find(k);
        if (at == std::string::npos) continue;
        size_t p = at + 4;
        while (line[p] == ' ') ++p;
        size_t e = p;
        while (e < line.size() && std::isdigit(static_cast<unsigned char>(line[e]))) ++e;
        line.replace(p, e - p, std::to_string(std::stol(line.substr(p, e - p)) + shift));
      }
      out << line << "\n";
    } else {
      out << line << "\n";
    }
  }
  return out.str();
}

TEST(Compare, CyclictestAgainstItselfScoresPerfect) {
  const std::string real = parse_test::read_sample("cyclictest-h.txt");
  const auto c = validation::compare(real, "real", sim_dir_with("ct-same", "cyclictest.txt", real));
  EXPECT_EQ(c.kind, "cyclictest");
  EXPECT_DOUBLE_EQ(c.details.at("ks").get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(c.details.at("wasserstein_us").get<double>(), 0.0);
  EXPECT_NEAR(c.score, 100.0, 1e-9);
  EXPECT_EQ(c.sim, c.real);
  // The shape --json prints for cyclictest.
  ASSERT_EQ(c.real.at("threads").size(), 2u);
  for (const char* k : {"min_us", "avg_us", "max_us", "count"}) EXPECT_TRUE(c.real["threads"][0].contains(k)) << k;
  EXPECT_EQ(c.real.at("histogram")[0].size(), 3u);  // bucket, thread 0, thread 1
}

TEST(Compare, CyclictestShiftedByOneMicrosecond) {
  // Every sample 1 us later: W1 is exactly 1 us; KS is the largest single bucket's share.
  const std::string real = parse_test::read_sample("cyclictest-h.txt");
  const auto c = validation::compare(real, "real", sim_dir_with("ct-shift", "cyclictest.txt", shift_cyclictest(real, 1)));
  EXPECT_NEAR(c.details.at("wasserstein_us").get<double>(), 1.0, 1e-9);
  // The largest bucket (3 us) holds (31877 + 33012) / 120000 of the mass.
  EXPECT_NEAR(c.details.at("ks").get<double>(), (31877.0 + 33012.0) / 120000.0, 1e-9);
  EXPECT_DOUBLE_EQ(c.details["latency_us"]["sim"]["p50"].get<double>(), c.details["latency_us"]["real"]["p50"].get<double>() + 1);
  const double ks = c.details["ks"].get<double>();
  // avg 3 -> 4, max 21 -> 22 (score formula in compare.h / docs/validation.md)
  const double expect = 100 * (1 - ks) * std::exp(-(std::log(4.5 / 3.5) + std::log(22.5 / 21.5)) / 2);
  EXPECT_NEAR(c.score, expect, 1e-6);
  EXPECT_LT(c.score, 80.0);
}

TEST(Compare, CyclictestWithoutASimFileNamesIt) {
  const std::string real = parse_test::read_sample("cyclictest-h.txt");
  const std::string empty = ::testing::TempDir() + "/compare-empty";
  std::filesystem::create_directories(empty);
  try {
    validation::compare(real, "real", empty);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cyclictest.txt"), std::string::npos);
  }
}

TEST(Compare, TraceOfARunAgainstItself) {
  const sim::Config cfg = sim::Config::load_text(
      run::scenario_schema(),
      "run: {progress: false, max_sim_ms: 50}\nvm: {vcpus: 4}\nworkload: {kind: vm_mix}\nkvm: {enable_apicv: false}\n"
      "mix: {timer_rearm_hz: 2000, resched_ipi_hz: 2000, duration_ms: 10}\noutput: {trace: true}\n",
      "compare.yaml", {});
  const run::RunResult r = run::run_scenario(cfg);
  const std::string dir = ::testing::TempDir() + "/compare-trace-run";
  run::write_results(r, dir);
  const auto c = validation::compare(r.files.at("trace.txt"), "self", dir);
  EXPECT_EQ(c.kind, "ftrace");
  EXPECT_NEAR(c.score, 100.0, 1e-9);
  EXPECT_DOUBLE_EQ(c.details.at("ks").get<double>(), 0.0);
  EXPECT_GT(c.details["ipis_per_s"][0].get<double>(), 0.0);
  // The trace shape of --json.
  for (const char* k : {"exits", "ipis", "ple_window_updates", "bad_lines"}) EXPECT_TRUE(c.real.contains(k)) << k;
  const auto& hlt = c.real["exits"]["HLT"];
  EXPECT_TRUE(hlt.contains("samples") && hlt.contains("avg_us"));
  // Against the sample trace from a real host: a poor match, and the text says why.
  const auto s = validation::compare(parse_test::read_sample("trace-cmd-report.txt"), "sample", dir);
  EXPECT_LT(s.score, 50.0);
  EXPECT_GT(s.details.at("ks").get<double>(), 0.5);
  EXPECT_NE(s.text.find("Kolmogorov-Smirnov"), std::string::npos);
  EXPECT_NE(s.text.find("EPT_VIOLATION"), std::string::npos);
}

TEST(Compare, TraceScoreFormula) {
  // Same mix and means, KS 0.25 -> 75; a reason missing on the sim side costs its share twice.
  const nlohmann::json a = {{"exits", {{"HLT", {{"samples", 50}, {"avg_us", 10.0}}}, {"MSR_WRITE", {{"samples", 50}, {"avg_us", 1.0}}}}}};
  EXPECT_NEAR(validation::trace_score(a, a, 0.25), 75.0, 1e-9);
  const nlohmann::json b = {{"exits", {{"HLT", {{"samples", 50}, {"avg_us", 10.0}}}}}};
  // TVD = 0.5 (|0.5-1| + 0.5) = 0.5; time error = 0.5 (MSR_WRITE's share, never simulated)
  EXPECT_NEAR(validation::trace_score(a, b, 0.0), 100 * 0.5 * 0.5, 1e-9);
}

}  // namespace
