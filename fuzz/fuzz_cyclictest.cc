// libFuzzer target: parse_cyclictest over arbitrary bytes (thread lines, -h histogram).
#include "parser_fuzz.h"
#include "validation/cyclictest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzz_parser(data, size, [](std::string_view text) { return validation::parse_cyclictest(text); });
}
