// Parser of KVM statistics dumps: one "name value" a line, also "name: value", "name=value",
// and `grep . /sys/kernel/debug/kvm/*` output ("/sys/kernel/debug/kvm/exits:12345", the
// basename is the name). Lines with several numbers (the binary stats' *_hist arrays) are kept
// as histograms. Names KVM defines (exits, halt_exits, irq_exits, ...; the list in
// shared/reference/trace-formats.md and older debugfs names) are recognised; unknown names are
// kept too and listed.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "validation/parse_common.h"

namespace validation {

enum class StatScope { Vcpu, Vm, Unknown };  // per-vCPU stats are summed over vCPUs in debugfs

struct KvmStats {
  std::map<std::string, std::variant<uint64_t, double>> values;
  std::map<std::string, std::vector<uint64_t>> histograms;  // lines with several numbers
  std::vector<std::string> unknown;  // names (in values or histograms) KVM does not define
  ParseStats stats;

  std::optional<double> get(std::string_view name) const;
};

bool is_known_kvm_stat(std::string_view name);
StatScope kvm_stat_scope(std::string_view name);

// Throws ParseError only when no "name value" line is found.
KvmStats parse_kvm_stats(std::string_view text);

}  // namespace validation
