// Parser of kvm-unit-tests x86/vmexit output: one "<name> <cycles>" line a test (TSC cycles per
// iteration), "  ipi <name> <cycles>" / "  eoi <name> <cycles>" sub-lines for the IPI tests,
// "<name> (skipped)" for tests the machine cannot run. PCI tests print the device name first
// ("mmio-no-eventfd:pci-mem 5382").
//
// The log may be wrapped by run_tests.sh (the qemu command line, "enabling apic", "paging
// enabled", "PASS vmexit_cpuid", ANSI colours): such lines are noise. Only a line that looks
// like a result but is not one ("cpuid abc", "vmcall 12x") counts as bad.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "validation/parse_common.h"

namespace validation {

struct VmexitLog {
  std::map<std::string, double> cycles;       // test -> TSC cycles per iteration
  std::map<std::string, double> ipi_cycles;   // "  ipi <test> N": cycles spent sending
  std::map<std::string, double> eoi_cycles;   // "  eoi <test> N": cycles spent in EOI
  std::vector<std::string> skipped;           // in order of appearance
  ParseStats stats;
};

// True for the tests x86/vmexit.c defines (cpuid, vmcall, ipi, tscdeadline, ...).
bool is_known_vmexit_test(std::string_view name);

// Throws ParseError only when no result line at all is found.
VmexitLog parse_vmexit_log(std::string_view text);

}  // namespace validation
