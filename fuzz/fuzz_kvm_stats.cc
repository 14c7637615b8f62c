// libFuzzer target: parse_kvm_stats over arbitrary bytes (KVM statistics dumps).
#include "parser_fuzz.h"
#include "validation/kvm_stats.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzz_parser(data, size, [](std::string_view text) { return validation::parse_kvm_stats(text); });
}
