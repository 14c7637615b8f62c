// Parser of kvm events in ftrace text (/sys/kernel/tracing/trace, trace_pipe) and
// `trace-cmd report` output (formats: arch/x86/kvm/trace.h):
//
//   CPU 0/KVM-18971 [015] d.... 95922.997039: kvm_exit: vcpu 0 reason EXCEPTION_NMI rip ...
//   CPU 0/KVM-18971 [015] d.... 95922.997133: kvm_entry: vcpu 0, rip 0xf7d6b
//   qemu-kvm-1234 [002] 1234.567890: kvm_exit: reason EPT_VIOLATION rip 0x5a1b20 info 384 0
//   qemu-system-x86  3406 [002]  2207.853553: kvm:kvm_exit: reason ...     (perf script)
//
// The comm may hold spaces and dashes (QEMU names vCPU threads "CPU 0/KVM"); the flags column
// is absent in old output. Events are sorted by timestamp (stable) before exits are paired
// with entries, so reordered input (per-CPU buffers merged by hand) pairs the same way.
// An exit is paired with the next kvm_entry of the same vCPU thread (pid), as perf kvm stat
// does; this also covers old kvm_exit lines that do not name the vcpu.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "validation/parse_common.h"

namespace validation {

struct ExitSpan {
  int vcpu = -1;          // from kvm_exit, else from the kvm_entry that closed it
  std::string reason;     // "EPT_VIOLATION", "msr", "PF excp", "0x40" for unnamed codes
  double start_s = 0;     // trace clock, seconds
  double duration_us = 0; // kvm_exit to the next kvm_entry of the same vCPU thread
  int cpu = -1;           // host CPU of the kvm_exit
  uint32_t pid = 0;       // vCPU thread
};

struct ReasonSummary {
  uint64_t count = 0;     // kvm_exit lines with this reason
  uint64_t paired = 0;    // of which closed by a kvm_entry (durations below are over these)
  double total_us = 0, min_us = 0, max_us = 0;
  double avg_us() const { return paired ? total_us / static_cast<double>(paired) : 0.0; }
};

struct ApicIpi {       // kvm_apic_ipi: dst %x vec %u (%s|%s|%s|%s|%s)
  double time_s = 0;
  uint32_t dst = 0;
  uint32_t vec = 0;
  std::string delivery_mode;  // Fixed, LowPrio, SMI, Res3, NMI, INIT, SIPI, ExtINT
  std::string dest_mode;      // logical | physical
  std::string level;          // assert | de-assert
  std::string trigger;        // level | edge
  std::string shorthand;      // dst, self, all, all-but-self
  int cpu = -1;
  uint32_t pid = 0;
};

struct VirqInjection {  // kvm_inj_virq: "IRQ 0x%x" | "Soft/INTn 0x%x" [+ " [reinjected]"]
  double time_s = 0;
  uint32_t vector = 0;
  bool soft = false, reinjected = false;
  int cpu = -1;
  uint32_t pid = 0;
};

struct PleWindowUpdate {  // kvm_ple_window_update, or the old kvm_ple_window
  double time_s = 0;
  int vcpu = -1;
  uint32_t old_window = 0, new_window = 0;
  bool grow = false;
};

struct LapicExpire {  // kvm_wait_lapic_expire: vcpu %u: delta %lld (early|late)
  double time_s = 0;
  int vcpu = -1;
  int64_t delta = 0;  // TSC cycles; negative = the timer fired early
  bool early = false;
};

struct KvmTrace {
  std::vector<ExitSpan> exits;                  // paired exits, in time order
  std::map<std::string, ReasonSummary> by_reason;
  std::map<std::string, uint64_t> nested_by_reason;  // kvm_nested_vmexit (L2 exits seen by L0)
  std::vector<ApicIpi> ipis;
  std::vector<VirqInjection> injections;
  std::vector<PleWindowUpdate> ple_window_updates;
  std::vector<LapicExpire> lapic_expire;
  uint64_t kvm_exit_events = 0, kvm_entry_events = 0;
  uint64_t unpaired_exits = 0;    // a kvm_exit with no later kvm_entry of its thread
  uint64_t unpaired_entries = 0;  // a kvm_entry with no earlier open kvm_exit (e.g. the first)
  uint64_t other_events = 0;      // well-formed event lines of events not read here
  uint64_t lost_events = 0;       // "CPU:N [LOST n EVENTS]" / "[n EVENTS DROPPED]"
  bool reordered = false;         // input was not in timestamp order
  ParseStats stats;
};

// Throws ParseError only when no event line at all is found.
KvmTrace parse_ftrace_kvm(std::string_view text);

}  // namespace validation
