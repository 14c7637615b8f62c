#include "validation/vmexit_log.h"

#include <algorithm>
#include <array>

namespace validation {
namespace {

// The tests[] table of kvm-unit-tests x86/vmexit.c.
constexpr std::array<std::string_view, 34> kTests = {
    "cpuid", "vmcall", "mov_from_cr8", "mov_to_cr8", "inl_from_pmtimer", "inl_from_qemu",
    "inl_from_kernel", "outl_to_kernel", "mov_dr", "tscdeadline_immed", "tscdeadline",
    "self_ipi_sti_nop", "self_ipi_sti_hlt", "self_ipi_tpr", "self_ipi_tpr_sti_nop",
    "self_ipi_tpr_sti_hlt", "x2apic_self_ipi_sti_nop", "x2apic_self_ipi_sti_hlt",
    "x2apic_self_ipi_tpr", "x2apic_self_ipi_tpr_sti_nop", "x2apic_self_ipi_tpr_sti_hlt", "ipi",
    "ipi_halt", "ple_round_robin", "wr_kernel_gs_base", "wr_tsx_ctrl_msr", "wr_ibrs_msr",
    "wr_ibpb_msr", "wr_tsc_adjust_msr", "rd_tsc_adjust_msr", "toggle_cr0_wp", "toggle_cr4_pge",
    "pci-mem", "pci-io"};

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// [a-z0-9_-]+, optionally prefixed by a pci-testdev device name and ':'
// ("mmio-wildcard-eventfd:pci-mem")
bool is_test_name(std::string_view s) {
  if (s.empty() || s.size() > 128 || s.front() == ':' || s.back() == ':') return false;
  size_t colons = 0;
  for (char c : s) {
    if (c == ':') ++colons;
    else if (!name_char(c)) return false;
  }
  return colons <= 1;
}

bool looks_numeric(std::string_view s) {
  return !s.empty() && ((s.front() >= '0' && s.front() <= '9') || s.front() == '-');
}

}  // namespace

bool is_known_vmexit_test(std::string_view name) {
  size_t colon = name.find(':');
  if (colon != std::string_view::npos) name = name.substr(colon + 1);
  return std::find(kTests.begin(), kTests.end(), name) != kTests.end();
}

VmexitLog parse_vmexit_log(std::string_view text) {
  if (text.empty()) throw ParseError(0, "input is empty");
  VmexitLog out;
  LineReader reader(text, out.stats);
  Line l;
  std::string clean;
  while (reader.next(l)) {
    std::string_view t = l.text;
    if (has_escape(t)) {
      clean = strip_ansi(t);
      t = clean;
    }
    auto tok = split_ws(t);
    std::map<std::string, double>* dst = &out.cycles;
    if (tok.size() == 3 && (tok[0] == "ipi" || tok[0] == "eoi")) {
      dst = tok[0] == "ipi" ? &out.ipi_cycles : &out.eoi_cycles;
      tok.erase(tok.begin());
    }
    if (tok.size() != 2 || !is_test_name(tok[0])) continue;  // qemu command line, banners, ...
    if (tok[1] == "(skipped)") {
      out.skipped.emplace_back(tok[0]);
      ++out.stats.parsed;
      continue;
    }
    int64_t v = 0;
    if (parse_int(tok[1], v)) {
      (*dst)[std::string(tok[0])] = static_cast<double>(v);
      ++out.stats.parsed;
    } else if (looks_numeric(tok[1]) || is_known_vmexit_test(tok[0]) || dst != &out.cycles) {
      out.stats.bad(l.number, "bad cycle count for '" + std::string(tok[0]) + "': " + excerpt(t));
    }
    // else two ordinary words ("enabling apic", "paging enabled"): noise
  }
  if (out.stats.parsed == 0)
    throw_nothing_found(out.stats, "vmexit result line ('<test> <cycles>' or '<test> (skipped)')");
  return out;
}

}  // namespace validation
