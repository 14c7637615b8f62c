// Typed scenario configuration: flattens YAML or JSON maps into dotted keys, checks every
// value against its ParamSpec, and turns every failure into a one-line ConfigError.
#include "sim/config.h"
#include "sim/yaml_documents.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <string_view>
#include <system_error>
#include <type_traits>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

namespace sim {
namespace {

using Json = nlohmann::json;

constexpr int kMaxDepth = 64;
constexpr size_t kMaxQuoted = 60;      // longest user text repeated in a message
constexpr size_t kMaxMessagePart = 200;
constexpr std::string_view kSetFile = "--set";

// ---------------------------------------------------------------------------------------
// Text helpers

std::string shorten(std::string_view text, size_t limit) {
  if (text.size() <= limit) return std::string(text);
  return std::string(text.substr(0, limit)) + "...";
}

// Control characters would break the one-line message; show them escaped.
std::string one_line(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string quote(std::string_view text) { return "'" + shorten(text, kMaxQuoted) + "'"; }

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? std::string(separator) : "") + parts[i];
  return out;
}

std::string trim(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return "";
  const size_t last = text.find_last_not_of(" \t");
  return std::string(text.substr(first, last - first + 1));
}

// Shortest text that reads back as the same double ("100", "0.5", "1e+20").
std::string format_number(double x) {
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, result.ptr);
}

// Strings end up in JSON (the echo), which must be valid UTF-8.
bool valid_utf8(std::string_view s) {
  static constexpr uint32_t kSmallest[] = {0, 0x80, 0x800, 0x10000};  // rejects overlong forms
  size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    size_t extra = 0;
    uint32_t code = 0;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if ((lead & 0xE0) == 0xC0) {
      extra = 1, code = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      extra = 2, code = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      extra = 3, code = lead & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(s[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    if (code < kSmallest[extra] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
      return false;
    i += extra + 1;
  }
  return true;
}

// Levenshtein distance; only called for strings of similar length, so small.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string_view last_part(std::string_view key) {
  const size_t dot = key.rfind('.');
  return dot == std::string_view::npos ? key : key.substr(dot + 1);
}

std::vector<std::string> split_dots(std::string_view key) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t dot = key.find('.'); dot != std::string_view::npos; dot = key.find('.', start)) {
    parts.emplace_back(key.substr(start, dot - start));
    start = dot + 1;
  }
  parts.emplace_back(key.substr(start));
  return parts;
}

// ---------------------------------------------------------------------------------------
// Key paths

bool is_family(std::string_view key) { return key.ends_with(".*"); }

// "cost.*" -> "cost"; other keys are their own path.
std::string_view key_path(std::string_view key) {
  return is_family(key) ? key.substr(0, key.size() - 2) : key;
}

// True when `inner` lies strictly below `outer` ("kvm.ple.window" below "kvm").
bool is_under(std::string_view inner, std::string_view outer) {
  return inner.size() > outer.size() && inner.starts_with(outer) && inner[outer.size()] == '.';
}

// Non-empty parts, no '*' (reserved for families), valid UTF-8.
bool well_formed(std::string_view path) {
  if (!valid_utf8(path) || path.find('*') != std::string_view::npos) return false;
  return !path.empty() && !path.starts_with('.') && !path.ends_with('.') &&
         path.find("..") == std::string_view::npos;
}

// A schema key below `path` ("kvm.hv_timer" below "kvm"), or a family rooted at it.
const ParamSpec* first_key_under(const Schema& schema, std::string_view path) {
  for (const ParamSpec& spec : schema.specs()) {
    const std::string_view spec_path = key_path(spec.key);
    if (is_under(spec_path, path) || (is_family(spec.key) && spec_path == path)) return &spec;
  }
  return nullptr;
}

// How close `candidate` is to the mistyped `key`: its edit distance when at most 2, else 3
// when both end in the same part ("hv_timer" vs "kvm.hv_timer"), else 4 (no match).
size_t closeness(std::string_view candidate, std::string_view key) {
  const size_t gap =
      std::max(candidate.size(), key.size()) - std::min(candidate.size(), key.size());
  if (gap <= 2) {
    if (const size_t distance = edit_distance(candidate, key); distance <= 2) return distance;
  }
  return last_part(candidate) == last_part(key) ? 3 : 4;
}

// For a family "cost.*": the key with its leading parts replaced by the family's, when those
// parts are a near miss ("cots.vmx.vmexit" -> "cost.vmx.vmexit").
std::optional<std::string> family_fix(std::string_view family_path, std::string_view key,
                                      size_t& distance) {
  const size_t parts = std::count(family_path.begin(), family_path.end(), '.') + 1;
  size_t cut = std::string_view::npos;
  for (size_t n = 0; n < parts; ++n) {
    cut = key.find('.', n == 0 ? 0 : cut + 1);
    if (cut == std::string_view::npos) return std::nullopt;
  }
  if (cut + 1 >= key.size()) return std::nullopt;
  distance = closeness(family_path, key.substr(0, cut));
  if (distance > 2) return std::nullopt;
  return std::string(family_path) + std::string(key.substr(cut));
}

// The closest schema key to a mistyped one, or "" when none is close. Key prefixes count
// too, so a mistyped section ("kvmm:") gets its section ("kvm") suggested.
std::string suggest(const Schema& schema, std::string_view key) {
  std::string best;
  size_t best_score = 4;
  auto consider = [&](std::string_view candidate, size_t score) {
    if (score < best_score) best_score = score, best = std::string(candidate);
  };
  for (const ParamSpec& spec : schema.specs()) {
    const std::string_view path = key_path(spec.key);
    if (!is_family(spec.key)) {
      consider(path, closeness(path, key));
    } else if (size_t distance = 4; auto fixed = family_fix(path, key, distance)) {
      consider(*fixed, distance);
    }
    for (size_t dot = path.find('.'); dot != std::string_view::npos; dot = path.find('.', dot + 1))
      consider(path.substr(0, dot), closeness(path.substr(0, dot), key));
    if (is_family(spec.key)) consider(path, closeness(path, key));
  }
  return best;
}

// ---------------------------------------------------------------------------------------
// Raw values: what YAML or JSON gave for a key, before its type is known

struct Item {
  enum class Kind { Null, Plain, Quoted, List, Map };
  Kind kind = Kind::Null;
  std::string text;            // Plain and Quoted
  std::vector<Item> elements;  // List, one level deep: nested containers keep no children
  int line = 0;
};

std::string describe(const Item& item) {
  switch (item.kind) {
    case Item::Kind::Null: return "nothing";
    case Item::Kind::Plain: return quote(item.text);
    case Item::Kind::Quoted: return "quoted string " + quote(item.text);
    case Item::Kind::List: return "a list";
    case Item::Kind::Map: return "a map";
  }
  return "?";
}

bool is_text(const Item& item) {
  return item.kind == Item::Kind::Plain || item.kind == Item::Kind::Quoted;
}

// Where a value came from, for error messages.
struct Where {
  std::string_view file;
  std::string_view key;
  int line = 0;
};

[[noreturn]] void fail(const Where& at, std::string expected, std::string found) {
  throw ConfigError(std::string(at.file), at.line, std::string(at.key), std::move(expected),
                    std::move(found));
}

// Aliases let a few bytes of YAML expand into exponentially many nodes; a budget in
// proportion to the text keeps such input from hanging the loader.
class Budget {
 public:
  explicit Budget(size_t nodes) : limit_(nodes), left_(nodes) {}
  void spend(const Where& at) {
    if (left_ == 0)
      fail(at, "at most " + std::to_string(limit_) + " nodes", "more (alias expansion?)");
    --left_;
  }

 private:
  size_t limit_, left_;
};

// ---------------------------------------------------------------------------------------
// Scalars

std::optional<bool> parse_bool(std::string_view text) {
  if (text.size() > 5) return std::nullopt;
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "true" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "no" || lower == "off") return false;
  return std::nullopt;
}

enum class IntParse { Ok, NotInt, TooBig };

// Decimal or 0x hex with an optional sign; nothing else (no "1_000", "1e3" or "1.0").
IntParse parse_int(std::string_view text, int64_t& out) {
  bool negative = false;
  if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
    negative = text[0] == '-';
    text.remove_prefix(1);
  }
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  }
  uint64_t magnitude = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, magnitude, base);
  if (text.empty() || stop != end) return IntParse::NotInt;
  if (error == std::errc::result_out_of_range) return IntParse::TooBig;
  if (error != std::errc()) return IntParse::NotInt;
  const uint64_t limit = uint64_t{std::numeric_limits<int64_t>::max()} + (negative ? 1 : 0);
  if (magnitude > limit) return IntParse::TooBig;
  // Unsigned negation then conversion is well defined in C++20, even for INT64_MIN.
  out = static_cast<int64_t>(negative ? 0 - magnitude : magnitude);
  return IntParse::Ok;
}

std::optional<double> parse_double(std::string_view text) {
  int64_t whole = 0;
  if (parse_int(text, whole) == IntParse::Ok) return static_cast<double>(whole);
  if (text.size() > 1 && text[0] == '+' && text[1] != '-' && text[1] != '+') text.remove_prefix(1);
  double value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || stop != end || !std::isfinite(value)) return std::nullopt;
  return value;
}

// ---------------------------------------------------------------------------------------
// Checking a raw value against its spec

std::string numeric_range(const ParamSpec& spec) {
  if (spec.min && spec.max)
    return " in [" + format_number(*spec.min) + ", " + format_number(*spec.max) + "]";
  if (spec.min) return " >= " + format_number(*spec.min);
  if (spec.max) return " <= " + format_number(*spec.max);
  return "";
}

bool in_range(const ParamSpec& spec, double x) {
  return !(spec.min && x < *spec.min) && !(spec.max && x > *spec.max);
}

std::string expectation(const ParamSpec& spec) {
  switch (spec.type) {
    case ParamType::Bool: return "a bool (true/false, yes/no, on/off)";
    case ParamType::Int: return "an integer" + numeric_range(spec);
    case ParamType::Double: return "a number" + numeric_range(spec);
    case ParamType::String: return "a string";
    case ParamType::Enum: return "one of [" + join(spec.choices, ", ") + "]";
    case ParamType::StringList:
      if (spec.choices.empty()) return "a list of strings";
      return "a list of strings from [" + join(spec.choices, ", ") + "]";
    case ParamType::IntList: return "a list of integers" + numeric_range(spec);
  }
  return "?";
}

bool to_bool(const ParamSpec& spec, const Item& item, const Where& at) {
  if (item.kind == Item::Kind::Plain)
    if (const auto value = parse_bool(item.text)) return *value;
  fail(at, expectation(spec), describe(item));
}

int64_t to_int(const ParamSpec& spec, const Item& item, const Where& at) {
  int64_t value = 0;
  const IntParse result =
      item.kind == Item::Kind::Plain ? parse_int(item.text, value) : IntParse::NotInt;
  if (result == IntParse::TooBig) fail(at, expectation(spec), describe(item) + " (beyond 64 bits)");
  if (result != IntParse::Ok || !in_range(spec, static_cast<double>(value)))
    fail(at, expectation(spec), describe(item));
  return value;
}

double to_double(const ParamSpec& spec, const Item& item, const Where& at) {
  const auto value =
      item.kind == Item::Kind::Plain ? parse_double(item.text) : std::optional<double>();
  if (!value || !in_range(spec, *value)) fail(at, expectation(spec), describe(item));
  return *value;
}

std::string to_text(const ParamSpec& spec, const Item& item, const Where& at) {
  if (item.kind == Item::Kind::Null) return "";
  if (!is_text(item)) fail(at, expectation(spec), describe(item));
  if (!valid_utf8(item.text)) fail(at, expectation(spec) + " in UTF-8", "invalid UTF-8");
  return item.text;
}

std::string to_choice(const ParamSpec& spec, const Item& item, const Where& at) {
  const auto& choices = spec.choices;
  if (!is_text(item) || std::find(choices.begin(), choices.end(), item.text) == choices.end())
    fail(at, expectation(spec), describe(item));
  return item.text;
}

// A single scalar stands for a one-element list, nothing for an empty one.
std::vector<Item> list_elements(const ParamSpec& spec, const Item& item, const Where& at) {
  if (item.kind == Item::Kind::List) return item.elements;
  if (item.kind == Item::Kind::Null) return {};
  if (item.kind == Item::Kind::Map) fail(at, expectation(spec), describe(item));
  return {item};
}

Where element_place(const Where& at, const Item& element) {
  return {at.file, at.key, element.line ? element.line : at.line};
}

std::vector<std::string> to_string_list(const ParamSpec& spec, const Item& item,
                                        const Where& at) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const Item& element : list_elements(spec, item, at)) {
    const Where here = element_place(at, element);
    if (spec.choices.empty()) {
      if (!is_text(element)) fail(here, expectation(spec), describe(element) + " as an element");
      out.push_back(to_text(spec, element, here));
    } else {
      out.push_back(to_choice(spec, element, here));
    }
    if (!seen.insert(out.back()).second)
      fail(here, "a list without duplicates", quote(out.back()) + " twice");
  }
  return out;
}

std::vector<int64_t> to_int_list(const ParamSpec& spec, const Item& item, const Where& at) {
  std::vector<int64_t> out;
  for (const Item& element : list_elements(spec, item, at))
    out.push_back(to_int(spec, element, element_place(at, element)));
  return out;
}

Value convert(const ParamSpec& spec, const Item& item, const Where& at) {
  switch (spec.type) {
    case ParamType::Bool: return to_bool(spec, item, at);
    case ParamType::Int: return to_int(spec, item, at);
    case ParamType::Double: return to_double(spec, item, at);
    case ParamType::String: return to_text(spec, item, at);
    case ParamType::Enum: return to_choice(spec, item, at);
    case ParamType::StringList: return to_string_list(spec, item, at);
    case ParamType::IntList: return to_int_list(spec, item, at);
  }
  throw std::logic_error("config key '" + std::string(at.key) + "' has an unknown type");
}

[[noreturn]] void unknown_key(const Schema& schema, const Where& at) {
  const std::string guess = suggest(schema, at.key);
  fail(at,
       guess.empty() ? "a known key; see scenarios/README.md"
                     : "a known key (did you mean '" + guess + "'?)",
       "unknown key");
}

// ---------------------------------------------------------------------------------------
// Reading YAML and JSON trees into Items

int line_of(const YAML::Node& node) {
  const int line = node.Mark().line;
  return line >= 0 ? line + 1 : 0;
}

bool is_map(const YAML::Node& node) { return node.IsMap(); }
bool is_map(const Json& value) { return value.is_object(); }

// The item for a node without its children.
Item shallow_item(const YAML::Node& node, int line) {
  Item item;
  item.line = line;
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      // Quoted scalars carry the "!" tag: they are strings, never bools or numbers.
      item.kind = node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str" ? Item::Kind::Quoted
                                                                             : Item::Kind::Plain;
      item.text = node.Scalar();
      break;
    case YAML::NodeType::Sequence: item.kind = Item::Kind::List; break;
    case YAML::NodeType::Map: item.kind = Item::Kind::Map; break;
    default: item.kind = Item::Kind::Null; break;
  }
  return item;
}

Item shallow_item(const Json& value, int line) {
  Item item;
  item.line = line;
  if (value.is_string()) {
    item.kind = Item::Kind::Quoted;
    item.text = value.get_ref<const std::string&>();
  } else if (value.is_boolean() || value.is_number()) {
    item.kind = Item::Kind::Plain;  // dump() gives "true", "12", "1.5": read like plain YAML
    item.text = value.dump();
  } else if (value.is_array()) {
    item.kind = Item::Kind::List;
  } else if (value.is_object()) {
    item.kind = Item::Kind::Map;
  }
  return item;
}

template <class Node>
Item to_item(const Node& node, int line, bool use_lines, Budget& budget, const Where& at) {
  Item item = shallow_item(node, line);
  if (item.kind != Item::Kind::List) return item;
  for (const auto& element : node) {
    budget.spend(at);
    int element_line = 0;
    if constexpr (std::is_same_v<Node, YAML::Node>) element_line = use_lines ? line_of(element) : 0;
    item.elements.push_back(shallow_item(element, element_line));
  }
  return item;
}

// The text's one document (null when it has none). Not YAML::LoadAll: in yaml-cpp 0.7 it
// loops forever on a stray ',' (jbeder/yaml-cpp#1040) because the parser stops advancing,
// so look at two documents at most; a second one starting where the first did is that bug.
YAML::Node load_one_document(const std::string& text, const Where& at, bool use_lines) {
  const std::vector<YAML::Mark> starts = yaml_document_starts(text);
  if (starts.size() > 1) {
    const YAML::Mark& first = starts[0];
    const YAML::Mark& second = starts[1];
    const Where here{at.file, at.key, use_lines && second.line >= 0 ? second.line + 1 : at.line};
    if (second.pos == first.pos && second.pos >= 0 && size_t(second.pos) < text.size())
      fail(here, "valid YAML", "a stray " + quote(text.substr(second.pos, 1)));
    fail(here, "a single YAML document", "a second document");
  }
  return starts.empty() ? YAML::Node() : YAML::Load(text);
}

// Calls f(name, line, value) for each entry of a map.
template <class F>
void for_each_entry(const YAML::Node& map, const Where& at, bool use_lines, F&& f) {
  for (const auto& entry : map) {
    const int line = use_lines ? line_of(entry.first) : 0;
    if (!entry.first.IsScalar() && !entry.first.IsNull())
      fail({at.file, at.key, line}, "a plain key", describe(shallow_item(entry.first, line)));
    f(entry.first.IsScalar() ? entry.first.Scalar() : std::string(), line, entry.second);
  }
}

template <class F>
void for_each_entry(const Json& map, const Where&, bool, F&& f) {
  for (const auto& entry : map.items()) f(entry.key(), 0, entry.value());
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Public helpers

const char* to_string(ParamType t) {
  switch (t) {
    case ParamType::Bool: return "bool";
    case ParamType::Int: return "int";
    case ParamType::Double: return "double";
    case ParamType::String: return "string";
    case ParamType::Enum: return "enum";
    case ParamType::StringList: return "string list";
    case ParamType::IntList: return "int list";
  }
  return "?";
}

namespace {
struct Formatter {
  std::string operator()(bool b) const { return b ? "true" : "false"; }
  std::string operator()(int64_t i) const { return std::to_string(i); }
  std::string operator()(double d) const { return format_number(d); }
  std::string operator()(const std::string& s) const { return s; }
  template <class T>
  std::string operator()(const std::vector<T>& list) const {
    std::string out = "[";
    for (size_t i = 0; i < list.size(); ++i) out += (i ? ", " : "") + (*this)(list[i]);
    return out + "]";
  }
};
}  // namespace

std::string format_value(const Value& v) { return std::visit(Formatter{}, v); }

namespace {
std::string compose_message(const std::string& file, int line, const std::string& key,
                            const std::string& expected, const std::string& found) {
  std::string message = shorten(file, kMaxMessagePart);
  if (line > 0) message += ":" + std::to_string(line);
  message += ": ";
  if (!key.empty()) message += "key '" + shorten(key, kMaxMessagePart) + "': ";
  message += "expected " + expected + ", found " + found;
  return one_line(message);
}
}  // namespace

ConfigError::ConfigError(std::string file, int line, std::string key, std::string expected,
                         std::string found)
    : std::runtime_error(compose_message(file, line, key, expected, found)),
      file(std::move(file)),
      key(std::move(key)),
      expected(std::move(expected)),
      found(std::move(found)),
      line(line) {}

// ---------------------------------------------------------------------------------------
// Schema

Schema& Schema::add(ParamSpec spec) {
  const std::string_view path = key_path(spec.key);
  if (!well_formed(path)) throw std::logic_error("schema key '" + spec.key + "' is malformed");
  for (const ParamSpec& other : specs_) {
    const std::string_view other_path = key_path(other.key);
    if (path == other_path || is_under(path, other_path) || is_under(other_path, path))
      throw std::logic_error("schema key '" + spec.key + "' collides with '" + other.key + "'");
  }
  index_.emplace(spec.key, specs_.size());
  specs_.push_back(std::move(spec));
  return *this;
}

const ParamSpec* Schema::find(const std::string& key) const {
  if (const auto it = index_.find(key); it != index_.end()) return &specs_[it->second];
  // A family member ("cost.vmx.vmexit" of "cost.*"); add() allows at most one match.
  for (const ParamSpec& spec : specs_)
    if (is_family(spec.key) && is_under(key, key_path(spec.key))) return &spec;
  return nullptr;
}

namespace {
std::string table_cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else {
      out += (c == '\n' || c == '\r') ? ' ' : c;
    }
  }
  return out;
}

std::string default_cell(const ParamSpec& spec) {
  if (is_family(spec.key)) return "(none)";
  if (spec.default_yaml.empty()) return spec.type == ParamType::String ? "`\"\"`" : "";
  return "`" + table_cell(spec.default_yaml) + "`";
}

std::string range_cell(const ParamSpec& spec) {
  if (!spec.choices.empty()) return table_cell(join(spec.choices, ", "));
  const std::string range = numeric_range(spec);  // " in [a, b]", " >= a" or ""
  return range.starts_with(" in ") ? range.substr(4) : trim(range);
}
}  // namespace

std::string Schema::markdown() const {
  std::vector<std::string> groups;  // in order of first appearance
  for (const ParamSpec& spec : specs_)
    if (std::find(groups.begin(), groups.end(), spec.group) == groups.end())
      groups.push_back(spec.group);
  std::string out;
  for (const std::string& group : groups) {
    if (!out.empty()) out += "\n";
    out += "### " + (group.empty() ? std::string("general") : table_cell(group)) + "\n\n";
    out += "| key | type | default | range/choices | description |\n";
    out += "|---|---|---|---|---|\n";
    for (const ParamSpec& spec : specs_) {
      if (spec.group != group) continue;
      out += "| `" + table_cell(spec.key) + "` | " + to_string(spec.type) + " | " +
             default_cell(spec) + " | " + range_cell(spec) + " | " + table_cell(spec.doc) +
             " |\n";
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Building a Config

class ConfigBuilder {
 public:
  // Copies the schema and fills in every default; a bad default throws std::logic_error.
  ConfigBuilder(const Schema& schema, std::string source) {
    config_.schema_ = std::make_shared<const Schema>(schema);
    config_.source_ = std::move(source);
    for (const ParamSpec& spec : config_.schema_->specs())
      if (!is_family(spec.key)) store_default(spec);
  }

  void read_yaml(const std::string& text);
  void read_json(const Json& doc);
  void apply_set(const std::string& assignment);
  Config finish() { return std::move(config_); }

  const Schema& schema() const { return *config_.schema_; }

  void check_key(const Where& at) const {
    if (!well_formed(at.key))
      fail(at, "a dotted key of non-empty UTF-8 parts without '*'", "a malformed key");
  }

  // A map may stand where the schema has keys below it, never for a scalar key.
  void check_map_allowed(const Where& at) const {
    const ParamSpec* spec = schema().find(std::string(at.key));
    if (spec && !is_family(spec->key)) fail(at, expectation(*spec), "a map");
    if (!spec && !first_key_under(schema(), at.key)) unknown_key(schema(), at);
  }

  void store(const Where& at, const Item& item) {
    const std::string key(at.key);
    const ParamSpec* spec = schema().find(key);
    if (!spec) {
      const ParamSpec* below = first_key_under(schema(), at.key);
      if (!below) unknown_key(schema(), at);
      if (item.kind == Item::Kind::Null) return;  // "kvm:" with every entry commented out
      fail(at, "a map of keys such as '" + below->key + "'", describe(item));
    }
    config_.values_[key] = convert(*spec, item, at);
    config_.specs_[key] = spec;
  }

 private:
  void store_default(const ParamSpec& spec) {
    try {
      Budget budget(std::numeric_limits<size_t>::max());
      const Where at{"default", spec.key, 0};
      const YAML::Node node = YAML::Load(spec.default_yaml);
      config_.values_[spec.key] = convert(spec, to_item(node, 0, false, budget, at), at);
      config_.specs_[spec.key] = &spec;
    } catch (const std::exception& e) {
      throw std::logic_error("schema default for key '" + spec.key + "' is invalid: " +
                             e.what());
    }
  }

  Config config_;
};

namespace {

// Walks nested maps into dotted keys and hands each leaf to the builder. Works on YAML and
// JSON trees alike through the overloads above.
template <class Node>
class Flattener {
 public:
  Flattener(ConfigBuilder& builder, std::string_view file, bool use_lines, size_t budget)
      : builder_(builder), file_(file), use_lines_(use_lines), budget_(budget) {}

  void walk(const Node& map, const std::string& prefix, int line, int depth) {
    const Where at{file_, prefix, line};
    if (depth > kMaxDepth) fail(at, "nesting at most 64 deep", "nesting deeper than 64");
    for_each_entry(map, at, use_lines_, [&](const std::string& name, int entry_line,
                                            const Node& value) {
      visit(prefix.empty() ? name : prefix + "." + name, value, entry_line, depth);
    });
  }

  void visit(const std::string& key, const Node& value, int line, int depth) {
    const Where at{file_, key, line};
    budget_.spend(at);
    builder_.check_key(at);
    // yaml-cpp keeps duplicate keys, and a key may be reached both nested and dotted.
    if (const auto [first, fresh] = seen_.emplace(key, line); !fresh) {
      const int first_line = first->second;
      fail(at, first_line ? "each key once (first at line " + std::to_string(first_line) + ")"
                          : "each key once",
           "a duplicate");
    }
    if (!is_map(value)) return builder_.store(at, to_item(value, line, use_lines_, budget_, at));
    builder_.check_map_allowed(at);
    walk(value, key, line, depth + 1);
  }

 private:
  ConfigBuilder& builder_;
  std::string_view file_;
  bool use_lines_;
  Budget budget_;
  std::map<std::string, int> seen_;  // key -> line of its first appearance
};

// Any library or std exception becomes a ConfigError: callers (and the fuzzer) only ever
// see ConfigError from a load.
template <class Step>
void guarded(const std::string& file, Step&& step) {
  try {
    step();
  } catch (const ConfigError&) {
    throw;
  } catch (const YAML::ParserException& e) {
    throw ConfigError(file, e.mark.line >= 0 ? e.mark.line + 1 : 0, "", "valid YAML", e.msg);
  } catch (const std::exception& e) {
    throw ConfigError(file, 0, "", "a loadable scenario", e.what());
  } catch (...) {
    throw ConfigError(file, 0, "", "a loadable scenario", "an unknown error");
  }
}

// Generous for real files (a node takes a few bytes of text), small for alias bombs.
size_t budget_for(std::string_view text) { return 16 * text.size() + 1024; }

ConfigError unreadable(const std::string& path, int error) {
  return ConfigError(path, 0, "", "a readable YAML file",
                     std::generic_category().message(error ? error : EIO));
}

std::string read_whole_file(const std::string& path) {
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) throw unreadable(path, EISDIR);
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw unreadable(path, errno);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw unreadable(path, errno);
  return text.str();
}

}  // namespace

void ConfigBuilder::read_yaml(const std::string& text) {
  const std::string& file = config_.source_;
  const YAML::Node root = load_one_document(text, {file, "", 0}, true);
  if (root.IsNull()) return;  // an empty file means all defaults
  if (!root.IsMap())
    fail({file, "", line_of(root)}, "a map of keys at the top level",
         describe(shallow_item(root, 0)));
  Flattener<YAML::Node>(*this, file, true, budget_for(text)).walk(root, "", 0, 1);
}

void ConfigBuilder::read_json(const Json& doc) {
  const std::string& file = config_.source_;
  if (doc.is_null()) return;
  if (!doc.is_object())
    fail({file, "", 0}, "a JSON object at the top level", describe(shallow_item(doc, 0)));
  Flattener<Json>(*this, file, false, std::numeric_limits<size_t>::max()).walk(doc, "", 0, 1);
}

// "key=value", the value read as YAML; a map value flattens under the key.
void ConfigBuilder::apply_set(const std::string& assignment) {
  const size_t equals = assignment.find('=');
  if (equals == std::string::npos) fail({kSetFile, assignment, 0}, "key=value", "no '='");
  const std::string key = trim(std::string_view(assignment).substr(0, equals));
  const std::string text = assignment.substr(equals + 1);
  YAML::Node value;
  try {
    value = load_one_document(text, {kSetFile, key, 0}, false);
  } catch (const YAML::ParserException& e) {
    fail({kSetFile, key, 0}, "a valid YAML value", e.msg);
  }
  Flattener<YAML::Node>(*this, kSetFile, false, budget_for(text)).visit(key, value, 0, 1);
}

// ---------------------------------------------------------------------------------------
// Config

Config Config::load_file(const Schema& schema, const std::string& path,
                         const std::vector<std::string>& sets) {
  std::string text;
  guarded(path, [&] { text = read_whole_file(path); });
  return load_text(schema, text, path, sets);
}

Config Config::load_text(const Schema& schema, const std::string& text, const std::string& name,
                         const std::vector<std::string>& sets) {
  ConfigBuilder builder(schema, name);  // a bad default is a programming error: not guarded
  guarded(name, [&] {
    builder.read_yaml(text);
    for (const std::string& set : sets) builder.apply_set(set);
  });
  return builder.finish();
}

Config Config::load_json(const Schema& schema, const nlohmann::json& doc,
                         const std::string& name, const std::vector<std::string>& sets) {
  ConfigBuilder builder(schema, name);
  guarded(name, [&] {
    builder.read_json(doc);
    for (const std::string& set : sets) builder.apply_set(set);
  });
  return builder.finish();
}

const ParamSpec& Config::spec_of(const std::string& key) const {
  if (const auto it = specs_.find(key); it != specs_.end()) return *it->second;
  if (const ParamSpec* spec = schema_ ? schema_->find(key) : nullptr) return *spec;
  throw std::logic_error("config key '" + key + "' is not in the schema");
}

const Value& Config::value_of(const std::string& key) const {
  if (const auto it = values_.find(key); it != values_.end()) return it->second;
  spec_of(key);  // throws for a key outside the schema
  throw std::logic_error("config key '" + key + "' was not given (a family member; see has())");
}

namespace {
template <class T>
const T& value_as(const Value& value, const std::string& key, const char* wanted) {
  if (const T* typed = std::get_if<T>(&value)) return *typed;
  throw std::logic_error("config key '" + key + "' is not " + wanted + " but " +
                         format_value(value));
}
}  // namespace

bool Config::get_bool(const std::string& key) const {
  return value_as<bool>(value_of(key), key, "a bool");
}

int64_t Config::get_int(const std::string& key) const {
  return value_as<int64_t>(value_of(key), key, "an int");
}

double Config::get_double(const std::string& key) const {
  const Value& value = value_of(key);
  if (const auto* whole = std::get_if<int64_t>(&value)) return static_cast<double>(*whole);
  return value_as<double>(value, key, "a number");
}

const std::string& Config::get_string(const std::string& key) const {
  return value_as<std::string>(value_of(key), key, "a string");
}

const std::vector<std::string>& Config::get_string_list(const std::string& key) const {
  return value_as<std::vector<std::string>>(value_of(key), key, "a string list");
}

const std::vector<int64_t>& Config::get_int_list(const std::string& key) const {
  return value_as<std::vector<int64_t>>(value_of(key), key, "an int list");
}

bool Config::has(const std::string& key) const { return values_.count(key) > 0; }

std::vector<std::string> Config::keys_with_prefix(const std::string& prefix) const {
  std::vector<std::string> keys;
  for (auto it = values_.lower_bound(prefix); it != values_.end() && it->first.starts_with(prefix);
       ++it)
    keys.push_back(it->first);
  return keys;
}

nlohmann::json Config::echo() const {
  Json out = Json::object();
  for (const auto& [key, value] : values_) {
    // A family member nests only under its family's prefix: "cost.vmx.vmexit" ->
    // {"cost": {"vmx.vmexit": ...}}.
    const ParamSpec& spec = spec_of(key);
    std::vector<std::string> parts = split_dots(key_path(spec.key));
    if (is_family(spec.key)) parts.push_back(key.substr(key_path(spec.key).size() + 1));
    Json* node = &out;
    for (const std::string& part : parts) node = &(*node)[part];
    *node = std::visit([](const auto& v) { return Json(v); }, value);
  }
  return out;
}

}  // namespace sim
