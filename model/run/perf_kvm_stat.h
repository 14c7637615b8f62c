// Writes exit statistics in the text format of `perf kvm stat report` (tools/perf/
// builtin-kvm.c), so a simulated run can be read with the same eyes and parsers as a
// real one.
#pragma once

#include <string>
#include <vector>

#include "sim/stats.h"

namespace run {

struct PerfKvmRow {
  std::string name;     // exit reason as perf prints it (e.g. MSR_WRITE)
  sim::Summary time_us; // one sample per exit: kvm_exit to the next kvm_entry, in us
};

// `heading`: e.g. "all VMs, all VCPUs". Rows are sorted by samples, descending.
std::string format_perf_kvm_stat(std::vector<PerfKvmRow> rows, const std::string& heading = "all VMs, all VCPUs");

}  // namespace run
