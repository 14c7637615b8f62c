// Results of the tool-output parsers as JSON, in the shape `kvmsim compare` prints:
//   perf       {"exits": {REASON: {"samples","pct","time_pct","min_us","max_us","avg_us"}},
//               "total_samples"}
//   trace      {"exits": {REASON: {"samples","avg_us"}}, "ipis", "ple_window_updates", "bad_lines"}
//   cyclictest {"threads": [{"min_us","avg_us","max_us","count"}], "histogram": [[bucket, n...]]}
//   vmexit     {"vmexit": {test: cycles}, "skipped": [...]}
//   kvm stats  {"stats": {name: value}, "histograms": {name: [...]}, "unknown": [...]}
// Strings from the input are made printable ASCII, so dump() never throws.
#pragma once

#include <nlohmann/json.hpp>

#include "validation/cyclictest.h"
#include "validation/ftrace_kvm.h"
#include "validation/kvm_stats.h"
#include "validation/perf_kvm_stat.h"
#include "validation/vmexit_log.h"

namespace validation {

nlohmann::json to_json(const PerfKvmStat& r);
nlohmann::json to_json(const KvmTrace& r);
nlohmann::json to_json(const Cyclictest& r);
nlohmann::json to_json(const VmexitLog& r);
nlohmann::json to_json(const KvmStats& r);
nlohmann::json to_json(const ParseStats& s);  // {"lines","parsed","bad_lines","bad_samples"}

}  // namespace validation
