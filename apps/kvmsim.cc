// kvmsim: the command line.
//   kvmsim run FILE [--set key=value]... [--seed N] [--out DIR] [--quiet]
//   kvmsim compare REAL [SIM_DIR] [--json] [--plot OUT.png]
//   kvmsim schema            print the scenario schema as Markdown
//   kvmsim version
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "run/runner.h"
#include "run/schema.h"
#include "validation/compare.h"
#include "validation/parse_common.h"

namespace {

int usage(int code) {
  std::fprintf(code ? stderr : stdout,
               "usage: kvmsim run FILE [--set key=value]... [--seed N] [--out DIR] [--quiet] [--keep-going]\n"
               "       kvmsim sweep FILE --grid key=v1,v2 ... [--seeds 1,2] [--jobs N] [--store PATH]\n"
               "       kvmsim compare REAL [SIM_DIR] [--json] [--plot OUT.png]\n"
               "       kvmsim calibrate PLATFORM MEASUREMENTS... [--out new.yaml] [--scenario FILE] [--fit prefix,...]\n"
               "       kvmsim validate [--json] [--quick]\n"
               "       kvmsim schema\n"
               "       kvmsim version\n"
               "\n"
               "run      simulate a scenario, print its summary, write results to DIR\n"
               "         (default: runs/<scenario name>)\n"
               "--set    override any scenario key, e.g. --set kvm.hv_timer=false\n"
               "--seed   the seed of every random stream (same as --set seed=N)\n"
               "--keep-going  exit 0 even when an invariant.* metric is not 0 (else exit 3)\n"
               "sweep    run a grid of overrides x seeds in parallel, results in an SQLite store\n"
               "         that a re-run resumes (python -m kvmsim sweep --help for every option)\n"
               "compare  a real tool's output (perf kvm stat, trace-cmd/ftrace kvm events, cyclictest,\n"
               "         kvm-unit-tests vmexit) beside a simulated run's result folder, with KS and\n"
               "         Wasserstein distances and a realism score (docs/validation.md)\n"
               "calibrate  fit the platform's cost table to vmexit logs / perf kvm stat averages (NNLS)\n"
               "validate every published table of the seeds, simulated, with tolerance and pass/fail\n"
               "schema   every scenario key with its type, default and meaning\n");
  return code;
}

int cmd_run(int argc, char** argv) {
  std::string file, out;
  std::vector<std::string> sets;
  bool quiet = false, keep_going = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* what) -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "kvmsim: %s needs a value\n", what);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--set") sets.push_back(value("--set"));
    else if (a.rfind("--set=", 0) == 0) sets.push_back(a.substr(6));
    else if (a == "--seed") sets.push_back("seed=" + value("--seed"));
    else if (a == "--out") out = value("--out");
    else if (a == "--quiet" || a == "-q") quiet = true;
    else if (a == "--keep-going") keep_going = true;
    else if (a == "-h" || a == "--help") return usage(0);
    else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "kvmsim: unknown option '%s'\n", a.c_str());
      return usage(2);
    } else if (file.empty()) file = a;
    else {
      std::fprintf(stderr, "kvmsim: more than one scenario file ('%s', '%s')\n", file.c_str(), a.c_str());
      return 2;
    }
  }
  if (file.empty()) return usage(2);
  const sim::Config cfg = run::load_scenario_file(file, sets);
  if (out.empty()) {
    std::string name = cfg.get_string("name");
    if (name.empty()) {
      name = file.substr(file.find_last_of('/') + 1);
      name = name.substr(0, name.find('.'));
    }
    out = "runs/" + name;
  }
  run::RunOptions opts;
  opts.progress = cfg.get_bool("run.progress") && !quiet;
  const run::RunResult r = run::run_scenario(cfg, opts);
  run::write_results(r, out);
  if (!quiet) std::cout << run::format_summary(r) << "\nresults: " << out << "/\n";
  // Invariants are checked in every run; a violation means the result cannot be trusted.
  int violated = 0;
  for (const auto& [name, value] : r.metrics)
    if (name.rfind("invariant.", 0) == 0 && value != 0) {
      std::fprintf(stderr, "kvmsim: %s = %g (must be 0)\n", name.c_str(), value);
      ++violated;
    }
  // The first violation (of any invariant) with what the CPU did just before it.
  if (violated && r.summary.contains("first_violations") && !r.summary["first_violations"].empty()) {
    const auto& v = r.summary["first_violations"][0];
    std::fprintf(stderr, "kvmsim: first violation: invariant.%s at %.3f us%s: %s\n", v["invariant"].get<std::string>().c_str(),
                 v["at_us"].get<double>(), v["cpu"].get<int>() >= 0 ? (" on cpu" + std::to_string(v["cpu"].get<int>())).c_str() : "",
                 v["what"].get<std::string>().c_str());
    if (!v["timeline"].empty()) std::fprintf(stderr, "kvmsim: what cpu%d did before it:\n", v["cpu"].get<int>());
    for (const auto& line : v["timeline"]) std::fprintf(stderr, "    %s\n", line.get<std::string>().c_str());
  }
  if (violated && !keep_going) {
    std::fprintf(stderr, "kvmsim: %d invariant(s) violated; results in %s/ (--keep-going exits 0 anyway)\n", violated, out.c_str());
    return 3;
  }
  return 0;
}

// `kvmsim sweep ...` is the Python package's sweep command (python -m kvmsim sweep), run
// with Debian's Python and the package built beside this binary (<build>/python).
int cmd_sweep(int argc, char** argv) {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::filesystem::path pkg = exe.parent_path().parent_path() / "python";
  if (ec || !std::filesystem::exists(pkg / "kvmsim" / "__init__.py")) {
    std::fprintf(stderr, "kvmsim: sweep needs the Python package built beside this binary (%s)\n", pkg.c_str());
    return 2;
  }
  const char* old = std::getenv("PYTHONPATH");
  std::string path = pkg.string();
  if (old && *old) {
    path += ':';
    path += old;
  }
  setenv("PYTHONPATH", path.c_str(), 1);
  std::vector<char*> args{const_cast<char*>("python3"), const_cast<char*>("-m"), const_cast<char*>("kvmsim"),
                          const_cast<char*>("sweep")};
  for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  execv("/usr/bin/python3", args.data());
  std::perror("kvmsim: cannot run /usr/bin/python3");
  return 1;
}

// --plot: the comparison's plot data through scripts/compare_plot.py (matplotlib).
int plot_comparison(const validation::Comparison& c, const std::string& png) {
  const std::string script = std::string(KVMSIM_SOURCE_DIR) + "/scripts/compare_plot.py";
  const std::string data = png + ".json";
  {
    std::ofstream f(data);
    f << nlohmann::json{{"kind", c.kind}, {"score", c.score < 0 ? nlohmann::json() : nlohmann::json(c.score)}, {"plot", c.plot}}.dump();
    if (!f) {
      std::fprintf(stderr, "kvmsim: cannot write %s\n", data.c_str());
      return 2;
    }
  }
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/usr/bin/python3", "python3", script.c_str(), data.c_str(), png.c_str(), static_cast<char*>(nullptr));
    std::perror("kvmsim: cannot run /usr/bin/python3");
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "kvmsim: plotting failed (%s needs matplotlib); data in %s\n", script.c_str(), data.c_str());
    return 1;
  }
  std::filesystem::remove(data);
  return 0;
}

int cmd_compare(int argc, char** argv) {
  std::string real, sim, plot;
  bool json = false;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json") json = true;
    else if (a == "--plot" && i + 1 < argc) plot = argv[++i];
    else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "kvmsim: unknown option '%s'\n", a.c_str());
      return usage(2);
    } else if (real.empty()) real = a;
    else if (sim.empty()) sim = a;
    else return usage(2);
  }
  if (real.empty()) return usage(2);
  std::ifstream f(real, std::ios::binary);
  if (!f) {
    std::fprintf(stderr, "kvmsim: %s: cannot read\n", real.c_str());
    return 2;
  }
  std::ostringstream text;
  text << f.rdbuf();
  const validation::Comparison c = validation::compare(text.str(), real, sim);
  if (json) {
    nlohmann::json j{{"kind", c.kind}, {"real", c.real}, {"sim", c.sim}, {"score", c.score < 0 ? nlohmann::json() : nlohmann::json(c.score)}};
    if (!c.details.is_null()) j["details"] = c.details;
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << c.text;
  }
  return plot.empty() ? 0 : plot_comparison(c, plot);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage(2);
  const std::string cmd = argv[1];
  try {
    if (cmd == "run") return cmd_run(argc, argv);
    if (cmd == "compare") return cmd_compare(argc, argv);
    if (cmd == "sweep") return cmd_sweep(argc, argv);
    if (cmd == "calibrate") return cmd_calibrate(argc, argv);
    if (cmd == "validate") return cmd_validate(argc, argv);
    if (cmd == "schema") {
      std::cout << run::scenario_schema().markdown();
      return 0;
    }
    if (cmd == "version" || cmd == "--version") {
      std::cout << "kvmsim " << run::version() << "\n";
      return 0;
    }
    if (cmd == "-h" || cmd == "--help" || cmd == "help") return usage(0);
  } catch (const validation::ParseError& e) {
    std::fprintf(stderr, "kvmsim: %s\n", e.what());
    return 2;
  } catch (const sim::ConfigError& e) {
    std::fprintf(stderr, "kvmsim: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kvmsim: error: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "kvmsim: unknown command '%s'\n", cmd.c_str());
  return usage(2);
}
