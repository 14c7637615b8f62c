#include "validation/ftrace_kvm.h"

#include <algorithm>
#include <unordered_map>

namespace validation {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool fail(std::string& why, std::string msg) {
  why = std::move(msg);
  return false;
}

// Seconds up to 9e9 keep nanoseconds inside int64.
constexpr uint64_t kMaxSeconds = 9'000'000'000ull;

// "95922.997039" (µs) or "95922.997039123" (ns clock) or "95922"; no trailing ':'.
bool parse_timestamp(std::string_view s, int64_t& ns) {
  size_t dot = s.find('.');
  std::string_view secs = s.substr(0, dot), frac;
  if (dot != std::string_view::npos) frac = s.substr(dot + 1);
  uint64_t sec = 0, f = 0;
  if (secs.empty() || !parse_uint(secs, sec) || sec > kMaxSeconds || !is_digit(secs.front()))
    return false;
  if (dot != std::string_view::npos) {
    if (frac.empty() || frac.size() > 9 || !parse_uint(frac, f) || !is_digit(frac.front()))
      return false;
    for (size_t i = frac.size(); i < 9; ++i) f *= 10;
  }
  ns = static_cast<int64_t>(sec * 1'000'000'000ull + f);
  return true;
}

struct Prefix {
  uint32_t pid = 0;
  int cpu = -1;
  int64_t t_ns = 0;
  std::string_view event, payload;
};

enum class PrefixKind { NotEvent, Bad, Event };

// Where "comm-pid [cpu]" (ftrace, trace-cmd) or "comm pid [cpu]" (perf script) sits.
struct CpuField {
  size_t open = std::string_view::npos, close = 0;  // the brackets
  size_t pid_begin = 0, pid_end = 0;
};

// Finds "[NNN]" preceded by a pid. Each scan only walks the blanks and digits next to one '[',
// so a line full of brackets stays linear.
CpuField find_cpu_field(std::string_view t) {
  CpuField f;
  for (size_t i = t.find('['); i != std::string_view::npos; i = t.find('[', i + 1)) {
    size_t j = i + 1;
    while (j < t.size() && is_digit(t[j])) ++j;
    if (j == i + 1 || j >= t.size() || t[j] != ']' || j - i > 6) continue;
    size_t e = i;
    while (e > 0 && is_space(t[e - 1])) --e;
    size_t k = e;
    while (k > 0 && is_digit(t[k - 1])) --k;
    if (k == e || k == 0 || (t[k - 1] != '-' && !is_space(t[k - 1]))) continue;
    f.open = i, f.close = j, f.pid_begin = k, f.pid_end = e;
    return f;
  }
  return f;
}

std::string_view next_token(std::string_view& s) {
  size_t i = 0;
  while (i < s.size() && is_space(s[i])) ++i;
  size_t b = i;
  while (i < s.size() && !is_space(s[i])) ++i;
  std::string_view tok = s.substr(b, i - b);
  s = s.substr(i);
  return tok;
}

PrefixKind parse_prefix(std::string_view t, Prefix& p, std::string& why) {
  CpuField f = find_cpu_field(t);
  if (f.open == std::string_view::npos) return PrefixKind::NotEvent;
  uint64_t pid = 0, cpu = 0;
  if (!parse_uint(t.substr(f.pid_begin, f.pid_end - f.pid_begin), pid) || pid > 0xffffffffull ||
      !parse_uint(t.substr(f.open + 1, f.close - f.open - 1), cpu)) {
    why = "bad pid or CPU column";
    return PrefixKind::Bad;
  }
  p.pid = static_cast<uint32_t>(pid);
  p.cpu = static_cast<int>(cpu);
  std::string_view rest = t.substr(f.close + 1);
  std::string_view tok = next_token(rest);
  if (!ends_with(tok, ":") || !parse_timestamp(tok.substr(0, tok.size() - 1), p.t_ns)) {
    tok = next_token(rest);  // the first one was the irqs-off/need-resched/... flags column
    if (!ends_with(tok, ":") || !parse_timestamp(tok.substr(0, tok.size() - 1), p.t_ns)) {
      why = "bad timestamp";
      return PrefixKind::Bad;
    }
  }
  rest = trim(rest);
  size_t colon = rest.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    why = "no 'event:' after the timestamp";
    return PrefixKind::Bad;
  }
  // perf script names events "kvm:kvm_exit:"
  if (colon + 1 < rest.size() && !is_space(rest[colon + 1])) {
    rest = rest.substr(colon + 1);
    colon = rest.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      why = "no 'event:' after the timestamp";
      return PrefixKind::Bad;
    }
  }
  p.event = rest.substr(0, colon);
  for (char c : p.event)
    if (is_space(c) || !is_printable_ascii(std::string_view(&c, 1))) {
      why = "bad event name";
      return PrefixKind::Bad;
    }
  p.payload = trim(rest.substr(colon + 1));
  return PrefixKind::Event;
}

bool parse_vcpu(std::string_view tok, int& vcpu) {
  if (ends_with(tok, ",") || ends_with(tok, ":")) tok.remove_suffix(1);
  uint64_t v = 0;
  if (!parse_uint(tok, v) || v > 1'000'000) return false;
  vcpu = static_cast<int>(v);
  return true;
}

bool is_exit_flag(std::string_view tok) {
  return tok == "FAILED_VMENTRY" || tok == "SGX_ENCLAVE_MODE" || tok == "BUS_LOCK_DETECTED";
}

bool is_hex_field(std::string_view key) {
  return key == "info1" || key == "info2" || key == "intr_info" || key == "error_code" ||
         key == "requests";
}

// kvm_exit / kvm_nested_vmexit, new and old forms:
//   vcpu %u reason %s%s%s rip 0x%lx info1 0x%016llx info2 0x%016llx intr_info 0x%08x
//     error_code 0x%08x  [newer kernels append "requests 0x..." and flags]
//   vcpu %u reason %s rip 0x%lx info %llx %llx
//   reason %s rip 0x%lx info %llx %llx
bool parse_exit(std::string_view payload, int& vcpu, std::string& reason, std::string& why) {
  auto tok = split_ws(payload);
  size_t i = 0;
  vcpu = -1;
  if (i < tok.size() && tok[i] == "vcpu") {
    if (i + 1 >= tok.size() || !parse_vcpu(tok[i + 1], vcpu)) return fail(why, "bad vcpu");
    i += 2;
  }
  if (i >= tok.size() || tok[i] != "reason") return fail(why, "kvm_exit without 'reason'");
  ++i;
  reason.clear();
  while (i < tok.size() && tok[i] != "rip") {
    if (!is_exit_flag(tok[i])) {
      if (!reason.empty()) reason += ' ';
      reason.append(tok[i]);
    }
    ++i;
  }
  if (reason.empty() || reason.size() > 64 || !is_printable_ascii(reason))
    return fail(why, "bad exit reason");
  uint64_t v = 0;
  if (i + 1 >= tok.size() || !parse_hex(tok[i + 1], v)) return fail(why, "bad rip");
  for (i += 2; i < tok.size(); ++i) {
    if (tok[i] == "info") {  // old form: two bare hex numbers
      if (i + 2 >= tok.size() || !parse_hex(tok[i + 1], v) || !parse_hex(tok[i + 2], v))
        return fail(why, "bad info");
      i += 2;
    } else if (is_hex_field(tok[i])) {
      if (i + 1 >= tok.size() || !parse_hex(tok[i + 1], v))
        return fail(why, "bad " + std::string(tok[i]));
      ++i;
    }
  }
  return true;
}

// kvm_entry: "vcpu %u, rip 0x%lx" (6.9+ may append "[immediate exit]"), old "vcpu %u"
bool parse_entry(std::string_view payload, int& vcpu, std::string& why) {
  auto tok = split_ws(payload);
  if (tok.size() < 2 || tok[0] != "vcpu" || !parse_vcpu(tok[1], vcpu)) return fail(why, "bad vcpu");
  uint64_t v = 0;
  if (tok.size() >= 3 && tok[2] == "rip") {
    // 6.9+ glues the flag on: "rip 0xffffffff8100a1b2[immediate exit]"
    std::string_view rip = tok.size() >= 4 ? tok[3].substr(0, tok[3].find('[')) : "";
    if (!parse_hex(rip, v)) return fail(why, "bad rip");
  }
  return true;
}

bool one_of(std::string_view s, std::initializer_list<std::string_view> set) {
  return std::find(set.begin(), set.end(), s) != set.end();
}

// kvm_apic_ipi: "dst %x vec %u (%s|%s|%s|%s|%s)"
bool parse_ipi(std::string_view payload, ApicIpi& ipi, std::string& why) {
  auto tok = split_ws(payload);
  uint64_t dst = 0, vec = 0;
  if (tok.size() != 5 || tok[0] != "dst" || !parse_hex(tok[1], dst) || dst > 0xffffffffull ||
      tok[2] != "vec" || !parse_uint(tok[3], vec) || vec > 255)
    return fail(why, "bad dst/vec");
  std::string_view m = tok[4];
  if (!starts_with(m, "(") || !ends_with(m, ")")) return fail(why, "bad (mode|...) field");
  m = m.substr(1, m.size() - 2);
  std::string_view part[5];
  for (int k = 0; k < 5; ++k) {
    size_t bar = m.find('|');
    if ((bar == std::string_view::npos) != (k == 4)) return fail(why, "bad (mode|...) field");
    part[k] = m.substr(0, bar);
    m = bar == std::string_view::npos ? std::string_view() : m.substr(bar + 1);
  }
  if (!one_of(part[0], {"Fixed", "LowPrio", "SMI", "Res3", "NMI", "INIT", "SIPI", "ExtINT"}) ||
      !one_of(part[1], {"logical", "physical"}) || !one_of(part[2], {"assert", "de-assert"}) ||
      !one_of(part[3], {"level", "edge"}) ||
      !one_of(part[4], {"dst", "self", "all", "all-but-self"}))
    return fail(why, "unknown IPI mode");
  ipi.dst = static_cast<uint32_t>(dst);
  ipi.vec = static_cast<uint32_t>(vec);
  ipi.delivery_mode = part[0];
  ipi.dest_mode = part[1];
  ipi.level = part[2];
  ipi.trigger = part[3];
  ipi.shorthand = part[4];
  return true;
}

// kvm_inj_virq: "IRQ 0x%x" | "Soft/INTn 0x%x", optional " [reinjected]"; old "irq %u"
bool parse_inj(std::string_view payload, VirqInjection& inj, std::string& why) {
  auto tok = split_ws(payload);
  uint64_t v = 0;
  bool ok = tok.size() >= 2 && tok.size() <= 3;
  if (ok && (tok[0] == "IRQ" || tok[0] == "Soft/INTn")) ok = parse_hex(tok[1], v);
  else if (ok && tok[0] == "irq") ok = parse_uint(tok[1], v);
  else ok = false;
  if (ok && tok.size() == 3) ok = tok[2] == "[reinjected]";
  if (!ok || v > 255) return fail(why, "bad kvm_inj_virq payload");
  inj.vector = static_cast<uint32_t>(v);
  inj.soft = tok[0] == "Soft/INTn";
  inj.reinjected = tok.size() == 3;
  return true;
}

bool parse_u32(std::string_view s, uint32_t& out) {
  uint64_t v = 0;
  if (!parse_uint(s, v) || v > 0xffffffffull) return false;
  out = static_cast<uint32_t>(v);
  return true;
}

// kvm_ple_window_update: "vcpu %u old %u new %u (growed|shrinked)"
bool parse_ple_update(std::string_view payload, PleWindowUpdate& u, std::string& why) {
  auto tok = split_ws(payload);
  if (tok.size() != 7 || tok[0] != "vcpu" || !parse_vcpu(tok[1], u.vcpu) || tok[2] != "old" ||
      !parse_u32(tok[3], u.old_window) || tok[4] != "new" || !parse_u32(tok[5], u.new_window) ||
      (tok[6] != "(growed)" && tok[6] != "(shrinked)"))
    return fail(why, "bad kvm_ple_window_update payload");
  u.grow = tok[6] == "(growed)";
  return true;
}

// old kvm_ple_window: "vcpu %u: ple_window %u (grow|shrink %u)" -- new first, old in brackets
bool parse_ple_old(std::string_view payload, PleWindowUpdate& u, std::string& why) {
  auto tok = split_ws(payload);
  std::string_view old = tok.size() == 6 ? tok[5] : std::string_view();
  if (tok.size() != 6 || tok[0] != "vcpu" || !parse_vcpu(tok[1], u.vcpu) ||
      tok[2] != "ple_window" || !parse_u32(tok[3], u.new_window) ||
      (tok[4] != "(grow" && tok[4] != "(shrink") || !ends_with(old, ")") ||
      !parse_u32(old.substr(0, old.size() - 1), u.old_window))
    return fail(why, "bad kvm_ple_window payload");
  u.grow = tok[4] == "(grow";
  return true;
}

// kvm_wait_lapic_expire: "vcpu %u: delta %lld (early|late)"
bool parse_lapic_expire(std::string_view payload, LapicExpire& e, std::string& why) {
  auto tok = split_ws(payload);
  if (tok.size() != 5 || tok[0] != "vcpu" || !parse_vcpu(tok[1], e.vcpu) || tok[2] != "delta" ||
      !parse_int(tok[3], e.delta) || (tok[4] != "(early)" && tok[4] != "(late)"))
    return fail(why, "bad kvm_wait_lapic_expire payload");
  e.early = tok[4] == "(early)";
  return true;
}

// "CPU:2 [LOST 1234 EVENTS]" (ftrace) or "... [1234 EVENTS DROPPED]" (trace-cmd)
bool parse_lost(std::string_view t, uint64_t& n) {
  size_t at = t.find("[LOST ");
  if (at != std::string_view::npos) {
    std::string_view rest = t.substr(at + 6);
    return parse_uint(rest.substr(0, rest.find(' ')), n);
  }
  at = t.find(" EVENTS DROPPED]");
  if (at == std::string_view::npos) return false;
  size_t b = t.rfind('[', at);
  return b != std::string_view::npos && parse_uint(t.substr(b + 1, at - b - 1), n);
}

struct ExitOrEntry {
  int64_t t_ns;
  bool is_exit;
  int cpu, vcpu;
  uint32_t pid;
  std::string reason;
};

template <class V>
void sort_by_time(V& v) {
  std::stable_sort(v.begin(), v.end(),
                   [](const auto& a, const auto& b) { return a.time_s < b.time_s; });
}

void pair_exits(std::vector<ExitOrEntry>& ev, KvmTrace& out) {
  auto earlier = [](const ExitOrEntry& a, const ExitOrEntry& b) { return a.t_ns < b.t_ns; };
  if (!std::is_sorted(ev.begin(), ev.end(), earlier)) {
    out.reordered = true;
    std::stable_sort(ev.begin(), ev.end(), earlier);
  }
  std::unordered_map<uint32_t, size_t> open;  // vCPU thread -> its pending kvm_exit
  for (size_t i = 0; i < ev.size(); ++i) {
    const ExitOrEntry& e = ev[i];
    if (e.is_exit) {
      ++out.kvm_exit_events;
      ++out.by_reason[e.reason].count;
      auto [it, fresh] = open.try_emplace(e.pid, i);
      if (!fresh) {
        ++out.unpaired_exits;
        it->second = i;
      }
      continue;
    }
    ++out.kvm_entry_events;
    auto it = open.find(e.pid);
    if (it == open.end()) {
      ++out.unpaired_entries;
      continue;
    }
    const ExitOrEntry& x = ev[it->second];
    open.erase(it);
    if (x.vcpu >= 0 && e.vcpu >= 0 && x.vcpu != e.vcpu) {  // one thread, two vcpus: garbled
      ++out.unpaired_exits;
      ++out.unpaired_entries;
      continue;
    }
    ExitSpan s;
    s.vcpu = x.vcpu >= 0 ? x.vcpu : e.vcpu;
    s.reason = x.reason;
    s.start_s = static_cast<double>(x.t_ns) / 1e9;
    s.duration_us = static_cast<double>(e.t_ns - x.t_ns) / 1e3;
    s.cpu = x.cpu;
    s.pid = x.pid;
    ReasonSummary& r = out.by_reason[s.reason];
    r.min_us = r.paired ? std::min(r.min_us, s.duration_us) : s.duration_us;
    r.max_us = r.paired ? std::max(r.max_us, s.duration_us) : s.duration_us;
    r.total_us += s.duration_us;
    ++r.paired;
    out.exits.push_back(std::move(s));
  }
  out.unpaired_exits += open.size();
  // spans were closed in entry order; report them in exit order
  std::stable_sort(out.exits.begin(), out.exits.end(),
                   [](const ExitSpan& a, const ExitSpan& b) { return a.start_s < b.start_s; });
}

bool mentions_kvm_event(std::string_view t) {
  return t.find(": kvm_") != std::string_view::npos || starts_with(t, "kvm_");
}

}  // namespace

KvmTrace parse_ftrace_kvm(std::string_view text) {
  if (text.empty()) throw ParseError(0, "input is empty");
  KvmTrace out;
  std::vector<ExitOrEntry> ev;
  size_t event_lines = 0;
  LineReader reader(text, out.stats);
  Line l;
  while (reader.next(l)) {
    std::string_view t = trim(l.text);
    if (t.empty() || t.front() == '#') continue;  // ftrace's "# tracer:" header
    Prefix p;
    std::string why;
    PrefixKind kind = parse_prefix(t, p, why);
    if (kind == PrefixKind::NotEvent) {
      uint64_t n = 0;
      if (parse_lost(t, n)) {
        out.lost_events += n;
        ++out.stats.parsed;
      } else if (mentions_kvm_event(t)) {
        out.stats.bad(l.number, "unreadable event line: " + excerpt(t));
      }
      // else: trace-cmd banners ("cpus=8", "version = 6", "CPU 0 is empty")
      continue;
    }
    if (kind == PrefixKind::Bad) {
      out.stats.bad(l.number, why + ": " + excerpt(t));
      continue;
    }
    ++event_lines;
    double ts = static_cast<double>(p.t_ns) / 1e9;
    bool ok = true;
    if (p.event == "kvm_exit" || p.event == "kvm_nested_vmexit") {
      ExitOrEntry e{p.t_ns, true, p.cpu, -1, p.pid, {}};
      ok = parse_exit(p.payload, e.vcpu, e.reason, why);
      if (ok && p.event == "kvm_exit") ev.push_back(std::move(e));
      else if (ok) ++out.nested_by_reason[e.reason];
    } else if (p.event == "kvm_entry") {
      ExitOrEntry e{p.t_ns, false, p.cpu, -1, p.pid, {}};
      ok = parse_entry(p.payload, e.vcpu, why);
      if (ok) ev.push_back(std::move(e));
    } else if (p.event == "kvm_apic_ipi") {
      ApicIpi ipi;
      ok = parse_ipi(p.payload, ipi, why);
      ipi.time_s = ts, ipi.cpu = p.cpu, ipi.pid = p.pid;
      if (ok) out.ipis.push_back(std::move(ipi));
    } else if (p.event == "kvm_inj_virq") {
      VirqInjection inj;
      ok = parse_inj(p.payload, inj, why);
      inj.time_s = ts, inj.cpu = p.cpu, inj.pid = p.pid;
      if (ok) out.injections.push_back(inj);
    } else if (p.event == "kvm_ple_window_update" || p.event == "kvm_ple_window") {
      PleWindowUpdate u;
      ok = p.event == "kvm_ple_window" ? parse_ple_old(p.payload, u, why)
                                       : parse_ple_update(p.payload, u, why);
      u.time_s = ts;
      if (ok) out.ple_window_updates.push_back(u);
    } else if (p.event == "kvm_wait_lapic_expire") {
      LapicExpire e;
      ok = parse_lapic_expire(p.payload, e, why);
      e.time_s = ts;
      if (ok) out.lapic_expire.push_back(e);
    } else {
      ++out.other_events;
      continue;
    }
    if (ok) ++out.stats.parsed;
    else out.stats.bad(l.number, std::string(p.event) + ": " + why + ": " + excerpt(p.payload));
  }
  if (event_lines == 0 && out.stats.parsed == 0)
    throw_nothing_found(out.stats, "readable event line ('comm-pid [cpu] secs.usecs: event: ...')");
  pair_exits(ev, out);
  sort_by_time(out.ipis);
  sort_by_time(out.injections);
  sort_by_time(out.ple_window_updates);
  sort_by_time(out.lapic_expire);
  return out;
}

}  // namespace validation
