#include "run/perf_kvm_stat.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace run {

std::string format_perf_kvm_stat(std::vector<PerfKvmRow> rows, const std::string& heading) {
  std::erase_if(rows, [](const PerfKvmRow& r) { return r.time_us.count == 0; });
  std::stable_sort(rows.begin(), rows.end(),
                   [](const PerfKvmRow& a, const PerfKvmRow& b) { return a.time_us.count > b.time_us.count; });
  uint64_t total = 0;
  double total_time = 0;
  for (const auto& r : rows) {
    total += r.time_us.count;
    total_time += r.time_us.sum;
  }
  std::string out = "Analyze events for " + heading + ":\n\n";
  char line[256];
  std::snprintf(line, sizeof line, "%20s %10s %9s %9s %11s %11s %16s \n\n", "VM-EXIT", "Samples", "Samples%", "Time%",
                "Min Time", "Max Time", "Avg time");
  out += line;
  for (const auto& r : rows) {
    const sim::Summary& s = r.time_us;
    const double mean = s.mean();
    // perf's "+-" is the relative standard deviation of the mean (rel_stddev_stats).
    const double rel = (s.count > 1 && mean > 0) ? 100.0 * s.stddev() / std::sqrt(static_cast<double>(s.count)) / mean : 0.0;
    std::snprintf(line, sizeof line, "%20s %10llu %8.2f%% %8.2f%% %9.2fus %9.2fus %9.2fus ( +-%7.2f%% )\n",
                  r.name.c_str(), static_cast<unsigned long long>(s.count), 100.0 * static_cast<double>(s.count) / static_cast<double>(total),
                  total_time > 0 ? 100.0 * s.sum / total_time : 0.0, s.min, s.max, mean, rel);
    out += line;
  }
  std::snprintf(line, sizeof line, "\nTotal Samples:%llu, Total events handled time:%.2fus.\n\n",
                static_cast<unsigned long long>(total), total_time);
  out += line;
  return out;
}

}  // namespace run
