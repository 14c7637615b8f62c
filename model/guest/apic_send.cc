// The guest's APIC driver send paths (Linux arch/x86/kernel/apic/x2apic_phys.c,
// x2apic_cluster.c, arch/x86/kernel/kvm.c), one per IpiMode. As in __prepare_ICR, a send
// to NMI_VECTOR is an NMI (delivery mode NMI, vector field 0).
#include <algorithm>

#include "guest/guest_cpu.h"
#include "guest/pv_ipi.h"
#include "hw/pi_desc.h"

namespace guest {

Task<> GuestCpu::send_ipi_mask(std::vector<int> targets, uint8_t vector) {
  ++ipi_sends_;
  const GuestVm& vm = *vm_;
  std::sort(targets.begin(), targets.end());  // for_each_cpu walks the mask in CPU order
  std::vector<uint32_t> ids;
  ids.reserve(targets.size());
  for (int t : targets) ids.push_back(vm.apic_ids[static_cast<size_t>(t)]);
  const bool nmi = vector == hw::NMI_VECTOR;
  hw::Icr icr;
  icr.vector = nmi ? 0 : vector;
  icr.mode = nmi ? hw::DeliveryMode::NMI : hw::DeliveryMode::Fixed;
  icr.level_assert = true;
  switch (vm.ipi_mode) {
    case IpiMode::X2apicPhysical:
    case IpiMode::Ipiv:  // the same ICR writes; the CPU virtualizes the fixed ones
      for (uint32_t id : ids) {
        icr.dest = id;
        co_await wrmsr(hw::MSR_X2APIC_ICR, icr.encode_x2apic());
      }
      break;
    case IpiMode::X2apicCluster:
      icr.logical = true;
      for (uint32_t dest : hw::x2apic_cluster_dests(ids)) {
        icr.dest = dest;
        co_await wrmsr(hw::MSR_X2APIC_ICR, icr.encode_x2apic());
      }
      break;
    case IpiMode::Pv: {
      // APIC_DM_FIXED | vector, or APIC_DM_NMI
      const uint64_t icr_low = nmi ? (uint64_t{4} << hw::APIC_ICR_DM_SHIFT) : static_cast<uint64_t>(vector);
      for (const PvIpiWindow& w : pv_ipi_windows(ids)) co_await vmcall(10 /*KVM_HC_SEND_IPI*/, w.low, w.high, w.min, icr_low);
      break;
    }
    case IpiMode::NoexitPv:
      if (nmi) {
        // Seed 002: special IPIs go to KVM through MSR_KVM_PV_ICR, which exits.
        for (uint32_t id : ids) {
          icr.dest = id;
          co_await wrmsr(hw::MSR_KVM_PV_ICR, icr.encode_x2apic());
        }
        break;
      }
      // Post into the target's descriptor, then notify its physical CPU with the
      // descriptor's own NV and NDST; the ICR write is not intercepted.
      for (int t : targets) {
        const uint64_t r = co_await op({hw::OpKind::PiPost, 0, vector, 0, 0, 0, 0, nullptr, vm.pi_descs[static_cast<size_t>(t)]});
        const bool need_notify = (r >> 41) & 1, suppressed = (r >> 40) & 1;
        if (!need_notify || suppressed) continue;
        hw::Icr n;
        n.vector = static_cast<uint8_t>(r & 0xFF);
        n.dest = static_cast<uint32_t>((r >> 8) & 0xFFFFFFFFu);
        n.level_assert = true;
        co_await wrmsr(hw::MSR_X2APIC_ICR, n.encode_x2apic());
      }
      break;
  }
}

Task<> GuestCpu::send_special_ipi(int target, hw::Icr icr) {
  icr.dest = vm_->apic_ids[static_cast<size_t>(target)];
  if (vm_->ipi_mode == IpiMode::NoexitPv) {
    co_await wrmsr(hw::MSR_KVM_PV_ICR, icr.encode_x2apic());
    co_return;
  }
  co_await apic_icr_write(icr);  // native_x2apic_icr_write / the xAPIC pair, whatever the send mode
}

}  // namespace guest
