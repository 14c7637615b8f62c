// Platform files: lookup, strict YAML parsing and validation. Nothing in a platform file is
// ignored: unknown or duplicate keys, missing costs, wrong types and out-of-range values all
// throw sim::ConfigError naming the file, the line, the key and what was expected.
#include "hw/platform.h"
#include "sim/yaml_documents.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "sim/config.h"

#ifndef KVMSIM_SOURCE_DIR
#define KVMSIM_SOURCE_DIR "."  // the build defines it; this default serves standalone compiles
#endif

namespace hw {

const std::vector<CostKey>& cost_keys() {
  static const std::vector<CostKey> keys = {
#define COST(field, key, doc) {key, doc, &CostTable::field},
#include "hw/costs.def"
#undef COST
  };
  return keys;
}

double* find_cost(CostTable& table, std::string_view key) {
  for (const CostKey& k : cost_keys())
    if (key == k.key) return &(table.*k.member);
  return nullptr;
}

const double* find_cost(const CostTable& table, std::string_view key) {
  for (const CostKey& k : cost_keys())
    if (key == k.key) return &(table.*k.member);
  return nullptr;
}

const std::vector<std::string>& known_mitigations() {
  static const std::vector<std::string> names = {"l1d_flush", "mds_clear"};
  return names;
}

double wire_latency_ns(const Platform& p, int a, int b) {
  switch (p.topology.distance(a, b)) {
    case Distance::SameThread:
    case Distance::SameCore:
      return p.costs.apic_bus_same_core_ns;
    case Distance::SameSocket:
      return p.costs.apic_bus_same_socket_ns;
    case Distance::CrossSocket:
      break;
  }
  return p.costs.apic_bus_cross_socket_ns;
}

double line_transfer_ns(const Platform& p, int a, int b) {
  switch (p.topology.distance(a, b)) {
    case Distance::SameThread:
    case Distance::SameCore:
      return p.costs.mem_line_same_core_ns;
    case Distance::SameSocket:
      return p.costs.mem_line_same_socket_ns;
    case Distance::CrossSocket:
      break;
  }
  return p.costs.mem_line_cross_socket_ns;
}

namespace {

namespace fs = std::filesystem;

constexpr const char* kDocumentKey = "<document>";

std::string join(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

// yaml-cpp marks are 0-based; a node without a mark gives 0 ("unknown").
int line_of(const YAML::Node& n) { return n.IsDefined() ? n.Mark().line + 1 : 0; }

std::string describe(const YAML::Node& n) {
  constexpr size_t kShown = 60;  // keep messages readable when the value is a paragraph or junk
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      return n.Scalar().size() <= kShown ? "'" + n.Scalar() + "'"
                                         : "'" + n.Scalar().substr(0, kShown) + "...'";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    default:
      return "nothing";
  }
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
      diag = up;
    }
  }
  return row[b.size()];
}

// " (did you mean 'x'?)" when a known key is a likely typo of `key`.
std::string suggestion(std::string_view key, const std::vector<std::string>& known) {
  const std::string* best = nullptr;
  size_t best_distance = std::max<size_t>(2, key.size() / 4) + 1;
  for (const auto& k : known) {
    const size_t d = edit_distance(key, k);
    if (d < best_distance) best_distance = d, best = &k;
  }
  return best ? " (did you mean '" + *best + "'?)" : "";
}

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const YAML::Node& at, const std::string& key, const std::string& expected,
                         const std::string& found) const {
    throw sim::ConfigError(file_, line_of(at), key, expected, found);
  }

  // Quoted scalars are strings ("430" is not a number): YAML gives them the "!" tag.
  static bool plain(const YAML::Node& n) { return n.IsScalar() && n.Tag() != "!"; }

  double number(const YAML::Node& n, const std::string& key, const char* expected) const {
    double v = 0;
    if (!plain(n) || !YAML::convert<double>::decode(n, v) || !std::isfinite(v))
      fail(n, key, expected, describe(n));
    return v;
  }
  double non_negative(const YAML::Node& n, const std::string& key) const {
    const char* expected = "a number >= 0";
    const double v = number(n, key, expected);
    if (v < 0) fail(n, key, expected, describe(n));
    return v;
  }
  double frequency(const YAML::Node& n, const std::string& key) const {
    const char* expected = "a frequency in MHz, > 0 and <= 10000";
    const double v = number(n, key, expected);
    if (v <= 0 || v > 10000) fail(n, key, expected, describe(n));
    return v;
  }
  long long integer(const YAML::Node& n, const std::string& key, long long lo, long long hi) const {
    const std::string expected = "an integer in " + std::to_string(lo) + ".." + std::to_string(hi);
    long long v = 0;
    if (!plain(n) || !YAML::convert<long long>::decode(n, v) || v < lo || v > hi)
      fail(n, key, expected, describe(n));
    return v;
  }
  bool boolean(const YAML::Node& n, const std::string& key) const {
    bool v = false;
    if (!plain(n) || !YAML::convert<bool>::decode(n, v)) fail(n, key, "true or false", describe(n));
    return v;
  }
  std::string text(const YAML::Node& n, const std::string& key) const {
    if (!n.IsScalar() || n.Scalar().find_first_not_of(" \t\r\n") == std::string::npos)
      fail(n, key, "a non-empty string", describe(n));
    return n.Scalar();
  }

 private:
  std::string file_;
};

// One YAML map whose keys must all be known and unique; get() requires a key to be present.
// A missing key is reported at `where`: the map's own key in its parent (a block map's mark
// is its first entry, which would point below the heading the user has to fix).
class Fields {
 public:
  Fields(const Reader& r, const YAML::Node& map, std::string path, std::vector<std::string> allowed,
         std::string unknown_expected = "", const YAML::Node& where = YAML::Node())
      : r_(r), where_(where.IsDefined() && !where.IsNull() ? where : map), path_(std::move(path)) {
    if (!map.IsMap()) r.fail(map, path_.empty() ? kDocumentKey : path_, "a map", describe(map));
    if (unknown_expected.empty()) unknown_expected = "one of: " + join(allowed);
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node k = it->first;
      if (!k.IsScalar()) r.fail(k, path_.empty() ? kDocumentKey : path_, "plain keys", describe(k));
      const std::string& name = k.Scalar();
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end())
        r.fail(k, full(name), unknown_expected,
               "unknown key '" + name + "'" + suggestion(name, allowed));
      if (!entries_.emplace(name, Entry{k, it->second}).second)
        r.fail(k, full(name), "each key once", "a duplicate");
    }
  }

  YAML::Node get(const std::string& key, const std::string& expected) const {
    return entry(key, expected).value;
  }
  // Fields of the map under `key`, so its own missing keys are reported at `key`'s line.
  Fields child(const std::string& key, const std::string& expected,
               std::vector<std::string> allowed, std::string unknown_expected = "") const {
    const Entry& e = entry(key, expected);
    return Fields(r_, e.value, full(key), std::move(allowed), std::move(unknown_expected), e.key);
  }

  std::string full(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

 private:
  struct Entry {
    YAML::Node key, value;
  };
  const Entry& entry(const std::string& key, const std::string& expected) const {
    auto it = entries_.find(key);
    if (it == entries_.end()) r_.fail(where_, full(key), expected, "nothing (the key is missing)");
    return it->second;
  }

  const Reader& r_;
  YAML::Node where_;
  std::string path_;
  std::map<std::string, Entry> entries_;
};

void parse_cpu(const Reader& r, const Fields& root, Platform& p) {
  const Fields cpu = root.child("cpu", "a map {freq_mhz, tsc_mhz, apic_bus_mhz}",
                                {"freq_mhz", "tsc_mhz", "apic_bus_mhz"});
  p.freq_mhz = r.frequency(cpu.get("freq_mhz", "a frequency in MHz"), "cpu.freq_mhz");
  p.tsc_mhz = r.frequency(cpu.get("tsc_mhz", "a frequency in MHz"), "cpu.tsc_mhz");
  p.apic_bus_mhz = r.frequency(cpu.get("apic_bus_mhz", "a frequency in MHz"), "cpu.apic_bus_mhz");
}

void parse_topology(const Reader& r, const Fields& root, Platform& p) {
  const char* expected = "a map {sockets, cores_per_socket, threads_per_core}";
  const YAML::Node node = root.get("topology", expected);
  const Fields t =
      root.child("topology", expected, {"sockets", "cores_per_socket", "threads_per_core"});
  const auto count = [&](const char* key, long long hi) {
    return static_cast<int>(r.integer(t.get(key, "an integer"), t.full(key), 1, hi));
  };
  p.sockets = count("sockets", 16);
  p.cores_per_socket = count("cores_per_socket", 256);
  p.threads_per_core = count("threads_per_core", 2);
  const long cpus = long{p.sockets} * p.cores_per_socket * p.threads_per_core;
  if (cpus > Topology::kMaxCpus)
    r.fail(node, "topology", "at most " + std::to_string(Topology::kMaxCpus) + " CPUs in all",
           std::to_string(cpus) + " CPUs");
  p.topology = Topology(p.sockets, p.cores_per_socket, p.threads_per_core);
}

void parse_vmx(const Reader& r, const Fields& root, Platform& p) {
  const Fields v =
      root.child("vmx", "a map of VMX capabilities",
                 {"apicv", "posted_interrupts", "ipiv", "tsc_scaling", "vmcs_shadowing", "ple",
                  "preemption_timer", "preemption_timer_rate"});
  const auto flag = [&](const char* key) {
    return r.boolean(v.get(key, "true or false"), v.full(key));
  };
  p.vmx.apicv = flag("apicv");
  p.vmx.posted_interrupts = flag("posted_interrupts");
  p.vmx.ipiv = flag("ipiv");
  p.vmx.tsc_scaling = flag("tsc_scaling");
  p.vmx.vmcs_shadowing = flag("vmcs_shadowing");
  p.vmx.ple = flag("ple");
  p.vmx.preemption_timer = flag("preemption_timer");
  p.vmx.preemption_timer_rate = static_cast<unsigned>(
      r.integer(v.get("preemption_timer_rate", "an integer"), "vmx.preemption_timer_rate", 0, 31));
}

void parse_mitigations(const Reader& r, const Fields& root, Platform& p) {
  const YAML::Node list = root.get("mitigations", "a list (may be empty)");
  const std::string expected = "a list of: " + join(known_mitigations());
  if (!list.IsSequence()) r.fail(list, "mitigations", expected, describe(list));
  for (const YAML::Node& item : list) {
    const auto& known = known_mitigations();
    if (!item.IsScalar() || std::find(known.begin(), known.end(), item.Scalar()) == known.end())
      r.fail(item, "mitigations", expected, describe(item));
    if (std::find(p.mitigations.begin(), p.mitigations.end(), item.Scalar()) != p.mitigations.end())
      r.fail(item, "mitigations", "each mitigation once", "'" + item.Scalar() + "' twice");
    p.mitigations.push_back(item.Scalar());
  }
}

void parse_costs(const Reader& r, const Fields& root, Platform& p) {
  std::vector<std::string> names;
  for (const CostKey& k : cost_keys()) names.emplace_back(k.key);
  const Fields costs = root.child("costs", "a map of every key in hw/costs.def", names,
                                  "a key of hw/costs.def (see platforms/README.md)");
  for (const CostKey& k : cost_keys()) {
    const std::string unit = cost_in_ns(k.key) ? "ns" : "cycles";
    const std::string shape = "{" + unit + ": N, source: \"...\"}";
    const Fields entry = costs.child(k.key, "an entry " + shape, {unit, "source"});
    p.costs.*k.member = r.non_negative(entry.get(unit, "a number >= 0"), entry.full(unit));
    p.cost_source[k.key] =
        r.text(entry.get("source", "where the number comes from"), entry.full("source"));
  }
}

// power: {cstates: {C1: [exit_us, residency_us], ...}, cstates_source, turbo_mhz: [...],
// turbo_source} (optional).
void parse_power(const Reader& r, const YAML::Node& doc, Platform& p) {
  if (!doc["power"]) return;
  const Fields pw(r, doc["power"], "power", {"cstates", "cstates_source", "turbo_mhz", "turbo_source", "default_model"});
  std::vector<std::string> names(kCStateNames + 1, kCStateNames + kNumCStates);
  const Fields cs = pw.child("cstates", "a map of C-state -> [exit_us, residency_us]", names);
  for (int i = 1; i < kNumCStates; ++i) {
    const YAML::Node n = doc["power"]["cstates"][kCStateNames[i]];
    if (!n) continue;
    const std::string key = std::string("power.cstates.") + kCStateNames[i];
    if (!n.IsSequence() || n.size() != 2) r.fail(n, key, "[exit_us, residency_us]", describe(n));
    p.power.has[i] = true;
    p.power.exit_us[i] = r.non_negative(n[0], key);
    p.power.residency_us[i] = r.non_negative(n[1], key);
  }
  p.power.cstates_source = r.text(pw.get("cstates_source", "where the table comes from"), "power.cstates_source");
  const YAML::Node t = pw.get("turbo_mhz", "a list of MHz by active cores, one per core of a socket");
  if (!t.IsSequence() || static_cast<int>(t.size()) != p.cores_per_socket)
    r.fail(t, "power.turbo_mhz", std::to_string(p.cores_per_socket) + " frequencies (one per active-core count)", describe(t));
  for (const YAML::Node& f : t) p.power.turbo_mhz.push_back(r.frequency(f, "power.turbo_mhz"));
  p.power.turbo_source = r.text(pw.get("turbo_source", "where the bins come from"), "power.turbo_source");
  p.power.present = true;
  if (doc["power"]["default_model"]) {
    const YAML::Node m = doc["power"]["default_model"];
    const std::string v = m.IsScalar() ? m.as<std::string>() : "";
    if (v != "off" && v != "account" && v != "feedback") r.fail(m, "power.default_model", "off, account or feedback", describe(m));
    p.power.default_model = v;
  }
}

Platform parse(const YAML::Node& doc, const std::string& file) {
  const Reader r(file);
  const Fields root(r, doc, "",
                    {"name", "description", "microarchitecture", "cpu", "topology", "vmx",
                     "mitigations", "costs", "power"});
  Platform p;
  p.file = file;
  p.name = r.text(root.get("name", "a non-empty string"), "name");
  p.description = r.text(root.get("description", "a non-empty string"), "description");
  p.microarchitecture =
      r.text(root.get("microarchitecture", "a non-empty string"), "microarchitecture");
  parse_cpu(r, root, p);
  parse_topology(r, root, p);
  parse_vmx(r, root, p);
  parse_mitigations(r, root, p);
  parse_costs(r, root, p);
  parse_power(r, doc, p);
  return p;
}

std::vector<fs::path> search_dirs() {
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("KVMSIM_PLATFORMS"); env && *env) dirs.emplace_back(env);
  dirs.emplace_back(fs::path(KVMSIM_SOURCE_DIR) / "platforms");
  return dirs;
}

std::string find_platform(const std::string& name) {
  const auto dirs = search_dirs();
  std::set<std::string> available;
  std::vector<std::string> searched;
  for (const auto& dir : dirs) {
    std::error_code ec;
    if (fs::is_regular_file(dir / (name + ".yaml"), ec)) return (dir / (name + ".yaml")).string();
    searched.push_back(dir.string());
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      if (it->path().extension() == ".yaml") available.insert(it->path().stem().string());
  }
  const std::vector<std::string> names(available.begin(), available.end());
  throw sim::ConfigError(
      join(searched, ":"), 0, "platform",
      names.empty() ? "a platform name (no *.yaml found there)" : "one of: " + join(names),
      "'" + name + "'" + suggestion(name, names));
}

std::string read_file(const std::string& file) {
  constexpr std::uintmax_t kMaxBytes = 1 << 20;  // shipped files are ~20 KB
  std::error_code ec;
  if (!fs::is_regular_file(file, ec))
    throw sim::ConfigError(file, 0, "platform", "a readable platform YAML file", "no such file");
  const std::uintmax_t size = fs::file_size(file, ec);
  if (ec || size > kMaxBytes)
    throw sim::ConfigError(file, 0, kDocumentKey, "a platform file of at most 1 MiB",
                           ec ? ec.message() : std::to_string(size) + " bytes");
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) throw sim::ConfigError(file, 0, kDocumentKey, "a readable file", "a read error");
  return text.str();
}

// The file's single YAML document.
YAML::Node load_document(const std::string& file, const std::string& text) {
  const std::vector<YAML::Mark> docs = sim::yaml_document_starts(text);
  if (docs.empty())
    throw sim::ConfigError(file, 0, kDocumentKey, "a map of platform keys", "an empty file");
  if (docs.size() > 1)
    throw sim::ConfigError(file, docs[1].line + 1, kDocumentKey, "one YAML document",
                           "a second one (or stray text after the first)");
  return YAML::Load(text);
}

}  // namespace

Platform Platform::load(const std::string& name_or_path) {
  const bool is_path = name_or_path.find('/') != std::string::npos ||
                       std::string_view(name_or_path).ends_with(".yaml");
  const std::string file = is_path ? name_or_path : find_platform(name_or_path);
  return load_text(read_file(file), file);
}

Platform Platform::load_text(const std::string& text, const std::string& file) {
  try {
    return parse(load_document(file, text), file);
  } catch (const YAML::Exception& e) {
    // Syntax errors, unreadable files, and anything yaml-cpp throws while converting.
    const int line = e.mark.is_null() ? 0 : e.mark.line + 1;
    throw sim::ConfigError(file, line, kDocumentKey, "valid YAML", e.msg);
  }
}

}  // namespace hw
