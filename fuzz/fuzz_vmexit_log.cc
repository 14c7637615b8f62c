// libFuzzer target: parse_vmexit_log over arbitrary bytes (kvm-unit-tests vmexit logs).
#include "parser_fuzz.h"
#include "validation/vmexit_log.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzz_parser(data, size, [](std::string_view text) { return validation::parse_vmexit_log(text); });
}
