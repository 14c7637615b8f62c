#include "validation/json.h"

namespace validation {
namespace {

using nlohmann::json;

// Parsers already keep names printable; this keeps dump() safe whatever a parser lets through.
std::string safe(std::string_view s) { return excerpt(s, s.size()); }

}  // namespace

json to_json(const ParseStats& s) {
  json bad = json::array();
  for (const auto& [line, why] : s.bad_samples)
    bad.push_back({{"line", line}, {"reason", safe(why)}});
  return {{"lines", s.lines},
          {"parsed", s.parsed},
          {"bad_lines", s.bad_lines},
          {"bad_samples", std::move(bad)}};
}

json to_json(const PerfKvmStat& r) {
  json exits = json::object();
  for (const auto& row : r.rows) {
    json e = {{"samples", row.samples}, {"pct", row.samples_pct}, {"time_pct", row.time_pct},
              {"min_us", nullptr}, {"max_us", nullptr}, {"avg_us", row.avg_us}};
    if (row.has_min_max) {
      e["min_us"] = row.min_us;
      e["max_us"] = row.max_us;
    }
    exits[safe(row.name)] = std::move(e);
  }
  return {{"exits", std::move(exits)}, {"total_samples", r.total_samples}};
}

json to_json(const KvmTrace& r) {
  json exits = json::object();
  for (const auto& [reason, s] : r.by_reason)
    exits[safe(reason)] = {{"samples", s.count}, {"avg_us", s.avg_us()}};
  return {{"exits", std::move(exits)},
          {"ipis", r.ipis.size()},
          {"ple_window_updates", r.ple_window_updates.size()},
          {"bad_lines", r.stats.bad_lines}};
}

json to_json(const Cyclictest& r) {
  json threads = json::array();
  for (const auto& t : r.threads)
    threads.push_back({{"min_us", r.to_us(static_cast<double>(t.min))},
                       {"avg_us", r.to_us(static_cast<double>(t.avg))},
                       {"max_us", r.to_us(static_cast<double>(t.max))},
                       {"count", t.count}});
  json hist = json::array();
  for (const auto& b : r.histogram) {
    json row = json::array({b.bucket_us});
    for (uint64_t n : b.counts) row.push_back(n);
    hist.push_back(std::move(row));
  }
  return {{"threads", std::move(threads)}, {"histogram", std::move(hist)}};
}

json to_json(const VmexitLog& r) {
  json cycles = json::object();
  for (const auto& [test, c] : r.cycles) cycles[safe(test)] = c;
  json skipped = json::array();
  for (const auto& s : r.skipped) skipped.push_back(safe(s));
  return {{"vmexit", std::move(cycles)}, {"skipped", std::move(skipped)}};
}

json to_json(const KvmStats& r) {
  json stats = json::object();
  for (const auto& [name, v] : r.values) {
    if (const auto* u = std::get_if<uint64_t>(&v)) stats[safe(name)] = *u;
    else stats[safe(name)] = std::get<double>(v);
  }
  json hists = json::object();
  for (const auto& [name, h] : r.histograms) hists[safe(name)] = h;
  json unknown = json::array();
  for (const auto& n : r.unknown) unknown.push_back(safe(n));
  return {{"stats", std::move(stats)},
          {"histograms", std::move(hists)},
          {"unknown", std::move(unknown)}};
}

}  // namespace validation
