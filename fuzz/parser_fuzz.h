// The body every parser fuzz target shares: detect the format, parse, check the line
// bookkeeping, and print the JSON. Any crash, hang, leak, sanitizer report, exception
// other than ParseError, or broken bookkeeping is a bug.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "validation/detect.h"
#include "validation/json.h"
#include "validation/parse_common.h"

template <class Parse>
int fuzz_parser(const uint8_t* data, size_t size, Parse parse) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)validation::detect_format(text);
  try {
    auto result = parse(text);
    const validation::ParseStats& s = result.stats;
    if (s.parsed + s.bad_lines > s.lines || s.bad_samples.size() > validation::ParseStats::kMaxSamples)
      __builtin_trap();
    // dump() throws on invalid UTF-8: the JSON of any input must be printable.
    (void)validation::to_json(result).dump();
    (void)validation::to_json(s).dump();
  } catch (const validation::ParseError&) {
  }
  return 0;
}
