// Shared pieces of the parsers of real tools' text output: line splitting, trimming, strict
// numbers, ANSI escape removal, and the bookkeeping of bad lines.
//
// Every parser reads untrusted text (truncated, garbled, reordered, from any locale): it never
// throws except ParseError when nothing at all is recognizable, and it runs in time linear in
// the input (apart from sorting trace events). No std::regex: hand-written scanners only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace validation {

// How a parse went: every input line is counted once; `parsed` lines carried data, `bad_lines`
// looked like data but could not be read (noise such as banners counts as neither).
struct ParseStats {
  size_t lines = 0, parsed = 0, bad_lines = 0;
  std::vector<std::pair<size_t, std::string>> bad_samples;  // first 10: line number, reason

  static constexpr size_t kMaxSamples = 10;
  void bad(size_t line, std::string reason);
};

// Fatal: the input holds nothing the parser recognizes. what() names the line ("line 0: input
// is empty", "line 12: no perf kvm stat report found").
struct ParseError : std::runtime_error {
  size_t line;
  ParseError(size_t line_no, const std::string& msg);
};

// Throws ParseError for an input with nothing recognizable: names the first bad line if any
// (with its reason), else the last line. `expected` says what was looked for.
[[noreturn]] void throw_nothing_found(const ParseStats& stats, const std::string& expected);

// Lines longer than this are counted bad and skipped (a binary file or a missing newline
// must not make a parser hold megabytes per line).
inline constexpr size_t kMaxLineBytes = 64 * 1024;

struct Line {
  size_t number = 0;      // 1-based
  std::string_view text;  // without the '\n' and a trailing '\r'
};

// Splits text into lines: '\n' ends a line, a trailing '\r' is dropped, a missing final
// newline is fine, NUL bytes are ordinary bytes. Lines over kMaxLineBytes are counted in
// `stats` as bad and not returned; every line is counted in stats.lines.
class LineReader {
 public:
  LineReader(std::string_view text, ParseStats& stats) : text_(text), stats_(stats) {}
  bool next(Line& out);

 private:
  std::string_view text_;
  size_t pos_ = 0, number_ = 0;
  ParseStats& stats_;
};

bool is_space(char c);  // ' ', \t, \r, \n, \v, \f and NUL (padding of crashed logs)
std::string_view trim(std::string_view s);
bool starts_with(std::string_view s, std::string_view prefix);
bool ends_with(std::string_view s, std::string_view suffix);

// Whitespace-separated tokens.
std::vector<std::string_view> split_ws(std::string_view s);

// Strict whole-string numbers via std::from_chars: no locale, no exceptions, no leading or
// trailing junk, no overflow.
bool parse_uint(std::string_view s, uint64_t& out, int base = 10);
bool parse_int(std::string_view s, int64_t& out, int base = 10);
bool parse_double(std::string_view s, double& out);  // finite values only
// Hex with or without "0x" ("0x1f", "1f").
bool parse_hex(std::string_view s, uint64_t& out);

// Removes terminal escape sequences (CSI "\x1b[...X", OSC "\x1b]...\a", two-byte "\x1b X")
// that live and interactive modes emit. Sets *had_clear when a clear-screen ("\x1b[2J") or
// home ("\x1b[H") sequence was seen.
std::string strip_ansi(std::string_view s, bool* had_clear = nullptr);
bool has_escape(std::string_view s);

// A short, printable excerpt of a line for error messages (non-printables become '?').
std::string excerpt(std::string_view s, size_t max_len = 48);

// True when every byte is printable ASCII (names must be, so results stay valid JSON).
bool is_printable_ascii(std::string_view s);

}  // namespace validation
