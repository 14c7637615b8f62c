// The kvm-unit-tests x86/vmexit microbenchmarks: each test's body runs in a loop whose
// iteration count doubles from 64 until the loop took at least `goal_cycles` TSC cycles;
// the result is TSC cycles per iteration, printed as "<name> <cycles>" (vmexit.txt).
#pragma once

#include <string>
#include <vector>

#include "guest/workload.h"

namespace guest {

struct VmexitParams {
  std::vector<std::string> tests;     // empty: all
  uint64_t goal_cycles = 1ull << 30;  // GOAL in x86/vmexit.c
};

// Every test the model implements, in kvm-unit-tests' order.
const std::vector<std::string>& vmexit_test_names();

std::unique_ptr<Workload> make_vmexit_workload(const VmexitParams& p);

}  // namespace guest
