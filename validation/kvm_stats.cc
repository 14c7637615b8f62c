#include "validation/kvm_stats.h"

#include <algorithm>
#include <set>

namespace validation {
namespace {

// Per-vCPU stats (struct kvm_vcpu_stat and the generic halt-poll stats): the binary stats fd
// names from trace-formats.md first, then older or rarer debugfs names.
constexpr std::string_view kVcpuStats[] = {
    "exits", "halt_exits", "irq_exits", "io_exits", "mmio_exits", "irq_window_exits",
    "hypercalls", "irq_injections", "tlb_flush", "halt_successful_poll", "halt_attempted_poll",
    "halt_poll_invalid", "halt_wakeup", "halt_poll_success_ns", "halt_poll_fail_ns",
    "halt_wait_ns", "directed_yield_attempted", "directed_yield_successful",
    "preemption_reported", "preemption_other", "nested_run",
    // older / less common
    "pf_taken", "pf_fixed", "pf_emulate", "pf_spurious", "pf_fast", "pf_mmio_spte_created",
    "pf_guest", "invlpg", "signal_exits", "nmi_window_exits", "l1d_flush", "request_irq_exits",
    "host_state_reload", "fpu_reload", "insn_emulation", "insn_emulation_fail",
    "nmi_injections", "req_event", "guest_mode", "notify_window_exits", "blocking",
    "halt_poll_success_hist", "halt_poll_fail_hist", "halt_wait_hist", "irq_window",
    "nmi_window", "request_irq"};

constexpr std::string_view kVmStats[] = {
    "remote_tlb_flush", "remote_tlb_flush_requests",
    // older / less common
    "mmu_shadow_zapped", "mmu_pte_write", "mmu_pte_updated", "mmu_pde_zapped", "mmu_flooded",
    "mmu_recycled", "mmu_cache_miss", "mmu_unsync", "largepages", "lpages", "pages_4k",
    "pages_2m", "pages_1g", "nx_lpage_splits", "max_mmu_page_hash_collisions",
    "max_mmu_rmap_size"};

template <size_t N>
bool contains(const std::string_view (&set)[N], std::string_view s) {
  return std::find(std::begin(set), std::end(set), s) != std::end(set);
}

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

bool is_stat_name(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), name_char);
}

bool looks_numeric(std::string_view s) {
  if (s.empty()) return false;
  char c = s.front();
  return (c >= '0' && c <= '9') || c == '-' || c == '.';
}

}  // namespace

bool is_known_kvm_stat(std::string_view name) { return kvm_stat_scope(name) != StatScope::Unknown; }

StatScope kvm_stat_scope(std::string_view name) {
  if (contains(kVcpuStats, name)) return StatScope::Vcpu;
  if (contains(kVmStats, name)) return StatScope::Vm;
  return StatScope::Unknown;
}

std::optional<double> KvmStats::get(std::string_view name) const {
  auto it = values.find(std::string(name));
  if (it == values.end()) return std::nullopt;
  if (const auto* u = std::get_if<uint64_t>(&it->second)) return static_cast<double>(*u);
  return std::get<double>(it->second);
}

namespace {

// One "name value..." line read: a scalar, or several numbers (a *_hist array).
struct StatLine {
  std::string_view name;
  size_t depth = 0;  // '/' in the path: 0 for "exits 12", 5 for /sys/kernel/debug/kvm/exits
  std::variant<uint64_t, double> value;
  std::vector<uint64_t> hist;
};

enum class LineKind { Noise, Bad, Stat };

LineKind read_line(std::string_view t, StatLine& s, std::string& why) {
  // the name ends at the first ':', '=' or blank; a path keeps only its basename
  size_t end = 0;
  while (end < t.size() && t[end] != ':' && t[end] != '=' && !is_space(t[end])) ++end;
  s.name = t.substr(0, end);
  s.depth = static_cast<size_t>(std::count(s.name.begin(), s.name.end(), '/'));
  size_t slash = s.name.rfind('/');
  if (slash != std::string_view::npos) s.name = s.name.substr(slash + 1);
  std::string_view rest = trim(t.substr(end));
  if (!rest.empty() && (rest.front() == ':' || rest.front() == '=')) rest = trim(rest.substr(1));
  auto vals = split_ws(rest);
  bool data_like = is_stat_name(s.name) && !vals.empty() && looks_numeric(vals.front());
  // "grep: /sys/kernel/debug/kvm/18971-14: Is a directory" and other chatter
  if (!data_like && !is_known_kvm_stat(s.name)) return LineKind::Noise;
  if (vals.empty()) {
    why = "no value";
    return LineKind::Bad;
  }
  if (vals.size() == 1) {
    uint64_t u = 0;
    double d = 0;
    if (parse_uint(vals[0], u)) s.value = u;
    else if (parse_double(vals[0], d)) s.value = d;
    else why = "bad value";
  } else {
    s.hist.resize(vals.size());
    for (size_t i = 0; i < vals.size() && why.empty(); ++i)
      if (!parse_uint(vals[i], s.hist[i])) why = "bad histogram value";
  }
  return why.empty() ? LineKind::Stat : LineKind::Bad;
}

}  // namespace

KvmStats parse_kvm_stats(std::string_view text) {
  if (text.empty()) throw ParseError(0, "input is empty");
  KvmStats out;
  std::set<std::string> unknown;
  std::map<std::string, size_t> depth_of;
  LineReader reader(text, out.stats);
  Line l;
  while (reader.next(l)) {
    std::string_view t = trim(l.text);
    if (t.empty() || t.front() == '#') continue;
    StatLine s;
    std::string why;
    LineKind kind = read_line(t, s, why);
    if (kind == LineKind::Noise) continue;
    if (kind == LineKind::Bad) {
      out.stats.bad(l.number, why + ": " + excerpt(t));
      continue;
    }
    ++out.stats.parsed;
    std::string name(s.name);
    // `grep -r . /sys/kernel/debug/kvm` also lists <pid>-<fd>/vcpuN/exits: the VM-wide file
    // higher up (fewer '/') wins over a per-VM or per-vCPU one of the same name.
    auto [seen, fresh] = depth_of.try_emplace(name, s.depth);
    if (!fresh && s.depth > seen->second) continue;
    seen->second = s.depth;
    if (s.hist.empty()) out.values[name] = s.value;
    else out.histograms[name] = std::move(s.hist);
    if (!is_known_kvm_stat(name)) unknown.insert(std::move(name));
  }
  if (out.stats.parsed == 0) throw_nothing_found(out.stats, "'name value' statistics line");
  out.unknown.assign(unknown.begin(), unknown.end());
  return out;
}

}  // namespace validation
