// Tests for the typed scenario configuration (model/sim/config.h).
#include "sim/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

using sim::Config;
using sim::ConfigError;
using sim::ParamSpec;
using sim::ParamType;
using sim::Schema;

namespace {

// Builds a ParamSpec readably: Spec("k", ParamType::Int, "3", "group", "doc").min(0).
struct Spec {
  ParamSpec spec;
  Spec(std::string key, ParamType type, std::string default_yaml = "", std::string group = "",
       std::string doc = "") {
    spec.key = std::move(key);
    spec.type = type;
    spec.default_yaml = std::move(default_yaml);
    spec.group = std::move(group);
    spec.doc = std::move(doc);
  }
  Spec& min(double v) { return spec.min = v, *this; }
  Spec& max(double v) { return spec.max = v, *this; }
  Spec& choices(std::vector<std::string> v) { return spec.choices = std::move(v), *this; }
  operator ParamSpec() const { return spec; }
};

Schema demo_schema() {
  Schema schema;
  schema.add(Spec("kvm.hv_timer", ParamType::Bool, "true", "kvm", "Use the VMX preemption timer"));
  schema.add(Spec("kvm.ple.window", ParamType::Int, "4096", "kvm", "PLE window in cycles")
                 .min(0)
                 .max(65536));
  schema.add(Spec("kvm.halt_poll_ns", ParamType::Int, "0x30d40", "kvm", "Halt polling | busy wait")
                 .min(0));
  schema.add(Spec("host.freq_ghz", ParamType::Double, "2.5", "host", "Host clock").min(0.5).max(6));
  schema.add(Spec("run.name", ParamType::String, "", "run", "Run label"));
  schema.add(Spec("run.mode", ParamType::Enum, "fast", "run", "Model detail")
                 .choices({"fast", "accurate", "trace"}));
  schema.add(Spec("run.features", ParamType::StringList, "[apic, x2apic]", "run", "CPU features")
                 .choices({"apic", "x2apic", "tsc", "pv_eoi"}));
  schema.add(Spec("run.tags", ParamType::StringList, "", "run", "Free-form tags"));
  schema.add(Spec("run.seed", ParamType::Int, "-1", "run", "Seed; -1 picks one"));
  schema.add(Spec("guest.cpus", ParamType::IntList, "[0, 1]", "guest", "Host CPUs for the vCPUs")
                 .min(0)
                 .max(255));
  schema.add(Spec("cost.*", ParamType::Int, "", "costs", "Override a cost in cycles").min(0));
  return schema;
}

Config load(const std::string& text, const std::vector<std::string>& sets = {}) {
  return Config::load_text(demo_schema(), text, "demo.yaml", sets);
}

// The ConfigError that loading `text` throws (a test failure if it loads).
ConfigError load_error(const std::string& text, const std::vector<std::string>& sets = {}) {
  try {
    load(text, sets);
  } catch (const ConfigError& e) {
    return e;
  }
  ADD_FAILURE() << "expected a ConfigError for:\n" << text;
  return ConfigError("", 0, "", "", "");
}

std::string message(const ConfigError& e) { return e.what(); }

std::string temp_path(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) / name).string();
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Defaults, nesting, keys

TEST(ConfigDefaults, EmptyTextGivesEveryDefault) {
  const Config config = load("");
  EXPECT_TRUE(config.get_bool("kvm.hv_timer"));
  EXPECT_EQ(config.get_int("kvm.ple.window"), 4096);
  EXPECT_EQ(config.get_int("kvm.halt_poll_ns"), 200000);
  EXPECT_DOUBLE_EQ(config.get_double("host.freq_ghz"), 2.5);
  EXPECT_EQ(config.get_string("run.name"), "");
  EXPECT_EQ(config.get_string("run.mode"), "fast");
  EXPECT_EQ(config.get_string_list("run.features"), (std::vector<std::string>{"apic", "x2apic"}));
  EXPECT_TRUE(config.get_string_list("run.tags").empty());
  EXPECT_EQ(config.get_int("run.seed"), -1);
  EXPECT_EQ(config.get_int_list("guest.cpus"), (std::vector<int64_t>{0, 1}));
  EXPECT_TRUE(config.keys_with_prefix("cost.").empty());
  EXPECT_EQ(config.source(), "demo.yaml");
}

TEST(ConfigDefaults, CommentsOnlyAndDocumentMarkerAreEmpty) {
  EXPECT_EQ(load("# nothing here\n").get_int("kvm.ple.window"), 4096);
  EXPECT_EQ(load("---\n").get_int("kvm.ple.window"), 4096);
  // A section whose entries are all commented out is an empty map, not an error.
  EXPECT_EQ(load("kvm:\n  # ple: {window: 3}\n").get_int("kvm.ple.window"), 4096);
}

TEST(ConfigKeys, NestedAndDottedFormsAgree) {
  const std::vector<std::string> forms = {
      "kvm:\n  hv_timer: false\n  ple:\n    window: 3\n",
      "kvm.hv_timer: false\nkvm.ple.window: 3\n",
      "kvm:\n  hv_timer: false\n  ple.window: 3\n",
      "kvm.ple:\n  window: 3\nkvm: {hv_timer: false}\n",
  };
  for (const std::string& text : forms) {
    SCOPED_TRACE(text);
    const Config config = load(text);
    EXPECT_FALSE(config.get_bool("kvm.hv_timer"));
    EXPECT_EQ(config.get_int("kvm.ple.window"), 3);
  }
}

TEST(ConfigKeys, UnknownKeySuggestsTheClosestKey) {
  const ConfigError e = load_error("run:\n  mode: fast\nkvm.hv_timr: false\n");
  EXPECT_EQ(e.file, "demo.yaml");
  EXPECT_EQ(e.line, 3);
  EXPECT_EQ(e.key, "kvm.hv_timr");
  EXPECT_EQ(e.found, "unknown key");
  EXPECT_EQ(message(e),
            "demo.yaml:3: key 'kvm.hv_timr': expected a known key (did you mean "
            "'kvm.hv_timer'?), found unknown key");
}

TEST(ConfigKeys, UnknownKeySuggestsBySharedLastPart) {
  const ConfigError e = load_error("hv_timer: true\n");
  EXPECT_NE(message(e).find("did you mean 'kvm.hv_timer'?"), std::string::npos) << message(e);
}

TEST(ConfigKeys, UnknownSectionSuggestsTheSection) {
  const ConfigError e = load_error("kvmm:\n  hv_timer: true\n");
  EXPECT_EQ(e.key, "kvmm");
  EXPECT_NE(message(e).find("did you mean 'kvm'?"), std::string::npos) << message(e);
}

TEST(ConfigKeys, UnknownKeyWithoutNeighbourPointsToTheReadme) {
  const ConfigError e = load_error("kvm:\n  completely_different_thing: 1\n");
  EXPECT_EQ(e.line, 2);
  EXPECT_EQ(e.key, "kvm.completely_different_thing");
  EXPECT_EQ(e.expected, "a known key; see scenarios/README.md");
}

TEST(ConfigKeys, MapWhereAScalarIsExpected) {
  const ConfigError e = load_error("kvm:\n  hv_timer:\n    on: true\n");
  EXPECT_EQ(e.key, "kvm.hv_timer");
  EXPECT_EQ(e.line, 2);
  EXPECT_EQ(e.found, "a map");
}

TEST(ConfigKeys, ScalarWhereAMapIsExpected) {
  const ConfigError e = load_error("kvm: 3\n");
  EXPECT_EQ(e.key, "kvm");
  EXPECT_EQ(e.line, 1);
  EXPECT_NE(e.expected.find("a map"), std::string::npos) << message(e);
  EXPECT_EQ(e.found, "'3'");
}

TEST(ConfigKeys, MalformedKeysAreRejected) {
  for (const std::string text : {"kvm..hv_timer: true\n", "kvm:\n  .x: 1\n", "cost.*: 3\n",
                                 ": 3\n", "? [a, b]\n: 3\n"}) {
    SCOPED_TRACE(text);
    load_error(text);
  }
}

TEST(ConfigKeys, DuplicateKeyNamesBothLines) {
  const ConfigError e = load_error("kvm:\n  hv_timer: true\n  hv_timer: false\n");
  EXPECT_EQ(e.key, "kvm.hv_timer");
  EXPECT_EQ(e.line, 3);
  EXPECT_NE(e.expected.find("first at line 2"), std::string::npos) << message(e);
}

TEST(ConfigKeys, DuplicateReachedNestedAndDotted) {
  const ConfigError e = load_error("kvm:\n  ple:\n    window: 1\nkvm.ple.window: 2\n");
  EXPECT_EQ(e.key, "kvm.ple.window");
  EXPECT_EQ(e.line, 4);
  EXPECT_NE(message(e).find("first at line 3"), std::string::npos) << message(e);
}

TEST(ConfigKeys, DuplicateSectionIsAnError) {
  const ConfigError e = load_error("kvm: {hv_timer: true}\nkvm: {ple.window: 3}\n");
  EXPECT_EQ(e.key, "kvm");
  EXPECT_EQ(e.line, 2);
}

// ---------------------------------------------------------------------------------------
// Types

TEST(ConfigTypes, BoolWords) {
  for (const std::string word : {"true", "yes", "on", "True", "YES", "On"})
    EXPECT_TRUE(load("kvm.hv_timer: " + word).get_bool("kvm.hv_timer")) << word;
  for (const std::string word : {"false", "no", "off", "FALSE", "No", "oFF"})
    EXPECT_FALSE(load("kvm.hv_timer: " + word).get_bool("kvm.hv_timer")) << word;
}

TEST(ConfigTypes, BoolRejectsNumbersQuotesAndLists) {
  for (const std::string value : {"1", "0", "'true'", "\"yes\"", "[true]", "maybe", ""}) {
    SCOPED_TRACE(value);
    const ConfigError e = load_error("kvm.hv_timer: " + value + "\n");
    EXPECT_EQ(e.key, "kvm.hv_timer");
    EXPECT_EQ(e.line, 1);
    EXPECT_NE(e.expected.find("bool"), std::string::npos);
  }
  EXPECT_EQ(load_error("kvm.hv_timer: 1\n").found, "'1'");
  EXPECT_EQ(load_error("kvm.hv_timer: 'on'\n").found, "quoted string 'on'");
}

TEST(ConfigTypes, IntForms) {
  EXPECT_EQ(load("kvm.ple.window: 0x10").get_int("kvm.ple.window"), 16);
  EXPECT_EQ(load("kvm.ple.window: +12").get_int("kvm.ple.window"), 12);
  EXPECT_EQ(load("run.seed: -42").get_int("run.seed"), -42);
  EXPECT_EQ(load("run.seed: 9223372036854775807").get_int("run.seed"), INT64_MAX);
  EXPECT_EQ(load("run.seed: -9223372036854775808").get_int("run.seed"), INT64_MIN);
  EXPECT_EQ(load("run.seed: 0x7fffffffffffffff").get_int("run.seed"), INT64_MAX);
}

TEST(ConfigTypes, IntRejectsNonIntegers) {
  for (const std::string value : {"1.5", "1_000_000", "1e3", "0x", "ten", "'12'", "true", "1.0"}) {
    SCOPED_TRACE(value);
    const ConfigError e = load_error("run.seed: " + value + "\n");
    EXPECT_EQ(e.key, "run.seed");
    EXPECT_EQ(e.expected, "an integer");
  }
}

TEST(ConfigTypes, IntRejectsValuesBeyond64Bits) {
  for (const std::string value : {"9223372036854775808", "-9223372036854775809",
                                  "0x10000000000000000", "99999999999999999999999"}) {
    SCOPED_TRACE(value);
    const ConfigError e = load_error("run.seed: " + value + "\n");
    EXPECT_NE(e.found.find("beyond 64 bits"), std::string::npos) << message(e);
  }
}

TEST(ConfigTypes, IntRange) {
  EXPECT_EQ(load("kvm.ple.window: 65536").get_int("kvm.ple.window"), 65536);
  EXPECT_EQ(load("kvm.ple.window: 0").get_int("kvm.ple.window"), 0);
  const ConfigError e = load_error("kvm:\n  ple:\n    window: 65537\n");
  EXPECT_EQ(message(e),
            "demo.yaml:3: key 'kvm.ple.window': expected an integer in [0, 65536], found "
            "'65537'");
  EXPECT_NE(message(load_error("kvm.halt_poll_ns: -1")).find("expected an integer >= 0"),
            std::string::npos);
}

TEST(ConfigTypes, DoubleAcceptsAnyFiniteNumber) {
  EXPECT_DOUBLE_EQ(load("host.freq_ghz: 3").get_double("host.freq_ghz"), 3.0);
  EXPECT_DOUBLE_EQ(load("host.freq_ghz: 2.75").get_double("host.freq_ghz"), 2.75);
  EXPECT_DOUBLE_EQ(load("host.freq_ghz: 5e0").get_double("host.freq_ghz"), 5.0);
  for (const std::string value : {"7", "0.1", ".inf", "nan", "fast", "'3'", "[3]"}) {
    SCOPED_TRACE(value);
    const ConfigError e = load_error("host.freq_ghz: " + value + "\n");
    EXPECT_EQ(e.expected, "a number in [0.5, 6]");
  }
}

TEST(ConfigTypes, StringTakesAnyScalarText) {
  EXPECT_EQ(load("run.name: hello world").get_string("run.name"), "hello world");
  EXPECT_EQ(load("run.name: 123").get_string("run.name"), "123");
  EXPECT_EQ(load("run.name: 'true'").get_string("run.name"), "true");
  EXPECT_EQ(load("run.name:").get_string("run.name"), "");
  EXPECT_EQ(load_error("run.name: [a]").found, "a list");
  EXPECT_EQ(load_error("run.name: a\xff\n").found, "invalid UTF-8");  // the echo needs UTF-8
}

TEST(ConfigTypes, EnumListsTheChoices) {
  EXPECT_EQ(load("run.mode: trace").get_string("run.mode"), "trace");
  const ConfigError e = load_error("run:\n  mode: slow\n");
  EXPECT_EQ(message(e),
            "demo.yaml:2: key 'run.mode': expected one of [fast, accurate, trace], found 'slow'");
}

TEST(ConfigTypes, StringListForms) {
  using List = std::vector<std::string>;
  EXPECT_EQ(load("run.features: [tsc, apic]").get_string_list("run.features"),
            (List{"tsc", "apic"}));
  EXPECT_EQ(load("run.features: tsc").get_string_list("run.features"), List{"tsc"});
  EXPECT_EQ(load("run.features: []").get_string_list("run.features"), List{});
  EXPECT_EQ(load("run.tags:\n  - a\n  - 'b c'\n").get_string_list("run.tags"),
            (List{"a", "b c"}));
}

TEST(ConfigTypes, StringListFailures) {
  const ConfigError bad_choice = load_error("run.features:\n  - apic\n  - avx\n");
  EXPECT_EQ(bad_choice.line, 3);  // the element's own line
  EXPECT_NE(bad_choice.expected.find("[apic, x2apic, tsc, pv_eoi]"), std::string::npos);
  EXPECT_EQ(bad_choice.found, "'avx'");
  const ConfigError duplicate = load_error("run.tags: [a, b, a]\n");
  EXPECT_EQ(duplicate.found, "'a' twice");
  EXPECT_EQ(load_error("run.tags: [a, {b: 1}]\n").key, "run.tags");
  EXPECT_EQ(load_error("run.tags: {a: 1}\n").found, "a map");
}

TEST(ConfigTypes, IntListForms) {
  using List = std::vector<int64_t>;
  EXPECT_EQ(load("guest.cpus: [3, 0x4, 255]").get_int_list("guest.cpus"), (List{3, 4, 255}));
  EXPECT_EQ(load("guest.cpus: 7").get_int_list("guest.cpus"), List{7});
  EXPECT_EQ(load("guest.cpus: []").get_int_list("guest.cpus"), List{});
  const ConfigError range = load_error("guest:\n  cpus:\n    - 1\n    - 256\n");
  EXPECT_EQ(range.line, 4);
  EXPECT_EQ(range.key, "guest.cpus");
  EXPECT_EQ(range.expected, "a list of integers in [0, 255]");
  EXPECT_EQ(load_error("guest.cpus: [1, 2.5]").found, "'2.5'");
  EXPECT_EQ(load_error("guest.cpus: [[1]]").found, "a list");
}

// ---------------------------------------------------------------------------------------
// Families

TEST(ConfigFamily, MembersKeepTheirFullKey) {
  const Config config =
      load("cost:\n  vmx.vmexit: 500\n  vmx:\n    vmentry: 400\ncost.ept_walk: 30\n");
  EXPECT_EQ(config.get_int("cost.vmx.vmexit"), 500);
  EXPECT_EQ(config.get_int("cost.vmx.vmentry"), 400);
  EXPECT_EQ(config.get_int("cost.ept_walk"), 30);
  EXPECT_EQ(config.keys_with_prefix("cost."),
            (std::vector<std::string>{"cost.ept_walk", "cost.vmx.vmentry", "cost.vmx.vmexit"}));
  EXPECT_EQ(config.keys_with_prefix("cost.vmx."),
            (std::vector<std::string>{"cost.vmx.vmentry", "cost.vmx.vmexit"}));
  EXPECT_FALSE(config.has("cost.other"));
  EXPECT_TRUE(config.has("cost.ept_walk"));
  EXPECT_THROW(config.get_int("cost.other"), std::logic_error);
}

TEST(ConfigFamily, MembersAreTypeAndRangeChecked) {
  const ConfigError negative = load_error("cost:\n  vmx.vmexit: -5\n");
  EXPECT_EQ(negative.key, "cost.vmx.vmexit");
  EXPECT_EQ(negative.line, 2);
  EXPECT_EQ(negative.expected, "an integer >= 0");
  EXPECT_EQ(load_error("cost.vmexit: fast\n").found, "'fast'");
  EXPECT_NE(load_error("cost: 5\n").expected.find("a map"), std::string::npos);
}

TEST(ConfigFamily, MistypedFamilyGetsASuggestion) {
  const ConfigError e = load_error("cots.vmx.vmexit: 5\n");
  EXPECT_NE(message(e).find("did you mean 'cost.vmx.vmexit'?"), std::string::npos) << message(e);
}

// ---------------------------------------------------------------------------------------
// --set overrides

TEST(ConfigSet, ValuesAreYaml) {
  const Config config = load("", {"kvm.hv_timer=off", "kvm.ple.window=0x10", "run.name='a=b c'",
                                  "run.features=[tsc, pv_eoi]", "guest.cpus=[4, 5]",
                                  " host.freq_ghz = 3.5", "cost.vmx.vmexit=7", "run.tags="});
  EXPECT_FALSE(config.get_bool("kvm.hv_timer"));
  EXPECT_EQ(config.get_int("kvm.ple.window"), 16);
  EXPECT_EQ(config.get_string("run.name"), "a=b c");
  EXPECT_EQ(config.get_string_list("run.features"), (std::vector<std::string>{"tsc", "pv_eoi"}));
  EXPECT_EQ(config.get_int_list("guest.cpus"), (std::vector<int64_t>{4, 5}));
  EXPECT_DOUBLE_EQ(config.get_double("host.freq_ghz"), 3.5);
  EXPECT_EQ(config.get_int("cost.vmx.vmexit"), 7);
  EXPECT_TRUE(config.get_string_list("run.tags").empty());
}

TEST(ConfigSet, AppliedAfterTheFileInOrder) {
  const Config config = load("kvm:\n  ple:\n    window: 10\n  hv_timer: false\n",
                             {"kvm.ple.window=20", "kvm.ple.window=30"});
  EXPECT_EQ(config.get_int("kvm.ple.window"), 30);
  EXPECT_FALSE(config.get_bool("kvm.hv_timer"));  // untouched by the overrides
}

TEST(ConfigSet, MapValueFlattensUnderTheKey) {
  const Config config = load("", {"kvm={hv_timer: no, ple.window: 5}"});
  EXPECT_FALSE(config.get_bool("kvm.hv_timer"));
  EXPECT_EQ(config.get_int("kvm.ple.window"), 5);
}

TEST(ConfigSet, MissingEqualsSign) {
  const ConfigError e = load_error("", {"kvm.hv_timer"});
  EXPECT_EQ(e.file, "--set");
  EXPECT_EQ(e.line, 0);
  EXPECT_EQ(e.key, "kvm.hv_timer");
  EXPECT_EQ(message(e), "--set: key 'kvm.hv_timer': expected key=value, found no '='");
}

TEST(ConfigSet, UnknownKeyFailsLikeAFileKey) {
  const ConfigError e = load_error("", {"kvm.hv_timr=true"});
  EXPECT_EQ(message(e),
            "--set: key 'kvm.hv_timr': expected a known key (did you mean 'kvm.hv_timer'?), "
            "found unknown key");
}

TEST(ConfigSet, BadValues) {
  const ConfigError range = load_error("", {"kvm.ple.window=70000"});
  EXPECT_EQ(message(range).rfind("--set: key 'kvm.ple.window': expected an integer", 0), 0u)
      << message(range);
  const ConfigError syntax = load_error("", {"run.tags=[a, b"});
  EXPECT_EQ(syntax.file, "--set");
  EXPECT_EQ(syntax.key, "run.tags");
  EXPECT_EQ(syntax.expected, "a valid YAML value");
  EXPECT_EQ(load_error("", {"=3"}).file, "--set");
}

TEST(ConfigSet, FileErrorsComeBeforeOverrides) {
  // The file is read first, so its error wins even if an override would fix the key.
  const ConfigError e = load_error("kvm.ple.window: -1\n", {"kvm.ple.window=1"});
  EXPECT_EQ(e.file, "demo.yaml");
}

// ---------------------------------------------------------------------------------------
// Documents and files

TEST(ConfigDocument, SyntaxErrorHasTheLine) {
  const ConfigError e = load_error("kvm:\n  hv_timer: true\nrun.tags: [a, b\n");
  EXPECT_EQ(e.file, "demo.yaml");
  EXPECT_GE(e.line, 3);
  EXPECT_EQ(e.key, "");
  EXPECT_EQ(e.expected, "valid YAML");
  EXPECT_FALSE(e.found.empty());
  EXPECT_EQ(message(e).rfind("demo.yaml:" + std::to_string(e.line) + ": expected valid YAML", 0),
            0u)
      << message(e);
}

TEST(ConfigDocument, TopLevelMustBeAMap) {
  EXPECT_EQ(load_error("- a\n- b\n").found, "a list");
  EXPECT_EQ(load_error("just text\n").found, "'just text'");
  const ConfigError two = load_error("kvm.hv_timer: true\n---\nkvm.hv_timer: false\n");
  EXPECT_EQ(two.expected, "a single YAML document");
  EXPECT_EQ(two.line, 2);
  // yaml-cpp 0.7's LoadAll would loop forever here (jbeder/yaml-cpp#1040).
  EXPECT_EQ(message(load_error(",")), "demo.yaml:1: expected valid YAML, found a stray ','");
  EXPECT_EQ(load_error("\n\n  ,\n").line, 3);
  EXPECT_EQ(load_error("", {"run.name=,"}).file, "--set");
}

TEST(ConfigDocument, NestingDeeperThan64IsAnError) {
  auto nested = [](int depth) {
    std::string text;
    for (int i = 0; i < depth; ++i) text += "{k" + std::to_string(i) + ": ";
    text += "1";
    for (int i = 0; i < depth; ++i) text += "}";
    return "cost: " + text + "\n";
  };
  EXPECT_EQ(load(nested(63)).keys_with_prefix("cost.").size(), 1u);  // 64 maps deep
  const ConfigError e = load_error(nested(64));
  EXPECT_EQ(e.found, "nesting deeper than 64");
  // Far deeper input stops in the YAML parser's own guard; still a ConfigError.
  load_error("a: " + std::string(100000, '[') + "\n");
}

TEST(ConfigDocument, AliasExpansionIsBounded) {
  std::string text = "cost:\n  a: &a {x: 1, y: 1, z: 1, w: 1, v: 1, u: 1, t: 1, s: 1}\n";
  char previous = 'a';
  for (char level = 'b'; level <= 'j'; ++level, ++previous) {
    text += std::string("  ") + level + ": &" + level + " {";
    for (int i = 0; i < 8; ++i)
      text += std::string(i ? ", " : "") + "m" + std::to_string(i) + ": *" + previous;
    text += "}\n";
  }
  const ConfigError e = load_error(text);  // 8^10 leaves if expanded
  EXPECT_NE(e.found.find("alias"), std::string::npos) << message(e);
}

TEST(ConfigFile, LoadsAFile) {
  const std::string path = temp_path("config_test_scenario.yaml");
  std::ofstream(path) << "# demo\nkvm:\n  hv_timer: no\n";
  const Config config = Config::load_file(demo_schema(), path, {"run.mode=trace"});
  EXPECT_FALSE(config.get_bool("kvm.hv_timer"));
  EXPECT_EQ(config.get_string("run.mode"), "trace");
  EXPECT_EQ(config.source(), path);
  std::filesystem::remove(path);
}

TEST(ConfigFile, ErrorsNameTheFile) {
  const std::string path = temp_path("config_test_bad.yaml");
  std::ofstream(path) << "kvm:\n  hv_timer: 2\n";
  try {
    Config::load_file(demo_schema(), path);
    ADD_FAILURE() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(message(e).rfind(path + ":2: key 'kvm.hv_timer': expected a bool", 0), 0u)
        << message(e);
  }
  std::filesystem::remove(path);
}

TEST(ConfigFile, EmptyFileIsAllDefaults) {
  const std::string path = temp_path("config_test_empty.yaml");
  std::ofstream{path};
  EXPECT_EQ(Config::load_file(demo_schema(), path).get_int("kvm.ple.window"), 4096);
  std::filesystem::remove(path);
}

TEST(ConfigFile, MissingFile) {
  const std::string path = temp_path("config_test_does_not_exist.yaml");
  try {
    Config::load_file(demo_schema(), path);
    ADD_FAILURE() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.file, path);
    EXPECT_EQ(e.line, 0);
    EXPECT_EQ(e.expected, "a readable YAML file");
    EXPECT_EQ(e.found, "No such file or directory");
  }
  EXPECT_THROW(Config::load_file(demo_schema(), ::testing::TempDir()), ConfigError);
}

// ---------------------------------------------------------------------------------------
// JSON

TEST(ConfigJson, SameRulesAsYaml) {
  const nlohmann::json doc = {
      {"kvm", {{"hv_timer", false}, {"ple.window", 0}}},
      {"host.freq_ghz", 3},
      {"run", {{"mode", "accurate"}, {"features", {"tsc"}}, {"name", "j"}}},
      {"guest", {{"cpus", {2, 3}}}},
      {"cost", {{"vmx", {{"vmexit", 9}}}}},
  };
  const Config config = Config::load_json(demo_schema(), doc, "args", {"run.seed=5"});
  EXPECT_FALSE(config.get_bool("kvm.hv_timer"));
  EXPECT_EQ(config.get_int("kvm.ple.window"), 0);
  EXPECT_DOUBLE_EQ(config.get_double("host.freq_ghz"), 3.0);
  EXPECT_EQ(config.get_string("run.mode"), "accurate");
  EXPECT_EQ(config.get_string_list("run.features"), std::vector<std::string>{"tsc"});
  EXPECT_EQ(config.get_int_list("guest.cpus"), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(config.get_int("cost.vmx.vmexit"), 9);
  EXPECT_EQ(config.get_int("run.seed"), 5);
  EXPECT_EQ(config.source(), "args");
}

TEST(ConfigJson, Failures) {
  auto json_error = [](const nlohmann::json& doc) {
    try {
      Config::load_json(demo_schema(), doc, "args");
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.file, "args");
      EXPECT_EQ(e.line, 0);
      return e;
    }
    ADD_FAILURE() << "expected a ConfigError for " << doc.dump();
    return ConfigError("", 0, "", "", "");
  };
  EXPECT_EQ(json_error({{"kvm.ple.window", 1.5}}).found, "'1.5'");
  EXPECT_EQ(json_error({{"kvm.ple.window", 2.0}}).key, "kvm.ple.window");  // not integral type
  EXPECT_EQ(json_error({{"kvm.hv_timer", "true"}}).found, "quoted string 'true'");
  EXPECT_EQ(json_error({{"kvm.hv_timer", 1}}).found, "'1'");
  EXPECT_EQ(json_error({{"run.seed", 18446744073709551615ull}}).key, "run.seed");
  const ConfigError unknown = json_error({{"kvm", {{"hv_timr", true}}}});
  EXPECT_EQ(message(unknown),
            "args: key 'kvm.hv_timr': expected a known key (did you mean 'kvm.hv_timer'?), "
            "found unknown key");
  EXPECT_EQ(json_error({{"kvm", {{"hv_timer", true}}}, {"kvm.hv_timer", false}}).expected,
            "each key once");
  EXPECT_EQ(json_error(nlohmann::json::array({1, 2})).found, "a list");
}

// ---------------------------------------------------------------------------------------
// Echo, markdown, getters, schema

TEST(ConfigEcho, NestedAndTyped) {
  const Config config = load("cost.vmx.vmexit: 500\nkvm.ple.window: 7\n", {"run.name=x"});
  const nlohmann::json echo = config.echo();
  EXPECT_EQ(echo["cost"], (nlohmann::json{{"vmx.vmexit", 500}}));
  EXPECT_EQ(echo["kvm"]["ple"]["window"], 7);
  EXPECT_EQ(echo["kvm"]["hv_timer"], true);
  EXPECT_EQ(echo["kvm"]["halt_poll_ns"], 200000);
  EXPECT_EQ(echo["host"]["freq_ghz"], 2.5);
  EXPECT_EQ(echo["run"]["name"], "x");
  EXPECT_EQ(echo["run"]["features"], (nlohmann::json{"apic", "x2apic"}));
  EXPECT_EQ(echo["guest"]["cpus"], (nlohmann::json{0, 1}));
  EXPECT_TRUE(echo["run"]["seed"].is_number_integer());
  EXPECT_TRUE(echo["host"]["freq_ghz"].is_number_float());
  // Deterministic: the same input echoes the same text; keys are sorted.
  EXPECT_EQ(echo.dump(), load("kvm.ple.window: 7\ncost.vmx.vmexit: 500\n", {"run.name=x"})
                             .echo()
                             .dump());
  EXPECT_LT(echo.dump().find("\"cost\""), echo.dump().find("\"guest\""));
}

TEST(ConfigMarkdown, ContainsEveryKeyByGroup) {
  const Schema schema = demo_schema();
  const std::string table = schema.markdown();
  for (const ParamSpec& spec : schema.specs())
    EXPECT_NE(table.find("`" + spec.key + "`"), std::string::npos) << spec.key;
  EXPECT_LT(table.find("### kvm"), table.find("### host"));
  EXPECT_LT(table.find("### host"), table.find("### run"));
  EXPECT_LT(table.find("### guest"), table.find("### costs"));
  EXPECT_NE(table.find("| key | type | default | range/choices | description |"),
            std::string::npos);
  EXPECT_NE(table.find("Halt polling \\| busy wait"), std::string::npos);  // '|' escaped
  EXPECT_NE(table.find("fast, accurate, trace"), std::string::npos);
  EXPECT_NE(table.find("[0, 65536]"), std::string::npos);
}

TEST(ConfigGetters, ProgrammingErrorsAreLogicErrors) {
  const Config config = load("run.mode: trace\n");
  EXPECT_THROW(config.get_bool("kvm.no_such_key"), std::logic_error);
  EXPECT_THROW(config.get_int("kvm.hv_timer"), std::logic_error);
  EXPECT_THROW(config.get_string("kvm.ple.window"), std::logic_error);
  EXPECT_THROW(config.get_int_list("run.features"), std::logic_error);
  EXPECT_THROW(config.get_string_list("guest.cpus"), std::logic_error);
  EXPECT_THROW(config.get_double("run.mode"), std::logic_error);
  EXPECT_DOUBLE_EQ(config.get_double("kvm.ple.window"), 4096.0);  // Int converts
  EXPECT_EQ(config.get_string("run.mode"), "trace");                // Enum is a string
  EXPECT_TRUE(config.has("kvm.hv_timer"));
  EXPECT_FALSE(config.has("kvm.no_such_key"));
}

TEST(ConfigGetters, ConfigOutlivesItsSchema) {
  std::optional<Config> config;
  {
    const Schema schema = demo_schema();
    config.emplace(Config::load_text(schema, "cost.x: 1\n", "t"));
  }
  EXPECT_EQ(config->get_int("cost.x"), 1);
  EXPECT_EQ(config->echo()["cost"]["x"], 1);
}

TEST(ConfigSchema, BadDefaultIsAProgrammingError) {
  Schema schema;
  schema.add(Spec("a.flag", ParamType::Bool, "maybe"));
  try {
    Config::load_text(schema, "", "t");
    ADD_FAILURE() << "expected std::logic_error";
  } catch (const ConfigError&) {
    ADD_FAILURE() << "a bad default is not a user error";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("a.flag"), std::string::npos);
  }
}

TEST(ConfigSchema, CollidingKeysAreRejected) {
  Schema schema;
  schema.add(Spec("kvm.x", ParamType::Int, "1"));
  EXPECT_THROW(schema.add(Spec("kvm.x", ParamType::Int)), std::logic_error);
  EXPECT_THROW(schema.add(Spec("kvm", ParamType::Int)), std::logic_error);
  EXPECT_THROW(schema.add(Spec("kvm.x.y", ParamType::Int)), std::logic_error);
  EXPECT_THROW(schema.add(Spec("kvm.*", ParamType::Int)), std::logic_error);
  EXPECT_THROW(schema.add(Spec("a..b", ParamType::Int)), std::logic_error);
  EXPECT_THROW(schema.add(Spec("", ParamType::Int)), std::logic_error);
  schema.add(Spec("cost.*", ParamType::Int));
  EXPECT_THROW(schema.add(Spec("cost.y", ParamType::Int)), std::logic_error);
  EXPECT_EQ(schema.find("cost.a.b"), &schema.specs().back());
  EXPECT_EQ(schema.find("cost"), nullptr);
}

TEST(ConfigFormat, ValuesAndMessages) {
  EXPECT_EQ(sim::format_value(true), "true");
  EXPECT_EQ(sim::format_value(int64_t{-3}), "-3");
  EXPECT_EQ(sim::format_value(2.5), "2.5");
  EXPECT_EQ(sim::format_value(std::string("x")), "x");
  EXPECT_EQ(sim::format_value(std::vector<std::string>{"a", "b"}), "[a, b]");
  EXPECT_EQ(sim::format_value(std::vector<int64_t>{1, 2}), "[1, 2]");
  EXPECT_STREQ(sim::to_string(ParamType::IntList), "int list");
  // Multi-line values never break the one-line message.
  const ConfigError e = load_error("run.mode: |\n  two\n  lines\n");
  EXPECT_EQ(message(e).find('\n'), std::string::npos) << message(e);
  EXPECT_EQ(message(ConfigError("f", 0, "", "x", "y")), "f: expected x, found y");
}

// ---------------------------------------------------------------------------------------
// Robustness: garbage in, ConfigError out

TEST(ConfigRobustness, GarbledInputOnlyThrowsConfigError) {
  std::mt19937 random(20240607);
  const std::vector<std::string> samples = {
      "kvm:\n  hv_timer: false\n  ple:\n    window: 3\n",
      "run: {mode: trace, features: [apic, tsc], tags: [a, 'b']}\n",
      "cost:\n  vmx.vmexit: 500\n  a: &x 3\n  b: *x\nguest.cpus: [1, 2, 0x3]\n",
      "host.freq_ghz: 2.5 # comment\nrun.name: \"q\\u00e9\"\n---\nx: 1\n",
      "? complex\n: [1, {a: b}]\n- item\n!!str tagged: |\n  block\n",
  };
  const std::string alphabet = ":{}[],-?*&!|>'\"#%@`~.\\ \n\t0123456789abcxyzkvm_";
  auto random_index = [&](size_t n) {
    return std::uniform_int_distribution<size_t>(0, n - 1)(random);
  };
  auto random_char = [&]() -> char {
    if (random_index(4) == 0) return static_cast<char>(random_index(256));
    return alphabet[random_index(alphabet.size())];
  };
  auto mutate = [&](std::string text) {
    for (size_t edits = 1 + random_index(4); edits > 0; --edits) {
      const size_t at = text.empty() ? 0 : random_index(text.size());
      switch (random_index(4)) {
        case 0: text.insert(text.begin() + at, random_char()); break;
        case 1: if (!text.empty()) text.erase(at, 1); break;
        case 2: if (!text.empty()) text[at] = random_char(); break;
        default: text.insert(at, text.substr(at, random_index(16))); break;
      }
    }
    return text;
  };
  int loaded = 0;
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    if (round % 2 == 0) {
      for (size_t n = random_index(96); n > 0; --n) text += random_char();
    } else {
      text = mutate(samples[random_index(samples.size())]);
    }
    std::vector<std::string> sets;
    if (round % 5 == 0) sets.push_back(mutate("kvm.ple.window=[1, 2]"));
    try {
      const Config config = Config::load_text(demo_schema(), text, "fuzz.yaml", sets);
      config.echo().dump();  // strings are valid UTF-8, so the echo always serializes
      ++loaded;
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "round " << round << ": " << e.what() << "\ninput: " << text;
    }
  }
  EXPECT_GT(loaded, 0);  // some inputs survive mutation, so the happy path is exercised too
}
