#include "validation/perf_kvm_stat.h"

#include <utility>

namespace validation {

const char* to_string(Vendor v) {
  switch (v) {
    case Vendor::Intel: return "intel";
    case Vendor::Amd: return "amd";
    default: return "unknown";
  }
}

const PerfKvmStatRow* PerfKvmStat::find(std::string_view name) const {
  for (const auto& r : rows)
    if (r.name == name) return &r;
  return nullptr;
}

namespace {

// Removes and returns the last whitespace-separated token of s.
std::string_view pop_last(std::string_view& s) {
  s = trim(s);
  size_t i = s.size();
  while (i > 0 && !is_space(s[i - 1])) --i;
  std::string_view tok = s.substr(i);
  s = s.substr(0, i);
  return tok;
}

// "53.32%"; perf prints "nan%"/"-nan%" when the total time is zero.
bool parse_pct(std::string_view tok, double& out) {
  if (!ends_with(tok, "%")) return false;
  tok.remove_suffix(1);
  if (tok == "nan" || tok == "-nan") {
    out = 0;
    return true;
  }
  return parse_double(tok, out);
}

bool parse_us(std::string_view tok, double& out) {
  if (!ends_with(tok, "us")) return false;
  tok.remove_suffix(2);
  return parse_double(tok, out);
}

// `%*s %10llu %8.2f%% %8.2f%% %9.2fus %9.2fus %9.2fus ( +-%7.2f%% )`, read from the right;
// the old form lacks the two middle "us" columns.
bool parse_row(std::string_view line, PerfKvmStatRow& row, std::string& why) {
  std::string_view t = trim(line);
  size_t open = t.rfind('(');
  if (!ends_with(t, ")") || open == std::string_view::npos) {
    why = "row without '( +- x% )'";
    return false;
  }
  std::string_view dev = trim(t.substr(open + 1, t.size() - open - 2));
  if (!starts_with(dev, "+-") || !parse_pct(trim(dev.substr(2)), row.stddev_pct)) {
    why = "bad '( +- x% )' column";
    return false;
  }
  std::string_view left = t.substr(0, open);
  if (!parse_us(pop_last(left), row.avg_us)) {
    why = "bad Avg time column";
    return false;
  }
  std::string_view tok = pop_last(left);
  if (ends_with(tok, "us")) {
    row.has_min_max = true;
    if (!parse_us(tok, row.max_us) || !parse_us(pop_last(left), row.min_us)) {
      why = "bad Min/Max Time column";
      return false;
    }
    tok = pop_last(left);
  } else {
    row.has_min_max = false;
  }
  if (!parse_pct(tok, row.time_pct) || !parse_pct(pop_last(left), row.samples_pct)) {
    why = "bad Samples%/Time% column";
    return false;
  }
  if (!parse_uint(pop_last(left), row.samples)) {
    why = "bad Samples column";
    return false;
  }
  std::string_view name = trim(left);
  if (name.empty() || !is_printable_ascii(name)) {
    why = name.empty() ? "row without an event name" : "non-printable byte in event name";
    return false;
  }
  row.name = std::string(name);
  return true;
}

// "Total Samples:70203, Total events handled time:130636245.47us."
bool parse_total(std::string_view t, uint64_t& samples, double& time_us) {
  t = trim(t);
  t.remove_prefix(std::string_view("Total Samples:").size());
  size_t comma = t.find(',');
  if (comma == std::string_view::npos || !parse_uint(trim(t.substr(0, comma)), samples))
    return false;
  std::string_view rest = t.substr(comma + 1);
  size_t colon = rest.find("time:");
  if (colon == std::string_view::npos) return false;
  rest = trim(rest.substr(colon + 5));
  if (ends_with(rest, ".")) rest.remove_suffix(1);
  return parse_us(trim(rest), time_us);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// live mode's "HH:MM:SS.uuuuuu"
bool is_timeofday(std::string_view t) {
  if (t.size() < 10 || t[2] != ':' || t[5] != ':' || t[8] != '.') return false;
  for (size_t i : {0, 1, 3, 4, 6, 7})
    if (!is_digit(t[i])) return false;
  for (size_t i = 9; i < t.size(); ++i)
    if (!is_digit(t[i])) return false;
  return true;
}

std::optional<int> vcpu_of_heading(std::string_view h) {
  size_t at = h.rfind("VCPU ");
  if (at == std::string_view::npos) return std::nullopt;
  int64_t v = 0;
  if (!parse_int(trim(h.substr(at + 5)), v) || v < 0 || v > 1'000'000) return std::nullopt;
  return static_cast<int>(v);
}

Vendor vendor_of(const PerfKvmStat& r) {
  if (!r.event_set.empty() && r.event_set != "VM-EXIT") return Vendor::Unknown;
  size_t intel = 0, amd = 0;
  for (const auto& row : r.rows) {
    if (starts_with(row.name, "0x")) continue;  // an unnamed code or an mmio/ioport key
    bool lower = false, upper = false;
    for (char c : row.name) {
      lower |= c >= 'a' && c <= 'z';
      upper |= c >= 'A' && c <= 'Z';
    }
    if (lower) ++amd;  // SVM names are lower case ("msr", "PF excp")
    else if (upper) ++intel;
  }
  return intel > amd ? Vendor::Intel : amd > intel ? Vendor::Amd : Vendor::Unknown;
}

class Parser {
 public:
  PerfKvmStat run(std::string_view text);

 private:
  void start_new();
  bool has_content() const { return header_seen_ || !cur_.rows.empty() || !cur_.heading.empty(); }
  void line(const Line& l, std::string_view t, bool cleared);

  ParseStats stats_;
  PerfKvmStat cur_;
  bool header_seen_ = false;
  std::optional<PerfKvmStat> complete_, partial_;
  size_t reports_ = 0;
};

void Parser::start_new() {
  if (has_content()) partial_ = std::move(cur_);
  cur_ = PerfKvmStat{};
  header_seen_ = false;
}

void Parser::line(const Line& l, std::string_view t, bool cleared) {
  if (cleared) start_new();
  if (t.empty()) return;
  if (starts_with(t, "Analyze events for")) {
    if (has_content()) start_new();  // keeps a live timestamp printed just before
    std::string_view h = trim(t.substr(std::string_view("Analyze events for").size()));
    if (ends_with(h, ":")) h.remove_suffix(1);
    cur_.heading = excerpt(trim(h), 200);
    cur_.vcpu = vcpu_of_heading(cur_.heading);
    ++stats_.parsed;
    return;
  }
  if (is_timeofday(t)) {
    if (has_content()) start_new();
    cur_.timestamp = std::string(t);
    ++stats_.parsed;
    return;
  }
  size_t samples_at = t.find("Samples");
  if (samples_at != std::string_view::npos && t.find("Samples%") != std::string_view::npos &&
      t.find("Time%") != std::string_view::npos) {
    if (!cur_.rows.empty()) start_new();
    cur_.event_set = excerpt(trim(t.substr(0, samples_at)), 64);
    header_seen_ = true;
    ++stats_.parsed;
    return;
  }
  if (starts_with(t, "Total Samples:")) {
    if (!parse_total(t, cur_.total_samples, cur_.total_time_us)) {
      stats_.bad(l.number, "bad 'Total Samples:' line: " + excerpt(t));
      return;
    }
    cur_.complete = true;
    ++reports_;
    complete_ = std::move(cur_);
    cur_ = PerfKvmStat{};
    header_seen_ = false;
    ++stats_.parsed;
    return;
  }
  if (starts_with(t, "Lost events:")) {
    uint64_t n = 0;
    if (!parse_uint(trim(t.substr(12)), n)) {
      stats_.bad(l.number, "bad 'Lost events:' line: " + excerpt(t));
      return;
    }
    // printed after the Total line of the report it belongs to
    if (!has_content() && complete_) complete_->lost_events = n;
    else cur_.lost_events = n;
    ++stats_.parsed;
    return;
  }
  bool row_like = ends_with(t, ")") || t.find("+-") != std::string_view::npos;
  if (row_like || header_seen_) {
    PerfKvmStatRow row;
    std::string why;
    if (parse_row(t, row, why)) {
      cur_.rows.push_back(std::move(row));
      ++stats_.parsed;
    } else {
      stats_.bad(l.number, why + ": " + excerpt(t));
    }
  }
  // anything else outside a report (perf warnings, shell prompts) is noise
}

PerfKvmStat Parser::run(std::string_view text) {
  if (text.empty()) throw ParseError(0, "input is empty");
  LineReader reader(text, stats_);
  Line l;
  while (reader.next(l)) {
    if (has_escape(l.text)) {
      bool cleared = false;
      std::string clean = strip_ansi(l.text, &cleared);
      line(l, trim(clean), cleared);
    } else {
      line(l, trim(l.text), false);
    }
  }
  if (has_content()) partial_ = std::move(cur_);
  std::optional<PerfKvmStat>& pick = complete_ ? complete_ : partial_;
  if (!pick) throw_nothing_found(stats_, "'perf kvm stat' report (header, row or Total line)");
  PerfKvmStat out = std::move(*pick);
  out.reports = reports_;
  out.vendor = vendor_of(out);
  out.stats = std::move(stats_);
  return out;
}

}  // namespace

PerfKvmStat parse_perf_kvm_stat(std::string_view text) { return Parser().run(text); }

}  // namespace validation
