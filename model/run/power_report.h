// Issue 6: package power metrics of a run (C-state residency, turbo frequency, host CPU use
// per VM, the Unixbench score at the busy cores' frequency) and a turbostat-like table.
#pragma once

#include <map>
#include <string>

#include "sim/time.h"

namespace run {

class System;

void report_power(System& sys, sim::Picos end, std::map<std::string, double>& m, std::map<std::string, std::string>& files);

}  // namespace run
