// Parser of `perf kvm stat report` and `perf kvm stat live` output (tools/perf/builtin-kvm.c):
//
//   Analyze events for all VMs, all VCPUs:
//
//                VM-EXIT    Samples  Samples%     Time%    Min Time    Max Time         Avg time
//
//       MSR_WRITE  42521  53.32%  0.06%  0.50us  52.94us  1.71us ( +-   0.48% )   [widths cut]
//   ...
//   Total Samples:70203, Total events handled time:130636245.47us.
//
// Rows are read from the right, where the numeric columns are fixed, so an event name may hold
// spaces (SVM's "PF excp") or colons (mmio "0xfee00300:W", ioport "0x3f8:POUT"). Old perf
// without the Min/Max columns is read too. Live mode repeats the report after a screen clear
// and a HH:MM:SS.uuuuuu timestamp: the last complete report is returned.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "validation/parse_common.h"

namespace validation {

enum class Vendor { Unknown, Intel, Amd };
const char* to_string(Vendor v);

struct PerfKvmStatRow {
  std::string name;         // exit reason (VMX upper case, SVM lower case) or mmio/ioport key
  uint64_t samples = 0;
  double samples_pct = 0, time_pct = 0;
  double min_us = 0, max_us = 0;  // 0 when !has_min_max (perf before 3.13)
  double avg_us = 0;
  double stddev_pct = 0;    // "( +- x% )": relative standard deviation of the mean
  bool has_min_max = true;
};

struct PerfKvmStat {
  std::string event_set;  // header's first column: "VM-EXIT", "MMIO Access", "IO Port Access"
  std::string heading;    // "Analyze events for X:": "all VMs, all VCPUs", "pid(s) 1234, VCPU 2"
  std::optional<int> vcpu;  // when the heading names one VCPU
  std::string timestamp;  // live mode: "HH:MM:SS.uuuuuu" printed before this report
  std::vector<PerfKvmStatRow> rows;  // in perf's order
  uint64_t total_samples = 0;
  double total_time_us = 0;
  bool complete = false;             // the "Total Samples:" line was seen for this report
  std::optional<uint64_t> lost_events;
  Vendor vendor = Vendor::Unknown;   // from the VM-EXIT names' case
  size_t reports = 0;                // complete reports in the input (live refreshes)
  ParseStats stats;                  // over the whole input, every refresh included

  const PerfKvmStatRow* find(std::string_view name) const;
};

// Throws ParseError only when the input holds no report at all.
PerfKvmStat parse_perf_kvm_stat(std::string_view text);

}  // namespace validation
