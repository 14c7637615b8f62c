// _kvmsim: the thin C++ layer under the kvmsim Python package.
//
// Everything crosses the boundary as JSON text: the scenario in, the result out. The
// pure-Python package (python/kvmsim/) turns that into dicts and DataFrames. JSON keeps
// the module small, makes results trivially picklable for process pools and Dask, and
// nlohmann::json writes doubles in their shortest round-trip form, so a metric read in
// Python is bit-identical to the one in the CLI's summary.json.
//
// Runs release the GIL. SystemC keeps its kernel in process-global state, so runs inside
// one process are serialized by a mutex: threads may call run_* concurrently, but only
// one simulation makes progress at a time (use processes for parallelism).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <systemc>

#include "apps/calibrate_platform.h"
#include "apps/validate_seeds.h"
#include "hw/platform.h"
#include "run/runner.h"
#include "run/schema.h"
#include "sim/config.h"
#include "validation/compare.h"
#include "validation/detect.h"
#include "validation/parse_common.h"
#include "validation/json.h"

namespace py = pybind11;

namespace {

std::mutex& run_mutex() {
  static std::mutex m;
  return m;
}

// Python-side ConfigError (a ValueError); created once at import, never freed.
PyObject* g_config_error = nullptr;

std::vector<std::string> with_seed(std::vector<std::string> sets, std::optional<int64_t> seed) {
  if (seed) sets.push_back("seed=" + std::to_string(*seed));
  return sets;
}

sim::Config config_from_json_text(const std::string& text, const std::string& name,
                                  const std::vector<std::string>& sets) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw sim::ConfigError(name, 0, "", "a JSON document", e.what());
  }
  return sim::Config::load_json(run::scenario_schema(), doc, name, sets);
}

nlohmann::json result_to_json(const run::RunResult& r) {
  nlohmann::json j;
  j["summary"] = r.summary;
  j["metrics"] = r.metrics;
  j["exits"] = r.exits;
  j["exits_by_vcpu_csv"] = r.exits_by_vcpu_csv;
  j["files"] = r.files;
  return j;
}

run::RunResult result_from_json(const std::string& text) {
  const nlohmann::json j = nlohmann::json::parse(text);
  run::RunResult r;
  r.summary = j.at("summary");
  for (const auto& [k, v] : j.at("metrics").items())
    r.metrics[k] = v.is_null() ? std::numeric_limits<double>::quiet_NaN() : v.get<double>();
  r.exits = j.at("exits").get<std::map<std::string, uint64_t>>();
  r.exits_by_vcpu_csv = j.at("exits_by_vcpu_csv").get<std::string>();
  r.files = j.at("files").get<std::map<std::string, std::string>>();
  return r;
}

// A format name from Python: "perf-kvm-stat", "ftrace", "cyclictest", "vmexit", "kvm-stats".
validation::Format format_arg(const std::string& format) {
  const validation::Format f = validation::format_from_string(format);
  if (f == validation::Format::Unknown)
    throw py::value_error("format '" + format + "': expected auto, perf-kvm-stat, ftrace, cyclictest, vmexit or kvm-stats");
  return f;
}

std::string run_config(const sim::Config& cfg) {
  run::RunResult r;
  {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(run_mutex());
    r = run::run_scenario(cfg, run::RunOptions{});
  }
  return result_to_json(r).dump();
}

}  // namespace

PYBIND11_MODULE(_kvmsim, m) {
  m.doc() = "kvmsim simulator core (use the kvmsim package, not this module)";

  // Every run after the first in one process makes SystemC print "no activity or clock
  // movement for sc_start() invocation" (W571): the check depends on process-wide state that
  // a fresh simulation context does not reset. Results are unaffected (tests check that a
  // repeated run is bit-identical); the CLI, one run a process, never prints it.
  sc_core::sc_report_handler::set_actions(sc_core::SC_ID_NO_SC_START_ACTIVITY_, sc_core::SC_DO_NOTHING);

  // Qualified name so that pickling (process pools, Dask) finds the class again.
  g_config_error = PyErr_NewExceptionWithDoc(
      "kvmsim._kvmsim.ConfigError",
      "A scenario or override is invalid. Attributes: file, line (0 when unknown), key, "
      "expected, found.",
      PyExc_ValueError, nullptr);
  if (!g_config_error) throw py::error_already_set();
  m.attr("ConfigError") = py::handle(g_config_error);

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const sim::ConfigError& e) {
      py::object cls = py::reinterpret_borrow<py::object>(g_config_error);
      py::object exc = cls(e.what());
      exc.attr("file") = e.file;
      exc.attr("line") = e.line;
      exc.attr("key") = e.key;
      exc.attr("expected") = e.expected;
      exc.attr("found") = e.found;
      PyErr_SetObject(g_config_error, exc.ptr());
    } catch (const validation::ParseError& e) {  // input that is no tool's output: a ValueError
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  m.def(
      "run_json",
      [](const std::string& scenario_json, const std::string& name,
         const std::vector<std::string>& overrides, std::optional<int64_t> seed) {
        const sim::Config cfg = config_from_json_text(scenario_json, name, with_seed(overrides, seed));
        return run_config(cfg);
      },
      py::arg("scenario_json"), py::arg("name") = "<dict>",
      py::arg("overrides") = std::vector<std::string>{}, py::arg("seed") = py::none(),
      "Run a scenario given as JSON text (nested or dotted keys); returns the result as JSON "
      "text: {summary, metrics, exits, exits_by_vcpu_csv, files}.");

  m.def(
      "run_file",
      [](const std::string& path, const std::vector<std::string>& overrides,
         std::optional<int64_t> seed) {
        const sim::Config cfg = run::load_scenario_file(path, with_seed(overrides, seed));
        return run_config(cfg);
      },
      py::arg("path"), py::arg("overrides") = std::vector<std::string>{},
      py::arg("seed") = py::none(), "Run a scenario file (YAML); same result as run_json.");

  m.def(
      "resolve_json",
      [](const std::string& scenario_json, const std::string& name,
         const std::vector<std::string>& overrides, std::optional<int64_t> seed) {
        return config_from_json_text(scenario_json, name, with_seed(overrides, seed)).echo().dump();
      },
      py::arg("scenario_json"), py::arg("name") = "<dict>",
      py::arg("overrides") = std::vector<std::string>{}, py::arg("seed") = py::none(),
      "Validate without running; returns the resolved scenario echo (defaults filled in) as "
      "JSON text.");

  m.def(
      "resolve_file",
      [](const std::string& path, const std::vector<std::string>& overrides,
         std::optional<int64_t> seed) {
        return run::load_scenario_file(path, with_seed(overrides, seed)).echo().dump();
      },
      py::arg("path"), py::arg("overrides") = std::vector<std::string>{},
      py::arg("seed") = py::none(), "resolve_json for a scenario file.");

  m.def(
      "write_results",
      [](const std::string& result_json, const std::string& dir) {
        run::write_results(result_from_json(result_json), dir);
      },
      py::arg("result_json"), py::arg("dir"),
      "Write a result folder exactly as `kvmsim run --out DIR` does.");

  m.def(
      "format_summary",
      [](const std::string& result_json) { return run::format_summary(result_from_json(result_json)); },
      py::arg("result_json"), "The summary text `kvmsim run` prints.");

  m.def("schema_markdown", [] { return run::scenario_schema().markdown(); },
        "Every scenario key with its type, default and meaning, as a Markdown table.");

  m.def(
      "schema",
      [] {
        nlohmann::json out = nlohmann::json::array();
        for (const sim::ParamSpec& s : run::scenario_schema().specs()) {
          nlohmann::json j;
          j["key"] = s.key;
          j["type"] = sim::to_string(s.type);
          j["default"] = s.default_yaml;
          j["min"] = s.min ? nlohmann::json(*s.min) : nlohmann::json(nullptr);
          j["max"] = s.max ? nlohmann::json(*s.max) : nlohmann::json(nullptr);
          j["choices"] = s.choices;
          j["doc"] = s.doc;
          j["group"] = s.group;
          out.push_back(std::move(j));
        }
        return out.dump();
      },
      "The scenario schema as JSON text: a list of {key, type, default, min, max, choices, doc, "
      "group}.");

  m.def(
      "platform_file",
      [](const std::string& name_or_path) { return hw::Platform::load(name_or_path).file; },
      py::arg("name_or_path"),
      "The file a scenario's `platform` value loads (searched as a run would search it).");

  m.def(
      "parse_tool_output",
      [](const std::string& text, const std::string& format) {
        namespace v = validation;
        const v::Format f = format == "auto" ? v::detect_format(text) : format_arg(format);
        nlohmann::json r;
        switch (f) {
          case v::Format::PerfKvmStat: r = v::to_json(v::parse_perf_kvm_stat(text)); break;
          case v::Format::Ftrace: r = v::to_json(v::parse_ftrace_kvm(text)); break;
          case v::Format::Cyclictest: r = v::to_json(v::parse_cyclictest(text)); break;
          case v::Format::VmexitLog: r = v::to_json(v::parse_vmexit_log(text)); break;
          case v::Format::KvmStats: r = v::to_json(v::parse_kvm_stats(text)); break;
          default: throw py::value_error("the text is not output of a tool kvmsim reads (perf kvm stat, trace-cmd/ftrace, "
                                         "cyclictest, kvm-unit-tests vmexit, KVM stats)");
        }
        return nlohmann::json{{"format", v::to_string(f)}, {"result", r}}.dump();
      },
      py::arg("text"), py::arg("format") = "auto",
      "Parse a real tool's output (the C++ parsers of `kvmsim compare`): JSON text {format, result}.");

  m.def(
      "compare_json",
      [](const std::string& real_text, const std::string& real_name, const std::string& sim_dir, const std::string& format) {
        const validation::Format f = format == "auto" ? validation::Format::Unknown : format_arg(format);
        validation::Comparison c;
        {
          py::gil_scoped_release release;
          c = validation::compare(real_text, real_name, sim_dir, f);
        }
        nlohmann::json j{{"kind", c.kind}, {"real", c.real}, {"sim", c.sim},
                         {"score", c.score < 0 ? nlohmann::json() : nlohmann::json(c.score)}};
        if (!c.details.is_null()) j["details"] = c.details;
        return nlohmann::json{{"json", j}, {"text", c.text}, {"plot", c.plot}}.dump();
      },
      py::arg("real_text"), py::arg("real_name"), py::arg("sim_dir") = "", py::arg("format") = "auto",
      "`kvmsim compare`: JSON text {json: (what --json prints), text: (the table), plot: (--plot's data)}.");

  m.def(
      "validate_json",
      [](const std::string& reference, const std::string& scenarios, bool quick, const std::string& only) {
        tools::ValidateOptions opt{reference, scenarios, quick, only};
        tools::ValidateResult r;
        {
          py::gil_scoped_release release;
          std::lock_guard<std::mutex> lock(run_mutex());
          r = tools::validate_seeds(opt);
        }
        nlohmann::json j = r.to_json();
        j["table"] = r.table;
        return j.dump();
      },
      py::arg("reference") = "", py::arg("scenarios") = "", py::arg("quick") = false, py::arg("only") = "",
      "`kvmsim validate --json` (empty reference/scenarios: the repository's), plus the text table as \"table\".");

  m.def(
      "calibrate_json",
      [](const std::string& platform, const std::string& measurements_json, const std::string& scenario,
         const std::vector<std::string>& fit, uint64_t goal_cycles, const std::vector<std::string>& sets) {
        tools::CalibrateOptions opt;
        opt.platform = platform;
        for (const auto& x : nlohmann::json::parse(measurements_json)) {
          const auto own = x.value("sets", std::vector<std::string>{});
          if (x.contains("path")) {  // a file, read (and named in the sources) as the CLI does
            opt.files.push_back({x.at("path").get<std::string>(), own});
            continue;
          }
          const std::string source = x.at("source").get<std::string>();
          if (x.contains("text")) {  // a vmexit log or perf kvm stat report's text
            for (auto& m : validation::measurements_from_text(x.at("text").get<std::string>(), source)) {
              m.sets = own;
              opt.measurements.push_back(std::move(m));
            }
          } else {
            opt.measurements.push_back({source, x.at("kind").get<std::string>(), x.at("name").get<std::string>(),
                                        x.at("value").get<double>(), own});
          }
        }
        opt.scenario = scenario;
        opt.fit = fit;
        opt.goal_cycles = goal_cycles;
        opt.sets = sets;
        tools::PlatformCalibration c;
        {
          py::gil_scoped_release release;
          std::lock_guard<std::mutex> lock(run_mutex());
          c = tools::calibrate_platform(opt);
        }
        nlohmann::json j = c.to_json();
        j["report"] = c.report();
        j["platform_yaml"] = c.platform_yaml();
        return j.dump();
      },
      py::arg("platform"), py::arg("measurements_json") = "[]",
      py::arg("scenario") = "", py::arg("fit") = std::vector<std::string>{}, py::arg("goal_cycles") = uint64_t{1} << 20,
      py::arg("sets") = std::vector<std::string>{},
      "`kvmsim calibrate`: JSON text (PlatformCalibration::to_json plus \"report\" and \"platform_yaml\"). "
      "measurements_json: [{path} or {source, text} or {source, kind (vmexit|perf), name, value}], each with an "
      "optional \"sets\" (overrides of its simulated runs).");

  m.def("version", [] { return std::string(run::version()); }, "kvmsim version string");
}
