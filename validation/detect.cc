#include "validation/detect.h"

#include <array>

#include "validation/kvm_stats.h"
#include "validation/parse_common.h"
#include "validation/vmexit_log.h"

namespace validation {

const char* to_string(Format f) {
  switch (f) {
    case Format::PerfKvmStat: return "perf-kvm-stat";
    case Format::Ftrace: return "ftrace";
    case Format::Cyclictest: return "cyclictest";
    case Format::VmexitLog: return "vmexit";
    case Format::KvmStats: return "kvm-stats";
    default: return "unknown";
  }
}

Format format_from_string(std::string_view name) {
  for (Format f : {Format::PerfKvmStat, Format::Ftrace, Format::Cyclictest, Format::VmexitLog, Format::KvmStats})
    if (name == to_string(f)) return f;
  return Format::Unknown;
}

namespace {

bool has(std::string_view s, std::string_view w) { return s.find(w) != std::string_view::npos; }

bool is_int(std::string_view s) {
  int64_t v = 0;
  return parse_int(s, v);
}

// "exits 123", "exits: 123", "exits=123", "/sys/kernel/debug/kvm/exits:123"
bool is_known_stat_line(std::string_view t) {
  size_t end = 0;
  while (end < t.size() && t[end] != ':' && t[end] != '=' && !is_space(t[end])) ++end;
  std::string_view name = t.substr(0, end);
  size_t slash = name.rfind('/');
  if (slash != std::string_view::npos) name = name.substr(slash + 1);
  return is_known_kvm_stat(name) && end < t.size();
}

}  // namespace

Format detect_format(std::string_view text) {
  // scores in Format order; a strong marker weighs more than one matching line
  std::array<size_t, 5> score{};
  ParseStats stats;
  LineReader reader(text, stats);
  Line l;
  while (reader.next(l) && l.number <= 4096) {
    std::string_view t = trim(l.text);
    if (t.empty()) continue;
    if (has(t, "Analyze events for") || starts_with(t, "Total Samples:") ||
        (has(t, "Samples%") && has(t, "Time%")))
      score[0] += 10;
    if ((has(t, ": kvm_") && has(t, "[")) || starts_with(t, "# tracer:")) score[1] += 2;
    if ((has(t, "T:") && has(t, "Min:") && has(t, "Max:")) || t == "# Histogram" ||
        starts_with(t, "# Min Latencies:"))
      score[2] += 5;
    auto tok = split_ws(t);
    if (tok.size() == 3 && (tok[0] == "ipi" || tok[0] == "eoi")) tok.erase(tok.begin());
    if (tok.size() == 2 && is_known_vmexit_test(tok[0]) &&
        (is_int(tok[1]) || tok[1] == "(skipped)"))
      score[3] += 2;
    if (is_known_stat_line(t) || starts_with(t, "/sys/kernel/debug/kvm/")) score[4] += 2;
  }
  size_t best = 0;
  for (size_t i = 1; i < score.size(); ++i)
    if (score[i] > score[best]) best = i;
  return score[best] == 0 ? Format::Unknown : static_cast<Format>(best);
}

}  // namespace validation
