// libFuzzer target: parse_perf_kvm_stat over arbitrary bytes (perf kvm stat report/live output).
#include "parser_fuzz.h"
#include "validation/perf_kvm_stat.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzz_parser(data, size, [](std::string_view text) { return validation::parse_perf_kvm_stat(text); });
}
