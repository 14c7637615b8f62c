// A VM (struct kvm): its vCPUs, the APIC-id map used for IPI delivery, and parameters.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hw/ipiv.h"
#include "hw/platform.h"
#include "sim/count_timeline.h"
#include "kvm/params.h"
#include "kvm/trace.h"
#include "kvm/vcpu.h"

namespace kvm {

class Kvm : public hw::IcrMonitor {
 public:
  Kvm(std::string name, const KvmParams& params, const hw::VmxCapabilities& caps, const hw::CostTable& costs);
  const std::string& name() const { return name_; }
  const KvmParams& params() const { return params_; }
  const hw::VmxCapabilities& caps() const { return caps_; }
  const hw::CostTable& costs() const { return costs_; }
  bool apicv() const { return apicv_; }
  // IPI virtualization in use (vmx_can_use_ipiv): enable_ipiv, the CPU feature and APICv.
  // Off under NoExit PV IPI, whose guest writes the physical ICR itself.
  bool ipiv() const { return ipiv_; }
  // kvm_vmx->pid_table: the PID-pointer table, indexed by vcpu_id (= initial APIC ID).
  const hw::PidPointerTable& pid_table() const { return pid_table_; }
  static constexpr uint32_t KVM_MAX_VCPU_IDS = 4096;  // kvm->arch.max_vcpu_ids when userspace leaves it
  bool mds_clear() const { return mds_clear_; }
  bool l1d_flush() const { return l1d_flush_; }

  // The EPT root this VM's vCPUs run with (EPT_POINTER): part of the TLB tag.
  uint64_t eptp() const { return eptp_; }
  Vcpu& create_vcpu(uint32_t apic_id);
  int nr_vcpus() const { return static_cast<int>(vcpus_.size()); }
  Vcpu& vcpu(int i) { return *vcpus_[static_cast<size_t>(i)]; }
  Vcpu* vcpu_by_apic_id(uint32_t id);
  bool is_kernel_io_port(uint32_t port) const;

  // kvm_irq_delivery_to_apic for an IPI from `sender` (kvm_apic_send_ipi).
  void deliver_ipi(hw::VmxCpu& from, Vcpu& sender, const hw::Icr& icr);
  // kvm_pv_send_ipi (KVM_HC_SEND_IPI): returns the number of vCPUs the IPI reached, or
  // -KVM_EINVAL for destination-mode or shorthand bits in `icr`.
  int64_t pv_send_ipi(hw::VmxCpu& from, uint64_t low, uint64_t high, uint32_t min, uint64_t icr);
  // NoExit PV IPI isolation: a guest ICR write must target a CPU running one of this VM's
  // vCPUs with a posted-interrupt vector.
  bool allowed(const hw::Icr& icr) const override;

  // Directed yield (issue 5): the vCPU index the last successful on_spin yielded to; the
  // PLE window trace and PAUSE exits per simulated millisecond (for the timeline plot).
  int last_boosted_vcpu = 0;
  struct PleWindowEvent {
    sim::Picos at;
    int vcpu, cpu;
    uint32_t old_window, new_window;
  };
  std::vector<PleWindowEvent> ple_window_trace;
  sim::CountTimeline pause_exits_per_ms;  // PLE exits over time (1-ms bins, coarsened on long runs)
  // Seed 003 patch 2: an IPI from `sender` to a scheduled-out `target` sets sender's bit.
  void note_ipi(const Vcpu& sender, Vcpu& target) {
    if (params_.ishiguro_ipi_aware && target.scheduled_out) target.ipi_received |= 1ull << (sender.vcpu_id & 63);
  }

  // Observer of every kvm_vcpu_yield_to (tests): yielder, target, yield_to's result.
  std::function<void(const Vcpu&, const Vcpu&, int)> directed_yield_observer;

  uint64_t ipis_sent = 0;
  // output.trace: KVM's tracepoints as text (null: off). vCPU i's thread is pid
  // trace_pid_base + i in the trace.
  Tracer* tracer = nullptr;
  uint32_t trace_pid_base = 0;
  double tsc_mhz = 1000.0;  // the host TSC rate (for converting cycles to ns)

 private:
  std::string name_;
  KvmParams params_;
  hw::VmxCapabilities caps_;
  const hw::CostTable& costs_;
  bool apicv_;
  bool ipiv_;
  hw::PidPointerTable pid_table_;
  bool mds_clear_ = false, l1d_flush_ = false;
  uint64_t eptp_ = 0;
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
  std::vector<Vcpu*> by_apic_id_;
};

}  // namespace kvm
