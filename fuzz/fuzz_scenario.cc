// libFuzzer target: the scenario loader and the --set parser together. The input is a
// scenario file, optionally preceded by override lines ("--set key=value\n"). Any input
// must load or fail with sim::ConfigError; nothing else may escape, crash or hang.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "run/schema.h"
#include "sim/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> sets;
  while (in.substr(0, 6) == "--set ") {
    const size_t nl = in.find('\n');
    sets.emplace_back(in.substr(6, nl == std::string_view::npos ? in.size() - 6 : nl - 6));
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  }
  try {
    const sim::Config cfg = sim::Config::load_text(run::scenario_schema(), std::string(in), "fuzz.yaml", sets);
    (void)cfg.echo().dump();
  } catch (const sim::ConfigError&) {
  }
  return 0;
}
