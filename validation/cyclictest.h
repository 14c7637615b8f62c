// Parser of cyclictest output (rt-tests src/cyclictest/cyclictest.c):
//
//   T: 0 ( 1234) P:95 I:1000 C:  60000 Min:      2 Act:    3 Avg:    3 Max:      21
//   # Histogram
//   000000 000000	000000
//   000001 000012	000010
//   ...
//   # Total: 000060000 000060000
//   # Min Latencies: 00002 00002
//   # Avg Latencies: 00003 00003
//   # Max Latencies: 00021 00019
//   # Histogram Overflows: 00000 00000
//   # Histogram Overflow at cycle number:
//   # Thread 0:
//   # Thread 1:
//
// The interactive mode redraws the thread lines after a cursor-up escape ("\x1b[4A"); the last
// line per thread wins. Quiet mode (-q) prints only the final lines. With -N the values and
// histogram buckets are nanoseconds (Act/Avg printed 8 wide instead of 5); with -H the histogram
// carries an extra all-threads column.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "validation/parse_common.h"

namespace validation {

struct CyclictestThread {
  int id = 0;          // T:
  int64_t pid = 0;     // (tid)
  int prio = 0;        // P:
  int64_t interval_us = 0;  // I: (always µs)
  uint64_t count = 0;  // C: cycles
  int64_t min = 0, act = 0, avg = 0, max = 0;  // in `unit`
  int64_t smi = -1;    // SMI: with --smi, else -1
};

struct HistogramBucket {
  int64_t bucket = 0;            // as printed: latency in `unit`
  double bucket_us = 0;
  std::vector<uint64_t> counts;  // one per thread
  uint64_t all = 0;              // the -H all-threads column, when present
};

struct Cyclictest {
  std::string unit = "us";       // "ns" with -N
  std::vector<CyclictestThread> threads;  // by thread id
  std::vector<HistogramBucket> histogram;
  bool has_all_column = false;   // -H
  // footer, one entry per thread (an extra trailing all-threads entry is dropped)
  std::vector<uint64_t> totals, min, avg, max, overflows;
  std::vector<std::vector<uint64_t>> overflow_cycles;  // "# Thread N: ..." per thread
  std::vector<uint64_t> smis;
  ParseStats stats;

  double to_us(double v) const { return unit == "ns" ? v / 1000.0 : v; }
};

// Throws ParseError only when neither thread lines nor a histogram are found.
Cyclictest parse_cyclictest(std::string_view text);

}  // namespace validation
