// KVM's tracepoints (arch/x86/kvm/trace.h) written as `trace-cmd report -t` text, so a
// simulated run reads like `trace-cmd record -e kvm` on a real host (output.trace). Events
// are recorded where KVM fires them: kvm_exit in vmx_handle_exit, kvm_entry just before
// VMRESUME, kvm_inj_virq in vmx_inject_irq, kvm_apic_ipi in kvm_apic_send_ipi,
// kvm_ple_window_update in grow/shrink_ple_window and kvm_wait_lapic_expire in
// __kvm_wait_lapic_expire. The model calls a Tracer only behind
// `if (kvm.tracer)`, so a run without tracing pays one predictable branch per point.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hw/icr.h"
#include "sim/time.h"

namespace kvm {

class Tracer {
 public:
  // Records at most `max_lines` events; later ones are counted as lost, like a full
  // ring buffer ("entries-in-buffer/entries-written" in the header).
  explicit Tracer(uint64_t max_lines) : max_lines_(max_lines) {}

  // `pid` names the vCPU thread (comm "CPU <vcpu>/KVM"), `cpu` the host CPU.
  void kvm_exit(sim::Picos t, int cpu, uint32_t pid, int vcpu, uint16_t reason, uint64_t qual, uint32_t intr_info) {
    add({t, cpu, pid, vcpu, Kind::Exit, reason, intr_info, qual});
  }
  void kvm_entry(sim::Picos t, int cpu, uint32_t pid, int vcpu) { add({t, cpu, pid, vcpu, Kind::Entry, 0, 0, 0}); }
  void kvm_inj_virq(sim::Picos t, int cpu, uint32_t pid, int vcpu, uint8_t vector) {
    add({t, cpu, pid, vcpu, Kind::InjVirq, 0, vector, 0});
  }
  void kvm_apic_ipi(sim::Picos t, int cpu, uint32_t pid, int vcpu, const hw::Icr& icr);
  void kvm_ple_window_update(sim::Picos t, int cpu, uint32_t pid, int vcpu, uint32_t old_window, uint32_t new_window) {
    add({t, cpu, pid, vcpu, Kind::PleWindow, 0, old_window, new_window});
  }

  // delta: guest TSC at the wait minus the deadline (< 0: the timer fired early).
  void kvm_wait_lapic_expire(sim::Picos t, int cpu, uint32_t pid, int vcpu, int64_t delta) {
    add({t, cpu, pid, vcpu, Kind::LapicExpire, 0, 0, static_cast<uint64_t>(delta)});
  }

  uint64_t recorded() const { return events_.size(); }
  uint64_t lost() const { return lost_; }
  // The text, events sorted by time (per-CPU buffers merged, as trace-cmd report does).
  std::string format(int nr_cpus) const;

 private:
  enum class Kind : uint8_t { Exit, Entry, InjVirq, ApicIpi, PleWindow, LapicExpire };
  struct Event {
    sim::Picos t;
    int cpu;
    uint32_t pid;
    int vcpu;
    Kind kind;
    uint16_t reason;  // kvm_exit
    uint32_t a;       // intr_info | vector | old window | ICR low
    uint64_t b;       // qualification | new window | destination
  };
  void add(const Event& e) {
    if (events_.size() < max_lines_) events_.push_back(e);
    else ++lost_;
  }

  uint64_t max_lines_;
  uint64_t lost_ = 0;
  std::vector<Event> events_;
};

}  // namespace kvm
