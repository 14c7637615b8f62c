// libFuzzer target: the platform loader (platforms/<name>.yaml). Users write their own
// platform files and `kvmsim calibrate` writes new ones, so any text must load or fail with
// sim::ConfigError naming the file, line and key; nothing else may escape, crash or hang.
#include <cstddef>
#include <cstdint>
#include <string>

#include "hw/platform.h"
#include "sim/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const hw::Platform p = hw::Platform::load_text(text, "fuzz.yaml");
    (void)hw::wire_latency_ns(p, 0, p.topology.cpus() - 1);
  } catch (const sim::ConfigError&) {
  }
  return 0;
}
