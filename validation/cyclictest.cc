#include "validation/cyclictest.h"

#include <algorithm>
#include <map>

namespace validation {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// A cursor over one line for the "Key:value" fields of the thread line.
struct Cursor {
  std::string_view s;
  size_t pos = 0;

  void skip_ws() {
    while (pos < s.size() && is_space(s[pos])) ++pos;
  }
  bool lit(std::string_view w) {
    skip_ws();
    if (s.substr(pos, w.size()) != w) return false;
    pos += w.size();
    return true;
  }
  // Reads an integer after optional blanks; `width` gets the blanks plus the digits, which is
  // how printf's field width shows (Act:%5ld vs Act:%8ld).
  bool num(int64_t& v, size_t* width = nullptr) {
    size_t start = pos;
    skip_ws();
    size_t b = pos;
    if (pos < s.size() && s[pos] == '-') ++pos;
    while (pos < s.size() && is_digit(s[pos])) ++pos;
    if (width) *width = pos - start;
    return parse_int(s.substr(b, pos - b), v);
  }
};

struct ThreadLine {
  CyclictestThread t;
  bool ns_width = false;  // Act and Avg printed at least 8 wide: -N
};

// T:%2d (%5d) P:%2d I:%ld C:%7lu Min:%7ld Act:%5ld Avg:%5ld Max:%8ld [SMI:%8ld]
bool parse_thread(std::string_view line, ThreadLine& out, std::string& why) {
  Cursor c{line};
  int64_t id = 0, pid = 0, prio = 0, interval = 0, count = 0;
  size_t act_w = 0, avg_w = 0;
  CyclictestThread& t = out.t;
  bool ok = c.lit("T:") && c.num(id) && c.lit("(") && c.num(pid) && c.lit(")") && c.lit("P:") &&
            c.num(prio) && c.lit("I:") && c.num(interval) && c.lit("C:") && c.num(count) &&
            c.lit("Min:") && c.num(t.min) && c.lit("Act:") && c.num(t.act, &act_w) &&
            c.lit("Avg:") && c.num(t.avg, &avg_w) && c.lit("Max:") && c.num(t.max);
  if (ok && c.lit("SMI:")) ok = c.num(t.smi);
  c.skip_ws();
  if (!ok || c.pos != line.size()) {
    why = "bad thread line";
    return false;
  }
  if (id < 0 || id > 1'000'000 || count < 0 || prio < -1000 || prio > 1000) {
    why = "thread line values out of range";
    return false;
  }
  t.id = static_cast<int>(id);
  t.pid = pid;
  t.prio = static_cast<int>(prio);
  t.interval_us = interval;
  t.count = static_cast<uint64_t>(count);
  out.ns_width = act_w >= 8 && avg_w >= 8;
  return true;
}

// "# Total: 000060000 000060000" -> values after the colon, up to a '#' ("# 00005 others").
bool parse_values(std::string_view rest, std::vector<uint64_t>& out) {
  out.clear();
  for (std::string_view tok : split_ws(rest)) {
    if (tok == "#") break;
    uint64_t v = 0;
    if (!parse_uint(tok, v)) return false;
    out.push_back(v);
  }
  return true;
}

bool all_digits(std::string_view s) {
  for (char c : s)
    if (!is_digit(c) && !is_space(c)) return false;
  return !s.empty();
}

class Parser {
 public:
  Cyclictest run(std::string_view text);

 private:
  void line(const Line& l, std::string_view t);
  void footer(const Line& l, std::string_view t);
  void finish();

  Cyclictest out_;
  std::map<int, CyclictestThread> threads_;
  size_t ns_votes_ = 0, us_votes_ = 0;
  bool in_hist_ = false;
  size_t hist_cols_ = 0;
  bool footer_seen_ = false;
};

void Parser::footer(const Line& l, std::string_view t) {
  std::string_view body = trim(t.substr(1));
  struct Field {
    std::string_view key;
    std::vector<uint64_t>* dst;
  };
  const Field fields[] = {{"Total:", &out_.totals},           {"Min Latencies:", &out_.min},
                          {"Avg Latencies:", &out_.avg},      {"Max Latencies:", &out_.max},
                          {"Histogram Overflows:", &out_.overflows}, {"SMIs:", &out_.smis}};
  for (const Field& f : fields) {
    if (!starts_with(body, f.key)) continue;
    if (!parse_values(body.substr(f.key.size()), *f.dst)) {
      f.dst->clear();
      out_.stats.bad(l.number, "bad '# " + std::string(f.key) + "' line: " + excerpt(t));
      return;
    }
    footer_seen_ = true;
    ++out_.stats.parsed;
    return;
  }
  // "# Thread 0: 00012 00345" lists the cycles at which the histogram overflowed
  if (starts_with(body, "Thread ") && !starts_with(body, "Thread Ids")) {
    size_t colon = body.find(':');
    int64_t id = -1;
    std::vector<uint64_t> v;
    if (colon == std::string_view::npos || !parse_int(trim(body.substr(7, colon - 7)), id) ||
        id < 0 || id > 100'000 || !parse_values(body.substr(colon + 1), v)) {
      out_.stats.bad(l.number, "bad '# Thread N:' line: " + excerpt(t));
      return;
    }
    if (out_.overflow_cycles.size() <= static_cast<size_t>(id))
      out_.overflow_cycles.resize(static_cast<size_t>(id) + 1);
    out_.overflow_cycles[static_cast<size_t>(id)] = std::move(v);
    ++out_.stats.parsed;
  }
  // other '#' lines: "# Histogram Overflow at cycle number:", "# /dev/cpu_dma_latency set to 0us"
}

void Parser::line(const Line& l, std::string_view t) {
  if (t.empty()) return;
  if (starts_with(t, "T:")) {
    ThreadLine tl;
    std::string why;
    if (!parse_thread(t, tl, why)) {
      out_.stats.bad(l.number, why + ": " + excerpt(t));
      return;
    }
    (tl.ns_width ? ns_votes_ : us_votes_)++;
    threads_[tl.t.id] = tl.t;  // redrawn lines: the last one wins
    ++out_.stats.parsed;
    return;
  }
  if (t.front() == '#') {
    if (trim(t.substr(1)) == "Histogram") {
      in_hist_ = true;
      ++out_.stats.parsed;
      return;
    }
    in_hist_ = false;
    footer(l, t);
    return;
  }
  if (!all_digits(t)) return;  // "policy: fifo: loadavg: ...", banners
  auto tok = split_ws(t);
  // Rows are %06d/%06lu, so they are recognisable even when the "# Histogram" line is lost.
  bool padded =
      std::all_of(tok.begin(), tok.end(), [](std::string_view s) { return s.size() >= 6; });
  if (!in_hist_ && !padded) {
    out_.stats.bad(l.number, "histogram row outside '# Histogram': " + excerpt(t));
    return;
  }
  HistogramBucket b;
  uint64_t bucket = 0;
  bool ok = tok.size() >= 2 && parse_uint(tok[0], bucket) && bucket <= 100'000'000;
  for (size_t i = 1; ok && i < tok.size(); ++i) {
    uint64_t v = 0;
    ok = parse_uint(tok[i], v);
    b.counts.push_back(v);
  }
  if (!ok) {
    out_.stats.bad(l.number, "bad histogram row: " + excerpt(t));
    return;
  }
  if (hist_cols_ == 0) hist_cols_ = b.counts.size();
  if (b.counts.size() != hist_cols_) {
    out_.stats.bad(l.number, "histogram row has " + std::to_string(b.counts.size()) +
                                 " columns, expected " + std::to_string(hist_cols_));
    return;
  }
  b.bucket = static_cast<int64_t>(bucket);
  out_.histogram.push_back(std::move(b));
  ++out_.stats.parsed;
}

void Parser::finish() {
  for (auto& [id, t] : threads_) out_.threads.push_back(t);
  if (ns_votes_ > us_votes_) out_.unit = "ns";
  size_t n = !out_.min.empty() ? out_.min.size()
             : !out_.threads.empty() ? out_.threads.size()
                                     : hist_cols_;
  // -H adds an all-threads column to the rows and to Total/Max/Overflows
  out_.has_all_column = n > 1 && hist_cols_ == n + 1;
  for (auto& b : out_.histogram) {
    if (out_.has_all_column) {
      b.all = b.counts.back();
      b.counts.pop_back();
    }
    b.bucket_us = out_.to_us(static_cast<double>(b.bucket));
  }
  for (auto* v : {&out_.totals, &out_.max, &out_.overflows})
    if (n > 1 && v->size() == n + 1) v->pop_back();
}

Cyclictest Parser::run(std::string_view text) {
  if (text.empty()) throw ParseError(0, "input is empty");
  LineReader reader(text, out_.stats);
  Line l;
  while (reader.next(l)) {
    if (has_escape(l.text)) {
      std::string clean = strip_ansi(l.text);
      line(l, trim(clean));
    } else {
      line(l, trim(l.text));
    }
  }
  if (threads_.empty() && out_.histogram.empty() && !footer_seen_)
    throw_nothing_found(out_.stats, "cyclictest thread line ('T: 0 (...) ...') or histogram");
  finish();
  return std::move(out_);
}

}  // namespace

Cyclictest parse_cyclictest(std::string_view text) { return Parser().run(text); }

}  // namespace validation
