// libFuzzer target: parse_ftrace_kvm over arbitrary bytes (ftrace / trace-cmd report kvm events).
#include "parser_fuzz.h"
#include "validation/ftrace_kvm.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzz_parser(data, size, [](std::string_view text) { return validation::parse_ftrace_kvm(text); });
}
