#include "kvm/trace.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "hw/vmx.h"

namespace kvm {

void Tracer::kvm_apic_ipi(sim::Picos t, int cpu, uint32_t pid, int vcpu, const hw::Icr& icr) {
  add({t, cpu, pid, vcpu, Kind::ApicIpi, 0, static_cast<uint32_t>(icr.encode_x2apic()), icr.dest});
}

std::string Tracer::format(int nr_cpus) const {
  // Stable sort: events of one vCPU are recorded in order; cores run ahead of each other
  // within their lookahead, so the merged stream needs sorting.
  std::vector<const Event*> order;
  order.reserve(events_.size());
  for (const auto& e : events_) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(), [](const Event* a, const Event* b) { return a->t < b->t; });

  std::string out;
  out.reserve(events_.size() * 110 + 256);
  char line[320];
  std::snprintf(line, sizeof line,
                "# tracer: nop\n#\n# entries-in-buffer/entries-written: %zu/%" PRIu64 "   #P:%d\n#\n",
                events_.size(), static_cast<uint64_t>(events_.size()) + lost_, nr_cpus);
  out += line;
  static const char* const kModes[] = {"Fixed", "LowPrio", "SMI", "Res3", "NMI", "INIT", "SIPI", "ExtINT"};
  static const char* const kShort[] = {"dst", "self", "all", "all-but-self"};
  for (const Event* e : order) {
    // trace-cmd report -t: nanosecond timestamps, so exit durations keep the model's precision.
    const uint64_t ns = static_cast<uint64_t>((e->t + 500) / 1000);
    char comm[32];
    std::snprintf(comm, sizeof comm, "CPU %d/KVM", e->vcpu);
    int n = std::snprintf(line, sizeof line, "%16s-%-7u [%03d] d.... %" PRIu64 ".%09" PRIu64 ": ", comm, e->pid, e->cpu,
                          ns / 1000000000u, ns % 1000000000u);
    const size_t room = sizeof line - static_cast<size_t>(n);
    switch (e->kind) {
      case Kind::Exit: {
        char code[16];
        std::string_view name = hw::exit_reason_name(e->reason);
        if (name.empty()) {  // KVM prints unnamed reasons as hex, as the parser reads them
          std::snprintf(code, sizeof code, "0x%x", e->reason);
          name = code;
        }
        std::snprintf(line + n, room,
                      "kvm_exit: vcpu %d reason %s rip 0x0 info1 0x%016" PRIx64
                      " info2 0x0000000000000000 intr_info 0x%08x error_code 0x00000000\n",
                      e->vcpu, std::string(name).c_str(), e->b, e->a);
        break;
      }
      case Kind::Entry: std::snprintf(line + n, room, "kvm_entry: vcpu %d, rip 0x0\n", e->vcpu); break;
      case Kind::InjVirq: std::snprintf(line + n, room, "kvm_inj_virq: IRQ 0x%x\n", e->a); break;
      case Kind::ApicIpi:
        std::snprintf(line + n, room, "kvm_apic_ipi: dst %" PRIx64 " vec %u (%s|%s|%s|%s|%s)\n", e->b, e->a & 0xFFu,
                      kModes[(e->a >> 8) & 7], (e->a & (1u << 11)) ? "logical" : "physical",
                      (e->a & (1u << 14)) ? "assert" : "de-assert", (e->a & (1u << 15)) ? "level" : "edge",
                      kShort[(e->a >> 18) & 3]);
        break;
      case Kind::LapicExpire: {
        const int64_t delta = static_cast<int64_t>(e->b);
        std::snprintf(line + n, room, "kvm_wait_lapic_expire: vcpu %d: delta %" PRId64 " (%s)\n", e->vcpu, delta,
                      delta < 0 ? "early" : "late");
        break;
      }
      case Kind::PleWindow:
        std::snprintf(line + n, room, "kvm_ple_window_update: vcpu %d old %u new %" PRIu64 " (%s)\n", e->vcpu, e->a, e->b,
                      e->b >= e->a ? "growed" : "shrinked");
        break;
    }
    out += line;
  }
  return out;
}

}  // namespace kvm
