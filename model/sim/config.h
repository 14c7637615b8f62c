// Typed, schema-checked configuration: scenario YAML files plus --set overrides.
//
// Keys are dotted paths ("kvm.hv_timer"); nested YAML maps flatten to them. Every key a
// scenario may hold is declared once in a Schema (type, default, range or choices, doc).
// Loading never ignores a key and never crashes: any problem throws ConfigError naming the
// file, the line, the key and what was expected.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace sim {

enum class ParamType { Bool, Int, Double, String, Enum, StringList, IntList };

const char* to_string(ParamType t);

struct ParamSpec {
  std::string key;                  // dotted path, e.g. "kvm.ple_window"
  ParamType type = ParamType::Int;
  std::string default_yaml;         // default, as YAML text ("true", "4096", "[a, b]", "")
  std::optional<double> min;        // inclusive bounds for Int/Double (and IntList elements)
  std::optional<double> max;
  std::vector<std::string> choices; // Enum values; for StringList: allowed elements (empty = any)
  std::string doc;                  // one line for scenarios/README.md
  std::string group;                // heading in the generated schema table
};

// A key pattern ending in ".*" declares a family (e.g. "cost.*") whose members are validated
// by the same spec; the member's full key is kept.
class Schema {
 public:
  // Throws std::logic_error for a malformed key ("", "a..b", "a.*.b") or one that collides
  // with a key already added: the same key, or one key nested under another ("kvm" and
  // "kvm.x", or "cost.*" and "cost.x"), which the nested echo could not represent.
  Schema& add(ParamSpec spec);
  const ParamSpec* find(const std::string& key) const;
  const std::vector<ParamSpec>& specs() const { return specs_; }
  // Markdown table of every key (used to generate scenarios/README.md's schema section).
  std::string markdown() const;

 private:
  std::vector<ParamSpec> specs_;
  std::map<std::string, size_t> index_;
};

using Value = std::variant<bool, int64_t, double, std::string, std::vector<std::string>,
                           std::vector<int64_t>>;

// Human-readable form of a value: true, 42, 1.5, text, [a, b], [1, 2].
std::string format_value(const Value& v);

// what() is one line: "<file>:<line>: key '<key>': expected <expected>, found <found>";
// ":<line>" is left out when line is 0 and "key '<key>': " when key is empty.
struct ConfigError : std::runtime_error {
  ConfigError(std::string file, int line, std::string key, std::string expected,
              std::string found);
  std::string file, key, expected, found;
  int line;  // 1-based; 0 when unknown (e.g. a --set override)
};

// Value rules beyond the obvious: Bool takes true/false/yes/no/on/off in any case (not 0/1);
// Int takes decimal or 0x hex; a quoted scalar is never a bool or number; an empty value
// (null) is "" for String and [] for lists; a single scalar is a one-element list for both
// StringList and IntList; strings must be valid UTF-8 (the echo is JSON). A --set value
// that is a map flattens under its key. An empty section ("kvm:" with every entry commented
// out) is allowed. Nesting is limited to 64 maps. A Config keeps its own copy of the
// Schema, so it may outlive the one it was loaded with.
class Config {
 public:
  // Loads `path` (YAML) against `schema`, then applies `sets` ("key=value", value as YAML).
  static Config load_file(const Schema& schema, const std::string& path,
                          const std::vector<std::string>& sets = {});
  // Same from text; `name` stands in for the file name in errors.
  static Config load_text(const Schema& schema, const std::string& text, const std::string& name,
                          const std::vector<std::string>& sets = {});
  // From a JSON object (nested or with dotted keys), as Python passes dicts.
  static Config load_json(const Schema& schema, const nlohmann::json& doc,
                          const std::string& name, const std::vector<std::string>& sets = {});

  bool get_bool(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_double(const std::string& key) const;  // Int values convert
  const std::string& get_string(const std::string& key) const;  // String or Enum
  const std::vector<std::string>& get_string_list(const std::string& key) const;
  const std::vector<int64_t>& get_int_list(const std::string& key) const;
  bool has(const std::string& key) const;
  // Keys present under a prefix ("cost." -> every cost override given).
  std::vector<std::string> keys_with_prefix(const std::string& prefix) const;

  // Resolved configuration (defaults filled in) as nested JSON: the scenario echo.
  nlohmann::json echo() const;
  const std::string& source() const { return source_; }

 private:
  const ParamSpec& spec_of(const std::string& key) const;
  const Value& value_of(const std::string& key) const;
  std::map<std::string, Value> values_;
  std::map<std::string, const ParamSpec*> specs_;  // points into schema_
  std::shared_ptr<const Schema> schema_;  // own copy, so a Config outlives the caller's Schema
  std::string source_;
  friend class ConfigBuilder;
};

}  // namespace sim
