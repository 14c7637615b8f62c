// libFuzzer target: parse_cyclictest over arbitrary bytes (thread lines, -h histogram).
// Any crash, hang, leak, sanitizer report, exception other than ParseError, or broken
// bookkeeping is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "validation/detect.h"
#include "validation/json.h"
#include "validation/cyclictest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)validation::detect_format(text);
  try {
    auto result = validation::parse_cyclictest(text);
    const validation::ParseStats& s = result.stats;
    if (s.parsed + s.bad_lines > s.lines ||
        s.bad_samples.size() > validation::ParseStats::kMaxSamples)
      __builtin_trap();
    // dump() throws on invalid UTF-8: the JSON of any input must be printable
    (void)validation::to_json(result).dump();
    (void)validation::to_json(s).dump();
  } catch (const validation::ParseError&) {
  }
  return 0;
}
