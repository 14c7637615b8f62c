// Issue 5's metrics and files: directed yield, PLE exits and windows, preemptions in kernel
// vs user mode, the host scheduler's buddy statistics, the PLE window trace
// (kvm_ple_window_update lines as trace-cmd report prints them) and PAUSE exits per ms.
#pragma once

#include "run/runner.h"
#include "sim/time.h"

namespace run {

class System;
void collect_overcommit(System& sys, sim::Picos end, RunResult& r);

}  // namespace run
