#include "validation/parse_common.h"

#include <charconv>
#include <cmath>

namespace validation {

void ParseStats::bad(size_t line, std::string reason) {
  ++bad_lines;
  if (bad_samples.size() < kMaxSamples) bad_samples.emplace_back(line, std::move(reason));
}

ParseError::ParseError(size_t line_no, const std::string& msg)
    : std::runtime_error("line " + std::to_string(line_no) + ": " + msg), line(line_no) {}

void throw_nothing_found(const ParseStats& stats, const std::string& expected) {
  std::string msg = "no " + expected + " in " + std::to_string(stats.lines) + " lines";
  if (stats.bad_samples.empty()) throw ParseError(stats.lines, msg);
  throw ParseError(stats.bad_samples.front().first,
                   msg + " (first problem: " + stats.bad_samples.front().second + ")");
}

bool LineReader::next(Line& out) {
  while (pos_ < text_.size()) {
    size_t end = text_.find('\n', pos_);
    size_t stop = end == std::string_view::npos ? text_.size() : end;
    std::string_view line = text_.substr(pos_, stop - pos_);
    pos_ = end == std::string_view::npos ? text_.size() : end + 1;
    ++number_;
    ++stats_.lines;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > kMaxLineBytes) {
      stats_.bad(number_, "line longer than " + std::to_string(kMaxLineBytes) + " bytes");
      continue;
    }
    out.number = number_;
    out.text = line;
    return true;
  }
  return false;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f' || c == '\0';
}

std::string_view trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    size_t b = i;
    while (i < s.size() && !is_space(s[i])) ++i;
    if (i > b) out.push_back(s.substr(b, i - b));
  }
  return out;
}

bool parse_uint(std::string_view s, uint64_t& out, int base) {
  if (s.empty()) return false;
  if (s.front() == '+') s.remove_prefix(1);
  if (s.empty() || s.front() == '-') return false;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || p != s.data() + s.size()) return false;
  out = v;
  return true;
}

bool parse_int(std::string_view s, int64_t& out, int base) {
  if (s.empty()) return false;
  if (s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || p != s.data() + s.size()) return false;
  out = v;
  return true;
}

bool parse_double(std::string_view s, double& out) {
  if (s.empty()) return false;
  if (s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  // from_chars also takes "inf"/"nan" and hex floats; tools print neither where we read numbers.
  char c = s.front() == '-' && s.size() > 1 ? s[1] : s.front();
  if (!((c >= '0' && c <= '9') || c == '.')) return false;
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::general);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) return false;
  out = v;
  return true;
}

bool parse_hex(std::string_view s, uint64_t& out) {
  if (starts_with(s, "0x") || starts_with(s, "0X")) s.remove_prefix(2);
  if (s.empty() || s.front() == '+') return false;
  return parse_uint(s, out, 16);
}

bool has_escape(std::string_view s) { return s.find('\x1b') != std::string_view::npos; }

std::string strip_ansi(std::string_view s, bool* had_clear) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c != '\x1b') {
      out.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 >= s.size()) break;  // lone ESC at the end
    char k = s[i + 1];
    if (k == '[') {  // CSI: parameters and intermediates, then one final byte 0x40..0x7e
      size_t j = i + 2;
      while (j < s.size() && static_cast<unsigned char>(s[j]) >= 0x20 &&
             static_cast<unsigned char>(s[j]) <= 0x3f)
        ++j;
      if (j < s.size()) {
        char fin = s[j];
        if (had_clear && (fin == 'J' || fin == 'H')) *had_clear = true;
        i = j + 1;
      } else {
        i = j;
      }
    } else if (k == ']') {  // OSC: up to BEL or ESC '\'
      size_t j = i + 2;
      while (j < s.size() && s[j] != '\a' && s[j] != '\x1b') ++j;
      i = j < s.size() && s[j] == '\a' ? j + 1 : (j + 1 < s.size() ? j + 2 : s.size());
    } else {
      i += 2;
    }
  }
  return out;
}

std::string excerpt(std::string_view s, size_t max_len) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max_len; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
  }
  if (s.size() > max_len) out += "...";
  return out;
}

bool is_printable_ascii(std::string_view s) {
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return true;
}

}  // namespace validation
