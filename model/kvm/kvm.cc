#include "kvm/kvm.h"

#include <algorithm>

namespace kvm {

Kvm::Kvm(std::string name, const KvmParams& params, const hw::VmxCapabilities& caps, const hw::CostTable& costs)
    : name_(std::move(name)), params_(params), caps_(caps), costs_(costs),
      apicv_(params.enable_apicv && caps.apicv && caps.posted_interrupts) {
  for (const auto& m : params.mitigations) {
    if (m == "mds_clear") mds_clear_ = true;
    if (m == "l1d_flush") l1d_flush_ = true;
  }
}

Vcpu& Kvm::create_vcpu(uint32_t apic_id) {
  vcpus_.push_back(std::make_unique<Vcpu>(*this, nr_vcpus(), apic_id));
  if (by_apic_id_.size() <= apic_id) by_apic_id_.resize(apic_id + 1, nullptr);
  by_apic_id_[apic_id] = vcpus_.back().get();
  return *vcpus_.back();
}

Vcpu* Kvm::vcpu_by_apic_id(uint32_t id) { return id < by_apic_id_.size() ? by_apic_id_[id] : nullptr; }

bool Kvm::is_kernel_io_port(uint32_t port) const {
  return std::find(params_.kernel_io_ports.begin(), params_.kernel_io_ports.end(), static_cast<int64_t>(port)) !=
         params_.kernel_io_ports.end();
}

void Kvm::deliver_ipi(hw::VmxCpu& from, Vcpu& sender, const hw::Icr& icr) {
  ++ipis_sent;
  from.charge(costs_.kvm_handle_icr);
  if (icr.mode != hw::DeliveryMode::Fixed && icr.mode != hw::DeliveryMode::LowestPrio) return;  // NMI/INIT/SIPI: later issues
  // The optimized map (kvm_apic_map) resolves a physical destination directly.
  if (icr.shorthand == hw::Shorthand::None && !icr.logical && icr.dest != 0xFFFFFFFFu) {
    if (Vcpu* v = vcpu_by_apic_id(icr.dest)) v->deliver_interrupt(from, icr.vector);
    return;
  }
  const hw::ApicIdentity self = sender.lapic.regs.identity();
  const bool x2apic = sender.lapic.regs.x2apic_mode();
  for (auto& v : vcpus_)
    if (hw::apic_match_dest(v->lapic.regs.identity(), self, icr, x2apic)) v->deliver_interrupt(from, icr.vector);
}

}  // namespace kvm
