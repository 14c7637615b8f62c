#include "kvm/kvm.h"

#include <algorithm>

#include "hw/apic_regs.h"

namespace kvm {

Kvm::Kvm(std::string name, const KvmParams& params, const hw::VmxCapabilities& caps, const hw::CostTable& costs)
    : name_(std::move(name)), params_(params), caps_(caps), costs_(costs),
      apicv_(params.enable_apicv && caps.apicv && caps.posted_interrupts),
      ipiv_(params.enable_ipiv && caps.ipiv && apicv_ && !params.noexit_pv_ipi) {
  // vmx_alloc_ipiv_pid_table: one 8-byte entry per possible vCPU id.
  if (ipiv_) pid_table_.entries.assign(KVM_MAX_VCPU_IDS, nullptr);
  // A distinct, deterministic EPT root per VM name (4 KiB aligned, write-back, 4-level walk).
  uint64_t h = 1469598103934665603ull;
  for (char ch : name_) h = (h ^ static_cast<uint8_t>(ch)) * 1099511628211ull;
  eptp_ = ((h & 0xFFFFFFFFFull) << 12) | 0x5E;
  for (const auto& m : params.mitigations) {
    if (m == "mds_clear") mds_clear_ = true;
    if (m == "l1d_flush") l1d_flush_ = true;
  }
}

Vcpu& Kvm::create_vcpu(uint32_t apic_id) {
  vcpus_.push_back(std::make_unique<Vcpu>(*this, nr_vcpus(), apic_id));
  if (by_apic_id_.size() <= apic_id) by_apic_id_.resize(apic_id + 1, nullptr);
  by_apic_id_[apic_id] = vcpus_.back().get();
  // vmx_vcpu_create: pid_table[vcpu_id] = __pa(&pi_desc) | PID_TABLE_ENTRY_VALID.
  const auto id = static_cast<size_t>(vcpus_.back()->vcpu_id);
  if (ipiv_ && id < pid_table_.entries.size()) pid_table_.entries[id] = &vcpus_.back()->pi_desc;
  return *vcpus_.back();
}

Vcpu* Kvm::vcpu_by_apic_id(uint32_t id) { return id < by_apic_id_.size() ? by_apic_id_[id] : nullptr; }

bool Kvm::is_kernel_io_port(uint32_t port) const {
  return std::find(params_.kernel_io_ports.begin(), params_.kernel_io_ports.end(), static_cast<int64_t>(port)) !=
         params_.kernel_io_ports.end();
}

void Kvm::deliver_ipi(hw::VmxCpu& from, Vcpu& sender, const hw::Icr& icr) {
  ++ipis_sent;
  if (tracer) [[unlikely]]
    tracer->kvm_apic_ipi(from.now(), from.cpu(), trace_pid_base + static_cast<uint32_t>(sender.vcpu_id), sender.vcpu_id, icr);
  from.charge(costs_.kvm_handle_icr);
  // __apic_accept_irq: fixed/lowest-priority interrupts, NMIs, and SMI/INIT/SIPI
  // (apic_events.cc); ExtINT and the reserved mode are dropped.
  const bool nmi = icr.mode == hw::DeliveryMode::NMI;
  const bool special = icr.mode == hw::DeliveryMode::SMI || icr.mode == hw::DeliveryMode::INIT || icr.mode == hw::DeliveryMode::SIPI;
  if (icr.mode != hw::DeliveryMode::Fixed && icr.mode != hw::DeliveryMode::LowestPrio && !nmi && !special) return;
  // The optimized map (kvm_apic_map) resolves a physical destination directly.
  const uint32_t broadcast = sender.lapic.regs.x2apic_mode() ? 0xFFFFFFFFu : 0xFFu;  // kvm_apic_is_broadcast_dest
  if (icr.shorthand == hw::Shorthand::None && !icr.logical && icr.dest != broadcast) {
    if (Vcpu* v = vcpu_by_apic_id(icr.dest)) {
      note_ipi(sender, *v);
      if (special) [[unlikely]] v->accept_special_irq(from, icr);
      else if (nmi) [[unlikely]] v->deliver_nmi(from);
      else v->deliver_interrupt(from, icr.vector);
    }
    return;
  }
  const hw::ApicIdentity self = sender.lapic.regs.identity();
  const bool x2apic = sender.lapic.regs.x2apic_mode();
  for (auto& v : vcpus_)
    if (hw::apic_match_dest(v->lapic.regs.identity(), self, icr, x2apic)) {
      note_ipi(sender, *v);
      if (special) [[unlikely]] v->accept_special_irq(from, icr);
      else if (nmi) [[unlikely]] v->deliver_nmi(from);
      else v->deliver_interrupt(from, icr.vector);
    }
}

int64_t Kvm::pv_send_ipi(hw::VmxCpu& from, uint64_t low, uint64_t high, uint32_t min, uint64_t icr) {
  constexpr uint64_t APIC_DEST_MASK = 0x800, APIC_SHORT_MASK = 0xC0000;
  constexpr int64_t KVM_EINVAL = 22;
  if (icr & (APIC_DEST_MASK | APIC_SHORT_MASK)) return -KVM_EINVAL;
  from.charge(costs_.kvm_handle_icr);
  ++ipis_sent;
  const uint8_t vector = static_cast<uint8_t>(icr & 0xFF);
  const auto mode = static_cast<hw::DeliveryMode>((icr >> 8) & 7);  // irq.delivery_mode = icr & APIC_MODE_MASK
  const bool nmi = mode == hw::DeliveryMode::NMI;
  const bool special = mode == hw::DeliveryMode::SMI || mode == hw::DeliveryMode::INIT || mode == hw::DeliveryMode::SIPI;
  hw::Icr sicr;  // kvm_pv_send_ipi: level = icr & APIC_INT_ASSERT, trig_mode = icr & APIC_INT_LEVELTRIG
  sicr.mode = mode;
  sicr.vector = vector;
  sicr.level_assert = (icr >> 14) & 1;
  sicr.level_trigger = (icr >> 15) & 1;
  int64_t count = 0;
  // __pv_send_ipi over each half: bit i stands for APIC id min + i (high: min + 64 + i).
  for (int half = 0; half < 2; ++half) {
    uint64_t bits = half ? high : low;
    const uint64_t base = static_cast<uint64_t>(min) + (half ? 64 : 0);
    while (bits) {
      const int i = __builtin_ctzll(bits);
      bits &= bits - 1;
      const uint64_t id = base + static_cast<uint64_t>(i);
      if (id > 0xFFFFFFFFull) break;
      if (Vcpu* v = vcpu_by_apic_id(static_cast<uint32_t>(id))) {
        if (special) [[unlikely]] v->accept_special_irq(from, sicr);
        else if (nmi) [[unlikely]] v->deliver_nmi(from);
        else v->deliver_interrupt(from, vector);
        ++count;
      }
    }
  }
  return count;
}

bool Kvm::allowed(const hw::Icr& icr) const {
  if (icr.shorthand != hw::Shorthand::None || icr.logical || icr.mode != hw::DeliveryMode::Fixed) return false;
  if (icr.vector != hw::POSTED_INTR_VECTOR && icr.vector != hw::POSTED_INTR_WAKEUP_VECTOR) return false;
  for (const auto& v : vcpus_)
    if (v->pi_desc.ndst == icr.dest) return true;
  return false;
}

}  // namespace kvm
