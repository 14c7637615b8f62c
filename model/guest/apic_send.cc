// The guest's APIC driver send paths (Linux arch/x86/kernel/apic/x2apic_phys.c,
// x2apic_cluster.c, arch/x86/kernel/kvm.c), one per IpiMode.
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
  hw::Icr icr;
  icr.vector = vector;
  icr.level_assert = true;
  switch (vm.ipi_mode) {
    case IpiMode::X2apicPhysical:
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
      const uint64_t icr_low = static_cast<uint64_t>(vector);  // APIC_DM_FIXED | vector
      for (const PvIpiWindow& w : pv_ipi_windows(ids)) co_await vmcall(10 /*KVM_HC_SEND_IPI*/, w.low, w.high, w.min, icr_low);
      break;
    }
    case IpiMode::NoexitPv:
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

}  // namespace guest
